/**
 * Observability against the run's private tgtd (issue 16): the metrics of `Telemetry` are the
 * session's own numbers (commands by LUN, opcode and outcome, the latency histogram, bytes, wire
 * counters, R2Ts, NOP round trips, logins), read from the same counters `Session.stats` copies and
 * kept when the session closes; every command is a span with its attributes (READ/WRITE only under
 * `Scsi.TraceDataPath`), logins and task management too; a login logs its negotiated keys. A fake
 * portal that redirects to tgtd: the redirect is an Info line and a span event. Through the fault
 * proxy: a digest error drops the connection, the session is reinstated and the command cut off is
 * re-issued — logged at Warn with the outcome, counted, traced.
 *
 * Writes go to the null LUN (3 of `disk`), so nothing other test files read is touched.
 */
import { describe, expect, it } from "@effect/vitest"
import { type ManagedSession, Negotiation, Pool, ScsiTransport, Telemetry, TextKeys } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Scsi } from "@effect-iscsi/scsi"
import { FakeTarget, FaultProxy } from "@effect-iscsi/testing"
import { tgt } from "@effect-iscsi/testing/Provided"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import { PrometheusMetrics } from "effect/observability"
import * as References from "effect/References"
import { eventually, INITIATOR, metricValue, recordingLogger, recordingTracer } from "./support.ts"

const diskUrl = () => `iscsi://127.0.0.1:${tgt().port}/${tgt().targets.disk.iqn}`

/** A fresh metric registry for one test (the series of other tests' sessions stay out). */
const withRegistry = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.provideService(self, Metric.MetricRegistry, new Map())

