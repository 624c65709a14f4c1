/**
 * Scatter-gather (issue 19): `ScsiRequest.dataOutIov` and `readIntoIov` through the synchronous
 * engine, property-tested over random buffer splits × transfer sizes × negotiated limits × digests.
 *
 * - Data-Out: every PDU (immediate data, unsolicited Data-Out, R2T-solicited Data-Out) decodes to
 *   the bytes of the concatenation at its offset, and every data piece written is a view of one of
 *   the caller's buffers: nothing is concatenated or copied.
 * - Data-In: segments cut at random sizes, read through the framer the way the Node transport reads
 *   (random read sizes, direct reads into placements), land at their offsets across the buffers;
 *   a segment inside one buffer is placed there (the PDU's data is a view of it), one that straddles
 *   two is copied; nothing beyond the transfer is touched, and nothing more is written once the
 *   task has ended.
 * - The codec: `Pdu.encodeFramesVector` puts the same bytes on the wire as `Pdu.encode` of the
 *   concatenated data segment.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Framer from "../src/Framer.ts"
import * as Engine from "../src/internal/engine.ts"
import { IoVector } from "../src/internal/iov.ts"
import * as Pdu from "../src/Pdu.ts"
import type * as P from "../src/PduTypes.ts"
import type { ScsiResult } from "../src/ScsiTransport.ts"
import { concat } from "./fixtures/bytes.ts"
import { cdbRw10 } from "./fixtures/requests.ts"

const LUN = 0x0001_0000_0000_0000n

const patterned = (n: number, seed: number) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17 + (i >> 8)) & 0xff)

/** Split `total` bytes into buffers at the given cut points (sorted, may repeat: empty buffers). */
const splitAt = (data: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...cuts.map((c) => c % (data.length + 1))].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let prev = 0
  for (const p of [...points, data.length]) {
    // each buffer its own ArrayBuffer, with guard bytes around it
    const b = new Uint8Array(p - prev + 16).fill(0xee)
    b.set(data.subarray(prev, p), 8)
    out.push(b.subarray(8, 8 + p - prev))
    prev = p
  }
  return out
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

const params = (o: {
  readonly maxXmit: number
  readonly maxRecv: number
  readonly firstBurst: number
  readonly maxBurst: number
  readonly initialR2T: boolean
  readonly immediateData: boolean
  readonly digests: boolean
}): Engine.EngineParams => ({
  headerDigest: o.digests,
  dataDigest: o.digests,
  maxXmitDataSegmentLength: o.maxXmit,
  maxRecvDataSegmentLength: o.maxRecv,
  firstBurstLength: o.firstBurst,
  maxBurstLength: o.maxBurst,
  initialR2T: o.initialR2T,
  immediateData: o.immediateData,
  maxOutstandingR2T: 1
})

const rig = (p: Engine.EngineParams) => {
  const state = new Engine.SessionState(1, 1, 64)
  const conn = new Engine.Conn(0, state, p, undefined, 0x1000)
  state.conns.push(conn)
  const written: Array<ReadonlyArray<Uint8Array>> = []
  conn.write = (frames) => {
    written.push(frames)
  }
  return { state, conn, written }
}

const settings = fc.record({
  maxXmit: fc.constantFrom(512, 1000, 4096, 8192, 65536, 262144),
  maxRecv: fc.constantFrom(512, 8192, 65536, 262144),
  firstBurst: fc.constantFrom(512, 4096, 65536, 262144),
  maxBurst: fc.constantFrom(4096, 65536, 262144, 1048576),
  initialR2T: fc.boolean(),
  immediateData: fc.boolean(),
  digests: fc.boolean()
})

