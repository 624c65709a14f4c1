/**
 * MODE SENSE (6/10) and MODE SELECT (6/10) (SPC-5 §6.13–6.16), mode parameter headers and block
 * descriptors (§7.5.5, SBC-4 §6.5.2), and the Caching (08h, SBC-4 §6.5.5) and Control (0Ah,
 * SPC-5 §7.5.8) mode pages.
 *
 * ```
 * MODE SENSE (6):   0 1Ah | 1 DBD(3) | 2 PC(7-6) PAGE CODE(5-0) | 3 SUBPAGE CODE | 4 ALLOCATION LENGTH | 5 CONTROL
 * MODE SENSE (10):  0 5Ah | 1 LLBAA(4) DBD(3) | 2 PC/PAGE CODE | 3 SUBPAGE | 4-6 reserved | 7-8 ALLOCATION LENGTH | 9
 * MODE SELECT (6):  0 15h | 1 PF(4) SP(0) | 2-3 reserved | 4 PARAMETER LIST LENGTH | 5 CONTROL
 * MODE SELECT (10): 0 55h | 1 PF(4) SP(0) | 2-6 reserved | 7-8 PARAMETER LIST LENGTH | 9 CONTROL
 * Header (6):  0 MODE DATA LENGTH | 1 MEDIUM TYPE | 2 DEVICE-SPECIFIC (WP(7) DPOFUA(4)) | 3 BLOCK DESCRIPTOR LENGTH
 * Header (10): 0-1 MODE DATA LENGTH | 2 MEDIUM TYPE | 3 DEVICE-SPECIFIC | 4 LONGLBA(0) | 5 reserved | 6-7 BLOCK DESCRIPTOR LENGTH
 * Short block descriptor (8): 0-3 NUMBER OF LOGICAL BLOCKS | 4 reserved | 5-7 LOGICAL BLOCK LENGTH
 * Long block descriptor (16): 0-7 NUMBER OF LOGICAL BLOCKS | 8-11 reserved | 12-15 LOGICAL BLOCK LENGTH
 * Page: 0 PS(7) SPF(6) PAGE CODE(5-0) | 1 PAGE LENGTH (or, SPF=1: 1 SUBPAGE CODE | 2-3 PAGE LENGTH)
 * Caching (08h, length 12h): 2 IC(7) ABPF(6) CAP(5) DISC(4) SIZE(3) WCE(2) MF(1) RCD(0)
 *   3 DEMAND READ RETENTION PRIORITY(7-4) WRITE RETENTION PRIORITY(3-0) | 4-5 DISABLE PRE-FETCH TRANSFER LENGTH
 *   6-7 MINIMUM PRE-FETCH | 8-9 MAXIMUM PRE-FETCH | 10-11 MAXIMUM PRE-FETCH CEILING
 *   12 FSW(7) LBCSS(6) DRA(5) NV_DIS(0) | 13 NUMBER OF CACHE SEGMENTS | 14-15 CACHE SEGMENT SIZE
 * Control (0Ah, length 0Ah): 2 TST(7-5) TMF_ONLY(4) DPICZ(3) D_SENSE(2) GLTSD(1) RLEC(0)
 *   3 QUEUE ALGORITHM MODIFIER(7-4) NUAR(3) QERR(2-1) | 4 VS(7) RAC(6) UA_INTLCK_CTRL(5-4) SWP(3)
 *   5 ATO(7) TAS(6) ATMPE(5) RWWP(4) AUTOLOAD MODE(2-0) | 8-9 BUSY TIMEOUT PERIOD
 *   10-11 EXTENDED SELF-TEST COMPLETION TIME
 * ```
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import * as ScsiError from "./ScsiError.ts"

type R<A> = Result.Result<A, ScsiError.ScsiError>

export const PageCode = { Caching: 0x08, Control: 0x0a, AllPages: 0x3f } as const

/** PC: 0 current, 1 changeable, 2 default, 3 saved. */
export type PageControl = 0 | 1 | 2 | 3

export interface ModeSenseOptions {
  readonly page?: number | undefined
  readonly subpage?: number | undefined
  readonly pageControl?: PageControl | undefined
  /** Disable block descriptors. */
  readonly dbd?: boolean | undefined
  /** (10) only: long LBA block descriptors accepted. */
  readonly llbaa?: boolean | undefined
  readonly allocationLength?: number | undefined
}

