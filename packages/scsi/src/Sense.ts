/**
 * SCSI sense data (SPC-5 §4.4): decoding of the fixed (response codes 0x70/0x71) and descriptor
 * (0x72/0x73) formats, sense-key names, the ASC/ASCQ description table (SPC-5 Annex F, carried as
 * data in `internal/ascq.ts`), the sense-key-specific field, and the REQUEST SENSE CDB (SPC-5 §6.39).
 *
 * Fixed format (SPC-5 §4.4.3):
 * ```
 * byte 0    VALID(7) RESPONSE CODE(6-0) = 70h current / 71h deferred
 * byte 1    obsolete
 * byte 2    FILEMARK(7) EOM(6) ILI(5) SDAT_OVFL(4) SENSE KEY(3-0)
 * byte 3-6  INFORMATION
 * byte 7    ADDITIONAL SENSE LENGTH (n-7)
 * byte 8-11 COMMAND-SPECIFIC INFORMATION
 * byte 12   ADDITIONAL SENSE CODE
 * byte 13   ADDITIONAL SENSE CODE QUALIFIER
 * byte 14   FIELD REPLACEABLE UNIT CODE
 * byte 15-17 SKSV(7 of 15) SENSE KEY SPECIFIC
 * ```
 * Descriptor format (SPC-5 §4.4.2):
 * ```
 * byte 0    RESPONSE CODE = 72h current / 73h deferred
 * byte 1    SENSE KEY(3-0)
 * byte 2    ADDITIONAL SENSE CODE
 * byte 3    ADDITIONAL SENSE CODE QUALIFIER
 * byte 4-6  reserved (byte 4: SDAT_OVFL(7))
 * byte 7    ADDITIONAL SENSE LENGTH (n-7)
 * byte 8-n  sense data descriptors: TYPE, ADDITIONAL LENGTH, payload
 * ```
 * Decoded descriptor types: 00h information, 01h command-specific, 02h sense-key specific,
 * 03h field replaceable unit, 05h block commands (ILI); others are kept raw.
 *
 * Not here: what a sense means for retries (that is `ScsiError`).
 */
import * as Result from "effect/Result"
import { describeAscq } from "./internal/ascq.ts"
import * as B from "./internal/bytes.ts"
import * as ScsiError from "./ScsiError.ts"

/** SPC-5 Table 52: sense keys. */
export const SenseKey = {
  NoSense: 0x0,
  RecoveredError: 0x1,
  NotReady: 0x2,
  MediumError: 0x3,
  HardwareError: 0x4,
  IllegalRequest: 0x5,
  UnitAttention: 0x6,
  DataProtect: 0x7,
  BlankCheck: 0x8,
  VendorSpecific: 0x9,
  CopyAborted: 0xa,
  AbortedCommand: 0xb,
  Reserved: 0xc,
  VolumeOverflow: 0xd,
  Miscompare: 0xe,
  Completed: 0xf
} as const

const senseKeyNames = [
  "NO SENSE",
  "RECOVERED ERROR",
  "NOT READY",
  "MEDIUM ERROR",
  "HARDWARE ERROR",
  "ILLEGAL REQUEST",
  "UNIT ATTENTION",
  "DATA PROTECT",
  "BLANK CHECK",
  "VENDOR SPECIFIC",
  "COPY ABORTED",
  "ABORTED COMMAND",
  "RESERVED",
  "VOLUME OVERFLOW",
  "MISCOMPARE",
  "COMPLETED"
] as const

/** The SPC name of a sense key ("ILLEGAL REQUEST"). */
export const senseKeyName = (key: number): string => senseKeyNames[key & 0x0f]

/** The SPC description of an ASC/ASCQ pair, including ranged entries; a generic text when unknown. */
export const describe = (asc: number, ascq: number): string =>
  describeAscq(asc, ascq) ??
  (asc >= 0x80 || ascq >= 0x80
    ? `VENDOR SPECIFIC ASC/ASCQ ${hex2(asc)}/${hex2(ascq)}`
    : `ASC/ASCQ ${hex2(asc)}/${hex2(ascq)}`)

const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, "0")

/** Sense-key specific information (SPC-5 §4.4.2.4), interpreted per sense key. */
export type SenseKeySpecific =
  | {
      readonly _tag: "FieldPointer"
      /** C/D: the error is in the CDB (true) or in the parameter data (false). */
      readonly inCdb: boolean
      readonly bitPointer: number | undefined
      readonly fieldPointer: number
    }
  | { readonly _tag: "ActualRetryCount"; readonly count: number }
  | { readonly _tag: "Progress"; readonly fraction: number }
  | {
      readonly _tag: "SegmentPointer"
      readonly segmentDescriptor: boolean
      readonly bitPointer: number | undefined
      readonly fieldPointer: number
    }
  | { readonly _tag: "UnitAttentionQueueOverflow"; readonly overflow: boolean }
  | { readonly _tag: "Raw"; readonly bytes: Uint8Array }

