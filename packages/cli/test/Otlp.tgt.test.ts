/**
 * OTLP export, tried for real without a collector: a local HTTP listener plays the collector
 * (OTLP/HTTP JSON at /v1/traces, /v1/metrics, /v1/logs). A program wired as the README shows
 * (`Otlp.layerJson` from effect/observability around `IscsiClient.layer`) and the `iscsi` command
 * (OTEL_EXPORTER_OTLP_ENDPOINT) run against the private tgtd: their spans (with attributes),
 * metrics (the command counter and latency histogram) and log lines must arrive.
 */
import { describe, expect, it } from "@effect/vitest"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Scsi } from "@effect-iscsi/scsi"
import { tgt } from "@effect-iscsi/testing/Provided"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { Otlp } from "effect/observability"
import { spawn } from "node:child_process"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"

const BIN = fileURLToPath(new URL("../bin/iscsi.js", import.meta.url))

interface AnyValue {
  readonly stringValue?: string
  readonly intValue?: number | string
  readonly doubleValue?: number
  readonly boolValue?: boolean
}
interface KeyValue {
  readonly key: string
  readonly value: AnyValue
}
interface OtlpSpan {
  readonly name: string
  readonly attributes: ReadonlyArray<KeyValue>
}
interface OtlpDataPoint {
  readonly attributes: ReadonlyArray<KeyValue>
  readonly asDouble?: number
  readonly asInt?: number | string
  readonly count?: number
}
interface OtlpMetric {
  readonly name: string
  readonly sum?: { readonly dataPoints: ReadonlyArray<OtlpDataPoint> }
  readonly histogram?: { readonly dataPoints: ReadonlyArray<OtlpDataPoint> }
  readonly gauge?: { readonly dataPoints: ReadonlyArray<OtlpDataPoint> }
}

/** A stand-in OTLP/HTTP JSON collector on a free loopback port: every request body, by path. */
const collector = () => {
  const bodies = new Map<string, Array<unknown>>()
  const server = Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const path = req.url ?? "/"
      const list = bodies.get(path) ?? []
      list.push(JSON.parse(Buffer.concat(chunks).toString("utf8")))
      bodies.set(path, list)
      res.writeHead(200, { "content-type": "application/json" })
      res.end("{}")
    })
  })
  return Effect.acquireRelease(
    Effect.callback<{ readonly url: string; readonly bodies: Map<string, Array<unknown>> }>((resume) => {
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as AddressInfo).port
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, bodies }))
      })
    }),
    () =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )
}

const value = (v: AnyValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.doubleValue ?? v.boolValue))
const attrs = (kvs: ReadonlyArray<KeyValue>) => Object.fromEntries(kvs.map((kv) => [kv.key, value(kv.value)]))

const spansOf = (bodies: Map<string, Array<unknown>>): Array<OtlpSpan> =>
  (bodies.get("/v1/traces") ?? []).flatMap((b) =>
    (b as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<OtlpSpan> }> }> }).resourceSpans.flatMap((r) =>
      r.scopeSpans.flatMap((s) => s.spans)
    )
  )

const metricsOf = (bodies: Map<string, Array<unknown>>): Array<OtlpMetric> =>
  (bodies.get("/v1/metrics") ?? []).flatMap((b) =>
    (b as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<OtlpMetric> }> }> }).resourceMetrics.flatMap(
      (r) => r.scopeMetrics.flatMap((s) => s.metrics)
    )
  )

const logMessagesOf = (bodies: Map<string, Array<unknown>>): Array<string> =>
  (bodies.get("/v1/logs") ?? []).flatMap((b) =>
    (
      b as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ body: AnyValue }> }> }> }
    ).resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords.map((l) => String(value(l.body)))))
  )

/** The last data point (by export) of a metric whose attributes include `labels`. */
const lastPoint = (metrics: ReadonlyArray<OtlpMetric>, name: string, labels: Record<string, string>) => {
  const points = metrics
    .filter((m) => m.name === name)
    .flatMap((m) => [...(m.sum?.dataPoints ?? []), ...(m.histogram?.dataPoints ?? []), ...(m.gauge?.dataPoints ?? [])])
    .filter((p) => Object.entries(labels).every(([k, v]) => attrs(p.attributes)[k] === v))
  return points.at(-1)
}

