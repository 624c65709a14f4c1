import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Crc32c from "../src/Crc32c.ts"
import * as Framer from "../src/Framer.ts"
import * as Pdu from "../src/Pdu.ts"
import * as A from "./fixtures/goldens-arbitraries.ts"
import { concat } from "./fixtures/bytes.ts"

const MAX = 1 << 20

/** Push `stream` cut at `cuts` (sorted offsets); returns all PDUs or the error. */
const pushSplit = (framer: Framer.Framer, stream: Uint8Array, cuts: ReadonlyArray<number>) => {
  const out: Array<Pdu.Pdu> = []
  let prev = 0
  for (const c of [...cuts, stream.length]) {
    const r = framer.push(stream.subarray(prev, c))
    if (Result.isFailure(r)) return r
    out.push(...r.success)
    prev = c
  }
  return Result.succeed(out)
}

const dataIn = (n: number, dataSN: number): Pdu.ScsiDataIn => ({
  _tag: "ScsiDataIn",
  final: false,
  acknowledge: false,
  overflow: false,
  underflow: false,
  statusPresent: false,
  status: 0,
  lun: 0n,
  itt: 1,
  ttt: 0xffffffff,
  statSN: 0,
  expCmdSN: 1,
  maxCmdSN: 2,
  dataSN,
  bufferOffset: dataSN * n,
  residualCount: 0,
  data: Uint8Array.from({ length: n }, (_, i) => (i * 7 + dataSN) & 0xff)
})

const reasonOf = (r: Result.Result<unknown, { readonly reason: unknown }>) =>
  Result.isFailure(r) ? (r.failure.reason as { readonly _tag: string; readonly which?: string }) : undefined

describe("Framer", () => {
  it("returns every PDU of any stream under any chunking, digests off and on", () =>
    fc.assert(
      fc.property(
        fc.array(A.pdu, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.nat()),
        (pdus, h, d, rawCuts) => {
          const stream = concat(pdus.map((p) => Pdu.encode(p, { headerDigest: h, dataDigest: d })))
          const cuts = [...new Set(rawCuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
          const framer = Framer.make({ headerDigest: h, dataDigest: d, maxDataSegmentLength: MAX })
          expect(Result.getOrThrow(pushSplit(framer, stream, cuts))).toEqual(pdus)
          expect(framer.buffered).toBe(0)
        }
      ),
      { numRuns: 300 }
    ))

  it("decodes a frame inside one chunk as a view of that chunk", () => {
    const stream = concat([Pdu.encode(dataIn(4096, 0)), Pdu.encode(dataIn(4096, 1))])
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: MAX })
    const pdus = Result.getOrThrow(framer.push(stream))
    expect(pdus.length).toBe(2)
    const d = (pdus[1] as Pdu.ScsiDataIn).data
    expect(d.buffer).toBe(stream.buffer)
    expect(d.byteOffset).toBe(48 + 4096 + 48)
  })

  it("assembles a straddling frame into one buffer", () => {
    const frame = Pdu.encode(dataIn(1000, 3))
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: MAX })
    expect(Result.getOrThrow(framer.push(frame.subarray(0, 10)))).toEqual([])
    expect(framer.buffered).toBe(10)
    expect(Result.getOrThrow(framer.push(frame.subarray(10, 500)))).toEqual([])
    expect(framer.buffered).toBe(500)
    const [p] = Result.getOrThrow(framer.push(frame.subarray(500)))
    expect(p).toEqual(dataIn(1000, 3))
  })

  it("rejects an oversize data segment as soon as the header is in, before buffering it", () => {
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 8192 })
    const frame = Pdu.encode(dataIn(8196, 0))
    const r = framer.push(frame.subarray(0, 48))
    expect(reasonOf(r)?._tag).toBe("ProtocolError")
    expect(framer.buffered).toBe(0)
  })

  it("is poisoned after an error", () => {
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 16 })
    const first = framer.push(Pdu.encode(dataIn(64, 0)))
    expect(reasonOf(first)?._tag).toBe("ProtocolError")
    const again = framer.push(Pdu.encode(dataIn(8, 0)))
    expect(Result.isFailure(again) && Result.isFailure(first) && again.failure).toBe(
      Result.isFailure(first) && first.failure
    )
  })

  it("names the header digest and the data digest on mismatch", () => {
    const opts = { headerDigest: true, dataDigest: true }
    const frame = Pdu.encode(dataIn(100, 0), opts)
    const h = frame.slice()
    h[17] ^= 0x40
    expect(reasonOf(Framer.make({ ...opts, maxDataSegmentLength: MAX }).push(h))).toMatchObject({
      _tag: "DigestError",
      which: "header"
    })
    const d = frame.slice()
    d[60] ^= 0x01
    expect(reasonOf(Framer.make({ ...opts, maxDataSegmentLength: MAX }).push(d))).toMatchObject({
      _tag: "DigestError",
      which: "data"
    })
  })

  it("switches digests between frames (after login)", () => {
    const login = Pdu.encode(dataIn(10, 0))
    const after = Pdu.encode(dataIn(10, 1), { headerDigest: true, dataDigest: true })
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: MAX })
    expect(Result.getOrThrow(framer.push(login)).length).toBe(1)
    framer.setDigests(true, true)
    expect(Result.getOrThrow(framer.push(after))).toEqual([dataIn(10, 1)])
  })

  it("applies a new MaxRecvDataSegmentLength", () => {
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 8192 })
    framer.setMaxDataSegmentLength(65536)
    expect(Result.getOrThrow(framer.push(Pdu.encode(dataIn(65536, 0)))).length).toBe(1)
  })

  it("uses the given data CRC function", () => {
    let calls = 0
    const counting = (b: Uint8Array, i?: number) => {
      calls++
      return Crc32c.crc32c(b, i)
    }
    const opts = { headerDigest: false, dataDigest: true }
    const framer = Framer.make({ ...opts, maxDataSegmentLength: MAX, dataCrc32c: counting })
    expect(Result.getOrThrow(framer.push(Pdu.encode(dataIn(64, 0), opts))).length).toBe(1)
    expect(calls).toBe(1)
  })
})

