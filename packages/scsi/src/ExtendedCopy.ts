/**
 * Third-party copy (SPC-4 §6.4 EXTENDED COPY, §6.18 RECEIVE COPY RESULTS; the LID4 forms as SPC-4
 * r36 and later lay them out): CDBs, the parameter lists with identification CSCD descriptors
 * (E4h) and block→block segment descriptors (02h), and the decoders of the copy manager's answers.
 *
 * ```
 * EXTENDED COPY:          0 83h | 1 SERVICE ACTION(4-0) 00h LID1 / 01h LID4 | 2-9 reserved
 *                         10-13 PARAMETER LIST LENGTH | 14 reserved | 15 CONTROL
 * RECEIVE COPY RESULTS:   0 84h | 1 SERVICE ACTION(4-0) | 2 LIST IDENTIFIER (LID1 actions)
 *   (LID4 actions: 2-5 LIST IDENTIFIER) | 10-13 ALLOCATION LENGTH | 14 reserved | 15 CONTROL
 *   service actions: 00h COPY STATUS (LID1) | 01h RECEIVE DATA (LID1) | 03h OPERATING PARAMETERS
 *                    04h FAILURE DETAILS (LID1) | 05h COPY STATUS (LID4)
 * LID1 parameter list:    0 LIST IDENTIFIER | 1 STR(5) LIST ID USAGE(4-3) PRIORITY(2-0)
 *                         2-3 CSCD DESCRIPTOR LIST LENGTH | 4-7 reserved
 *                         8-11 SEGMENT DESCRIPTOR LIST LENGTH | 12-15 INLINE DATA LENGTH
 *                         16.. CSCD descriptors, segment descriptors, inline data
 * LID4 parameter list:    0 LIST FORMAT (01h) | 1 STR(5) LIST ID USAGE(4-3) PRIORITY(2-0)
 *                         2-3 HEADER CSCD DESCRIPTOR LIST LENGTH (0020h) | 4-14 reserved
 *                         15 G_SENSE(1) IMMED(0) | 16 HEADER CSCD TYPE CODE (FFh) | 17-19 reserved
 *                         20-23 LIST IDENTIFIER | 24-41 reserved | 42-43 CSCD DESCRIPTOR LIST LENGTH
 *                         44-45 SEGMENT DESCRIPTOR LIST LENGTH | 46-47 INLINE DATA LENGTH | 48.. as LID1
 * Identification CSCD descriptor (32 bytes):
 *                         0 E4h | 1 LU ID TYPE(7-6) NUL(5) PERIPHERAL DEVICE TYPE(4-0)
 *                         2-3 RELATIVE INITIATOR PORT IDENTIFIER | 4-23 designation descriptor
 *                         (4 CODE SET | 5 ASSOCIATION(5-4) DESIGNATOR TYPE(3-0) | 6 reserved
 *                         | 7 DESIGNATOR LENGTH ≤ 16 | 8-23 DESIGNATOR) | 24-27 reserved
 *                         28 PAD(2) FIXED(0) | 29-31 DISK BLOCK LENGTH
 * Block→block segment descriptor (28 bytes):
 *                         0 02h | 1 DC(1) CAT(0) | 2-3 DESCRIPTOR LENGTH (0018h)
 *                         4-5 SOURCE CSCD DESCRIPTOR INDEX | 6-7 DESTINATION CSCD DESCRIPTOR INDEX
 *                         8-9 reserved | 10-11 NUMBER OF BLOCKS | 12-19 SOURCE LBA | 20-27 DESTINATION LBA
 * Operating parameters:   0-3 AVAILABLE DATA | 4 SNLID(0) | 8-9 MAXIMUM CSCD DESCRIPTOR COUNT
 *                         10-11 MAXIMUM SEGMENT DESCRIPTOR COUNT | 12-15 MAXIMUM DESCRIPTOR LIST LENGTH
 *                         16-19 MAXIMUM SEGMENT LENGTH | 20-23 MAXIMUM INLINE DATA LENGTH
 *                         24-27 HELD DATA LIMIT | 28-31 MAXIMUM STREAM DEVICE TRANSFER SIZE
 *                         34-35 TOTAL CONCURRENT COPIES | 36 MAXIMUM CONCURRENT COPIES
 *                         37 DATA SEGMENT GRANULARITY (log2) | 38 INLINE DATA GRANULARITY (log2)
 *                         39 HELD DATA GRANULARITY (log2) | 43 IMPLEMENTED DESCRIPTOR LIST LENGTH
 *                         44.. implemented descriptor type codes
 * Copy status (LID1):     0-3 AVAILABLE DATA (8) | 4 HDD(7) COPY MANAGER STATUS(6-0)
 *                         5-6 SEGMENTS PROCESSED | 7 TRANSFER COUNT UNITS | 8-11 TRANSFER COUNT
 * Copy status (LID4):     0-3 AVAILABLE DATA | 4 RESPONSE TO SERVICE ACTION(4-0)
 *                         5 HDD(7) COPY OPERATION STATUS(6-0) | 6-7 OPERATION COUNTER
 *                         8-11 ESTIMATED STATUS UPDATE DELAY (ms) | 12 EXTENDED COPY COMPLETION STATUS
 *                         13 LENGTH OF THE SENSE DATA FIELD | 14 SENSE DATA LENGTH
 *                         15 TRANSFER COUNT UNITS | 16-23 TRANSFER COUNT | 24-25 SEGMENTS PROCESSED
 *                         26-31 reserved | 32.. SENSE DATA
 * Failure details (LID1): 0-3 AVAILABLE DATA | 4-55 reserved | 56 COPY COMMAND STATUS | 57 reserved
 *                         58-59 SENSE DATA LENGTH | 60.. SENSE DATA
 * ```
 * Transfer count units: 00h bytes, 01h–06h 2^10..2^60 bytes, F1h logical blocks.
 *
 * Not here: running the copy (`Scsi.extendedCopy`, `Scsi.receiveCopy…`), stream devices, ROD
 * tokens (POPULATE TOKEN / WRITE USING TOKEN), inline and embedded data segment types.
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import * as ScsiError from "./ScsiError.ts"

type R<A> = Result.Result<A, ScsiError.ScsiError>

/** EXTENDED COPY service actions. */
export const ExtendedCopyAction = { Lid1: 0x00, Lid4: 0x01 } as const