describe("OTLP export to a local listener", () => {
  it.live("a program with effect/observability's Otlp layer: spans, metrics and logs arrive", () =>
    Effect.gen(function* () {
      const c = yield* collector()
      const { disk } = tgt().targets
      const url = `iscsi://127.0.0.1:${tgt().port}/${disk.iqn}/3`
      // as the README shows: the exporter outside, the iSCSI layer inside
      const Observability = Otlp.layerJson({ baseUrl: c.url, resource: { serviceName: "otlp-test" } }).pipe(
        Layer.provide(FetchHttpClient.layer)
      )
      yield* Effect.gen(function* () {
        for (let i = 0; i < 10; i++) yield* Scsi.read10(3, i * 8, 8)
        yield* Scsi.inquiry(3)
      }).pipe(
        Effect.provideService(Scsi.TraceDataPath, true),
        Effect.provide(IscsiClient.layer({ url })),
        Effect.provide(Observability),
        Effect.provideService(Metric.MetricRegistry, new Map())
      )
      // the layers are closed: everything was flushed
      const spans = spansOf(c.bodies)
      const reads = spans.filter((s) => s.name === "SCSI READ (10)")
      expect(reads).toHaveLength(10)
      expect(attrs(reads[3]!.attributes)).toMatchObject({
        "iscsi.target": disk.iqn,
        "scsi.lun": 3,
        "scsi.lba": 24,
        "scsi.blocks": 8,
        "scsi.outcome": "ok",
        "scsi.attempts": 1
      })
      expect(spans.some((s) => s.name === "Scsi.inquiry")).toBe(true)
      const login = spans.find((s) => s.name === "Login.connect")
      expect(attrs(login!.attributes)).toMatchObject({
        "iscsi.login.outcome": "ok",
        "iscsi.login.HeaderDigest": "None"
      })
      const metrics = metricsOf(c.bodies)
      const labels = { target: disk.iqn, lun: "3", opcode: "READ (10)" }
      expect(Number(lastPoint(metrics, "iscsi_commands_total", { ...labels, outcome: "ok" })?.asDouble)).toBe(10)
      expect(lastPoint(metrics, "iscsi_command_duration_seconds", labels)?.count).toBe(10)
      expect(logMessagesOf(c.bodies)).toContain("logged in")
    }).pipe(Effect.scoped)
  )

  it.live(
    "iscsi with OTEL_EXPORTER_OTLP_ENDPOINT: bench's spans and metrics arrive",
    () =>
      Effect.gen(function* () {
        const c = yield* collector()
        const { disk } = tgt().targets
        const r = yield* Effect.promise(
          () =>
            new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
              const child = spawn(
                process.execPath,
                [
                  BIN,
                  "bench",
                  `iscsi://127.0.0.1:${tgt().port}/${disk.iqn}/3`,
                  "--qd",
                  "2",
                  "--duration",
                  "0.5",
                  "--spans",
                  "--json"
                ],
                {
                  env: {
                    ...process.env,
                    ISCSI_CLI_DIST: "",
                    OTEL_EXPORTER_OTLP_ENDPOINT: c.url,
                    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json"
                  },
                  stdio: ["ignore", "pipe", "pipe"]
                }
              )
              let stdout = ""
              let stderr = ""
              child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")))
              child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")))
              child.on("close", (status) => resolve({ status, stdout, stderr }))
            })
        )
        expect(r.status, r.stderr).toBe(0)
        const { ios } = JSON.parse(r.stdout) as { ios: number }
        expect(ios).toBeGreaterThan(10)
        const reads = spansOf(c.bodies).filter((s) => s.name === "SCSI READ (10)")
        expect(reads).toHaveLength(ios)
        const metrics = metricsOf(c.bodies)
        const labels = { target: disk.iqn, lun: "3", opcode: "READ (10)" }
        expect(Number(lastPoint(metrics, "iscsi_commands_total", { ...labels, outcome: "ok" })?.asDouble)).toBe(ios)
        expect(lastPoint(metrics, "iscsi_command_duration_seconds", labels)?.count).toBe(ios)
      }).pipe(Effect.scoped),
    60_000
  )
})