export const cdbModeSense6 = (options: ModeSenseOptions = {}): R<Uint8Array> =>
  B.build("MODE SENSE (6)", 6, (w) => {
    w.u8("opcode", 0, 0x1a)
    w.flag(1, 3, options.dbd)
    if (options.llbaa === true) w.fail("LLBAA exists only in MODE SENSE (10)")
    w.bits("page control", 2, 6, 2, options.pageControl ?? 0)
    w.bits("page code", 2, 0, 6, options.page ?? PageCode.AllPages)
    w.u8("subpage code", 3, options.subpage ?? 0)
    w.u8("allocation length", 4, options.allocationLength ?? 255)
  })

export const cdbModeSense10 = (options: ModeSenseOptions = {}): R<Uint8Array> =>
  B.build("MODE SENSE (10)", 10, (w) => {
    w.u8("opcode", 0, 0x5a)
    w.flag(1, 4, options.llbaa)
    w.flag(1, 3, options.dbd)
    w.bits("page control", 2, 6, 2, options.pageControl ?? 0)
    w.bits("page code", 2, 0, 6, options.page ?? PageCode.AllPages)
    w.u8("subpage code", 3, options.subpage ?? 0)
    w.u16("allocation length", 7, options.allocationLength ?? 4096)
  })

export interface ModeSelectOptions {
  /** Page format (SPC pages follow): default true. */
  readonly pf?: boolean | undefined
  /** Save pages. */
  readonly sp?: boolean | undefined
}

export const cdbModeSelect6 = (parameterListLength: number, options: ModeSelectOptions = {}): R<Uint8Array> =>
  B.build("MODE SELECT (6)", 6, (w) => {
    w.u8("opcode", 0, 0x15)
    w.flag(1, 4, options.pf ?? true)
    w.flag(1, 0, options.sp)
    w.u8("parameter list length", 4, parameterListLength)
  })

export const cdbModeSelect10 = (parameterListLength: number, options: ModeSelectOptions = {}): R<Uint8Array> =>
  B.build("MODE SELECT (10)", 10, (w) => {
    w.u8("opcode", 0, 0x55)
    w.flag(1, 4, options.pf ?? true)
    w.flag(1, 0, options.sp)
    w.u16("parameter list length", 7, parameterListLength)
  })

export interface BlockDescriptor {
  readonly blocks: number
  readonly blockLength: number
}

export interface ModePage {
  readonly pageCode: number
  readonly subpage: number
  readonly ps: boolean
  /** The whole page including its 2- or 4-byte header. */
  readonly bytes: Uint8Array
}

export interface ModeParameters {
  readonly mediumType: number
  readonly deviceSpecific: number
  readonly writeProtected: boolean
  readonly dpofua: boolean
  readonly blockDescriptors: ReadonlyArray<BlockDescriptor>
  readonly pages: ReadonlyArray<ModePage>
  readonly caching: CachingPage | undefined
  readonly control: ControlPage | undefined
}

const decodePages = (data: Uint8Array, start: number, end: number): R<Array<ModePage>> => {
  const pages: Array<ModePage> = []
  for (let o = start; o + 2 <= end; ) {
    const spf = (data[o] & 0x40) !== 0
    const len = spf ? 4 + B.u16(data, o + 2) : 2 + data[o + 1]
    if (o + len > end) return Result.fail(ScsiError.malformed("mode page", "mode page overruns the mode data"))
    pages.push({
      pageCode: data[o] & 0x3f,
      subpage: spf ? data[o + 1] : 0,
      ps: (data[o] & 0x80) !== 0,
      bytes: data.slice(o, o + len)
    })
    o += len
  }
  return Result.succeed(pages)
}

const decodeBody = (
  data: Uint8Array,
  headerLength: number,
  dataEnd: number,
  mediumType: number,
  deviceSpecific: number,
  longLba: boolean,
  bdLength: number
): R<ModeParameters> => {
  const end = Math.min(data.length, dataEnd)
  const blockDescriptors: Array<BlockDescriptor> = []
  const step = longLba ? 16 : 8
  for (let o = headerLength; o + step <= Math.min(end, headerLength + bdLength); o += step) {
    blockDescriptors.push(
      longLba
        ? { blocks: B.u64n(data, o), blockLength: B.u32(data, o + 12) }
        : { blocks: B.u32(data, o), blockLength: B.u24(data, o + 5) }
    )
  }
  return Result.map(decodePages(data, headerLength + bdLength, end), (pages) => {
    const caching = pages.find((p) => p.pageCode === PageCode.Caching && p.subpage === 0)
    const control = pages.find((p) => p.pageCode === PageCode.Control && p.subpage === 0)
    return {
      mediumType,
      deviceSpecific,
      writeProtected: (deviceSpecific & 0x80) !== 0,
      dpofua: (deviceSpecific & 0x10) !== 0,
      blockDescriptors,
      pages,
      caching: caching === undefined ? undefined : decodeCaching(caching.bytes),
      control: control === undefined ? undefined : decodeControl(control.bytes)
    }
  })
}

