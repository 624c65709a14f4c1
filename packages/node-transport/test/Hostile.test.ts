/**
 * Hostile targets (issue 9). Two layers:
 * - property-based: ≥ 100,000 generated hostile inputs (garbage, truncated and mutated frames,
 *   well-formed PDUs with wrong ITTs, StatSN/DataSN jumps, bad offsets and lengths, unknown opcodes,
 *   oversize DataSegmentLength) fed through the engine's synchronous pieces (Framer → Conn.receive)
 *   with live tasks; invariants: nothing throws, memory held by the framer stays bounded, every
 *   task completes exactly once (typed error or result) once the connection is torn down;
 * - socket level: each named hostile scenario against a live Session through the fake target ends in
 *   a typed error within the configured timeouts, the session closed cleanly.
 */
import { describe, expect, it } from "@effect/vitest"
import { Framer, type IscsiError, Pdu, type PduTypes as P, Session } from "@effect-iscsi/core"
import * as Engine from "@effect-iscsi/core/internal/engine"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { FakeTarget } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { eventually, fakeConfig, read10, write10 } from "./support.ts"

const { nodeLayer } = IscsiClient
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

// ---------------------------------------------------------------------------------------------
// Socket level: the named scenarios against a live session
// ---------------------------------------------------------------------------------------------

type Handler = NonNullable<FakeTarget.Options["handler"]>

/** Run one read against a fake target scripted by `handler`; return the error tag and the session's end. */
const scenario = (
  handler: Handler,
  request: Parameters<Session.Session["execute"]>[0] = read10(1, 3, 4),
  extra: Partial<Session.Config> = {},
  options: FakeTarget.Options = {}
) =>
  Effect.gen(function* () {
    const t = yield* FakeTarget.make({ ...options, handler })
    const session = yield* Session.make(fakeConfig(t, { commandTimeoutMs: 1500, ...extra }))
    const started = Date.now()
    const e = yield* Effect.flip(session.execute(request)).pipe(Effect.timeout("5 seconds"))
    const elapsed = Date.now() - started
    // an aborted task keeps its ITT until the target answers the ABORT TASK (bounded)
    expect(yield* eventually(() => Effect.runSync(session.stats).inFlight === 0, 6000)).toBe(true)
    expect((yield* session.stats).waiting).toBe(0)
    return { error: e, elapsed, session, target: t }
  })

const onCommand =
  (f: (c: FakeTarget.FakeConnection, cmd: P.ScsiCommand) => void): Handler =>
  (c, pdu) => {
    if (pdu._tag === "ScsiCommand" && (pdu.cdb[0] === 0x28 || pdu.cdb[0] === 0x2a)) {
      f(c, pdu)
      return true
    }
  }

