/**
 * Hostile targets (issue 9), property-based: ≥ 100,000 generated hostile inputs (garbage,
 * truncated and mutated frames, well-formed PDUs with wrong ITTs, StatSN/DataSN jumps, bad offsets
 * and lengths, unknown opcodes, oversize DataSegmentLength) fed through the engine's synchronous
 * pieces (Framer → Conn.receive) with live tasks; invariants: nothing throws, memory held by the
 * framer stays bounded, every task completes exactly once (typed error or result) once the
 * connection is torn down. The socket-level scenarios are in node-transport's Hostile.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Result from "effect/Result"
import type * as IscsiError from "../src/IscsiError.ts"
import * as Framer from "../src/Framer.ts"
import * as Pdu from "../src/Pdu.ts"
import type * as P from "../src/PduTypes.ts"
import * as Engine from "../src/internal/engine.ts"
import { read10, write10 } from "./fixtures/requests.ts"
const RESERVED = 0xffffffff
const MAX_RECV = 8192

// ---------------------------------------------------------------------------------------------
// Property-based: the synchronous engine under hostile input
// ---------------------------------------------------------------------------------------------

const params: Engine.EngineParams = {
  headerDigest: false,
  dataDigest: false,
  maxXmitDataSegmentLength: 8192,
  maxRecvDataSegmentLength: MAX_RECV,
  firstBurstLength: 8192,
  maxBurstLength: 65536,
  initialR2T: true,
  immediateData: true,
  maxOutstandingR2T: 1
}

let inputsTried = 0

/** A fresh session state with one connection and a few tasks in flight; returns probes. */
const rig = () => {
  const state = new Engine.SessionState(1, 1, 64)
  const conn = new Engine.Conn(0, state, params, undefined, 0x1000)
  let deadError: IscsiError.IscsiError | undefined
  state.onConnectionDead = (_c, e) => {
    deadError = e
  }
  let framesOut = 0
  conn.write = (frames) => {
    framesOut += frames.length
  }
  state.conns.push(conn)
  const completions = new Map<number, number>()
  const tasks: Array<Engine.ScsiTask> = []
  const submit = (i: number, request: ConstructorParameters<typeof Engine.ScsiTask>[1]) => {
    const task = new Engine.ScsiTask(0x0001000000000000n, request, () => {
      completions.set(i, (completions.get(i) ?? 0) + 1)
    })
    state.submit(task)
    tasks.push(task)
  }
  submit(0, read10(1, 0, 8))
  submit(1, write10(1, 0, new Uint8Array(32768)))
  submit(2, { lun: 1, cdb: new Uint8Array(6), direction: "none" })
  submit(3, read10(1, 100, 1))
  const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: MAX_RECV })
  const feed = (chunk: Uint8Array) => {
    inputsTried++
    if (conn.dead !== undefined) return
    const r = framer.push(chunk)
    // memory bound: at most one frame of header + max data segment
    expect(framer.buffered).toBeLessThanOrEqual(48 + 1020 + 4 + MAX_RECV + 8)
    if (Result.isFailure(r)) {
      conn.kill(r.failure)
      return
    }
    if (r.success.length > 0) conn.receive(r.success)
  }
  /** Tear down as the shell does (connection lost → session closed) and check every task ended once. */
  const finish = () => {
    const error = deadError ?? Engine.rejectError(0x04)
    state.close(error)
    for (let i = 0; i < 4; i++) {
      const n = completions.get(i) ?? 0
      // a task aborted by the engine (abortWith) completes once; all others once at close
      expect(n).toBe(1)
    }
    expect(state.tasks.size).toBe(0)
    expect(framesOut).toBeGreaterThan(0)
  }
  return { state, conn, tasks, feed, finish }
}

const u32 = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 4, RESERVED, 0x7fffffff, 0x80000000, 0x1000, 0x1001, 0x0fff),
  fc.integer({ min: 0, max: 0xffffffff })
)
const itt = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, RESERVED, 0), u32)
const smallData = fc.uint8Array({ maxLength: 600 })

