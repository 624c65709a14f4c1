/**
 * Security (issue 9): CHAP secrets never appear in any span (name, attribute, event, status) —
 * checked with a recording tracer around successful and failing CHAP/mutual-CHAP logins and commands,
 * and in the CLI's --json output.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import { execFileSync } from "node:child_process"
import { Negotiation, Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { tgt } from "@effect-iscsi/testing/Provided"

const recordingTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  const dump = () =>
    JSON.stringify(
      spans.map((s) => ({
        name: s.name,
        attributes: [...(s._attributes ?? new Map()).entries()].map(([k, v]) => [k, String(v)]),
        events: (s._events ?? []).map(([n, , a]) => [
          n,
          JSON.stringify(a, (_k, v) => (typeof v === "bigint" ? String(v) : v))
        ]),
        status: s.status._tag === "Ended" ? String(s.status.exit) : "open"
      }))
    )
  return { tracer, spans, dump }
}

describe("secrets stay out of spans and --json output", () => {
  it.live("CHAP, mutual CHAP and failing logins leave no secret in any span", () =>
    Effect.gen(function* () {
      const { chap, mutual } = tgt().targets
      const rec = recordingTracer()
      const base = {
        address: { host: tgt().host, port: tgt().port },
        initiatorName: "iqn.2026-11.io.effect-iscsi:spans",
        offer: Negotiation.defaultOffer
      }
      const run = Effect.gen(function* () {
        const s = yield* Session.make({
          ...base,
          targetName: mutual.iqn,
          isid: 0x800000000a01,
          auth: {
            _tag: "Chap",
            user: mutual.chap!.user,
            secret: Redacted.make(mutual.chap!.secret),
            mutual: { user: mutual.mutualChap!.user, secret: Redacted.make(mutual.mutualChap!.secret) }
          }
        })
        yield* s.execute({ lun: 1, cdb: new Uint8Array(6), direction: "none" })
        yield* Effect.flip(
          Session.make({
            ...base,
            targetName: chap.iqn,
            isid: 0x800000000a02,
            auth: { _tag: "Chap", user: chap.chap!.user, secret: Redacted.make("wrong-secret-spans") }
          })
        )
        yield* Effect.flip(
          Session.make({
            ...base,
            targetName: mutual.iqn,
            isid: 0x800000000a03,
            auth: {
              _tag: "Chap",
              user: mutual.chap!.user,
              secret: Redacted.make(mutual.chap!.secret),
              mutual: { user: mutual.mutualChap!.user, secret: Redacted.make("bad-target-secret") }
            }
          })
        )
      }).pipe(Effect.scoped, Effect.withSpan("test.root"))
      yield* run.pipe(Effect.withTracer(rec.tracer), Effect.provide(IscsiClient.nodeLayer()))
      const text = rec.dump()
      expect(rec.spans.map((s) => s.name)).toContain("Session.make")
      expect(rec.spans.some((s) => s.name === "Login.connect")).toBe(true)
      for (const secret of [chap.chap!.secret, mutual.mutualChap!.secret, "wrong-secret-spans", "bad-target-secret"]) {
        expect(text).not.toContain(secret)
      }
    })
  )

  it("the CLI's --json output and errors never contain the secret", () => {
    const { chap } = tgt().targets
    const secret = chap.chap!.secret
    const url = `iscsi://${chap.chap!.user}%${secret}@${tgt().portal}/${chap.iqn}/1`
    const ok = execFileSync("npx", ["iscsi", "readcap", url, "--json"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"]
    })
    expect(JSON.parse(ok).blockSize).toBe(512)
    expect(ok).not.toContain(secret)
    let failed = ""
    try {
      execFileSync("npx", ["iscsi", "readcap", url.replace(secret, "wrong-secret-json"), "--json"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"]
      })
    } catch (e) {
      const err = e as { stdout: string; stderr: string; status: number }
      failed = `${err.stdout}\n${err.stderr}`
      expect(err.status).toBe(1)
    }
    expect(failed).toMatch(/Authentication/i)
    expect(failed).not.toContain("wrong-secret-json")
  }, 60_000)
})
