/**
 * Security (issue 9): CHAP secrets never appear in errors (message, JSON, inspection) or log lines
 * (every level, captured with a test Logger); a mutual-CHAP failure closes the connection before any
 * SCSI command is sent; login and commands have deadlines.
 */
import { describe, expect, it } from "@effect/vitest"
import { Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { FakeTarget } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import { inspect } from "node:util"
import { eventually, fakeConfig, read10 } from "./support.ts"

const { nodeLayer } = IscsiClient

const INITIATOR_SECRET = "s3cr3t-initiator-XYZZY"
const TARGET_SECRET = "s3cr3t-target-PLUGH"
const WRONG_SECRET = "s3cr3t-wrong-FROBOZZ"
const SECRETS = [INITIATOR_SECRET, TARGET_SECRET, WRONG_SECRET]
const hex = (s: string) => Buffer.from(s).toString("hex")

/** Everything logged while `eff` runs, at every level, as text. */
const withCapturedLogs = <A, E, R>(eff: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const capture = Logger.make((o) => {
      lines.push(`${o.logLevel} ${inspect(o.message, { depth: 8 })} ${inspect(o.cause, { depth: 8 })}`)
    })
    const exit = yield* Effect.exit(eff).pipe(
      Effect.provide(Logger.layer([capture])),
      Effect.provideService(References.MinimumLogLevel, "All")
    )
    return { exit, lines }
  })

/** Fail when any secret (plain or hex) shows up in `text`. */
const expectNoSecret = (text: string) => {
  for (const s of SECRETS) {
    expect(text.includes(s)).toBe(false)
    expect(text.toLowerCase().includes(hex(s))).toBe(false)
  }
}

const errorTexts = (e: unknown): string =>
  [String(e), (e as Error).message, JSON.stringify(e), inspect(e, { depth: 10 }), (e as Error).stack ?? ""].join("\n")

describe("security", () => {
  it.live("a wrong CHAP secret: typed LoginFailed, no secret in the error or in any log line", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ chap: { user: "alice", secret: INITIATOR_SECRET } })
      const { exit, lines } = yield* withCapturedLogs(
        Session.make(
          fakeConfig(t, { auth: { _tag: "Chap", user: "alice", secret: Redacted.make(WRONG_SECRET) } })
        ).pipe(
          Effect.scoped,
          Effect.tapError((e) => Effect.logError("login failed", e))
        )
      )
      expect(exit._tag).toBe("Failure")
      if (exit._tag === "Failure") {
        const f = exit.cause.reasons.find((r) => r._tag === "Fail")
        const e = f?._tag === "Fail" ? f.error : undefined
        expect(e?.reason._tag).toBe("LoginFailed")
        expectNoSecret(errorTexts(e))
        expectNoSecret(inspect(exit.cause, { depth: 10 }))
      }
      expect(lines.length).toBeGreaterThan(0)
      expectNoSecret(lines.join("\n"))
    }).pipe(Effect.provide(nodeLayer()))
  )

  it.live("successful one-way and mutual CHAP sessions log no secret at any level", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        chap: { user: "alice", secret: INITIATOR_SECRET, mutual: { user: "target", secret: TARGET_SECRET } }
      })
      const { exit, lines } = yield* withCapturedLogs(
        Effect.gen(function* () {
          const s = yield* Session.make(
            fakeConfig(t, {
              auth: {
                _tag: "Chap",
                user: "alice",
                secret: Redacted.make(INITIATOR_SECRET),
                mutual: { user: "target", secret: Redacted.make(TARGET_SECRET) }
              }
            })
          )
          yield* Effect.logDebug("session", s.info)
          return yield* s.execute(read10(1, 0, 1))
        }).pipe(Effect.scoped)
      )
      expect(exit._tag).toBe("Success")
      expectNoSecret(lines.join("\n"))
      expectNoSecret(inspect(exit, { depth: 10 }))
    }).pipe(Effect.provide(nodeLayer()))
  )

  it.live("a mutual-CHAP failure closes the connection before any SCSI command is sent", () =>
    Effect.gen(function* () {
      // the target answers our challenge with a response computed from a different secret
      const t = yield* FakeTarget.make({
        chap: { user: "alice", secret: INITIATOR_SECRET, mutual: { user: "target", secret: WRONG_SECRET } }
      })
      const e = yield* Effect.flip(
        Session.make(
          fakeConfig(t, {
            auth: {
              _tag: "Chap",
              user: "alice",
              secret: Redacted.make(INITIATOR_SECRET),
              mutual: { user: "target", secret: Redacted.make(TARGET_SECRET) }
            }
          })
        ).pipe(Effect.scoped)
      )
      expect(e.reason._tag).toBe("AuthenticationFailed")
      expectNoSecret(errorTexts(e))
      // only login PDUs ever reached the target, and the initiator closed the connection
      expect(t.received.every((r) => r.pdu._tag === "LoginRequest")).toBe(true)
      expect(t.sent("ScsiCommand").length).toBe(0)
      expect(yield* eventually(() => t.connections.every((c) => c.socket.destroyed || c.phase === "closed"))).toBe(true)
      // and no login request after the target's bad response moved to another stage
      expect(t.sent("LoginRequest").every((r) => r.csg === 0)).toBe(true)
    }).pipe(Effect.provide(nodeLayer()))
  )

  it.live("login and command deadlines: a stalled CHAP login and a stalled command end in Timeout", () =>
    Effect.gen(function* () {
      const stalled = yield* FakeTarget.make({
        chap: { user: "alice", secret: INITIATOR_SECRET },
        loginHandler: (_c, req) => (TextDecoderSafe(req.data).includes("CHAP_R") ? true : undefined) // never answers the response
      })
      const started = Date.now()
      const e = yield* Effect.flip(
        Session.make(
          fakeConfig(stalled, {
            loginTimeoutMs: 400,
            auth: { _tag: "Chap", user: "alice", secret: Redacted.make(INITIATOR_SECRET) }
          })
        ).pipe(Effect.scoped)
      )
      expect(e.reason._tag).toBe("Timeout")
      expect(Date.now() - started).toBeLessThan(2000)
      expectNoSecret(errorTexts(e))

      const silent = yield* FakeTarget.make({ handler: (_c, pdu) => pdu._tag === "ScsiCommand" })
      const s = yield* Session.make(fakeConfig(silent, { commandTimeoutMs: 300 }))
      const c = yield* Effect.flip(s.execute(read10(1, 0, 1)))
      expect(c.reason._tag).toBe("Timeout")
      if (c.reason._tag === "Timeout") expect(c.reason.operation).toBe("SCSI command")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )
})

const TextDecoderSafe = (b: Uint8Array): string => new TextDecoder().decode(b)
