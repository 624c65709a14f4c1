/**
 * Hostile targets (issue 9), socket level: each named hostile scenario against a live Session
 * through the fake target ends in a typed error within the configured timeouts, the session closed
 * cleanly. (The property-based half, through the synchronous engine, is core's HostileEngine.test.ts.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Pdu, type PduTypes as P, Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { FakeTarget } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import { eventually, fakeConfig, read10, write10 } from "./support.ts"

const { nodeLayer } = IscsiClient
const _RESERVED = 0xffffffff
const _MAX_RECV = 8192

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
