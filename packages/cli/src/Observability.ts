/**
 * What `iscsi` tells an operator while it runs:
 *
 * - Logs: the library's log lines (logins with the negotiated keys, redirects, connection losses,
 *   retries, …) on stderr in logfmt, one line each, at the level `--log-level` says (a global flag
 *   of effect/cli: all, trace, debug, info, warn, error, none; default error: the command's own
 *   error line says what went wrong). stdout stays the command's output (`--json`).
 * - Metrics (`bench`, `dd`): `--metrics-port [HOST:]PORT` serves every metric of the run (core's
 *   `Telemetry`) in Prometheus text format at `http://HOST:PORT/metrics` (HOST 127.0.0.1 unless
 *   given; PORT 0 picks a free port) while the command runs, and `--metrics-linger SECONDS` longer,
 *   so that a scraper sees the final numbers. Without it (and without OTLP) the commands are not
 *   counted per call (`Telemetry.Enabled` false): the CLI would have nowhere to show them.
 * - Spans: `--spans` (`bench`, `dd`) traces every READ and WRITE too (`Scsi.TraceDataPath`).
 * - OTLP: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or a per-signal `OTEL_EXPORTER_OTLP_*_ENDPOINT`) is set,
 *   every command exports its spans, metrics and logs over OTLP/HTTP there (effect/observability's
 *   `Otlp.layerFromConfig`: the standard `OTEL_*` variables; `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`
 *   for JSON, protobuf otherwise), flushed when the command ends.
 *
 * Only the flags and the logger are loaded with the command tree; the HTTP server (`node:http`),
 * Prometheus formatting, OTLP and the references are loaded when a command asks for them.
 *
 * Not here: the metrics themselves (core's `Telemetry`), the commands (`Cli`).
 */
import * as Flag from "effect/cli/Flag"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import type * as OtlpExporter from "effect/observability/OtlpExporter"
import * as Option from "effect/Option"
import type { AddressInfo } from "node:net"
import { UsageError } from "./Failure.ts"

/** The library's log lines on stderr (logfmt), and as events on the current span. */
export const logging: Layer.Layer<never> = Logger.layer([
  Logger.withConsoleError(Logger.formatLogFmt),
  Logger.tracerLogger
])

/** The log level when `--log-level` is not given. */
export const DEFAULT_LOG_LEVEL: LogLevel.LogLevel = "Error"

export const metricsPortFlag = Flag.String("metrics-port").pipe(
  Flag.withDescription(
    "serve metrics in Prometheus text format at http://[HOST:]PORT/metrics while the command runs (HOST 127.0.0.1 unless given; PORT 0: a free port, printed on stderr)"
  ),
  Flag.optional
)

export const metricsLingerFlag = Flag.Finite("metrics-linger").pipe(
  Flag.withDescription("keep serving metrics this many seconds after the run, for a last scrape (default 0)"),
  Flag.withDefault(0)
)

export const spansFlag = Flag.Boolean("spans").pipe(
  Flag.withDescription("a tracing span for every READ and WRITE too (exported with OTEL_EXPORTER_OTLP_ENDPOINT)"),
  Flag.withDefault(false)
)

export interface Options {
  readonly metricsPort: Option.Option<string>
  readonly metricsLinger: number
  readonly spans: boolean
}

/** Environment variables, as `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>

const OTLP_ENDPOINTS = [
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
]

/** Is OTLP export configured in `env`? */
export const otlpConfigured = (env: Env): boolean =>
  OTLP_ENDPOINTS.some((k) => (env[k] ?? "") !== "") && env.OTEL_SDK_DISABLED !== "true"

/** OTLP export of spans, metrics and logs from the `OTEL_*` variables (loaded only when used). */
const otlpLayer = (env: Env, version: string): Layer.Layer<OtlpExporter.Flusher> =>
  Layer.unwrap(
    Effect.promise(async () => {
      const [{ Otlp, OtlpSerialization }, FetchHttpClient] = await Promise.all([
        import("effect/observability"),
        import("effect/http/FetchHttpClient")
      ])
      const serialization =
        env.OTEL_EXPORTER_OTLP_PROTOCOL === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf
      // OTEL_{TRACES,METRICS,LOGS}_EXPORTER default to "otlp" (as in OpenTelemetry's SDKs)
      const config = ConfigProvider.fromEnv({
        env: { OTEL_TRACES_EXPORTER: "otlp", OTEL_METRICS_EXPORTER: "otlp", OTEL_LOGS_EXPORTER: "otlp", ...env }
      })
      return Otlp.layerFromConfig({ resource: { serviceName: "iscsi", serviceVersion: version } }).pipe(
        Layer.provide([serialization, FetchHttpClient.layer, ConfigProvider.layer(config)])
      )
    })
  )