describe("IoVector", () => {
  it("slice, view, write agree with the concatenation (property)", () =>
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.nat(),
        fc.nat(),
        (n, cuts, a, b) => {
          const data = patterned(n, 1)
          const buffers = splitAt(data, cuts)
          const v = new IoVector(buffers)
          expect(v.length).toBe(n)
          const offset = n === 0 ? 0 : a % n
          const length = n - offset === 0 ? 0 : b % (n - offset + 1)
          const pieces = v.slice(offset, length)
          expect(sameBytes(concat(pieces), data.subarray(offset, offset + length))).toBe(true)
          expect(pieces.every((p) => p.length > 0 && buffers.some((x) => x.buffer === p.buffer))).toBe(true)
          const view = v.view(offset, length)
          if (view !== undefined) expect(sameBytes(view, data.subarray(offset, offset + length))).toBe(true)
          else expect(length === 0 || pieces.length > 1).toBe(true)
          // write a fresh pattern at offset across the buffers
          const fresh = patterned(length, 9)
          v.write(fresh, offset)
          const expected = data.slice()
          expected.set(fresh, offset)
          expect(sameBytes(concat(buffers), expected)).toBe(true)
          // guard bytes around every buffer untouched
          for (const x of buffers) {
            const whole = new Uint8Array(x.buffer)
            expect(whole[x.byteOffset - 1]).toBe(0xee)
            expect(whole[x.byteOffset + x.length]).toBe(0xee)
          }
        }
      ),
      { numRuns: 500 }
    ))
})

describe("Pdu.encodeFramesVector", () => {
  it("the same bytes as encode of the concatenation, the pieces themselves in the frame list (property)", () =>
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        (n, cuts, hd, dd) => {
          const data = patterned(n, 3)
          const pieces = splitAt(data, cuts)
          const pdu: P.ScsiDataOut = {
            _tag: "ScsiDataOut",
            final: true,
            lun: LUN,
            itt: 7,
            ttt: 9,
            expStatSN: 1,
            dataSN: 0,
            bufferOffset: 4096,
            data: new Uint8Array(0)
          }
          const options = { headerDigest: hd, dataDigest: dd }
          const frames = Pdu.encodeFramesVector(pdu, pieces, options)
          expect(sameBytes(concat(frames), Pdu.encode({ ...pdu, data }, options))).toBe(true)
          const nonEmpty = pieces.filter((p) => p.length > 0)
          expect(frames.slice(1, 1 + nonEmpty.length)).toEqual(nonEmpty)
          for (let i = 0; i < nonEmpty.length; i++) expect(frames[1 + i]).toBe(nonEmpty[i])
        }
      )
    ))
})

