/**
 * An in-memory SBC "disk" behind `ScsiTransport`, for tests: it answers the CDBs the scsi package
 * builds by parsing them independently (so builders and decoders are checked against each other),
 * keeps its blocks in a Uint8Array, and can be scripted to fail the next commands (UNIT ATTENTION,
 * BUSY, transport loss, …) or to hang (for interruption tests).
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
    inFlight: 0
  }
}

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
  switch (c[0]) {
    case 0x00:
      return good()
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
        0x00: [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2],
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
          return p
        })(),
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

/** A ScsiTransport over this disk (every LUN number maps to the same disk). */
export const layer = (
  disk: FakeDisk,
  options?: { readonly luns?: ReadonlyArray<number>; readonly latency?: boolean }
) => {
  if (options?.luns !== undefined) lunsOf.set(disk, options.luns)
  return Layer.succeed(ScsiTransport)(
    ScsiTransport.of({
      execute: (req) =>
        Effect.suspend(() => {
          disk.log.push(req)
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
