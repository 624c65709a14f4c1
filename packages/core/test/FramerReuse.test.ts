/**
 * The framer's performance options (issue 8, npm run bench): Data-In frames assembled in two
 * reused buffers (`setReuseDataInBuffers`), and the data-digest CRC32C passed by `setDigests`.
 * The contract: with reuse on, a Data-In PDU's data is right when `push` returns it (the engine
 * copies it at once); every other PDU, and every PDU with reuse off, may be kept.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Crc32c from "../src/Crc32c.ts"
import * as Framer from "../src/Framer.ts"
import * as Pdu from "../src/Pdu.ts"
import { concat } from "./fixtures/bytes.ts"

const dataIn = (dataSN: number, length: number): Pdu.ScsiDataIn => {
  const data = new Uint8Array(length)
  for (let i = 0; i < length; i++) data[i] = (i * 31 + dataSN * 7) & 0xff
  return {
    _tag: "ScsiDataIn",
    final: false,
    acknowledge: false,
    overflow: false,
    underflow: false,
    statusPresent: false,
    status: 0,
    lun: 0n,
    itt: 5,
    ttt: 0xffffffff,
    statSN: 0,
    expCmdSN: 1,
    maxCmdSN: 9,
    dataSN,
    bufferOffset: dataSN * length,
    residualCount: 0,
    data
  }
}

const textResponse = (n: number): Pdu.TextResponse => ({
  _tag: "TextResponse",
  final: true,
  continue: false,
  lun: 0n,
  itt: 6,
  ttt: 0xffffffff,
  statSN: 1,
  expCmdSN: 1,
  maxCmdSN: 9,
  data: new TextEncoder().encode(`TargetName=iqn.2026-11.test:${"x".repeat(n)}\0`)
})

/** Push `stream` cut at `cuts`; `onPdu` sees each PDU as soon as its push returns. */
const feed = (framer: Framer.Framer, stream: Uint8Array, cuts: ReadonlyArray<number>, onPdu: (p: Pdu.Pdu) => void) => {
  const points = [...new Set(cuts.map((c) => c % stream.length))].sort((a, b) => a - b)
  let from = 0
  for (const to of [...points, stream.length]) {
    if (to <= from) continue
    const r = framer.push(stream.slice(from, to))
    if (Result.isFailure(r)) throw new Error(`framer failed: ${r.failure.reason._tag}`)
    for (const p of r.success) onPdu(p)
    from = to
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

describe("Framer buffer reuse", () => {
  it("with reuse on, every Data-In is right when returned, however the stream is cut", () =>
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 40 }), fc.boolean(), (cuts, digests) => {
        const options = { headerDigest: digests, dataDigest: digests }
        const pdus = Array.from({ length: 6 }, (_, i) => dataIn(i, 65536 + (i % 3)))
        const stream = concat(pdus.map((p) => Pdu.encode(p, options)))
        const framer = Framer.make({ ...options, maxDataSegmentLength: 1 << 20 })
        framer.setReuseDataInBuffers(true)
        const seen: Array<number> = []
        feed(framer, stream, cuts, (p) => {
          expect(p._tag).toBe("ScsiDataIn")
          if (p._tag !== "ScsiDataIn") return
          expect(sameBytes(p.data, pdus[p.dataSN]!.data)).toBe(true)
          seen.push(p.dataSN)
        })
        expect(seen).toEqual([0, 1, 2, 3, 4, 5])
      }),
      { numRuns: 50 }
    ))

  it("with reuse on, a straddling non-Data-In PDU is still safe to keep", () => {
    const pdus: Array<Pdu.Pdu> = [textResponse(3000), dataIn(0, 70000), textResponse(5000), dataIn(1, 70000)]
    const stream = concat(pdus.map((p) => Pdu.encode(p)))
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
    framer.setReuseDataInBuffers(true)
    const kept: Array<Pdu.Pdu> = []
    feed(
      framer,
      stream,
      Array.from({ length: 80 }, (_, i) => i * 2000 + 7),
      (p) => kept.push(p)
    )
    expect(kept.map((p) => p._tag)).toEqual(["TextResponse", "ScsiDataIn", "TextResponse", "ScsiDataIn"])
    // the text responses were kept across later pushes and are intact
    expect(sameBytes((kept[0] as Pdu.TextResponse).data, (pdus[0] as Pdu.TextResponse).data)).toBe(true)
    expect(sameBytes((kept[2] as Pdu.TextResponse).data, (pdus[2] as Pdu.TextResponse).data)).toBe(true)
  })

  it("with reuse off (the default), Data-In kept across pushes stays intact", () => {
    const pdus = Array.from({ length: 4 }, (_, i) => dataIn(i, 50000))
    const stream = concat(pdus.map((p) => Pdu.encode(p)))
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
    const kept: Array<Pdu.ScsiDataIn> = []
    feed(
      framer,
      stream,
      Array.from({ length: 20 }, (_, i) => i * 9999 + 1),
      (p) => kept.push(p as Pdu.ScsiDataIn)
    )
    expect(kept.length).toBe(4)
    for (const p of kept) expect(sameBytes(p.data, pdus[p.dataSN]!.data)).toBe(true)
  })

  it("setDigests uses the data CRC32C it is given for data digests", () => {
    const options = { headerDigest: true, dataDigest: true }
    const pdu = dataIn(0, 4096)
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
    let calls = 0
    const counting: Crc32c.Fn = (data, initial) => {
      calls++
      return Crc32c.crc32c(data, initial)
    }
    framer.setDigests(true, true, counting)
    const r = framer.push(Pdu.encode(pdu, options))
    expect(Result.isSuccess(r) && r.success.length).toBe(1)
    expect(calls).toBe(1)
  })
})
