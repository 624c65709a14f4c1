/**
 * Data placement in the framer (issue 8, the zero-copy receive path): a Data-In segment that does
 * not fit in the chunk its header came in is written straight to where its `Placer` says, the
 * transport may read the rest of it there directly (`directBuffer`), reads between large segments
 * are kept to one header (`readLimit`), and a revoked placement writes nothing more. The framer's
 * output must be the same PDUs, byte for byte, however the stream is cut and read.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Framer from "../src/Framer.ts"
import * as Pdu from "../src/Pdu.ts"
import { concat } from "./fixtures/bytes.ts"

const pattern = (seed: number, length: number): Uint8Array => {
  const data = new Uint8Array(length)
  for (let i = 0; i < length; i++) data[i] = (i * 31 + seed * 7 + 1) & 0xff
  return data
}

const dataIn = (itt: number, dataSN: number, length: number, status = false): Pdu.ScsiDataIn => ({
  _tag: "ScsiDataIn",
  final: status,
  acknowledge: false,
  overflow: false,
  underflow: false,
  statusPresent: status,
  status: 0,
  lun: 0n,
  itt,
  ttt: 0xffffffff,
  statSN: status ? 5 : 0,
  expCmdSN: 1,
  maxCmdSN: 9,
  dataSN,
  bufferOffset: 0,
  residualCount: 0,
  data: pattern(itt * 13 + dataSN, length)
})

const response = (itt: number): Pdu.ScsiResponse => ({
  _tag: "ScsiResponse",
  overflow: false,
  underflow: false,
  bidiOverflow: false,
  bidiUnderflow: false,
  response: 0,
  status: 0,
  itt,
  snackTag: 0,
  statSN: 3,
  expCmdSN: 1,
  maxCmdSN: 9,
  expDataSN: 1,
  bidiResidualCount: 0,
  residualCount: 0,
  data: new Uint8Array(0)
})

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0

/**
 * A placer with one destination buffer per ITT and DataSN (like a task's read buffer), with 8 guard
 * bytes of 0xEE on each side of the segment (and 0xEE in it until placed).
 */
const bufferPlacer = () => {
  const buffers = new Map<number, Uint8Array>()
  const key = (itt: number, dataSN: number) => itt * 1000 + dataSN
  const placer: Framer.Placer = {
    place: (b, o, dsl) => {
      const buf = new Uint8Array(dsl + 16).fill(0xee)
      buffers.set(key(u32(b, o + 16), u32(b, o + 36)), buf)
      return buf.subarray(8, 8 + dsl)
    }
  }
  return { placer, buffers: { get: (itt: number, dataSN = 0) => buffers.get(key(itt, dataSN)) } }
}

/**
 * Feeds `stream` to `framer` the way the Node transport does: a read goes into the framer's
 * `directBuffer` when it offers one, else into a transport buffer capped by `readLimit`; `sizes`
 * picks how many bytes each read returns (like a socket that has only so much).
 */
const readLike = (
  framer: Framer.Framer,
  stream: Uint8Array,
  sizes: ReadonlyArray<number>,
  onPdu: (p: Pdu.Pdu) => void,
  options: { readonly directMin?: number; readonly ownBuffer?: number } = {}
) => {
  const own = new Uint8Array(options.ownBuffer ?? 65536)
  let pos = 0
  let i = 0
  while (pos < stream.length) {
    const direct = framer.directBuffer(options.directMin ?? 1024)
    const limit = framer.readLimit()
    const into = direct ?? (limit > 0 && limit < own.length ? own.subarray(0, limit) : own)
    const want = 1 + ((sizes[i++ % Math.max(1, sizes.length)] ?? into.length) % into.length)
    const n = Math.min(want, into.length, stream.length - pos)
    into.set(stream.subarray(pos, pos + n), 0)
    pos += n
    const r = framer.push(new Uint8Array(into.buffer, into.byteOffset, n))
    if (Result.isFailure(r)) throw new Error(`framer failed: ${r.failure.message}`)
    for (const p of r.success) onPdu(p)
  }
}