describe("Data-Out from scatter-gather buffers", () => {
  it("immediate, unsolicited and R2T-solicited data: the right bytes at every offset, only views of the caller's buffers (property)", () =>
    fc.assert(
      fc.property(
        settings,
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.nat(), { maxLength: 9 }),
        fc.integer({ min: 1, max: 4 }),
        (s, blocks, cuts, r2tParts) => {
          const p = params(s)
          const total = blocks * 512
          const data = patterned(total, blocks)
          const buffers = splitAt(data, cuts)
          const { state, conn, written } = rig(p)
          let result: ScsiResult | undefined
          const task = new Engine.ScsiTask(
            LUN,
            { lun: 1, cdb: cdbRw10(0x2a, 0, blocks), direction: "write", dataOutIov: buffers },
            (r) => {
              if (r._tag === "ok") result = r.value
            }
          )
          state.submit(task)
          const received = new Uint8Array(total).fill(0xaa)
          const covered = new Uint8Array(total)
          const take = (frames: ReadonlyArray<Uint8Array>) => {
            const pdu = Result.getOrThrow(
              Pdu.decode(concat(frames), { headerDigest: s.digests, dataDigest: s.digests })
            )
            // frames: header, the data pieces, a trailer when padding or a digest follows; every
            // data piece is one of the caller's buffers (a view of it), never a copy
            const length = "data" in pdu ? pdu.data.length : 0
            const trailer = length > 0 && (length % 4 !== 0 || s.digests) ? 1 : 0
            const pieces = frames.slice(1, frames.length - trailer)
            expect(concat(pieces).length).toBe(length)
            for (const f of pieces) expect(buffers.some((b) => b.buffer === f.buffer)).toBe(true)
            return pdu
          }
          for (const frames of written.splice(0)) {
            const pdu = take(frames)
            if (pdu._tag === "ScsiCommand") {
              expect(pdu.expectedDataTransferLength).toBe(total)
              received.set(pdu.data, 0)
              covered.fill(1, 0, pdu.data.length)
            } else if (pdu._tag === "ScsiDataOut") {
              expect(pdu.ttt).toBe(0xffffffff)
              received.set(pdu.data, pdu.bufferOffset)
              covered.fill(1, pdu.bufferOffset, pdu.bufferOffset + pdu.data.length)
            }
          }
          // the target asks for the rest in R2Ts of at most MaxBurstLength
          let offset = covered.indexOf(0)
          let r2tSN = 0
          while (offset >= 0 && offset < total) {
            const want = Math.min(p.maxBurstLength, Math.ceil((total - offset) / r2tParts), total - offset)
            conn.receive([
              {
                _tag: "ReadyToTransfer",
                lun: LUN,
                itt: task.itt,
                ttt: 0x100 + r2tSN,
                statSN: 0x1000,
                expCmdSN: 2,
                maxCmdSN: 64,
                r2tSN: r2tSN++,
                bufferOffset: offset,
                desiredDataTransferLength: want
              }
            ])
            for (const frames of written.splice(0)) {
              const pdu = take(frames)
              expect(pdu._tag).toBe("ScsiDataOut")
              if (pdu._tag !== "ScsiDataOut") continue
              expect(pdu.data.length).toBeLessThanOrEqual(p.maxXmitDataSegmentLength)
              received.set(pdu.data, pdu.bufferOffset)
              covered.fill(1, pdu.bufferOffset, pdu.bufferOffset + pdu.data.length)
            }
            offset += want
          }
          expect(covered.every((x) => x === 1)).toBe(true)
          expect(sameBytes(received, data)).toBe(true)
          conn.receive([response(task.itt)])
          expect(result?.status).toBe(0)
        }
      ),
      { numRuns: 300 }
    ))
})

const response = (itt: number, residual = 0): P.ScsiResponse => ({
  _tag: "ScsiResponse",
  overflow: false,
  underflow: residual > 0,
  bidiOverflow: false,
  bidiUnderflow: false,
  response: 0,
  status: 0,
  itt,
  snackTag: 0,
  statSN: 0x1000,
  expCmdSN: 2,
  maxCmdSN: 64,
  expDataSN: 0,
  bidiResidualCount: 0,
  residualCount: residual,
  data: new Uint8Array(0)
})

const dataIn = (itt: number, dataSN: number, bufferOffset: number, data: Uint8Array, last: boolean): P.ScsiDataIn => ({
  _tag: "ScsiDataIn",
  final: last,
  acknowledge: false,
  overflow: false,
  underflow: false,
  statusPresent: last,
  status: 0,
  lun: LUN,
  itt,
  ttt: 0xffffffff,
  statSN: last ? 0x1000 : 0,
  expCmdSN: 2,
  maxCmdSN: 64,
  dataSN,
  bufferOffset,
  residualCount: 0,
  data
})