/** RECEIVE COPY RESULTS service actions. */
export const ReceiveAction = {
  CopyStatus: 0x00,
  ReceiveData: 0x01,
  OperatingParameters: 0x03,
  FailureDetails: 0x04,
  CopyStatusLid4: 0x05
} as const

/** LIST ID USAGE: hold the results for RECEIVE COPY RESULTS (default), discard them, or no list id. */
export const ListIdUsage = { Hold: 0, HoldAndDiscard: 2, None: 3 } as const

/** EXTENDED COPY (LID1 or LID4) carrying `parameterListLength` bytes. */
export const cdb = (parameterListLength: number, options?: { readonly lid4?: boolean | undefined }): R<Uint8Array> =>
  B.build("EXTENDED COPY", 16, (w) => {
    w.u8("opcode", 0, 0x83)
    w.u8("service action", 1, options?.lid4 === true ? ExtendedCopyAction.Lid4 : ExtendedCopyAction.Lid1)
    w.u32("parameter list length", 10, parameterListLength)
  })

/** RECEIVE COPY RESULTS for `serviceAction`; `listId` is 8 bits for LID1 actions, 32 for LID4 ones. */
export const cdbReceiveCopyResults = (serviceAction: number, listId: number, allocationLength: number): R<Uint8Array> =>
  B.build("RECEIVE COPY RESULTS", 16, (w) => {
    w.u8("opcode", 0, 0x84)
    w.bits("service action", 1, 0, 5, serviceAction)
    if (serviceAction === ReceiveAction.CopyStatusLid4 || serviceAction === 0x06) w.u32("list identifier", 2, listId)
    else if (serviceAction === ReceiveAction.OperatingParameters) {
      if (listId !== 0) w.fail("OPERATING PARAMETERS takes no list identifier")
    } else w.u8("list identifier", 2, listId)
    w.u32("allocation length", 10, allocationLength)
  })

