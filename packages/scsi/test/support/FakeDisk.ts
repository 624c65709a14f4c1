/**
 * An in-memory SBC "disk" behind `ScsiTransport`, for tests: it answers the CDBs the scsi package
 * builds by parsing them independently (so builders and decoders are checked against each other),
 * keeps its blocks in a Uint8Array, and can be scripted to fail the next commands (UNIT ATTENTION,
 * BUSY, transport loss, …) or to hang (for interruption tests).
 *
 * It also does what tgt refuses, as the standards say (issue 19): SANITIZE, EXTENDED COPY (LID1 and
 * LID4, block→block segments between identification CSCDs naming this disk) with RECEIVE COPY
 * RESULTS, WRITE ATOMIC (16), READ DEFECT DATA, REPORT TARGET PORT GROUPS (two groups), READ TOC
 * (with `cdrom`), VPD 85h–88h, RESERVE/RELEASE (6) against another I_T nexus (`reservedByOther`),
 * and REPORT SUPPORTED OPERATION CODES listing exactly the opcodes it answers. Requests with
 * scatter-gather buffers (`dataOutIov`, `readIntoIov`) are served like their single-buffer forms.
 */
import * as IscsiError from "@effect-iscsi/core/IscsiError"
import { type ScsiRequest, type ScsiResult, ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Sense from "../../src/Sense.ts"

export type Fault =
  | { readonly _tag: "Status"; readonly status: number; readonly sense?: Uint8Array }
  | { readonly _tag: "Transport" }
  | { readonly _tag: "Hang" }

export interface FakeDiskOptions {
  readonly blockSize?: number
  readonly blocks?: number
  readonly thin?: boolean
  readonly luns?: ReadonlyArray<number>
  /** Answer as an optical unit too (READ TOC: one data track from LBA 0). */
  readonly cdrom?: boolean
  /** Leave REPORT SUPPORTED OPERATION CODES out (ILLEGAL REQUEST), as older targets do. */
  readonly noRsoc?: boolean
}

export interface CopyRecord {
  readonly lid4: boolean
  readonly segments: number
  readonly blocks: number
  /** 1 completed, 2 completed with errors. */
  readonly status: number
  readonly sense: Uint8Array
}

export interface FakeDisk {
  readonly blockSize: number
  readonly blocks: number
  readonly data: Uint8Array
  readonly log: Array<ScsiRequest>
  readonly faults: Array<Fault>
  wce: boolean
  dSense: boolean
  keys: Array<bigint>
  reservation: { key: bigint; type: number } | undefined
  maxInFlight: number
  inFlight: number
  /** RESERVE (6) holder: this nexus, another one (commands get RESERVATION CONFLICT), or none. */
  legacyReservation: "self" | "other" | undefined
  /** PREVENT ALLOW MEDIUM REMOVAL state. */
  preventRemoval: boolean
  /** Grown defect list (LBAs) for READ DEFECT DATA. */
  defects: Array<number>
  /** EXTENDED COPY results by list identifier. */
  readonly copies: Map<number, CopyRecord>
  /** Asymmetric access state of target port group 1 (group 2 is standby). */
  aluaState: number
  readonly cdrom: boolean
  readonly noRsoc: boolean
  /** SANITIZE passes run (for assertions). */
  sanitized: number
}

const be = (b: Uint8Array, o: number, n: number): number => {
  let v = 0
  for (let i = 0; i < n; i++) v = v * 256 + b[o + i]
  return v
}
const put = (b: Uint8Array, o: number, n: number, v: number | bigint) => {
  let x = BigInt(v)
  for (let i = n - 1; i >= 0; i--) {
    b[o + i] = Number(x & 0xffn)
    x >>= 8n
  }
}

export const make = (options: FakeDiskOptions = {}): FakeDisk => {
  const blockSize = options.blockSize ?? 512
  const blocks = options.blocks ?? 2048
  return {
    blockSize,
    blocks,
    data: new Uint8Array(blockSize * blocks),
    log: [],
    faults: [],
    wce: true,
    dSense: false,
    keys: [],
    reservation: undefined,
    maxInFlight: 0,
    inFlight: 0,
    legacyReservation: undefined,
    preventRemoval: false,
    defects: [],
    copies: new Map(),
    aluaState: 0,
    cdrom: options.cdrom ?? false,
    noRsoc: options.noRsoc ?? false,
    sanitized: 0
  }
}

/** The NAA designator of the fake disk (VPD 83h), which EXTENDED COPY CSCDs must name. */
export const NAA = Uint8Array.of(0x60, 1, 2, 3, 4, 5, 6, 7)
/** VPD B0h MAXIMUM ATOMIC TRANSFER LENGTH of the fake disk. */
export const MAX_ATOMIC_BLOCKS = 64
/** PRE-FETCH answers CONDITION MET up to this many blocks (its "cache"). */
export const CACHE_BLOCKS = 1024

/** The CDB opcodes (and service actions) the fake disk answers: its REPORT SUPPORTED OPERATION CODES list. */
export const SUPPORTED: ReadonlyArray<readonly [number, number | undefined, number]> = [
  [0x00, undefined, 6],
  [0x03, undefined, 6],
  [0x08, undefined, 6],
  [0x0a, undefined, 6],
  [0x12, undefined, 6],
  [0x15, undefined, 6],
  [0x16, undefined, 6],
  [0x17, undefined, 6],
  [0x1a, undefined, 6],
  [0x1b, undefined, 6],
  [0x1e, undefined, 6],
  [0x25, undefined, 10],
  [0x28, undefined, 10],
  [0x2a, undefined, 10],
  [0x2e, undefined, 10],
  [0x2f, undefined, 10],
  [0x34, undefined, 10],
  [0x35, undefined, 10],
  [0x37, undefined, 10],
  [0x41, undefined, 10],
  [0x42, undefined, 10],
  [0x48, 0x01, 10],
  [0x48, 0x02, 10],
  [0x48, 0x03, 10],
  [0x48, 0x1f, 10],
  [0x55, undefined, 10],
  [0x5a, undefined, 10],
  [0x5e, 0, 10],
  [0x5e, 1, 10],
  [0x5e, 2, 10],
  [0x5f, 0, 10],
  [0x5f, 1, 10],
  [0x5f, 2, 10],
  [0x5f, 3, 10],
  [0x83, 0x00, 16],
  [0x83, 0x01, 16],
  [0x84, 0x00, 16],
  [0x84, 0x03, 16],
  [0x84, 0x04, 16],
  [0x84, 0x05, 16],
  [0x88, undefined, 16],
  [0x89, undefined, 16],
  [0x8a, undefined, 16],
  [0x8b, undefined, 16],
  [0x8e, undefined, 16],
  [0x8f, undefined, 16],
  [0x90, undefined, 16],
  [0x91, undefined, 16],
  [0x93, undefined, 16],
  [0x9c, undefined, 16],
  [0x9e, 0x10, 16],
  [0x9e, 0x12, 16],
  [0xa0, undefined, 12],
  [0xa3, 0x0a, 12],
  [0xa3, 0x0c, 12],
  [0xa8, undefined, 12],
  [0xaa, undefined, 12],
  [0xae, undefined, 12],
  [0xaf, undefined, 12],
  [0xb7, undefined, 12]
]

const good = (data: Uint8Array = new Uint8Array(0), readLength = data.length): ScsiResult => {
  const n = Math.min(data.length, readLength)
  return {
    status: 0,
    data: data.subarray(0, n),
    response: 0,
    underflow: n < readLength,
    overflow: false,
    residualCount: readLength - n,
    bidiUnderflow: false,
    bidiOverflow: false,
    bidiResidualCount: 0
  }
}

export const checkCondition = (
  disk: FakeDisk,
  senseKey: number,
  asc: number,
  ascq: number,
  information?: number
): ScsiResult => ({
  ...good(),
  status: 2,
  sense: disk.dSense
    ? Sense.encodeDescriptor({
        senseKey,
        asc,
        ascq,
        information: information === undefined ? undefined : BigInt(information)
      })
    : Sense.encodeFixed({ senseKey, asc, ascq, information })
})

/** Answer one request synchronously. */
export const answer = (disk: FakeDisk, req: ScsiRequest): ScsiResult => {
  const c = req.cdb
  const bs = disk.blockSize
  const rl = req.readLength ?? 0
  const out = req.dataOut ?? new Uint8Array(0)
  const illegal = () => checkCondition(disk, 5, 0x24, 0)
  const range = (lba: number, n: number) => lba + n > disk.blocks
  const lbaRange = () => checkCondition(disk, 5, 0x21, 0)
  const rw = (lba: number, n: number, write: boolean) => {
    if (range(lba, n)) return lbaRange()
    if (write) {
      if (out.length !== n * bs) return checkCondition(disk, 5, 0x24, 0)
      disk.data.set(out, lba * bs)
      return good()
    }
    return good(disk.data.slice(lba * bs, (lba + n) * bs), rl)
  }
  if (disk.legacyReservation === "other" && !NO_CONFLICT.has(c[0])) return { ...good(), status: 0x18 }
  switch (c[0]) {
    case 0x00:
      return good()
    case 0x16:
      disk.legacyReservation = "self"
      return good()
    case 0x17:
      disk.legacyReservation = undefined
      return good()
    case 0x1e:
      disk.preventRemoval = (c[4] & 3) !== 0
      return good()
    case 0x34:
    case 0x90: {
      const lba = c[0] === 0x34 ? be(c, 2, 4) : be(c, 2, 8)
      const n = c[0] === 0x34 ? be(c, 7, 2) : be(c, 10, 4)
      if (range(lba, n)) return lbaRange()
      const count = n === 0 ? disk.blocks - lba : n
      return count <= CACHE_BLOCKS ? { ...good(), status: 0x04 } : good()
    }
    case 0x8b: {
      const lba = be(c, 2, 8)
      const n = be(c, 10, 4)
      if (range(lba, n)) return lbaRange()
      if (out.length !== n * bs) return illegal()
      for (let i = 0; i < out.length; i++) disk.data[lba * bs + i]! |= out[i]!
      return good()
    }
    case 0x9c: {
      const n = be(c, 12, 2)
      if (n > MAX_ATOMIC_BLOCKS || be(c, 10, 2) !== 0) return illegal()
      return rw(be(c, 2, 8), n, true)
    }
    case 0xae:
      return rw(be(c, 2, 4), be(c, 6, 4), true)
    case 0xaf: {
      const lba = be(c, 2, 4)
      const n = be(c, 6, 4)
      if (range(lba, n)) return lbaRange()
      if (((c[1] >> 1) & 3) === 1) {
        for (let i = 0; i < out.length; i++)
          if (out[i] !== disk.data[lba * bs + i]) return checkCondition(disk, 0x0e, 0x1d, 0, i)
      }
      return good()
    }
    case 0x48:
      return sanitize(disk, c, out)
    case 0x83:
      return extendedCopy(disk, c, out)
    case 0x84:
      return receiveCopyResults(disk, c, rl)
    case 0xa3: {
      const sa = c[1] & 0x1f
      if (sa === 0x0c && !disk.noRsoc) return reportSupportedOperationCodes(disk, c, rl)
      if (sa === 0x0a) return reportTargetPortGroups(disk, c, rl)
      return illegal()
    }
    case 0x37:
    case 0xb7:
      return readDefectData(disk, c, rl)
    case 0x43: {
      if (!disk.cdrom) return checkCondition(disk, 5, 0x20, 0)
      const msf = (c[1] & 0x02) !== 0
      const d = new Uint8Array(4 + 16)
      put(d, 0, 2, d.length - 2)
      d[2] = 1
      d[3] = 1
      d.set([0, 0x14, 1, 0], 4)
      put(d, 8, 4, msf ? 0x0000_0200 : 0) // MSF 00:02:00 is LBA 0
      d.set([0, 0x14, 0xaa, 0], 12)
      put(d, 16, 4, disk.blocks)
      return good(d, rl)
    }
    case 0x03: {
      const s =
        (c[1] & 1) !== 0
          ? Sense.encodeDescriptor({ senseKey: 0, asc: 0, ascq: 0 })
          : Sense.encodeFixed({ senseKey: 0, asc: 0, ascq: 0 })
      return good(s, rl)
    }
    case 0x12: {
      if ((c[1] & 1) === 0) {
        const d = new Uint8Array(96)
        d[2] = 0x06
        d[3] = 0x12
        d[4] = 91
        d[7] = 0x02
        d.set(new TextEncoder().encode("FAKE    DISK            0001"), 8)
        put(d, 58, 2, 0x0460)
        return good(d, rl)
      }
      const page = c[2]
      const body: Record<number, Array<number>> = {
        0x00: [0x00, 0x80, 0x83, 0x85, 0x86, 0x87, 0x88, 0xb0, 0xb1, 0xb2],
        0x80: Array.from(new TextEncoder().encode("SN0001")),
        0x83: [
          0x02,
          0x01,
          0x00,
          0x08,
          ...new TextEncoder().encode("FAKEDISK"),
          0x01,
          0x03,
          0x00,
          0x08,
          0x60,
          1,
          2,
          3,
          4,
          5,
          6,
          7
        ],
        0xb0: (() => {
          // payload index = page byte - 4
          const p = new Array<number>(60).fill(0)
          p[1] = 1 // MAXIMUM COMPARE AND WRITE LENGTH (byte 5)
          p[6] = 0x10 // MAXIMUM TRANSFER LENGTH 0x1000 (bytes 8-11)
          p[43] = MAX_ATOMIC_BLOCKS // MAXIMUM ATOMIC TRANSFER LENGTH (bytes 44-47)
          return p
        })(),
        // 85h: one storage configuration service address for the logical unit, NUL-padded
        0x85: [0x01, 0x00, 0x00, 0x10, ...new TextEncoder().encode("http://fake/cfg"), 0x00],
        // 86h: HEADSUP ORDSUP SIMPSUP, V_SUP NV_SUP, LUICLR, 5 min self-test, 252 B sense
        0x86: (() => {
          const p = new Array<number>(60).fill(0)
          p[1] = 0x07
          p[2] = 0x03
          p[3] = 0x01
          p[7] = 5
          p[9] = 252
          return p
        })(),
        // 87h: all pages shared; caching page per target port with MLUS
        0x87: [0x3f, 0xff, 0x00, 0x00, 0x08, 0x00, 0x81, 0x00],
        // 88h: relative port 1, no initiator TransportID, one target port designator (relative
        // target port 1, iSCSI, PIV, target port association)
        0x88: [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8, 0x51, 0x94, 0x00, 0x04, 0, 0, 0, 1],
        0xb1: [0x00, 0x01, 0x00, 0x00, 0x02],
        0xb2: [0x00, disk.blocks > 0 ? 0xe0 : 0, 0x02, 0x00]
      }
      const p = body[page]
      if (p === undefined) return illegal()
      const d = new Uint8Array(4 + p.length)
      d[1] = page
      put(d, 2, 2, p.length)
      d.set(p, 4)
      return good(d, rl)
    }
    case 0x25: {
      const d = new Uint8Array(8)
      put(d, 0, 4, disk.blocks - 1)
      put(d, 4, 4, bs)
      return good(d, rl)
    }
    case 0x9e: {
      if ((c[1] & 0x1f) === 0x10) {
        const d = new Uint8Array(32)
        put(d, 0, 8, disk.blocks - 1)
        put(d, 8, 4, bs)
        d[14] = 0x80
        return good(d, rl)
      }
      if ((c[1] & 0x1f) === 0x12) {
        const lba = be(c, 2, 8)
        if (range(lba, 1)) return lbaRange()
        const d = new Uint8Array(24)
        put(d, 0, 4, 20)
        put(d, 8, 8, lba)
        put(d, 16, 4, disk.blocks - lba)
        return good(d, rl)
      }
      return illegal()
    }
    case 0x08:
    case 0x0a: {
      const lba = ((c[1] & 0x1f) << 16) | (c[2] << 8) | c[3]
      return rw(lba, c[4] === 0 ? 256 : c[4], c[0] === 0x0a)
    }
    case 0x28:
    case 0x2a:
    case 0x2e:
      return rw(be(c, 2, 4), be(c, 7, 2), c[0] !== 0x28)
    case 0xa8:
    case 0xaa:
      return rw(be(c, 2, 4), be(c, 6, 4), c[0] === 0xaa)
    case 0x88:
    case 0x8a:
    case 0x8e:
      return rw(be(c, 2, 8), be(c, 10, 4), c[0] !== 0x88)
    case 0x2f:
    case 0x8f: {
      const lba = c[0] === 0x2f ? be(c, 2, 4) : be(c, 2, 8)
      const n = c[0] === 0x2f ? be(c, 7, 2) : be(c, 10, 4)
      if (range(lba, n)) return lbaRange()
      if (((c[1] >> 1) & 3) === 1) {
        for (let i = 0; i < out.length; i++)
          if (out[i] !== disk.data[lba * bs + i]) return checkCondition(disk, 0x0e, 0x1d, 0, i)
      }
      return good()
    }
    case 0x35:
    case 0x91:
      return good()
    case 0xa0: {
      const luns = [0, ...(lunsOf.get(disk) ?? [1])]
      const d = new Uint8Array(8 + 8 * luns.length)
      put(d, 0, 4, 8 * luns.length)
      for (const [i, l] of luns.entries()) put(d, 8 + 8 * i, 2, l < 256 ? l : 0x4000 | l)
      return good(d, rl)
    }
    case 0x1a:
    case 0x5a: {
      const caching = new Uint8Array(20)
      caching[0] = 0x08
      caching[1] = 0x12
      caching[2] = disk.wce ? 0x04 : 0
      const control = new Uint8Array(12)
      control[0] = 0x0a
      control[1] = 0x0a
      control[2] = disk.dSense ? 0x04 : 0
      const pageCode = c[2] & 0x3f
      const pages =
        pageCode === 0x08
          ? [caching]
          : pageCode === 0x0a
            ? [control]
            : pageCode === 0x3f
              ? [caching, control]
              : undefined
      if (pages === undefined) return illegal()
      const six = c[0] === 0x1a
      const dbd = (c[1] & 0x08) !== 0
      const hl = six ? 4 : 8
      const bdl = dbd ? 0 : 8
      const total = hl + bdl + pages.reduce((n, p) => n + p.length, 0)
      const d = new Uint8Array(total)
      if (six) {
        d[0] = total - 1
        d[2] = 0x10
        d[3] = bdl
      } else {
        put(d, 0, 2, total - 2)
        d[3] = 0x10
        put(d, 6, 2, bdl)
      }
      if (!dbd) {
        put(d, hl, 4, disk.blocks)
        put(d, hl + 5, 3, bs)
      }
      let o = hl + bdl
      for (const p of pages) {
        d.set(p, o)
        o += p.length
      }
      return good(d, rl)
    }
    case 0x15:
    case 0x55: {
      const hl = c[0] === 0x15 ? 4 : 8
      for (let o = hl; o + 2 <= out.length; o += 2 + out[o + 1]) {
        if ((out[o] & 0x3f) === 0x08) disk.wce = (out[o + 2] & 0x04) !== 0
        else if ((out[o] & 0x3f) === 0x0a) disk.dSense = (out[o + 2] & 0x04) !== 0
        else return checkCondition(disk, 5, 0x26, 0)
      }
      return good()
    }
    case 0x42: {
      const n = be(out, 2, 2) / 16
      for (let i = 0; i < n; i++) {
        const lba = be(out, 8 + 16 * i, 8)
        const count = be(out, 16 + 16 * i, 4)
        if (range(lba, count)) return lbaRange()
        disk.data.fill(0, lba * bs, (lba + count) * bs)
      }
      return good()
    }
    case 0x41:
    case 0x93: {
      const lba = c[0] === 0x41 ? be(c, 2, 4) : be(c, 2, 8)
      const n = c[0] === 0x41 ? be(c, 7, 2) : be(c, 10, 4)
      if (range(lba, n)) return lbaRange()
      const unmap = (c[1] & 0x08) !== 0
      for (let i = 0; i < n; i++) {
        if (unmap || (c[1] & 1) !== 0) disk.data.fill(0, (lba + i) * bs, (lba + i + 1) * bs)
        else disk.data.set(out.subarray(0, bs), (lba + i) * bs)
      }
      return good()
    }
    case 0x89: {
      const lba = be(c, 2, 8)
      const n = c[13]
      if (range(lba, n)) return lbaRange()
      for (let i = 0; i < n * bs; i++)
        if (out[i] !== disk.data[lba * bs + i]) return checkCondition(disk, 0x0e, 0x1d, 0, i)
      disk.data.set(out.subarray(n * bs, 2 * n * bs), lba * bs)
      return good()
    }
    case 0x5e: {
      const sa = c[1] & 0x1f
      if (sa === 0) {
        const d = new Uint8Array(8 + 8 * disk.keys.length)
        put(d, 0, 4, 7)
        put(d, 4, 4, 8 * disk.keys.length)
        for (const [i, k] of disk.keys.entries()) put(d, 8 + 8 * i, 8, k)
        return good(d, rl)
      }
      if (sa === 1) {
        const r = disk.reservation
        const d = new Uint8Array(r === undefined ? 8 : 24)
        put(d, 0, 4, 7)
        if (r !== undefined) {
          put(d, 4, 4, 16)
          put(d, 8, 8, r.key)
          d[21] = r.type
        }
        return good(d, rl)
      }
      if (sa === 2) return good(Uint8Array.from([0, 8, 0x11, 0x81, 0xea, 0x01, 0, 0]), rl)
      return illegal()
    }
    case 0x5f: {
      const sa = c[1] & 0x1f
      const key = BigInt(be(out, 0, 8))
      const sakey = BigInt(be(out, 8, 8))
      if (sa === 0) {
        if (sakey === 0n) disk.keys = disk.keys.filter((k) => k !== key)
        else disk.keys.push(sakey)
        return good()
      }
      if (!disk.keys.includes(key)) return { ...good(), status: 0x18 }
      if (sa === 1) disk.reservation = { key, type: c[2] & 0x0f }
      else if (sa === 2) disk.reservation = undefined
      else if (sa === 3) {
        disk.reservation = undefined
        disk.keys = []
      }
      return good()
    }
    case 0x1b:
      return good()
    default:
      return checkCondition(disk, 5, 0x20, 0)
  }
}

const lunsOf = new WeakMap<FakeDisk, ReadonlyArray<number>>()

/** Commands a RESERVE (6) of another nexus does not conflict with (SPC-2 §5.5.1). */
const NO_CONFLICT = new Set([0x12, 0x03, 0xa0, 0x17, 0xa3, 0x25])

const sanitize = (disk: FakeDisk, c: Uint8Array, out: Uint8Array): ScsiResult => {
  const sa = c[1] & 0x1f
  const len = be(c, 7, 2)
  if (sa === 0x1f) return good()
  if (sa === 0x02 || sa === 0x03) {
    if (len !== 0) return checkCondition(disk, 5, 0x24, 0)
    disk.data.fill(0)
    disk.sanitized++
    return good()
  }
  if (sa !== 0x01) return checkCondition(disk, 5, 0x24, 0)
  const n = be(out, 2, 2)
  const count = out[0] & 0x1f
  if (len !== out.length || n === 0 || 4 + n !== len || n > disk.blockSize || count === 0)
    return checkCondition(disk, 5, 0x26, 0)
  const pattern = out.subarray(4, 4 + n)
  // passes alternate the pattern and its inverse when INVERT is set: the last pass decides
  const invert = (out[0] & 0x80) !== 0 && count % 2 === 0
  for (let b = 0; b < disk.blocks; b++)
    for (let i = 0; i < disk.blockSize; i++) {
      const v = pattern[i % n]!
      disk.data[b * disk.blockSize + i] = invert ? ~v & 0xff : v
    }
  disk.sanitized += count
  return good()
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

const extendedCopy = (disk: FakeDisk, c: Uint8Array, out: Uint8Array): ScsiResult => {
  const lid4 = (c[1] & 0x1f) === 0x01
  if ((c[1] & 0x1f) > 1 || be(c, 10, 4) !== out.length) return checkCondition(disk, 5, 0x24, 0)
  const bad = () => checkCondition(disk, 5, 0x26, 0)
  let listId: number
  let cscdLen: number
  let segLen: number
  let at: number
  if (lid4) {
    if (out.length < 48 || out[0] !== 0x01 || be(out, 2, 2) !== 0x20 || out[16] !== 0xff) return bad()
    listId = be(out, 20, 4)
    cscdLen = be(out, 42, 2)
    segLen = be(out, 44, 2)
    at = 48
  } else {
    if (out.length < 16) return bad()
    listId = out[0]!
    cscdLen = be(out, 2, 2)
    segLen = be(out, 8, 4)
    at = 16
  }
  if (at + cscdLen + segLen > out.length || cscdLen % 32 !== 0) return bad()
  const cscds: Array<number> = []
  for (let o = at; o < at + cscdLen; o += 32) {
    // identification descriptors naming this disk by NAA, with its block length
    if (out[o] !== 0xe4 || (out[o + 5]! & 0x0f) !== 3) return bad()
    const designator = out.subarray(o + 8, o + 8 + out[o + 7]!)
    if (!sameBytes(designator, NAA) || be(out, o + 29, 3) !== disk.blockSize) {
      const sense = Sense.encodeFixed({ senseKey: 0x0a, asc: 0x0d, ascq: 0x02 })
      disk.copies.set(listId, { lid4, segments: 0, blocks: 0, status: 2, sense })
      return { ...good(), status: 2, sense }
    }
    cscds.push(o)
  }
  let segments = 0
  let blocks = 0
  for (let o = at + cscdLen; o < at + cscdLen + segLen; ) {
    if (out[o] !== 0x02 || be(out, o + 2, 2) !== 0x18) return bad()
    const src = be(out, o + 4, 2)
    const dst = be(out, o + 6, 2)
    if (src >= cscds.length || dst >= cscds.length) return bad()
    const n = be(out, o + 10, 2)
    const from = be(out, o + 12, 8)
    const to = be(out, o + 20, 8)
    if (from + n > disk.blocks || to + n > disk.blocks) return outOfRange(disk)
    const bs = disk.blockSize
    disk.data.copyWithin(to * bs, from * bs, (from + n) * bs)
    segments++
    blocks += n
    o += 28
  }
  disk.copies.set(listId, { lid4, segments, blocks, status: 1, sense: new Uint8Array(0) })
  return good()
}

const outOfRange = (disk: FakeDisk) => checkCondition(disk, 5, 0x21, 0)

const receiveCopyResults = (disk: FakeDisk, c: Uint8Array, rl: number): ScsiResult => {
  const sa = c[1] & 0x1f
  if (sa === 0x03) {
    const d = new Uint8Array(46)
    put(d, 0, 4, 42)
    put(d, 8, 2, 2)
    put(d, 10, 2, 16)
    put(d, 12, 4, 1024)
    put(d, 16, 4, 65535 * disk.blockSize)
    put(d, 34, 2, 1)
    d[36] = 1
    d[37] = Math.log2(disk.blockSize)
    d[43] = 2
    d[44] = 0x02
    d[45] = 0xe4
    return good(d, rl)
  }
  const lid4 = sa === 0x05
  const listId = lid4 ? be(c, 2, 4) : c[2]!
  const copy = disk.copies.get(listId)
  if (copy === undefined || copy.lid4 !== lid4) return checkCondition(disk, 5, 0x24, 0)
  if (sa === 0x00) {
    const d = new Uint8Array(12)
    put(d, 0, 4, 8)
    d[4] = copy.status
    put(d, 5, 2, copy.segments)
    d[7] = 0xf1
    put(d, 8, 4, copy.blocks)
    return good(d, rl)
  }
  if (sa === 0x04) {
    if (copy.status === 1) return good(new Uint8Array(4), rl)
    const d = new Uint8Array(60 + copy.sense.length)
    put(d, 0, 4, d.length - 4)
    d[56] = 2
    put(d, 58, 2, copy.sense.length)
    d.set(copy.sense, 60)
    return good(d, rl)
  }
  if (sa === 0x05) {
    const d = new Uint8Array(32 + copy.sense.length)
    put(d, 0, 4, d.length - 4)
    d[4] = 0x01
    d[5] = copy.status
    d[12] = copy.status === 1 ? 0 : 2
    d[13] = copy.sense.length
    d[14] = copy.sense.length
    d[15] = 0xf1
    put(d, 16, 8, copy.blocks)
    put(d, 24, 2, copy.segments)
    d.set(copy.sense, 32)
    return good(d, rl)
  }
  return checkCondition(disk, 5, 0x24, 0)
}

const reportSupportedOperationCodes = (disk: FakeDisk, c: Uint8Array, rl: number): ScsiResult => {
  const rctd = (c[2] & 0x80) !== 0
  const options = c[2] & 0x07
  const timeouts = (d: Uint8Array, o: number) => {
    put(d, o, 2, 0x0a)
    put(d, o + 4, 4, 1)
    put(d, o + 8, 4, 30)
  }
  if (options === 0) {
    const size = rctd ? 20 : 8
    const d = new Uint8Array(4 + SUPPORTED.length * size)
    put(d, 0, 4, d.length - 4)
    SUPPORTED.forEach(([op, sa, len], i) => {
      const o = 4 + i * size
      d[o] = op
      if (sa !== undefined) {
        put(d, o + 2, 2, sa)
        d[o + 5] |= 0x01
      }
      if (rctd) {
        d[o + 5] |= 0x02
        timeouts(d, o + 8)
      }
      put(d, o + 6, 2, len)
    })
    return good(d, rl)
  }
  const op = c[3]!
  const sa = be(c, 4, 2)
  const withSa = SUPPORTED.some(([o, s]) => o === op && s !== undefined)
  if (options === 1 && withSa) return checkCondition(disk, 5, 0x24, 0)
  if (options === 2 && !withSa && SUPPORTED.some(([o]) => o === op)) return checkCondition(disk, 5, 0x24, 0)
  const entry = SUPPORTED.find(([o, s]) => o === op && (options === 1 || !withSa || s === sa))
  if (entry === undefined) {
    const d = new Uint8Array(4)
    d[1] = 0x01 // not supported
    return good(d, rl)
  }
  const len = entry[2]
  const d = new Uint8Array(4 + len + (rctd ? 12 : 0))
  d[1] = (rctd ? 0x80 : 0) | 0x03
  put(d, 2, 2, len)
  d[4] = op
  for (let i = 1; i < len - 1; i++) d[4 + i] = 0xff
  d[4 + len - 1] = 0x07
  if (rctd) timeouts(d, 4 + len)
  return good(d, rl)
}

const reportTargetPortGroups = (disk: FakeDisk, c: Uint8Array, rl: number): ScsiResult => {
  const extended = (c[1] & 0xe0) === 0x20
  const h = extended ? 8 : 4
  const d = new Uint8Array(h + 12 + 12)
  put(d, 0, 4, d.length - 4)
  if (extended) {
    d[4] = 0x10
    d[5] = 10
  }
  // group 1: preferred, aluaState, ports 1; group 2: standby, port 2
  d.set([0x80 | disk.aluaState, 0x8f, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1], h)
  d.set([0x02, 0x8f, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2], h + 12)
  return good(d, rl)
}

const readDefectData = (disk: FakeDisk, c: Uint8Array, rl: number): ScsiResult => {
  const ten = c[0] === 0x37
  const flags = ten ? c[2]! : c[1]!
  const format = flags & 0x07
  if (format !== 0 && format !== 3) return checkCondition(disk, 5, 0x24, 0)
  const grown = (flags & 0x08) !== 0
  const size = format === 0 ? 4 : 8
  const list = grown ? disk.defects : []
  const h = ten ? 4 : 8
  const d = new Uint8Array(h + list.length * size)
  d[1] = (flags & 0x18) | format
  if (ten) put(d, 2, 2, list.length * size)
  else put(d, 4, 4, list.length * size)
  for (const [i, lba] of list.entries()) put(d, h + i * size, size, lba)
  return good(d, rl)
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

const scatter = (data: Uint8Array, into: ReadonlyArray<Uint8Array>): void => {
  let o = 0
  for (const b of into) {
    if (o >= data.length) return
    const n = Math.min(b.length, data.length - o)
    b.set(data.subarray(o, o + n))
    o += n
  }
}

/** A ScsiTransport over this disk (every LUN number maps to the same disk). */
export const layer = (
  disk: FakeDisk,
  options?: { readonly luns?: ReadonlyArray<number>; readonly latency?: boolean }
) => {
  if (options?.luns !== undefined) lunsOf.set(disk, options.luns)
  return Layer.succeed(ScsiTransport)(
    ScsiTransport.of({
      execute: (request) =>
        Effect.suspend(() => {
          disk.log.push(request)
          const req = request.dataOutIov !== undefined ? { ...request, dataOut: concat(request.dataOutIov) } : request
          const fault = disk.faults.shift()
          if (fault?._tag === "Hang") return Effect.never
          if (fault?._tag === "Transport") {
            return Effect.fail(IscsiError.make(new IscsiError.ConnectionLost({ message: "fake: connection lost" })))
          }
          if (fault?._tag === "Status") return Effect.succeed({ ...good(), status: fault.status, sense: fault.sense })
          disk.inFlight++
          disk.maxInFlight = Math.max(disk.maxInFlight, disk.inFlight)
          return (
            options?.latency === true
              ? Effect.forEach([1, 2, 3, 4], () => Effect.yieldNow, { discard: true })
              : Effect.void
          ).pipe(
            Effect.map(() => {
              const r = answer(disk, req)
              if (req.readIntoIov !== undefined) {
                scatter(r.data, req.readIntoIov)
                return { ...r, data: new Uint8Array(0) }
              }
              if (req.readInto !== undefined && r.data.length > 0) {
                req.readInto.set(r.data)
                return { ...r, data: req.readInto.subarray(0, r.data.length) }
              }
              return r
            }),
            Effect.ensuring(Effect.sync(() => disk.inFlight--))
          )
        })
    })
  )
}