export type SenseDescriptor =
  | { readonly _tag: "Information"; readonly valid: boolean; readonly information: bigint }
  | { readonly _tag: "CommandSpecific"; readonly value: bigint }
  | { readonly _tag: "SenseKeySpecific"; readonly value: SenseKeySpecific }
  | { readonly _tag: "FieldReplaceableUnit"; readonly code: number }
  | { readonly _tag: "BlockCommands"; readonly ili: boolean }
  | { readonly _tag: "Other"; readonly type: number; readonly bytes: Uint8Array }

export interface SenseData {
  readonly format: "fixed" | "descriptor"
  /** 70h/71h/72h/73h */
  readonly responseCode: number
  /** Current error (70h/72h) or deferred error (71h/73h). */
  readonly deferred: boolean
  readonly senseKey: number
  readonly senseKeyName: string
  readonly asc: number
  readonly ascq: number
  readonly description: string
  /** The INFORMATION field when valid (fixed: VALID bit; descriptor: information descriptor with VALID). */
  readonly information: bigint | undefined
  readonly commandSpecific: bigint | undefined
  readonly senseKeySpecific: SenseKeySpecific | undefined
  readonly fieldReplaceableUnit: number
  readonly filemark: boolean
  readonly eom: boolean
  readonly ili: boolean
  /** Descriptor format only: all descriptors in order. */
  readonly descriptors: ReadonlyArray<SenseDescriptor>
}

const decodeSks = (senseKey: number, b: Uint8Array, o: number): SenseKeySpecific | undefined => {
  if ((B.u8(b, o) & 0x80) === 0) return undefined
  const b0 = B.u8(b, o)
  const v = B.u16(b, o + 1)
  switch (senseKey) {
    case SenseKey.IllegalRequest:
      return {
        _tag: "FieldPointer",
        inCdb: (b0 & 0x40) !== 0,
        bitPointer: (b0 & 0x08) !== 0 ? b0 & 0x07 : undefined,
        fieldPointer: v
      }
    case SenseKey.RecoveredError:
    case SenseKey.MediumError:
    case SenseKey.HardwareError:
      return { _tag: "ActualRetryCount", count: v }
    case SenseKey.NoSense:
    case SenseKey.NotReady:
      return { _tag: "Progress", fraction: v / 65536 }
    case SenseKey.CopyAborted:
      return {
        _tag: "SegmentPointer",
        segmentDescriptor: (b0 & 0x20) !== 0,
        bitPointer: (b0 & 0x08) !== 0 ? b0 & 0x07 : undefined,
        fieldPointer: v
      }
    case SenseKey.UnitAttention:
      return { _tag: "UnitAttentionQueueOverflow", overflow: (b0 & 0x01) !== 0 }
    default:
      return { _tag: "Raw", bytes: b.slice(o, o + 3) }
  }
}