export interface Designation {
  /** 1 binary, 2 ASCII, 3 UTF-8. */
  readonly codeSet: number
  /** 0 logical unit (default). */
  readonly association?: number | undefined
  /** 3 NAA, 2 EUI-64, 8 SCSI name string, … (as in VPD 83h). */
  readonly designatorType: number
  /** At most 16 bytes. */
  readonly value: Uint8Array
}

export interface IdentificationCscd {
  /** The logical unit, named by one of its VPD 83h designators (NAA is what copy managers match). */
  readonly designation: Designation
  /** Default 0 (direct access block device). */
  readonly peripheralDeviceType?: number | undefined
  /** Bytes per logical block of that logical unit. */
  readonly blockLength: number
  readonly relativeInitiatorPort?: number | undefined
  /** NUL: the copy manager reads/writes nothing there. */
  readonly nul?: boolean | undefined
  /** LU ID TYPE (0 = LUN, 1 = proxy token). */
  readonly luIdType?: number | undefined
}

/** A 32-byte identification (E4h) CSCD descriptor. */
export const encodeIdentificationCscd = (d: IdentificationCscd): R<Uint8Array> =>
  B.build("identification CSCD descriptor", 32, (w) => {
    w.u8("type code", 0, 0xe4)
    w.bits("LU ID type", 1, 6, 2, d.luIdType ?? 0)
    w.flag(1, 5, d.nul)
    w.bits("peripheral device type", 1, 0, 5, d.peripheralDeviceType ?? 0)
    w.u16("relative initiator port identifier", 2, d.relativeInitiatorPort ?? 0)
    w.bits("code set", 4, 0, 4, d.designation.codeSet)
    w.bits("association", 5, 4, 2, d.designation.association ?? 0)
    w.bits("designator type", 5, 0, 4, d.designation.designatorType)
    if (d.designation.value.length > 16) w.fail(`designator of ${d.designation.value.length} bytes (at most 16)`)
    else {
      w.u8("designator length", 7, d.designation.value.length)
      w.bytes.set(d.designation.value, 8)
    }
    w.u24("disk block length", 29, d.blockLength)
  })

export interface BlockSegment {
  /** Index of the source CSCD descriptor in the list (0-based). */
  readonly source: number
  readonly destination: number
  readonly sourceLba: number
  readonly destinationLba: number
  /** 1..65535 blocks of the source's block length. */
  readonly blocks: number
  /** DC: NUMBER OF BLOCKS counts destination blocks. */
  readonly destinationCount?: boolean | undefined
  /** CAT: residue handling. */
  readonly cat?: boolean | undefined
}

/** A 28-byte block→block (02h) segment descriptor. */
export const encodeBlockSegment = (s: BlockSegment): R<Uint8Array> =>
  B.build("block to block segment descriptor", 28, (w) => {
    w.u8("type code", 0, 0x02)
    w.flag(1, 1, s.destinationCount)
    w.flag(1, 0, s.cat)
    w.u16("descriptor length", 2, 0x18)
    w.u16("source CSCD descriptor index", 4, s.source)
    w.u16("destination CSCD descriptor index", 6, s.destination)
    w.u16("number of blocks", 10, s.blocks)
    w.u64("source LBA", 12, s.sourceLba)
    w.u64("destination LBA", 20, s.destinationLba)
  })