describe("Telemetry against tgtd", () => {
  it.live("metrics: commands by opcode and outcome, latency, bytes, R2Ts, NOPs — the session's own counters", () =>
    Effect.gen(function* () {
      const iqn = tgt().targets.disk.iqn
      const portal = `127.0.0.1:${tgt().port}`
      const t = { target: iqn, portal }
      // commands through the pool's managed session of the target, then that session's counters
      const commands = (managed: ManagedSession.ManagedSession) =>
        Effect.gen(function* () {
          yield* Scsi.inquiry(1)
          for (let i = 0; i < 20; i++) yield* Scsi.read10(3, i * 8, 8)
          for (let i = 0; i < 5; i++) yield* Scsi.write10(3, i * 8, new Uint8Array(4096))
          // 128 KiB: 8 KiB of immediate data, then R2Ts (tgt's defaults: InitialR2T=Yes, 8 KiB PDUs)
          yield* Scsi.write10(3, 0, new Uint8Array(128 * 1024))
          // beyond the LUN's end: CHECK CONDITION, ILLEGAL REQUEST (not retried)
          const beyond = yield* Effect.exit(Scsi.read10(3, 0xfffff000, 1))
          expect(Exit.isFailure(beyond)).toBe(true)
          const session = yield* managed.session
          yield* session.ping
          yield* session.ping
          // read together: nothing moves between the two
          const snapshot = yield* Metric.snapshot
          const stats = yield* session.stats
          return { snapshot, stats }
        }).pipe(Effect.provideService(ScsiTransport.ScsiTransport, Pool.transportOf(managed)))
      const run = Effect.flatMap(Effect.service(Pool.Pool), (pool) => Effect.flatMap(pool.acquire(diskUrl()), commands))
      const { snapshot, stats } = yield* run.pipe(Effect.scoped, Effect.provide(IscsiClient.pool()))
      const read10 = { ...t, lun: "3", opcode: "READ (10)" }
      const write10 = { ...t, lun: "3", opcode: "WRITE (10)" }
      expect(metricValue(snapshot, "iscsi_commands_total", { ...read10, outcome: "ok" })).toBe(20)
      expect(metricValue(snapshot, "iscsi_commands_total", { ...write10, outcome: "ok" })).toBe(6)
      expect(
        metricValue(snapshot, "iscsi_commands_total", { ...read10, outcome: "CheckCondition(ILLEGAL REQUEST)" })
      ).toBe(1)
      expect(metricValue(snapshot, "iscsi_commands_total", { ...t, lun: "1", opcode: "INQUIRY", outcome: "ok" })).toBe(
        1
      )
      // READ CAPACITY (16): the block size, learned by the first READ
      expect(
        metricValue(snapshot, "iscsi_commands_total", { ...t, lun: "3", opcode: "READ CAPACITY (16)", outcome: "ok" })
      ).toBe(1)
      const latency = metricValue(snapshot, "iscsi_command_duration_seconds", read10)
      expect(latency.count).toBe(21)
      expect(latency.min).toBeGreaterThan(0)
      expect(latency.max).toBeLessThan(10)
      expect(latency.buckets.at(-1)).toEqual([60, 21])
      expect(latency.buckets[0]![0]).toBe(20e-6)
      // the reads and READ CAPACITY (16)'s 32 bytes
      expect(metricValue(snapshot, "iscsi_read_bytes_total", { ...t, lun: "3" })).toBe(20 * 4096 + 32)
      expect(metricValue(snapshot, "iscsi_written_bytes_total", { ...t, lun: "3" })).toBe(5 * 4096 + 128 * 1024)
      expect(metricValue(snapshot, "iscsi_r2ts_total", t)).toBeGreaterThanOrEqual(1)
      // the wire counters are the session's, per session and per connection
      const c = stats.counters
      expect(metricValue(snapshot, "iscsi_pdus_total", { ...t, direction: "out" })).toBe(c.pdusOut)
      expect(metricValue(snapshot, "iscsi_pdus_total", { ...t, direction: "in" })).toBe(c.pdusIn)
      expect(metricValue(snapshot, "iscsi_wire_bytes_total", { ...t, direction: "out" })).toBe(c.bytesOut)
      expect(metricValue(snapshot, "iscsi_wire_bytes_total", { ...t, direction: "in" })).toBe(c.bytesIn)
      expect(metricValue(snapshot, "iscsi_connection_pdus_total", { ...t, cid: "0", direction: "in" })).toBe(c.pdusIn)
      expect(metricValue(snapshot, "iscsi_r2ts_total", t)).toBe(c.r2ts)
      expect(c.bytesOut).toBeGreaterThan(5 * 4096 + 128 * 1024)
      const nop = metricValue(snapshot, "iscsi_nop_rtt_seconds", t)
      expect(nop.count).toBe(2)
      expect(nop.sum).toBeGreaterThan(0)
      expect(metricValue(snapshot, "iscsi_logins_total", t)).toBe(1)
      expect(metricValue(snapshot, "iscsi_sessions", t)).toBe(1)
      expect(metricValue(snapshot, "iscsi_commands_in_flight", t)).toBe(0)
      expect(metricValue(snapshot, "iscsi_unit_attentions_total", { ...t, lun: "3", asc_ascq: "29h/00h" })).toBe(1)
      // never labelled by LBA or ITT
      for (const s of snapshot) for (const k of Object.keys(s.attributes ?? {})) expect(k).not.toMatch(/lba|itt/i)
    }).pipe(withRegistry)
  )

  it.live(
    "metrics outlive the session: closing it keeps its numbers; Prometheus text; off with Telemetry.Enabled",
    () =>
      Effect.gen(function* () {
        const t = { target: tgt().targets.disk.iqn, portal: `127.0.0.1:${tgt().port}` }
        const layer = IscsiClient.layer({ url: diskUrl() })
        const read10 = { ...t, lun: "3", opcode: "READ (10)", outcome: "ok" }
        const pdusOut = { ...t, direction: "out" }
        // two layers, two sessions, one after the other, each closed (logged out) before the next
        yield* Scsi.read10(3, 0, 8, { blockSize: 512 }).pipe(Effect.provide(layer))
        const first = yield* Metric.snapshot
        expect(metricValue(first, "iscsi_sessions", t)).toBe(0)
        // a READ, again after tgt's UNIT ATTENTION for the new I_T nexus, a Logout (at least)
        expect(metricValue(first, "iscsi_pdus_total", pdusOut)).toBeGreaterThanOrEqual(3)
        yield* Scsi.read10(3, 0, 8, { blockSize: 512 }).pipe(Effect.provide(layer))
        const after = yield* Metric.snapshot
        // counted together, none open now, the first session's numbers kept
        expect(metricValue(after, "iscsi_commands_total", read10)).toBe(2)
        expect(metricValue(after, "iscsi_logins_total", t)).toBe(2)
        expect(metricValue(after, "iscsi_sessions", t)).toBe(0)
        expect(metricValue(after, "iscsi_pdus_total", pdusOut)).toBeGreaterThanOrEqual(
          metricValue(first, "iscsi_pdus_total", pdusOut) + 3
        )
        const text = yield* PrometheusMetrics.format()
        expect(text).toContain("# TYPE iscsi_commands_total counter")
        expect(text).toContain(
          `iscsi_commands_total{target="${t.target}",portal="${t.portal}",lun="3",opcode="READ (10)",outcome="ok"} 2`
        )
        expect(text).toContain("# TYPE iscsi_command_duration_seconds histogram")
        expect(text).toContain(
          `iscsi_command_duration_seconds_bucket{target="${t.target}",portal="${t.portal}",lun="3",opcode="READ (10)",le="+Inf"} 2`
        )
        // with Telemetry.Enabled false nothing is recorded per command
        yield* Scsi.read10(3, 0, 8, { blockSize: 512 }).pipe(
          Effect.provide(layer),
          Effect.provideService(Telemetry.Enabled, false)
        )
        expect(metricValue(yield* Metric.snapshot, "iscsi_commands_total", read10)).toBe(2)
      }).pipe(withRegistry)
  )

  it.live("spans: every command with its attributes, READ/WRITE under TraceDataPath; login and TMF spans", () =>
    Effect.gen(function* () {
      const rec = recordingTracer()
      const iqn = tgt().targets.disk.iqn
      yield* Effect.gen(function* () {
        yield* Scsi.inquiry(3)
        yield* Scsi.read10(3, 16, 8)
        yield* Scsi.read10(3, 24, 8).pipe(Effect.provideService(Scsi.TraceDataPath, true))
        yield* Effect.exit(Scsi.read10(3, 0xfffff000, 1).pipe(Effect.provideService(Scsi.TraceDataPath, true)))
        yield* Scsi.abortTaskSet(3)
      }).pipe(Effect.provide(IscsiClient.layer({ url: diskUrl() })), Effect.withTracer(rec.tracer))
      const named = (name: string) => rec.spans.filter((s) => s.name === name)
      const inquiry = named("SCSI INQUIRY")
      expect(inquiry).toHaveLength(1)
      expect(rec.attributes(inquiry[0]!)).toMatchObject({
        "iscsi.target": iqn,
        "iscsi.portal": `127.0.0.1:${tgt().port}`,
        "scsi.lun": 3,
        "scsi.opcode": "0x12",
        "scsi.command": "INQUIRY",
        "scsi.outcome": "ok",
        "scsi.attempts": 1,
        "scsi.status": 0
      })
      expect(inquiry[0]!.kind).toBe("client")
      // a child of the program's span
      const parent = inquiry[0]!.parent
      expect(parent._tag === "Some" && parent.value._tag === "Span" && parent.value.name).toBe("Scsi.inquiry")
      // READ: one span, the traced one, with its LBA and blocks; the untraced one has none
      const reads = named("SCSI READ (10)")
      expect(reads.map((s) => rec.attributes(s)["scsi.lba"])).toEqual([24, 0xfffff000])
      expect(rec.attributes(reads[0]!)).toMatchObject({
        "scsi.blocks": 8,
        "scsi.outcome": "ok",
        "scsi.read_bytes": 4096
      })
      expect(rec.attributes(reads[1]!)).toMatchObject({ "scsi.outcome": "CheckCondition(ILLEGAL REQUEST)" })
      expect(reads[1]!.status._tag === "Ended" && Exit.isFailure(reads[1]!.status.exit)).toBe(true)
      // the block size learned on the way: READ CAPACITY (16), retried past the new nexus's UNIT ATTENTION
      const capacity = named("SCSI READ CAPACITY (16)")
      expect(capacity).toHaveLength(1)
      expect(rec.attributes(capacity[0]!)["scsi.attempts"]).toBeGreaterThanOrEqual(1)
      // login: the negotiated keys
      const login = named("Login.connect")
      expect(login.length).toBeGreaterThanOrEqual(1)
      expect(rec.attributes(login[0]!)).toMatchObject({
        "iscsi.target": iqn,
        "iscsi.cid": 0,
        "iscsi.login.outcome": "ok",
        "iscsi.login.HeaderDigest": "None",
        "iscsi.login.MaxXmitDataSegmentLength": 8192,
        "iscsi.login.InitialR2T": "Yes"
      })
      // task management
      const tmf = named("Session.taskManagement")
      expect(tmf).toHaveLength(1)
      expect(rec.attributes(tmf[0]!)).toMatchObject({
        "iscsi.tmf.function": "ABORT TASK SET",
        "iscsi.tmf.response": "function complete",
        "scsi.lun": "3"
      })
    })
  )

  it.live("logs: the login at Info with the negotiated keys, retries at Debug, structured", () =>
    Effect.gen(function* () {
      const rec = recordingLogger()
      yield* Scsi.readCapacity16(3).pipe(
        Effect.provide(IscsiClient.layer({ url: diskUrl() })),
        Effect.provide(Logger.layer([rec.logger])),
        Effect.provideService(References.MinimumLogLevel, "Debug")
      )
      const login = rec.lines.find((l) => l.message === "logged in")
      expect(login?.level).toBe("Info")
      expect(login?.annotations).toMatchObject({
        target: tgt().targets.disk.iqn,
        portal: `127.0.0.1:${tgt().port}`,
        cid: 0,
        HeaderDigest: "None",
        DataDigest: "None",
        MaxXmitDataSegmentLength: 8192,
        InitialR2T: "Yes",
        ErrorRecoveryLevel: 0
      })
      // tgt greets a new I_T nexus with a UNIT ATTENTION: the runner retries, at Debug
      const retry = rec.lines.find((l) => l.message === "retrying a SCSI command")
      expect(retry?.level).toBe("Debug")
      expect(retry?.annotations).toMatchObject({ opcode: "0x9e", lun: 3, attempt: 2 })
    })
  )

  it.live("a login redirect: an Info line and a span event, then the login on the new portal", () => {
    const logs = recordingLogger()
    const rec = recordingTracer()
    return Effect.gen(function* () {
      const { disk } = tgt().targets
      // a portal that sends every login on to tgtd (Status-Class 1, temporarily moved)
      const front = yield* FakeTarget.make({
        targetName: disk.iqn,
        loginHandler: (c, pdu) => {
          c.send({
            _tag: "LoginResponse",
            transit: false,
            continue: false,
            csg: pdu.csg,
            nsg: 0,
            versionMax: 0,
            versionActive: 0,
            isid: pdu.isid,
            tsih: 0,
            itt: pdu.itt,
            statSN: 0,
            expCmdSN: pdu.cmdSN,
            maxCmdSN: pdu.cmdSN,
            statusClass: 1,
            statusDetail: 1,
            data: TextKeys.encode([["TargetAddress", `127.0.0.1:${tgt().port},1`]])
          })
          return true
        }
      })
      const inquiry = yield* Scsi.inquiry(1).pipe(
        Effect.provide(IscsiClient.layer({ url: `iscsi://127.0.0.1:${front.port}/${disk.iqn}` }))
      )
      expect(inquiry.vendorId).toBe("IET")
      const redirected = logs.lines.find((l) => l.message === "login redirected")
      expect(redirected).toMatchObject({
        level: "Info",
        annotations: { target: disk.iqn, portal: `127.0.0.1:${front.port}`, to: `127.0.0.1:${tgt().port}` }
      })
      expect(logs.lines.find((l) => l.message === "logged in")?.annotations).toMatchObject({
        portal: `127.0.0.1:${tgt().port}`
      })
      const login = rec.spans.find((s) => s.name === "Login.connect")!
      expect(rec.attributes(login)).toMatchObject({ "iscsi.redirects": 1, "iscsi.portal": `127.0.0.1:${tgt().port}` })
      expect(login._events?.map(([name]) => name)).toContain("redirect")
    }).pipe(
      Effect.scoped,
      Effect.withTracer(rec.tracer),
      Effect.provide(Logger.layer([logs.logger])),
      Effect.provideService(References.MinimumLogLevel, "Debug")
    )
  })

  it.live(
    "a digest error through the fault proxy: Warn logs of the loss and the recovery, counted, traced; the cut command re-issued",
    () => {
      const logs = recordingLogger()
      const rec = recordingTracer()
      return Effect.gen(function* () {
        const { tuned } = tgt().targets
        // the first connection gets one byte flipped toward us, well after the login
        const proxy = yield* FaultProxy.make({
          upstream: { host: tgt().host, port: tgt().port },
          plan: (index) => (index === 0 ? [{ _tag: "Flip", direction: "down", offset: 60_000, xor: 0x04 }] : [])
        })
        const pool = yield* Pool.make()
        const session = yield* pool.acquire({
          address: proxy.address,
          initiatorName: `${INITIATOR}-telemetry`,
          targetName: tuned.iqn,
          auth: { _tag: "None" },
          offer: { ...Negotiation.defaultOffer, headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] },
          commandTimeoutMs: 20_000,
          recovery: { replacementTimeoutMs: 20_000, initialDelayMs: 20, maxDelayMs: 200, maxTime2WaitMs: 0 }
        })
        // 4 KiB reads at queue depth 4: the flip cuts one off; it is re-issued after the recovery
        yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => i),
          (i) => Scsi.read10(2, i * 8, 8, { blockSize: 512 }),
          { concurrency: 4, discard: true }
        ).pipe(Effect.provideService(ScsiTransport.ScsiTransport, Pool.transportOf(session)))
        const t = { target: tuned.iqn, portal: `127.0.0.1:${proxy.port}` }
        expect(yield* eventually(() => logs.lines.some((l) => l.message === "session reinstated"), 10_000)).toBe(true)
        const snapshot = yield* Metric.snapshot
        expect(proxy.counters.flips).toBe(1)
        expect(metricValue(snapshot, "iscsi_digest_errors_total", { ...t, detected_by: "initiator" })).toBe(1)
        expect(metricValue(snapshot, "iscsi_connection_losses_total", t)).toBe(1)
        expect(metricValue(snapshot, "iscsi_session_recoveries_total", { ...t, outcome: "started" })).toBe(1)
        expect(metricValue(snapshot, "iscsi_session_recoveries_total", { ...t, outcome: "recovered" })).toBe(1)
        expect(metricValue(snapshot, "iscsi_session_recoveries_total", { ...t, outcome: "failed" })).toBe(0)
        expect(metricValue(snapshot, "iscsi_logins_total", t)).toBe(2)
        expect(metricValue(snapshot, "iscsi_reissued_commands_total", t)).toBeGreaterThanOrEqual(1)
        expect(
          metricValue(snapshot, "iscsi_commands_total", { ...t, lun: "2", opcode: "READ (10)", outcome: "ok" })
        ).toBe(40)
        // the logs: Warn for the loss, the recovery and its outcome; Debug for the re-issue
        const at = (message: string) => logs.lines.find((l) => l.message === message)
        expect(at("connection lost")).toMatchObject({ level: "Warn", annotations: { reason: "DigestError" } })
        expect(at("session lost: reinstating it")).toMatchObject({
          level: "Warn",
          annotations: { target: tuned.iqn, reason: "DigestError" }
        })
        expect(at("session reinstated")).toMatchObject({ level: "Warn", annotations: { attempts: 1 } })
        expect(at("re-issuing a command after a session loss")?.level).toBe("Debug")
        // the recovery's span
        const recover = rec.spans.filter((s) => s.name === "ManagedSession.recover")
        expect(recover).toHaveLength(1)
        expect(rec.attributes(recover[0]!)).toMatchObject({
          "iscsi.target": tuned.iqn,
          "iscsi.recovery.reason": "DigestError",
          "iscsi.recovery.outcome": "recovered",
          "iscsi.recovery.attempts": 1
        })
      }).pipe(
        Effect.scoped,
        Effect.provide(IscsiClient.nodeLayer()),
        Effect.withTracer(rec.tracer),
        Effect.provide(Logger.layer([logs.logger])),
        Effect.provideService(References.MinimumLogLevel, "Debug"),
        withRegistry
      )
    },
    60_000
  )
})