/** Decode sense data (without the iSCSI 2-byte SenseLength prefix). */
export const decode = (sense: Uint8Array): Result.Result<SenseData, ScsiError.ScsiError> => {
  if (sense.length < 1) return Result.fail(ScsiError.malformed("sense", "empty sense data"))
  const responseCode = sense[0] & 0x7f
  if (responseCode === 0x70 || responseCode === 0x71) {
    // Fixed format. Tolerate truncated sense (at least bytes 0..2 are needed for the key).
    if (sense.length < 3) return Result.fail(ScsiError.malformed("sense", "fixed sense shorter than 3 bytes"))
    const senseKey = sense[2] & 0x0f
    const asc = B.u8(sense, 12)
    const ascq = B.u8(sense, 13)
    const addl = B.u8(sense, 7)
    return Result.succeed({
      format: "fixed",
      responseCode,
      deferred: responseCode === 0x71,
      senseKey,
      senseKeyName: senseKeyName(senseKey),
      asc,
      ascq,
      description: describe(asc, ascq),
      information: (sense[0] & 0x80) !== 0 ? BigInt(B.u32(sense, 3)) : undefined,
      commandSpecific: addl >= 4 ? BigInt(B.u32(sense, 8)) : undefined,
      senseKeySpecific: addl >= 10 ? decodeSks(senseKey, sense, 15) : undefined,
      fieldReplaceableUnit: B.u8(sense, 14),
      filemark: (sense[2] & 0x80) !== 0,
      eom: (sense[2] & 0x40) !== 0,
      ili: (sense[2] & 0x20) !== 0,
      descriptors: []
    })
  }
  if (responseCode === 0x72 || responseCode === 0x73) {
    if (sense.length < 4) return Result.fail(ScsiError.malformed("sense", "descriptor sense shorter than 4 bytes"))
    const senseKey = sense[1] & 0x0f
    const asc = sense[2]
    const ascq = sense[3]
    const end = Math.min(sense.length, 8 + B.u8(sense, 7))
    const descriptors: Array<SenseDescriptor> = []
    let information: bigint | undefined
    let commandSpecific: bigint | undefined
    let sks: SenseKeySpecific | undefined
    let fru = 0
    let ili = false
    for (let o = 8; o + 2 <= end; ) {
      const type = sense[o]
      const len = sense[o + 1]
      const d = sense.subarray(o, Math.min(end, o + 2 + len))
      switch (type) {
        case 0x00: {
          const valid = (B.u8(d, 2) & 0x80) !== 0
          const info = B.u64(d, 4)
          if (valid) information = info
          descriptors.push({ _tag: "Information", valid, information: info })
          break
        }
        case 0x01:
          commandSpecific = B.u64(d, 4)
          descriptors.push({ _tag: "CommandSpecific", value: commandSpecific })
          break
        case 0x02: {
          const v = decodeSks(senseKey, d, 4)
          if (v !== undefined) {
            sks = v
            descriptors.push({ _tag: "SenseKeySpecific", value: v })
          }
          break
        }
        case 0x03:
          fru = B.u8(d, 3)
          descriptors.push({ _tag: "FieldReplaceableUnit", code: fru })
          break
        case 0x05:
          ili = (B.u8(d, 3) & 0x20) !== 0
          descriptors.push({ _tag: "BlockCommands", ili })
          break
        default:
          descriptors.push({ _tag: "Other", type, bytes: d.slice() })
      }
      o += 2 + len
    }
    return Result.succeed({
      format: "descriptor",
      responseCode,
      deferred: responseCode === 0x73,
      senseKey,
      senseKeyName: senseKeyName(senseKey),
      asc,
      ascq,
      description: describe(asc, ascq),
      information,
      commandSpecific,
      senseKeySpecific: sks,
      fieldReplaceableUnit: fru,
      filemark: false,
      eom: false,
      ili,
      descriptors
    })
  }
  return Result.fail(ScsiError.malformed("sense", `unknown sense response code 0x${responseCode.toString(16)}`))
}

/** Build fixed-format sense data (for fake targets and tests). */
export const encodeFixed = (options: {
  readonly senseKey: number
  readonly asc: number
  readonly ascq: number
  readonly information?: number | undefined
  readonly deferred?: boolean | undefined
}): Uint8Array => {
  const b = new Uint8Array(18)
  b[0] = (options.deferred === true ? 0x71 : 0x70) | (options.information !== undefined ? 0x80 : 0)
  b[2] = options.senseKey & 0x0f
  if (options.information !== undefined) B.put32(b, 3, options.information)
  b[7] = 10
  b[12] = options.asc
  b[13] = options.ascq
  return b
}

/** Build descriptor-format sense data with an optional information descriptor (for fake targets and tests). */
export const encodeDescriptor = (options: {
  readonly senseKey: number
  readonly asc: number
  readonly ascq: number
  readonly information?: bigint | undefined
}): Uint8Array => {
  const withInfo = options.information !== undefined
  const b = new Uint8Array(8 + (withInfo ? 12 : 0))
  b[0] = 0x72
  b[1] = options.senseKey & 0x0f
  b[2] = options.asc
  b[3] = options.ascq
  b[7] = withInfo ? 12 : 0
  if (options.information !== undefined) {
    b[8] = 0x00
    b[9] = 0x0a
    b[10] = 0x80
    B.put64(b, 12, options.information)
  }
  return b
}

/**
 * REQUEST SENSE (SPC-5 §6.39), 6 bytes:
 * ```
 * 0 OPERATION CODE 03h | 1 DESC(0) | 2-3 reserved | 4 ALLOCATION LENGTH | 5 CONTROL
 * ```
 */
export const cdbRequestSense = (options?: {
  readonly descriptorFormat?: boolean | undefined
  readonly allocationLength?: number | undefined
}): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("REQUEST SENSE", 6, (w) => {
    w.u8("opcode", 0, 0x03)
    w.flag(1, 0, options?.descriptorFormat)
    w.u8("allocation length", 4, options?.allocationLength ?? 252)
  })