export const decodeModeSense6 = (data: Uint8Array): R<ModeParameters> =>
  Result.flatMap(B.need("MODE SENSE (6) data", data, 4), () =>
    decodeBody(data, 4, 1 + data[0], data[1], data[2], false, data[3])
  )

export const decodeModeSense10 = (data: Uint8Array): R<ModeParameters> =>
  Result.flatMap(B.need("MODE SENSE (10) data", data, 8), () =>
    decodeBody(data, 8, 2 + B.u16(data, 0), data[2], data[3], (data[4] & 1) !== 0, B.u16(data, 6))
  )

/** A MODE SELECT (6) parameter list: a zeroed header, no block descriptors, then the pages (PS cleared). */
export const encodeModeSelect6 = (pages: ReadonlyArray<Uint8Array>): Uint8Array => concatPages(4, pages)
/** A MODE SELECT (10) parameter list: a zeroed 8-byte header, no block descriptors, then the pages. */
export const encodeModeSelect10 = (pages: ReadonlyArray<Uint8Array>): Uint8Array => concatPages(8, pages)

const concatPages = (header: number, pages: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(header + pages.reduce((n, p) => n + p.length, 0))
  let o = header
  for (const p of pages) {
    out.set(p, o)
    out[o] &= 0x7f
    o += p.length
  }
  return out
}

export interface CachingPage {
  readonly ic: boolean
  readonly abpf: boolean
  readonly cap: boolean
  readonly disc: boolean
  readonly size: boolean
  /** Write cache enable. */
  readonly wce: boolean
  readonly mf: boolean
  /** Read cache disable. */
  readonly rcd: boolean
  readonly demandReadRetentionPriority: number
  readonly writeRetentionPriority: number
  readonly disablePrefetchTransferLength: number
  readonly minimumPrefetch: number
  readonly maximumPrefetch: number
  readonly maximumPrefetchCeiling: number
  readonly fsw: boolean
  readonly lbcss: boolean
  readonly dra: boolean
  readonly nvDis: boolean
  readonly numberOfCacheSegments: number
  readonly cacheSegmentSize: number
}

export const decodeCaching = (p: Uint8Array): CachingPage => ({
  ic: (B.u8(p, 2) & 0x80) !== 0,
  abpf: (B.u8(p, 2) & 0x40) !== 0,
  cap: (B.u8(p, 2) & 0x20) !== 0,
  disc: (B.u8(p, 2) & 0x10) !== 0,
  size: (B.u8(p, 2) & 0x08) !== 0,
  wce: (B.u8(p, 2) & 0x04) !== 0,
  mf: (B.u8(p, 2) & 0x02) !== 0,
  rcd: (B.u8(p, 2) & 0x01) !== 0,
  demandReadRetentionPriority: B.u8(p, 3) >> 4,
  writeRetentionPriority: B.u8(p, 3) & 0x0f,
  disablePrefetchTransferLength: B.u16(p, 4),
  minimumPrefetch: B.u16(p, 6),
  maximumPrefetch: B.u16(p, 8),
  maximumPrefetchCeiling: B.u16(p, 10),
  fsw: (B.u8(p, 12) & 0x80) !== 0,
  lbcss: (B.u8(p, 12) & 0x40) !== 0,
  dra: (B.u8(p, 12) & 0x20) !== 0,
  nvDis: (B.u8(p, 12) & 0x01) !== 0,
  numberOfCacheSegments: B.u8(p, 13),
  cacheSegmentSize: B.u16(p, 14)
})

