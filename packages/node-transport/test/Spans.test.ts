/**
 * Security (issues 9, 16): CHAP secrets never appear in any span (name, attribute, event, status),
 * log line (message, annotations) or metric (name, labels, Prometheus text) — checked with a
 * recording tracer and logger at level All and a fresh metric registry around successful and failing
 * CHAP/mutual-CHAP logins and commands (sessions and pools), and in the CLI's --json output and
 * its `--log-level all` log lines.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import { PrometheusMetrics } from "effect/observability"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import { execFileSync, spawnSync } from "node:child_process"
import { Negotiation, Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Scsi } from "@effect-iscsi/scsi"
import { tgt } from "@effect-iscsi/testing/Provided"
import { recordingLogger, recordingTracer } from "./support.ts"

describe("secrets stay out of spans, logs, metrics and --json output", () => {
  it.live("CHAP, mutual CHAP and failing logins leave no secret in any span, log line or metric", () =>
    Effect.gen(function* () {
      const { chap, mutual } = tgt().targets
      const rec = recordingTracer()
      const logs = recordingLogger()
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
      // the same through pools (managed sessions: metrics, login-failure counters, their logs)
      const url = (user: string, secret: string, iqn: string) =>
        `iscsi://${user}%${secret}@${tgt().host}:${tgt().port}/${iqn}/1`
      const pooled = Effect.gen(function* () {
        yield* Scsi.inquiry(1).pipe(
          Effect.provide(IscsiClient.layer({ url: url(chap.chap!.user, chap.chap!.secret, chap.iqn) }))
        )
        yield* Effect.flip(
          Scsi.inquiry(1).pipe(
            Effect.provide(IscsiClient.layer({ url: url(chap.chap!.user, "wrong-secret-pool", chap.iqn) }))
          )
        )
        yield* Scsi.inquiry(1).pipe(
          Effect.provide(
            IscsiClient.layer({
              url: url(mutual.chap!.user, mutual.chap!.secret, mutual.iqn),
              targetChap: { user: mutual.mutualChap!.user, secret: Redacted.make(mutual.mutualChap!.secret) }
            })
          )
        )
      })
      const observed = <A, E>(self: Effect.Effect<A, E>) =>
        self.pipe(
          Effect.withTracer(rec.tracer),
          Effect.provide(Logger.layer([logs.logger])),
          Effect.provideService(References.MinimumLogLevel, "All")
        )
      const registry: Metric.MetricRegistry = new Map()
      yield* observed(run.pipe(Effect.provide(IscsiClient.nodeLayer())))
      const metrics = yield* observed(
        Effect.gen(function* () {
          yield* pooled
          return { snapshot: yield* Metric.snapshot, text: yield* PrometheusMetrics.format() }
        })
      ).pipe(Effect.provideService(Metric.MetricRegistry, registry))
      expect(rec.spans.map((s) => s.name)).toContain("Session.make")
      expect(rec.spans.some((s) => s.name === "Login.connect")).toBe(true)
      expect(logs.lines.filter((l) => l.message === "logged in").length).toBeGreaterThanOrEqual(3)
      expect(logs.lines.some((l) => l.message === "login failed")).toBe(true)
      expect(metrics.text).toContain('status="AuthenticationFailure"')
      const everything = [
        rec.dump(),
        logs.dump(),
        JSON.stringify(metrics.snapshot, (_k, v) => (v instanceof Map ? [...v] : v)),
        metrics.text
      ]
      for (const secret of [
        chap.chap!.secret,
        mutual.chap!.secret,
        mutual.mutualChap!.secret,
        "wrong-secret-spans",
        "bad-target-secret",
        "wrong-secret-pool"
      ]) {
        for (const text of everything) expect(text).not.toContain(secret)
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
    // every log line of a run, at level all, on stderr: none holds the secret
    const logged = spawnSync("npx", ["iscsi", "readcap", url, "--json", "--log-level", "all"], { encoding: "utf8" })
    expect(logged.status).toBe(0)
    expect(logged.stderr).toContain('message="logged in"')
    expect(logged.stderr).toContain("AuthMethod=CHAP")
    expect(JSON.parse(logged.stdout).blockSize).toBe(512)
    expect(`${logged.stdout}${logged.stderr}`).not.toContain(secret)
  }, 60_000)
})
