/**
 * Targets that behave differently from tgt (issue 15), through the fake target:
 * - one that rejects `HeaderDigest=None` / `DataDigest=None` and digests anyway: the default offer
 *   (`None,CRC32C`) gets CRC32C from it; an offer of `None` alone ends in a typed
 *   `NegotiationFailed` at the first frame, once, instead of a recovery loop;
 * - one that keeps waiting for the solicited Data-Out of an interrupted WRITE and acts on ABORT TASK
 *   only when it has arrived: the next command on the session completes at once; one that never
 *   answers the ABORT TASK: the connection is dropped within the abort's bound, then recovered;
 * - one that answers `AuthMethod=CHAP` to an initiator without credentials: the error says so.
 */
import { describe, expect, it } from "@effect/vitest"
import { LoginMachine, Negotiation, Recurrence, Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { FakeTarget } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { eventually, fakeConfig, openTarget, pattern, read10, write10 } from "./support.ts"

const { nodeLayer } = IscsiClient
const noneOnly: Negotiation.Offer = { ...Negotiation.defaultOffer, headerDigest: ["None"], dataDigest: ["None"] }

describe("a target that rejects HeaderDigest=None and digests anyway", () => {
  it.live("the default offer (None,CRC32C) gets CRC32C from it: reads and writes work", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ insistOnDigests: true })
      const session = yield* Session.make(fakeConfig(t))
      expect(session.info.params.headerDigest).toBe(true)
      expect(session.info.params.dataDigest).toBe(true)
      const data = pattern(3, 64 * 512, 7)
      expect((yield* session.execute(write10(1, 3, data))).status).toBe(0)
      const r = yield* session.execute(read10(1, 3, 64))
      expect(Buffer.from(r.data).equals(Buffer.from(data))).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("an offer of None alone: the first frame ends the session with NegotiationFailed(HeaderDigest)", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ insistOnDigests: true })
      const session = yield* Session.make(fakeConfig(t, { offer: noneOnly }))
      expect(session.info.params.headerDigest).toBe(false)
      expect(session.info.params.rejectedKeys).toEqual(["HeaderDigest", "DataDigest"])
      const started = Date.now()
      const e = yield* Effect.flip(
        Effect.gen(function* () {
          // the first answer may still be read whole (a 48-byte response); the digest after it is not
          for (let i = 0; i < 3; i++) yield* session.execute(read10(1, i, 1))
        })
      )
      expect(Date.now() - started).toBeLessThan(2000)
      expect(e.reason._tag).toBe("NegotiationFailed")
      expect(e.reason._tag === "NegotiationFailed" && e.reason.key).toBe("HeaderDigest")
      expect(e.isRetryable).toBe(false)
      const closed = yield* session.closed
      expect(closed.reason._tag).toBe("NegotiationFailed")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("through a Pool with recovery on: a typed error within a second, after one login (no loop)", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ insistOnDigests: true })
      const pool = yield* openTarget({
        ...fakeConfig(t, { offer: noneOnly }),
        recovery: { replacementTimeoutMs: 60_000, initialDelayMs: 10, maxDelayMs: 100, maxTime2WaitMs: 0 }
      })
      const started = Date.now()
      const e = yield* Effect.flip(
        Effect.gen(function* () {
          for (let i = 0; i < 3; i++) yield* pool.execute(read10(1, i, 1))
        })
      ).pipe(Effect.timeout("10 seconds"))
      expect(Date.now() - started).toBeLessThan(1000)
      expect(e.reason._tag).toBe("NegotiationFailed")
      // one session: no reinstatement loop (a discovery-free fake target counts the logins)
      expect(t.connections.length).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a session that fails right after login reports what Recurrence needs", () =>
    Effect.gen(function* () {
      // the target drops the connection at the first command, before answering anything
      const t = yield* FakeTarget.make({
        handler: (c, pdu) => {
          if (pdu._tag !== "ScsiCommand") return false
          c.reset()
          return true
        }
      })
      const session = yield* Session.make(fakeConfig(t))
      expect(session.info.loggedInAt).toBeGreaterThan(0)
      const e = yield* Effect.flip(session.execute(read10(1, 0, 1)))
      expect(e.reason._tag).toBe("ConnectionLost")
      const attempt = yield* Recurrence.attemptOf(session, yield* session.closed)
      expect(attempt.completed).toBe(0)
      expect(Recurrence.isEarly(attempt)).toBe(true)
      let state = Recurrence.initial
      const verdicts = [attempt, attempt, attempt].map((a) => {
        const v = Recurrence.record(state, a)
        state = v.state
        return v._tag
      })
      expect(verdicts).toEqual(["Retry", "Retry", "GiveUp"])
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a session whose commands were answered is not early", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make()
      const session = yield* Session.make(fakeConfig(t))
      expect((yield* session.execute(read10(1, 0, 1))).status).toBe(0)
      for (const c of t.live) c.reset()
      const closed = yield* session.closed
      const attempt = yield* Recurrence.attemptOf(session, closed)
      expect(attempt.completed).toBe(1)
      expect(Recurrence.isEarly(attempt)).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )
})