/** The 20-byte Caching page (PS = 0) for MODE SELECT. */
export const encodeCaching = (c: CachingPage): Uint8Array => {
  const p = new Uint8Array(20)
  p[0] = PageCode.Caching
  p[1] = 0x12
  p[2] =
    (c.ic ? 0x80 : 0) |
    (c.abpf ? 0x40 : 0) |
    (c.cap ? 0x20 : 0) |
    (c.disc ? 0x10 : 0) |
    (c.size ? 0x08 : 0) |
    (c.wce ? 0x04 : 0) |
    (c.mf ? 0x02 : 0) |
    (c.rcd ? 0x01 : 0)
  p[3] = ((c.demandReadRetentionPriority & 0x0f) << 4) | (c.writeRetentionPriority & 0x0f)
  B.put16(p, 4, c.disablePrefetchTransferLength)
  B.put16(p, 6, c.minimumPrefetch)
  B.put16(p, 8, c.maximumPrefetch)
  B.put16(p, 10, c.maximumPrefetchCeiling)
  p[12] = (c.fsw ? 0x80 : 0) | (c.lbcss ? 0x40 : 0) | (c.dra ? 0x20 : 0) | (c.nvDis ? 0x01 : 0)
  p[13] = c.numberOfCacheSegments
  B.put16(p, 14, c.cacheSegmentSize)
  return p
}

export interface ControlPage {
  readonly tst: number
  readonly tmfOnly: boolean
  readonly dpicz: boolean
  /** Descriptor-format sense data. */
  readonly dSense: boolean
  readonly gltsd: boolean
  readonly rlec: boolean
  readonly queueAlgorithmModifier: number
  readonly nuar: boolean
  readonly qerr: number
  readonly rac: boolean
  readonly uaInterlockControl: number
  readonly swp: boolean
  readonly ato: boolean
  readonly tas: boolean
  readonly atmpe: boolean
  readonly rwwp: boolean
  readonly autoloadMode: number
  readonly busyTimeoutPeriod: number
  readonly extendedSelfTestCompletionTime: number
}

export const decodeControl = (p: Uint8Array): ControlPage => ({
  tst: B.u8(p, 2) >> 5,
  tmfOnly: (B.u8(p, 2) & 0x10) !== 0,
  dpicz: (B.u8(p, 2) & 0x08) !== 0,
  dSense: (B.u8(p, 2) & 0x04) !== 0,
  gltsd: (B.u8(p, 2) & 0x02) !== 0,
  rlec: (B.u8(p, 2) & 0x01) !== 0,
  queueAlgorithmModifier: B.u8(p, 3) >> 4,
  nuar: (B.u8(p, 3) & 0x08) !== 0,
  qerr: (B.u8(p, 3) >> 1) & 3,
  rac: (B.u8(p, 4) & 0x40) !== 0,
  uaInterlockControl: (B.u8(p, 4) >> 4) & 3,
  swp: (B.u8(p, 4) & 0x08) !== 0,
  ato: (B.u8(p, 5) & 0x80) !== 0,
  tas: (B.u8(p, 5) & 0x40) !== 0,
  atmpe: (B.u8(p, 5) & 0x20) !== 0,
  rwwp: (B.u8(p, 5) & 0x10) !== 0,
  autoloadMode: B.u8(p, 5) & 7,
  busyTimeoutPeriod: B.u16(p, 8),
  extendedSelfTestCompletionTime: B.u16(p, 10)
})

/** The 12-byte Control page (PS = 0) for MODE SELECT. */
export const encodeControl = (c: ControlPage): Uint8Array => {
  const p = new Uint8Array(12)
  p[0] = PageCode.Control
  p[1] = 0x0a
  p[2] =
    ((c.tst & 7) << 5) |
    (c.tmfOnly ? 0x10 : 0) |
    (c.dpicz ? 0x08 : 0) |
    (c.dSense ? 0x04 : 0) |
    (c.gltsd ? 0x02 : 0) |
    (c.rlec ? 0x01 : 0)
  p[3] = ((c.queueAlgorithmModifier & 0x0f) << 4) | (c.nuar ? 0x08 : 0) | ((c.qerr & 3) << 1)
  p[4] = (c.rac ? 0x40 : 0) | ((c.uaInterlockControl & 3) << 4) | (c.swp ? 0x08 : 0)
  p[5] = (c.ato ? 0x80 : 0) | (c.tas ? 0x40 : 0) | (c.atmpe ? 0x20 : 0) | (c.rwwp ? 0x10 : 0) | (c.autoloadMode & 7)
  B.put16(p, 8, c.busyTimeoutPeriod)
  B.put16(p, 10, c.extendedSelfTestCompletionTime)
  return p
}