export interface ParameterList {
  /** LIST IDENTIFIER: 8 bits (LID1) or 32 bits (LID4). */
  readonly listId: number
  /** Default Hold (0). */
  readonly listIdUsage?: number | undefined
  readonly priority?: number | undefined
  /** STR: sequential striped. */
  readonly str?: boolean | undefined
  /** Encoded CSCD descriptors, in index order. */
  readonly cscds: ReadonlyArray<Uint8Array>
  /** Encoded segment descriptors, in processing order. */
  readonly segments: ReadonlyArray<Uint8Array>
  readonly inlineData?: Uint8Array | undefined
  /** LID4 only: IMMED (return at once, poll COPY STATUS (LID4)). */
  readonly immediate?: boolean | undefined
  /** LID4 only: G_SENSE (report sense of the copy in COPY STATUS). */
  readonly gSense?: boolean | undefined
}

const concatAll = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

const flagsOf = (w: B.Writer, p: ParameterList) => {
  w.flag(1, 5, p.str)
  w.bits("list ID usage", 1, 3, 2, p.listIdUsage ?? ListIdUsage.Hold)
  w.bits("priority", 1, 0, 3, p.priority ?? 0)
}

/** The EXTENDED COPY (LID1) parameter list. */
export const encodeLid1 = (p: ParameterList): R<Uint8Array> => {
  const cscds = concatAll(p.cscds)
  const segments = concatAll(p.segments)
  const inline = p.inlineData ?? new Uint8Array(0)
  return B.build("EXTENDED COPY (LID1) parameter list", 16 + cscds.length + segments.length + inline.length, (w) => {
    w.u8("list identifier", 0, p.listId)
    flagsOf(w, p)
    if (p.immediate === true || p.gSense === true) w.fail("IMMED and G_SENSE exist only in the LID4 list")
    w.u16("CSCD descriptor list length", 2, cscds.length)
    w.u32("segment descriptor list length", 8, segments.length)
    w.u32("inline data length", 12, inline.length)
    w.bytes.set(cscds, 16)
    w.bytes.set(segments, 16 + cscds.length)
    w.bytes.set(inline, 16 + cscds.length + segments.length)
  })
}

/** The EXTENDED COPY (LID4) parameter list. */
export const encodeLid4 = (p: ParameterList): R<Uint8Array> => {
  const cscds = concatAll(p.cscds)
  const segments = concatAll(p.segments)
  const inline = p.inlineData ?? new Uint8Array(0)
  return B.build("EXTENDED COPY (LID4) parameter list", 48 + cscds.length + segments.length + inline.length, (w) => {
    w.u8("list format", 0, 0x01)
    flagsOf(w, p)
    w.u16("header CSCD descriptor list length", 2, 0x20)
    w.flag(15, 1, p.gSense)
    w.flag(15, 0, p.immediate)
    w.u8("header CSCD type code", 16, 0xff)
    w.u32("list identifier", 20, p.listId)
    w.u16("CSCD descriptor list length", 42, cscds.length)
    w.u16("segment descriptor list length", 44, segments.length)
    w.u16("inline data length", 46, inline.length)
    w.bytes.set(cscds, 48)
    w.bytes.set(segments, 48 + cscds.length)
    w.bytes.set(inline, 48 + cscds.length + segments.length)
  })
}

export interface BlockCopy {
  readonly listId: number
  /** The source logical unit (CSCD index 0). */
  readonly source: IdentificationCscd
  /** The destination logical unit (CSCD index 1); default: the source. */
  readonly destination?: IdentificationCscd | undefined
  readonly ranges: ReadonlyArray<{
    readonly sourceLba: number
    readonly destinationLba: number
    readonly blocks: number
  }>
  /** Build the LID4 list (default LID1). */
  readonly lid4?: boolean | undefined
  readonly listIdUsage?: number | undefined
  readonly immediate?: boolean | undefined
}