describe("Framer data placement", () => {
  it("placed or not, read directly or not, the PDUs and their bytes are the same as without a placer", () =>
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 200_000 }), { maxLength: 60 }),
        fc.boolean(),
        fc.boolean(),
        (sizes, headerDigest, dataDigest) => {
          const options = { headerDigest, dataDigest }
          const pdus: Array<Pdu.Pdu> = [
            dataIn(1, 0, 65536, true),
            response(2),
            dataIn(3, 0, 70001), // padded
            dataIn(3, 1, 4095, true),
            dataIn(4, 0, 262144, true),
            dataIn(5, 0, 100),
            dataIn(6, 0, 40000, true)
          ]
          const stream = concat(pdus.map((p) => Pdu.encode(p, options)))
          const framer = Framer.make({ ...options, maxDataSegmentLength: 1 << 20 })
          const { placer, buffers } = bufferPlacer()
          framer.setPlacer(placer)
          let k = 0
          // compared as they come: a PDU not placed may be a view of the transport's reused buffer
          readLike(framer, stream, sizes, (a) => {
            const b = pdus[k++]!
            expect(a._tag).toBe(b._tag)
            if (a._tag === "ScsiDataIn" && b._tag === "ScsiDataIn") {
              expect({ ...a, data: undefined }).toEqual({ ...b, data: undefined })
              expect(sameBytes(a.data, b.data)).toBe(true)
              const buf = buffers.get(a.itt, a.dataSN)
              if (buf !== undefined && a.data.buffer === buf.buffer) {
                // placed: the view of its destination, the guard bytes untouched
                expect(a.data.byteOffset).toBe(8)
                expect(buf[7]).toBe(0xee)
                expect(buf[8 + a.data.length]).toBe(0xee)
              }
            }
          })
          expect(k).toBe(pdus.length)
        }
      ),
      { numRuns: 80 }
    ))

  it("a straddling Data-In is placed; the rest is read straight into it; reads between large segments take one header", () => {
    const pdus = [dataIn(1, 0, 65536, true), dataIn(2, 0, 65536, true), dataIn(3, 0, 65536, true)]
    const stream = concat(pdus.map((p) => Pdu.encode(p)))
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
    const { placer, buffers } = bufferPlacer()
    framer.setPlacer(placer)
    const reads: Array<{ readonly direct: boolean; readonly n: number }> = []
    let pos = 0
    const own = new Uint8Array(256 * 1024)
    const out: Array<Pdu.ScsiDataIn> = []
    // the first read returns the header and 1000 data bytes; afterwards the socket has everything
    let first = true
    while (pos < stream.length) {
      const direct = framer.directBuffer(8192)
      const limit = framer.readLimit()
      const into = direct ?? (limit > 0 ? own.subarray(0, limit) : own)
      const n = Math.min(into.length, stream.length - pos, first ? 1048 : Number.MAX_SAFE_INTEGER)
      first = false
      into.set(stream.subarray(pos, pos + n))
      pos += n
      reads.push({ direct: direct !== undefined, n })
      const r = framer.push(new Uint8Array(into.buffer, into.byteOffset, n))
      if (Result.isFailure(r)) throw new Error(r.failure.message)
      for (const p of r.success) out.push(p as Pdu.ScsiDataIn)
    }
    expect(reads).toEqual([
      { direct: false, n: 1048 },
      { direct: true, n: 64536 }, // the rest of the first segment, in place
      { direct: false, n: 48 }, // one header
      { direct: true, n: 65536 },
      { direct: false, n: 48 },
      { direct: true, n: 65536 }
    ])
    expect(out.map((p) => p.itt)).toEqual([1, 2, 3])
    for (const p of out) {
      expect(p.data.buffer).toBe(buffers.get(p.itt)!.buffer)
      expect(sameBytes(p.data, pdus[p.itt - 1]!.data)).toBe(true)
    }
  })

  it("a revoked placement gets no more bytes; the frame still completes and the stream goes on", () => {
    const pdus = [dataIn(1, 0, 65536, true), dataIn(2, 0, 5000, true)]
    const stream = concat(pdus.map((p) => Pdu.encode(p)))
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
    const { placer, buffers } = bufferPlacer()
    framer.setPlacer(placer)
    expect(framer.revokePlacement()).toBe(false) // nothing placed yet
    const r1 = framer.push(stream.slice(0, 48 + 1000))
    expect(Result.isSuccess(r1) && r1.success.length).toBe(0)
    const dest = buffers.get(1)!
    expect(sameBytes(dest.subarray(8, 1008), pdus[0]!.data.subarray(0, 1000))).toBe(true)
    expect(framer.revokePlacement()).toBe(true)
    expect(framer.directBuffer(1)).toBeUndefined()
    const r2 = framer.push(stream.slice(48 + 1000))
    if (Result.isFailure(r2)) throw new Error(r2.failure.message)
    // nothing after the first 1000 bytes reached the destination
    expect(dest.subarray(1008, 8 + 65536).every((x) => x === 0xee)).toBe(true)
    expect(r2.success.map((p) => (p as Pdu.ScsiDataIn).itt)).toEqual([1, 2])
    expect(sameBytes((r2.success[1] as Pdu.ScsiDataIn).data, pdus[1]!.data)).toBe(true)
  })

  it("a data digest mismatch in a placed segment is a DigestError naming the data digest", () => {
    const options = { headerDigest: true, dataDigest: true }
    const frame = Pdu.encode(dataIn(1, 0, 65536, true), options)
    frame[52 + 30000] = frame[52 + 30000]! ^ 1
    const framer = Framer.make({ ...options, maxDataSegmentLength: 1 << 20 })
    framer.setPlacer(bufferPlacer().placer)
    const r1 = framer.push(frame.slice(0, 5000))
    expect(Result.isSuccess(r1)).toBe(true)
    const r2 = framer.push(frame.slice(5000))
    expect(Result.isFailure(r2) && r2.failure.reason._tag).toBe("DigestError")
    if (Result.isFailure(r2) && r2.failure.reason._tag === "DigestError") expect(r2.failure.reason.which).toBe("data")
  })

  it("a placer that declines, or answers with the wrong size, leaves the frame to normal assembly", () => {
    for (const place of [() => undefined, () => new Uint8Array(10)]) {
      const pdu = dataIn(1, 0, 65536, true)
      const stream = Pdu.encode(pdu)
      const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
      framer.setPlacer({ place })
      expect(Result.isSuccess(framer.push(stream.slice(0, 3000)))).toBe(true)
      expect(framer.directBuffer(1)).toBeUndefined()
      const r = framer.push(stream.slice(3000))
      if (Result.isFailure(r)) throw new Error(r.failure.message)
      expect(sameBytes((r.success[0] as Pdu.ScsiDataIn).data, pdu.data)).toBe(true)
    }
  })
})