/** Run `self` exporting over OTLP when `env` configures it (flushed when it ends); as it is otherwise. */
export const withOtlp =
  (env: Env, version: string) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    otlpConfigured(env) ? Effect.provide(self, otlpLayer(env, version)) : self

/** `PORT`, `HOST:PORT` or `[IPv6]:PORT`. */
export const parseAddress = (text: string): { readonly host: string; readonly port: number } | undefined => {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]:|([A-Za-z0-9._-]+):)?([0-9]{1,5})$/.exec(text)
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return { host: m[1] ?? m[2] ?? "127.0.0.1", port }
}

/**
 * Serve the metrics of the current context's registry in Prometheus text format at `/metrics` for
 * the rest of the scope; the address it listens on.
 */
export const serveMetrics = (address: { readonly host: string; readonly port: number }) =>
  Effect.gen(function* () {
    const [{ PrometheusMetrics }, Http] = yield* Effect.promise(() =>
      Promise.all([import("effect/observability"), import("node:http")])
    )
    const context = yield* Effect.context<never>()
    const server = Http.createServer((req, res) => {
      if (req.method === "GET" && (req.url === "/metrics" || req.url?.startsWith("/metrics?") === true)) {
        const body = PrometheusMetrics.formatUnsafe(context)
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
        res.end(body)
      } else {
        res.writeHead(404, { "content-type": "text/plain" })
        res.end("not found: metrics are at /metrics\n")
      }
    })
    const listening = yield* Effect.acquireRelease(
      Effect.callback<AddressInfo, UsageError>((resume) => {
        server.once("error", (e) =>
          resume(
            Effect.fail(
              new UsageError({
                message: `--metrics-port: cannot listen on ${address.host}:${address.port}: ${e.message}`
              })
            )
          )
        )
        server.listen(address.port, address.host, () => resume(Effect.succeed(server.address() as AddressInfo)))
      }),
      () =>
        Effect.callback<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    return listening
  })

/**
 * Run a command with what `options` asks for: metrics served (and counted), READ/WRITE spans, the
 * metrics kept a while after the run.
 */
export const observe =
  (options: Options) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | UsageError, R> =>
    Effect.gen(function* () {
      let address: { readonly host: string; readonly port: number } | undefined
      if (Option.isSome(options.metricsPort)) {
        address = parseAddress(options.metricsPort.value)
        if (address === undefined) {
          return yield* new UsageError({
            message: `--metrics-port ${options.metricsPort.value}: give PORT, HOST:PORT or [IPv6]:PORT`
          })
        }
      }
      if (!(options.metricsLinger >= 0)) {
        return yield* new UsageError({ message: `--metrics-linger ${options.metricsLinger} must be 0 or more` })
      }
      if (address !== undefined) {
        const at = yield* serveMetrics(address)
        const host = at.family === "IPv6" ? `[${at.address}]` : at.address
        yield* Effect.sync(() => process.stderr.write(`iscsi: metrics at http://${host}:${at.port}/metrics\n`))
      }
      const counted = address !== undefined || otlpConfigured(process.env)
      const [Telemetry, Scsi] = yield* Effect.promise(() =>
        Promise.all([import("@effect-iscsi/core/Telemetry"), import("@effect-iscsi/scsi/Scsi")])
      )
      const result = yield* self.pipe(
        Effect.provideService(Telemetry.Enabled, counted),
        Effect.provideService(Scsi.TraceDataPath, options.spans)
      )
      if (address !== undefined && options.metricsLinger > 0) {
        yield* Effect.sleep(Duration.seconds(options.metricsLinger))
      }
      return result
    }).pipe(Effect.scoped)