/** A parameter list that copies block ranges between (or within) logical units. */
export const encodeBlockCopy = (c: BlockCopy): R<Uint8Array> => {
  const cscdList = c.destination === undefined ? [c.source] : [c.source, c.destination]
  const cscds: Array<Uint8Array> = []
  for (const d of cscdList) {
    const r = encodeIdentificationCscd(d)
    if (Result.isFailure(r)) return r
    cscds.push(r.success)
  }
  const destination = c.destination === undefined ? 0 : 1
  const segments: Array<Uint8Array> = []
  for (const range of c.ranges) {
    const r = encodeBlockSegment({ source: 0, destination, ...range })
    if (Result.isFailure(r)) return r
    segments.push(r.success)
  }
  const list: ParameterList = {
    listId: c.listId,
    listIdUsage: c.listIdUsage,
    cscds,
    segments,
    immediate: c.lid4 === true ? c.immediate : undefined
  }
  return c.lid4 === true ? encodeLid4(list) : encodeLid1(list)
}

export interface OperatingParameters {
  /** The copy manager supports no list identifier (SNLID). */
  readonly snlid: boolean
  readonly maximumCscdDescriptorCount: number
  readonly maximumSegmentDescriptorCount: number
  readonly maximumDescriptorListLength: number
  readonly maximumSegmentLength: number
  readonly maximumInlineDataLength: number
  readonly heldDataLimit: number
  readonly maximumStreamDeviceTransferSize: number
  readonly totalConcurrentCopies: number
  readonly maximumConcurrentCopies: number
  /** log2 of bytes. */
  readonly dataSegmentGranularity: number
  readonly inlineDataGranularity: number
  readonly heldDataGranularity: number
  /** Descriptor type codes the copy manager implements (segment types and CSCD types such as E4h). */
  readonly implementedDescriptorTypeCodes: ReadonlyArray<number>
}

/** RECEIVE COPY RESULTS, OPERATING PARAMETERS (SA 03h). */
export const decodeOperatingParameters = (data: Uint8Array): R<OperatingParameters> => {
  if (data.length < 44) return Result.fail(ScsiError.malformed("copy operating parameters", `${data.length} bytes`))
  const n = data[43]
  if (44 + n > data.length) {
    return Result.fail(
      ScsiError.malformed("copy operating parameters", "the implemented descriptor list overruns the data")
    )
  }
  return Result.succeed({
    snlid: (data[4] & 1) !== 0,
    maximumCscdDescriptorCount: B.u16(data, 8),
    maximumSegmentDescriptorCount: B.u16(data, 10),
    maximumDescriptorListLength: B.u32(data, 12),
    maximumSegmentLength: B.u32(data, 16),
    maximumInlineDataLength: B.u32(data, 20),
    heldDataLimit: B.u32(data, 24),
    maximumStreamDeviceTransferSize: B.u32(data, 28),
    totalConcurrentCopies: B.u16(data, 34),
    maximumConcurrentCopies: data[36],
    dataSegmentGranularity: data[37],
    inlineDataGranularity: data[38],
    heldDataGranularity: data[39],
    implementedDescriptorTypeCodes: Array.from(data.subarray(44, 44 + n))
  })
}

const unitNames: Record<number, string> = {
  0x00: "bytes",
  0x01: "KiB",
  0x02: "MiB",
  0x03: "GiB",
  0x04: "TiB",
  0x05: "PiB",
  0x06: "EiB",
  0xf1: "logical blocks"
}

/** What TRANSFER COUNT counts. */
export const transferCountUnit = (code: number): string => unitNames[code] ?? `reserved (0x${code.toString(16)})`

export type CopyState = "in progress" | "completed" | "completed with errors" | "aborted" | "other"

export interface CopyStatus {
  /** HDD: held data discarded. */
  readonly heldDataDiscarded: boolean
  /** COPY MANAGER STATUS (LID1): 00h in progress, 01h completed, 02h completed with errors. */
  readonly status: number
  readonly state: CopyState
  readonly segmentsProcessed: number
  readonly transferCountUnits: number
  readonly transferCount: number
}

const lid1State = (s: number): CopyState =>
  s === 0 ? "in progress" : s === 1 ? "completed" : s === 2 ? "completed with errors" : "other"