const targetPdu: fc.Arbitrary<P.TargetPdu> = fc.oneof(
  fc.record({
    _tag: fc.constant("ScsiDataIn" as const),
    final: fc.boolean(),
    acknowledge: fc.boolean(),
    overflow: fc.boolean(),
    underflow: fc.boolean(),
    statusPresent: fc.boolean(),
    status: fc.constantFrom(0, 2, 8, 0x18, 0x28, 0x40),
    lun: fc.constant(0x0001000000000000n),
    itt,
    ttt: u32,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    dataSN: fc.oneof(fc.constantFrom(0, 1, 2, 5000), u32),
    bufferOffset: fc.oneof(fc.constantFrom(0, 512, 4096, 8192, 32768), u32),
    residualCount: u32,
    data: smallData
  }),
  fc.record({
    _tag: fc.constant("ScsiResponse" as const),
    bidiOverflow: fc.boolean(),
    bidiUnderflow: fc.boolean(),
    overflow: fc.boolean(),
    underflow: fc.boolean(),
    response: fc.constantFrom(0, 1, 0x80),
    status: fc.constantFrom(0, 2, 8, 0x18),
    itt,
    snackTag: u32,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    expDataSN: u32,
    bidiResidualCount: u32,
    residualCount: u32,
    data: smallData
  }),
  fc.record({
    _tag: fc.constant("ReadyToTransfer" as const),
    lun: fc.constant(0x0001000000000000n),
    itt,
    ttt: u32,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    r2tSN: u32,
    bufferOffset: fc.oneof(fc.constantFrom(0, 8192, 16384, 32768), u32),
    desiredDataTransferLength: fc.oneof(fc.constantFrom(0, 8192, 32768, 65536, 65537), u32)
  }),
  fc.record({
    _tag: fc.constant("NopIn" as const),
    lun: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    itt,
    ttt: u32,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    data: smallData
  }),
  fc.record({
    _tag: fc.constant("Reject" as const),
    reason: fc.integer({ min: 0, max: 255 }),
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    dataSN: u32,
    data: fc.uint8Array({ minLength: 0, maxLength: 64 })
  }),
  fc.record({
    _tag: fc.constant("AsyncMessage" as const),
    lun: fc.constant(0n),
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    asyncEvent: fc.integer({ min: 0, max: 255 }),
    asyncVCode: fc.integer({ min: 0, max: 255 }),
    parameter1: fc.integer({ min: 0, max: 0xffff }),
    parameter2: fc.integer({ min: 0, max: 0xffff }),
    parameter3: fc.integer({ min: 0, max: 0xffff }),
    data: smallData
  }),
  fc.record({
    _tag: fc.constant("TaskManagementResponse" as const),
    response: fc.integer({ min: 0, max: 255 }),
    itt,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32
  }),
  fc.record({
    _tag: fc.constant("LogoutResponse" as const),
    response: fc.integer({ min: 0, max: 3 }),
    itt,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    time2Wait: fc.integer({ min: 0, max: 3600 }),
    time2Retain: fc.integer({ min: 0, max: 3600 })
  })
)

/** One hostile chunk: a whole PDU, a PDU cut short, a PDU with flipped bytes, raw garbage, an oversize DSL. */
const hostileChunk: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: targetPdu.map((p) => Pdu.encode(p)) },
  {
    weight: 2,
    arbitrary: fc.tuple(targetPdu, fc.nat()).map(([p, cut]) => {
      const b = Pdu.encode(p)
      return b.subarray(0, cut % b.length)
    })
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(targetPdu, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }))
      .map(([p, flips]) => {
        const b = Pdu.encode(p)
        for (const [at, x] of flips) b[at % b.length] = b[at % b.length]! ^ x
        return b
      })
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 0x3f }), fc.integer({ min: MAX_RECV + 1, max: 0xffffff }))
      .map(([op, dsl]) => {
        const b = new Uint8Array(48)
        b[0] = op
        b[5] = dsl >>> 16
        b[6] = dsl >>> 8
        b[7] = dsl
        return b
      })
  }
)

describe("hostile input, property-based, through Framer and the engine", () => {
  it("generated hostile streams never throw, hold bounded memory, and end every task exactly once", () => {
    fc.assert(
      fc.property(fc.array(hostileChunk, { minLength: 1, maxLength: 8 }), (chunks) => {
        const r = rig()
        for (const c of chunks) r.feed(c)
        r.finish()
      }),
      { numRuns: 14_000, seed: 0x15c51 }
    )
  })

  it("the same streams split at random points (drip feed) behave the same", () => {
    fc.assert(
      fc.property(
        fc.array(hostileChunk, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 64 }),
        (chunks, piece) => {
          const r = rig()
          for (const c of chunks) for (let o = 0; o < c.length; o += piece) r.feed(c.subarray(o, o + piece))
          r.finish()
        }
      ),
      { numRuns: 4_000, seed: 0x15c52 }
    )
  })

  it("well-formed PDUs for live ITTs with hostile fields end in a typed error or a result", () => {
    fc.assert(
      fc.property(fc.array(targetPdu, { minLength: 1, maxLength: 12 }), (pdus) => {
        const r = rig()
        const live = [...r.state.tasks.keys()]
        for (const p of pdus) {
          const q = "itt" in p && live.length > 0 ? { ...p, itt: live[p.itt % live.length]! } : p
          r.feed(Pdu.encode(q as P.TargetPdu))
        }
        r.finish()
      }),
      { numRuns: 12_000, seed: 0x15c53 }
    )
    expect(inputsTried).toBeGreaterThanOrEqual(100_000)
    console.log(`hostile inputs tried through the engine: ${inputsTried}`)
  })
})