/** Feed `stream` through `framer` into `conn` the way the Node transport reads (see FramerPlacement.test.ts). */
const readLike = (
  framer: Framer.Framer,
  conn: Engine.Conn,
  stream: Uint8Array,
  sizes: ReadonlyArray<number>,
  stopAfter?: number
) => {
  const own = new Uint8Array(65536)
  let pos = 0
  let i = 0
  while (pos < stream.length && (stopAfter === undefined || pos < stopAfter)) {
    const direct = framer.directBuffer(1024)
    const limit = framer.readLimit()
    const into = direct ?? (limit > 0 && limit < own.length ? own.subarray(0, limit) : own)
    const want = 1 + ((sizes[i++ % Math.max(1, sizes.length)] ?? into.length) % into.length)
    const n = Math.min(
      want,
      into.length,
      stream.length - pos,
      stopAfter === undefined ? Number.MAX_SAFE_INTEGER : stopAfter - pos
    )
    into.set(stream.subarray(pos, pos + n), 0)
    pos += n
    const r = framer.push(new Uint8Array(into.buffer, into.byteOffset, n))
    if (Result.isFailure(r)) throw new Error(`framer failed: ${r.failure.message}`)
    if (r.success.length > 0) conn.receive(r.success)
  }
  return pos
}

describe("Data-In into scatter-gather buffers", () => {
  it("every segment lands at its offset across the buffers; one inside a buffer is placed there (property)", () =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.array(fc.nat(), { maxLength: 9 }),
        fc.array(fc.integer({ min: 1, max: 70000 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat({ max: 200_000 }), { maxLength: 30 }),
        fc.boolean(),
        (blocks, cuts, segmentSizes, readSizes, digests) => {
          const total = blocks * 512
          const data = patterned(total, blocks + 5)
          const buffers = splitAt(new Uint8Array(total), cuts)
          const p = params({
            maxXmit: 8192,
            maxRecv: 1 << 20,
            firstBurst: 65536,
            maxBurst: 262144,
            initialR2T: true,
            immediateData: true,
            digests
          })
          const { state, conn } = rig(p)
          let result: ScsiResult | undefined
          const task = new Engine.ScsiTask(
            LUN,
            { lun: 1, cdb: cdbRw10(0x28, 0, blocks), direction: "read", readLength: total, readIntoIov: buffers },
            (r) => {
              if (r._tag === "ok") result = r.value
            }
          )
          state.submit(task)
          const frames: Array<Uint8Array> = []
          const placedViews: Array<Uint8Array> = []
          let dataSN = 0
          for (let o = 0, k = 0; o < total; k++) {
            const n = Math.min(segmentSizes[k % segmentSizes.length]!, total - o)
            frames.push(
              Pdu.encode(dataIn(task.itt, dataSN++, o, data.subarray(o, o + n), o + n === total), {
                headerDigest: digests,
                dataDigest: digests
              })
            )
            o += n
          }
          const framer = Framer.make({ headerDigest: digests, dataDigest: digests, maxDataSegmentLength: 1 << 20 })
          framer.setPlacer({
            place: (b, o, dsl) => {
              const dest = conn.place(b, o, dsl)
              if (dest !== undefined) placedViews.push(dest)
              return dest
            }
          })
          readLike(framer, conn, concat(frames), readSizes)
          expect(result?.status).toBe(0)
          expect(result?.data.length).toBe(0)
          expect(sameBytes(concat(buffers), data)).toBe(true)
          // placements are views of exactly one caller buffer, inside it
          for (const v of placedViews) {
            const owner = buffers.find((b) => b.buffer === v.buffer)
            expect(owner).toBeDefined()
            expect(
              v.byteOffset >= owner!.byteOffset && v.byteOffset + v.length <= owner!.byteOffset + owner!.length
            ).toBe(true)
          }
          for (const x of buffers) {
            const whole = new Uint8Array(x.buffer)
            expect([whole[x.byteOffset - 1], whole[x.byteOffset + x.length]]).toEqual([0xee, 0xee])
          }
          expect(state.tasks.size).toBe(0)
        }
      ),
      { numRuns: 300 }
    ))

  it("a large segment inside one buffer is read straight into it; one straddling two buffers is copied", () => {
    const total = 4 * 65536
    const data = patterned(total, 3)
    // buffers: [0, 100000) and [100000, 262144): segment 2 (65536..131072) straddles them
    const a = new Uint8Array(100000)
    const b = new Uint8Array(total - 100000)
    const p = params({
      maxXmit: 8192,
      maxRecv: 1 << 20,
      firstBurst: 65536,
      maxBurst: 262144,
      initialR2T: true,
      immediateData: true,
      digests: false
    })
    const { state, conn } = rig(p)
    let result: ScsiResult | undefined
    const task = new Engine.ScsiTask(
      LUN,
      { lun: 1, cdb: cdbRw10(0x28, 0, total / 512), direction: "read", readLength: total, readIntoIov: [a, b] },
      (r) => {
        if (r._tag === "ok") result = r.value
      }
    )
    state.submit(task)
    const stream = concat(
      [0, 1, 2, 3].map((k) =>
        Pdu.encode(dataIn(task.itt, k, k * 65536, data.subarray(k * 65536, (k + 1) * 65536), k === 3))
      )
    )
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
    framer.setPlacer(conn)
    const directReads: Array<boolean> = []
    const own = new Uint8Array(256 * 1024)
    let pos = 0
    let first = true
    while (pos < stream.length) {
      const direct = framer.directBuffer(8192)
      const limit = framer.readLimit()
      const into = direct ?? (limit > 0 ? own.subarray(0, limit) : own)
      const n = Math.min(into.length, stream.length - pos, first ? 1048 : Number.MAX_SAFE_INTEGER)
      first = false
      into.set(stream.subarray(pos, pos + n))
      pos += n
      directReads.push(direct !== undefined && (direct.buffer === a.buffer || direct.buffer === b.buffer))
      const r = framer.push(new Uint8Array(into.buffer, into.byteOffset, n))
      if (Result.isFailure(r)) throw new Error(r.failure.message)
      if (r.success.length > 0) conn.receive(r.success)
    }
    expect(result?.status).toBe(0)
    expect(sameBytes(concat([a, b]), data)).toBe(true)
    // segment 0 (in a), segment 2 (in b) and segment 3 (in b) were read in place; segment 1 straddles
    expect(directReads.filter((x) => x).length).toBe(3)
  })

  it("nothing is written into the buffers once the task has ended", () => {
    const total = 3 * 65536
    const data = patterned(total, 4)
    const a = new Uint8Array(70000).fill(0x11)
    const b = new Uint8Array(total - 70000).fill(0x11)
    const p = params({
      maxXmit: 8192,
      maxRecv: 1 << 20,
      firstBurst: 65536,
      maxBurst: 262144,
      initialR2T: true,
      immediateData: true,
      digests: false
    })
    const { state, conn } = rig(p)
    let revoked = 0
    const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
    framer.setPlacer(conn)
    conn.onRevoke = () => {
      revoked++
      framer.revokePlacement()
    }
    const task = new Engine.ScsiTask(
      LUN,
      { lun: 1, cdb: cdbRw10(0x28, 0, total / 512), direction: "read", readLength: total, readIntoIov: [a, b] },
      () => {}
    )
    state.submit(task)
    const stream = concat(
      [0, 1, 2].map((k) =>
        Pdu.encode(dataIn(task.itt, k, k * 65536, data.subarray(k * 65536, (k + 1) * 65536), k === 2))
      )
    )
    // read into the middle of segment 2 (inside b), then the task ends (cancelled, timed out, …)
    const cut = 2 * (48 + 65536) + 48 + 1000
    readLike(framer, conn, stream, [4096], cut)
    state.failTask(task, Engine.rejectError(0x04))
    expect(revoked).toBe(1)
    const snapshot = concat([a, b])
    readLike(framer, conn, stream.subarray(cut), [100000])
    expect(sameBytes(concat([a, b]), snapshot)).toBe(true)
    // what did arrive before the end is where it belongs
    expect(sameBytes(snapshot.subarray(0, 2 * 65536 + 1000), data.subarray(0, 2 * 65536 + 1000))).toBe(true)
  })
})