describe("a target that sits on ABORT TASK for a WRITE waiting for its Data-Out", () => {
  const MiB4 = 4 * 1024 * 1024
  // keepalive as by default: the stall must not be left to it (5 s + 10 s)
  const keepalive = { keepaliveIntervalMs: 5000, keepaliveTimeoutMs: 10_000 }
  /**
   * A 4 MiB WRITE interrupted after 2 ms: it is still in flight (R2T by R2T) when given up. Returns
   * once the target has its ABORT TASK, so that the next command queues behind it.
   */
  const interruptedWrite = (t: FakeTarget.FakeTarget, execute: Session.Session["execute"], lba: number) =>
    Effect.gen(function* () {
      const aborts = () => t.sent("TaskManagementRequest").filter((m) => m.function === 1).length
      const before = aborts()
      const exit = yield* Effect.exit(execute(write10(1, lba, pattern(lba, MiB4, 5))).pipe(Effect.timeout("2 millis")))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* eventually(() => aborts() > before, 1000)).toBe(true)
    })

  it.live("acting on it only once the solicited Data-Out arrived: the next command completes within 1 s", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ stalledAbort: "after-data", blocks: 4 * 8192 })
      const session = yield* Session.make(fakeConfig(t, keepalive))
      expect((yield* session.execute(read10(1, 0, 1))).status).toBe(0)
      for (let round = 0; round < 3; round++) {
        yield* interruptedWrite(t, session.execute, 100 + round * 8192)
        const started = Date.now()
        const next = yield* session.execute(read10(1, 0, 1))
        const elapsed = Date.now() - started
        expect(next.status).toBe(0)
        expect(elapsed).toBeLessThan(1000)
        // the abort was answered (not timed out): the ITT is free, the connection kept
        expect(yield* eventually(() => Effect.runSync(session.stats).inFlight === 0, 1000)).toBe(true)
        expect((yield* session.stats).connections).toEqual([0])
      }
      expect(t.sent("TaskManagementRequest").filter((m) => m.function === 1).length).toBe(3)
      expect(t.connections.length).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("never answering it: the connection is dropped within the abort's bound, then the session recovers", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ stalledAbort: "never", blocks: 4 * 8192 })
      const pool = yield* openTarget({
        ...fakeConfig(t, { ...keepalive, abortTimeoutMs: 1000 }),
        recovery: { replacementTimeoutMs: 10_000, initialDelayMs: 10, maxDelayMs: 100, maxTime2WaitMs: 0 }
      })
      expect((yield* pool.execute(read10(1, 0, 1))).status).toBe(0)
      yield* interruptedWrite(t, pool.execute, 100)
      const started = Date.now()
      // held behind the abort on the stalled connection, re-issued on the reinstated session
      const next = yield* pool.execute(read10(1, 0, 1))
      const elapsed = Date.now() - started
      expect(next.status).toBe(0)
      expect(elapsed).toBeGreaterThanOrEqual(900)
      expect(elapsed).toBeLessThan(3000)
      expect(t.connections.length).toBe(2)
      expect(t.connections[0]!.phase).toBe("closed")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("never answering it, with MC/S: the stalled connection is dropped within the bound, the other serves", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ stalledAbort: "never", blocks: 4 * 8192, maxConnections: 2 })
      const session = yield* Session.make(
        fakeConfig(t, {
          ...keepalive,
          abortTimeoutMs: 1000,
          connections: 2,
          offer: { ...Negotiation.defaultOffer, maxConnections: 2 }
        })
      )
      expect((yield* session.stats).connections.length).toBe(2)
      yield* interruptedWrite(t, session.execute, 100)
      const started = Date.now()
      expect((yield* session.execute(read10(1, 0, 1))).status).toBe(0)
      expect(Date.now() - started).toBeLessThan(1000)
      expect(yield* eventually(() => Effect.runSync(session.stats).connections.length === 1, 3000)).toBe(true)
      const dropped = Date.now() - started
      expect(dropped).toBeGreaterThanOrEqual(800)
      expect(dropped).toBeLessThan(2500)
      for (let i = 0; i < 4; i++) expect((yield* session.execute(read10(1, i, 1))).status).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )
})

describe("a target that requires CHAP from an initiator without credentials", () => {
  it.live("answering AuthMethod=CHAP to our None: AuthenticationFailed saying how to pass credentials", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ chap: { user: "u", secret: "secret-secret", whenNotOffered: "answer-chap" } })
      const e = yield* Effect.flip(Session.make(fakeConfig(t)))
      expect(e.reason._tag).toBe("AuthenticationFailed")
      expect(e.isRetryable).toBe(false)
      expect(e.message).toContain(LoginMachine.CHAP_REQUIRED)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("failing the login (AuthenticationFailure, as tgt does): LoginFailed with the same hint", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ chap: { user: "u", secret: "secret-secret" } })
      const e = yield* Effect.flip(Session.make(fakeConfig(t)))
      expect(e.reason._tag === "LoginFailed" && e.reason.hint).toBe(LoginMachine.CHAP_REQUIRED)
      expect(e.message).toContain("ISCSI_CHAP_USER")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )
})