describe("hostile targets, socket level", () => {
  it.live("garbage bytes: ProtocolError, connection closed", () =>
    Effect.gen(function* () {
      const { error, session } = yield* scenario(onCommand((c) => c.sendRaw(new Uint8Array(2048).fill(0xa5))))
      expect(["ProtocolError", "ConnectionLost"]).toContain(error.reason._tag)
      const closed = yield* session.closed.pipe(Effect.timeout("1 second"))
      expect(closed.reason._tag).toBe(error.reason._tag)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a truncated PDU followed by silence: command Timeout, then keepalive kills the connection", () =>
    Effect.gen(function* () {
      const { error, session } = yield* scenario(
        (c, pdu) => {
          if (pdu._tag !== "ScsiCommand") return true // silent from now on (pings unanswered)
          const cmd = pdu
          const b = Pdu.encode({
            _tag: "ScsiResponse",
            bidiOverflow: false,
            bidiUnderflow: false,
            overflow: false,
            underflow: false,
            response: 0,
            status: 0,
            itt: cmd.itt,
            snackTag: 0,
            statSN: c.nextStatSN(),
            expCmdSN: c.expCmdSN,
            maxCmdSN: c.maxCmdSN,
            expDataSN: 0,
            bidiResidualCount: 0,
            residualCount: 0,
            data: new Uint8Array(0)
          })
          c.sendRaw(b.subarray(0, 30))
          return true
        },
        read10(1, 3, 4),
        { commandTimeoutMs: 400, keepaliveIntervalMs: 200, keepaliveTimeoutMs: 300 }
      )
      expect(error.reason._tag).toBe("Timeout")
      const closed = yield* session.closed.pipe(Effect.timeout("3 seconds"))
      expect(closed.reason._tag).toBe("Timeout")
      if (closed.reason._tag === "Timeout") expect(closed.reason.operation).toBe("keepalive")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a DataSegmentLength over the negotiated limit: ProtocolError before the data is buffered", () =>
    Effect.gen(function* () {
      const { error } = yield* scenario(
        onCommand((c, cmd) => {
          const b = new Uint8Array(48)
          b[0] = 0x25
          b[1] = 0x80
          b[5] = 0xff // DSL 16 MiB − 1
          b[6] = 0xff
          b[7] = 0xff
          new DataView(b.buffer).setUint32(16, cmd.itt)
          c.sendRaw(b)
          c.sendRaw(new Uint8Array(65536))
        })
      )
      expect(error.reason._tag).toBe("ProtocolError")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("an unknown opcode: ProtocolError", () =>
    Effect.gen(function* () {
      const { error } = yield* scenario(
        onCommand((c) => {
          const b = new Uint8Array(48)
          b[0] = 0x3a
          c.sendRaw(b)
        })
      )
      expect(error.reason._tag).toBe("ProtocolError")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a response with a wrong ITT is ignored (event) and the command times out", () =>
    Effect.gen(function* () {
      const { error, elapsed } = yield* scenario(
        onCommand((c, cmd) => c.respond((cmd.itt + 1000) >>> 0)),
        read10(1, 3, 4),
        { commandTimeoutMs: 300 }
      )
      expect(error.reason._tag).toBe("Timeout")
      expect(elapsed).toBeLessThan(2000)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("StatSN and DataSN jumps: a DataSN jump is a ProtocolError; a StatSN jump does not hang anything", () =>
    Effect.gen(function* () {
      const { error } = yield* scenario(
        onCommand((c, cmd) => {
          c.statSN = (c.statSN + 100000) >>> 0
          c.dataIn(cmd.itt, 7, 0, new Uint8Array(2048), { status: 0 })
        })
      )
      expect(error.reason._tag).toBe("ProtocolError")
      const t = yield* FakeTarget.make({
        handler: (c, pdu) => {
          if (pdu._tag === "ScsiCommand") c.statSN = (c.statSN + 0x7000_0000) >>> 0
        }
      })
      const session = yield* Session.make(fakeConfig(t))
      for (let i = 0; i < 4; i++) {
        const r = yield* Effect.result(session.execute(read10(1, i, 1)).pipe(Effect.timeout("3 seconds")))
        if (r._tag === "Failure") expect(r.failure._tag).toBe("IscsiError")
      }
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("endless R2Ts: ProtocolError, the task aborted", () =>
    Effect.gen(function* () {
      const { error, target } = yield* scenario(
        (c, pdu) => {
          if (pdu._tag === "ScsiCommand" && pdu.cdb[0] === 0x2a) {
            c.r2t(pdu.itt, c.ttt(), 0, 0, 4096, pdu.lun)
            return true
          }
          if (pdu._tag === "ScsiDataOut" && pdu.final) {
            c.r2t(pdu.itt, c.ttt(), 0, 0, 4096, pdu.lun) // the same bytes, again and again
            return true
          }
        },
        write10(1, 0, new Uint8Array(4096)),
        {},
        { maxRecvDataSegmentLength: 4096 }
      )
      expect(error.reason._tag).toBe("ProtocolError")
      expect(yield* eventually(() => target.sent("TaskManagementRequest").length === 1)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("Data-In beyond the expected length: ProtocolError", () =>
    Effect.gen(function* () {
      const { error } = yield* scenario(
        onCommand((c, cmd) =>
          c.dataIn(cmd.itt, 0, 0, new Uint8Array(cmd.expectedDataTransferLength + 512), { status: 0 })
        )
      )
      expect(error.reason._tag).toBe("ProtocolError")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a login that never finishes: Timeout(login) within loginTimeoutMs", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ loginHandler: () => true })
      const started = Date.now()
      const e = yield* Effect.flip(Session.make(fakeConfig(t, { loginTimeoutMs: 300 })))
      expect(e.reason._tag).toBe("Timeout")
      if (e.reason._tag === "Timeout") expect(e.reason.operation).toBe("login")
      expect(Date.now() - started).toBeLessThan(2000)
      expect(yield* eventually(() => t.connections.every((c) => c.socket.destroyed || c.phase === "closed"))).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("an oversize or garbage login response: typed error, bounded memory", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        loginHandler: (c) => {
          const b = new Uint8Array(48)
          b[0] = 0x23
          b[5] = 0xff
          b[6] = 0xff
          b[7] = 0xff
          c.sendRaw(b)
          c.sendRaw(new Uint8Array(128 * 1024))
          return true
        }
      })
      const e = yield* Effect.flip(Session.make(fakeConfig(t)))
      expect(e.reason._tag).toBe("ProtocolError")
      const t2 = yield* FakeTarget.make({
        loginHandler: (c) => {
          c.sendRaw(new Uint8Array(100).fill(0x5a))
          return true
        }
      })
      const e2 = yield* Effect.flip(Session.make(fakeConfig(t2, { loginTimeoutMs: 500 })))
      expect(["ProtocolError", "Timeout"]).toContain(e2.reason._tag)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a target that goes silent: keepalive Timeout closes the session; commands fail, none hang", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ handler: () => true })
      const session = yield* Session.make(
        fakeConfig(t, { keepaliveIntervalMs: 150, keepaliveTimeoutMs: 250, commandTimeoutMs: 0 })
      )
      const e = yield* Effect.flip(session.execute(read10(1, 0, 1))).pipe(Effect.timeout("3 seconds"))
      expect(e.reason._tag).toBe("Timeout")
      const closed = yield* session.closed
      expect(closed.reason._tag).toBe("Timeout")
      expect((yield* session.stats).inFlight).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )
})