/** RECEIVE COPY RESULTS, COPY STATUS (LID1, SA 00h). */
export const decodeCopyStatus = (data: Uint8Array): R<CopyStatus> => {
  if (data.length < 12) return Result.fail(ScsiError.malformed("copy status", `${data.length} bytes, need 12`))
  const status = data[4] & 0x7f
  return Result.succeed({
    heldDataDiscarded: (data[4] & 0x80) !== 0,
    status,
    state: lid1State(status),
    segmentsProcessed: B.u16(data, 5),
    transferCountUnits: data[7],
    transferCount: B.u32(data, 8)
  })
}

export interface CopyStatusLid4 {
  /** The service action that started the copy (00h/01h EXTENDED COPY, 10h/11h token ones). */
  readonly responseToServiceAction: number
  readonly heldDataDiscarded: boolean
  /** COPY OPERATION STATUS: 01h completed, 02h with errors, 03h/04h completed (partial token / residual), 10h–12h in progress, 60h aborted. */
  readonly status: number
  readonly state: CopyState
  readonly operationCounter: number
  /** Milliseconds until the status is worth asking again. */
  readonly estimatedStatusUpdateDelay: number
  /** The SCSI status the copy ended with. */
  readonly completionStatus: number
  readonly transferCountUnits: number
  readonly transferCount: number
  readonly segmentsProcessed: number
  /** Sense data of the copy (G_SENSE), raw; decode with `Sense.decode`. */
  readonly sense: Uint8Array
}

const lid4State = (s: number): CopyState =>
  s >= 1 && s <= 4
    ? s === 2
      ? "completed with errors"
      : "completed"
    : s >= 0x10 && s <= 0x12
      ? "in progress"
      : s === 0x60
        ? "aborted"
        : "other"

/** RECEIVE COPY RESULTS, COPY STATUS (LID4, SA 05h). */
export const decodeCopyStatusLid4 = (data: Uint8Array): R<CopyStatusLid4> => {
  if (data.length < 32) return Result.fail(ScsiError.malformed("copy status (LID4)", `${data.length} bytes, need 32`))
  const senseLength = data[14]
  if (senseLength > data[13] || 32 + senseLength > data.length) {
    return Result.fail(ScsiError.malformed("copy status (LID4)", "the sense data overruns its field"))
  }
  const status = data[5] & 0x7f
  return Result.succeed({
    responseToServiceAction: data[4] & 0x1f,
    heldDataDiscarded: (data[5] & 0x80) !== 0,
    status,
    state: lid4State(status),
    operationCounter: B.u16(data, 6),
    estimatedStatusUpdateDelay: B.u32(data, 8),
    completionStatus: data[12],
    transferCountUnits: data[15],
    transferCount: B.u64n(data, 16),
    segmentsProcessed: B.u16(data, 24),
    sense: data.slice(32, 32 + senseLength)
  })
}

export interface FailureDetails {
  /** False when the copy did not fail (AVAILABLE DATA 0). */
  readonly failed: boolean
  readonly copyCommandStatus: number
  /** Sense data of the failure, raw. */
  readonly sense: Uint8Array
}

/** RECEIVE COPY RESULTS, FAILURE DETAILS (LID1, SA 04h). */
export const decodeFailureDetails = (data: Uint8Array): R<FailureDetails> => {
  if (data.length < 4) return Result.fail(ScsiError.malformed("copy failure details", `${data.length} bytes`))
  if (B.u32(data, 0) === 0) return Result.succeed({ failed: false, copyCommandStatus: 0, sense: new Uint8Array(0) })
  if (data.length < 60) return Result.fail(ScsiError.malformed("copy failure details", `${data.length} bytes, need 60`))
  const n = B.u16(data, 58)
  if (60 + n > data.length) return Result.fail(ScsiError.malformed("copy failure details", "sense overruns the data"))
  return Result.succeed({ failed: true, copyCommandStatus: data[56], sense: data.slice(60, 60 + n) })
}