describe("Framer.checkUndeclaredDigests (a peer that digests although the digests are off)", () => {
  const framerFor = (h: boolean, d: boolean, rejected?: { header?: boolean; data?: boolean }) => {
    const f = Framer.make({ headerDigest: h, dataDigest: d, maxDataSegmentLength: MAX })
    f.checkUndeclaredDigests(rejected)
    return f
  }
  const noData = (): Pdu.ScsiDataIn => ({ ...dataIn(0, 0), final: true })

  it("header digests on the first frame while off: NegotiationFailed(HeaderDigest), under any chunking", () =>
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.nat()), (withData, rawCuts) => {
        const first = withData ? dataIn(100, 0) : noData()
        const stream = concat([
          Pdu.encode(first, { headerDigest: true, dataDigest: true }),
          Pdu.encode(dataIn(100, 1), { headerDigest: true, dataDigest: true })
        ])
        const cuts = [...new Set(rawCuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
        const r = pushSplit(framerFor(false, false, { header: true }), stream, cuts)
        expect(reasonOf(r)).toMatchObject({ _tag: "NegotiationFailed", key: "HeaderDigest" })
      }),
      { numRuns: 200 }
    ))

  it("the message names the rejected key and how to offer CRC32C", () => {
    const frame = Pdu.encode(noData(), { headerDigest: true, dataDigest: false })
    const rejected = framerFor(false, false, { header: true }).push(frame)
    const negotiated = framerFor(false, false).push(frame)
    expect(Result.isFailure(rejected) && rejected.failure.message).toContain("rejected our HeaderDigest offer")
    expect(Result.isFailure(rejected) && rejected.failure.message).toContain("header_digest=crc32c")
    expect(Result.isFailure(negotiated) && negotiated.failure.message).toContain("negotiated HeaderDigest=None")
  })

  it("data digests while only the header digest is on: NegotiationFailed(DataDigest)", () => {
    const frame = Pdu.encode(dataIn(100, 0), { headerDigest: true, dataDigest: true })
    for (const cut of [0, 30, 52, 100, 150, frame.length - 2]) {
      const f = framerFor(true, false, { data: true })
      const r = pushSplit(f, frame, cut === 0 ? [] : [cut])
      expect(reasonOf(r)).toMatchObject({ _tag: "NegotiationFailed", key: "DataDigest" })
    }
  })

  it("an honest stream passes untouched under any chunking, and only the first frame is looked at", () =>
    fc.assert(
      fc.property(
        fc.array(A.pdu, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.array(fc.nat()),
        (pdus, h, rawCuts) => {
          const stream = concat(pdus.map((p) => Pdu.encode(p, { headerDigest: h, dataDigest: false })))
          const cuts = [...new Set(rawCuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
          expect(Result.getOrThrow(pushSplit(framerFor(h, false), stream, cuts))).toEqual(pdus)
        }
      ),
      { numRuns: 300 }
    ))

  it("a first frame alone is delivered; the digest after it is caught when it arrives", () => {
    const frame = Pdu.encode(noData(), { headerDigest: true, dataDigest: false })
    const f = framerFor(false, false)
    expect(Result.getOrThrow(f.push(frame.subarray(0, 48))).length).toBe(1)
    expect(reasonOf(f.push(frame.subarray(48)))).toMatchObject({ _tag: "NegotiationFailed", key: "HeaderDigest" })
  })

  it("is a no-op with both digests on", () => {
    const frame = Pdu.encode(dataIn(100, 0), { headerDigest: true, dataDigest: true })
    expect(Result.getOrThrow(framerFor(true, true).push(frame))).toEqual([dataIn(100, 0)])
  })
})
