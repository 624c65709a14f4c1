/**
 * A private Prometheus server (Debian's `prometheus` 2.x) on loopback, for the tests that export
 * metrics for real: it scrapes the given targets every second and answers PromQL over its HTTP API.
 *
 * `start({ targets })` installs Prometheus when `prometheus` is missing (apt-get, as root), writes a
 * private config in its own work dir (one scrape job, `scrape_interval: 1s`, the targets' `host:port`
 * at `/metrics`), picks a free loopback port for its web API and starts `prometheus
 * --config.file=… --storage.tsdb.path=… --web.listen-address=127.0.0.1:PORT` in its own process
 * group; it is ready when `/-/ready` answers 200. `query(promql)` runs an instant query
 * (`/api/v1/query`), `targets()` lists the scrape targets' health. `stop()` kills exactly the pid
 * it started and removes the work dir (storage included). A pid file in the work dir lets a later
 * run reap an instance whose owner died without stopping it; other Prometheus servers (Debian's
 * own service on 9090, say) are never touched.
 *
 * Not here: anything of the metrics themselves (core's `Telemetry`, the CLI's `--metrics-port`).
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { isAlive, killGroup, reapStale, spawnDaemon, writeOwner } from "./internal/daemon.ts"
import { ensureInstalled, freePort } from "./Tgt.ts"

export interface PrometheusInfo {
  readonly host: string
  readonly port: number
  /** `http://host:port` */
  readonly url: string
  readonly pid: number
  readonly workDir: string
}

export interface StartOptions {
  /** What to scrape: `host:port` (at `/metrics`), every second. */
  readonly targets: ReadonlyArray<string>
  /** Also print Prometheus's output (default false). */
  readonly verbose?: boolean
}

/** One sample of an instant query's vector result. */
export interface Sample {
  readonly metric: Readonly<Record<string, string>>
  readonly value: number
}

const HOST = "127.0.0.1"
const ROOT = Path.join(Os.tmpdir(), "effect-iscsi-prometheus")

/** Install Prometheus when missing. */
export const ensure = (): void => ensureInstalled([{ cmd: "prometheus", pkg: "prometheus" }])

const configText = (targets: ReadonlyArray<string>): string =>
  [
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "  evaluation_interval: 1s",
    "scrape_configs:",
    "  - job_name: effect-iscsi",
    "    metrics_path: /metrics",
    "    static_configs:",
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(", ")}]`,
    ""
  ].join("\n")

const getJson = async (url: string): Promise<unknown> => {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`)
  return res.json()
}

/** A running private Prometheus. */
export class PrometheusInstance {
  private stopped = false
  constructor(
    readonly info: PrometheusInfo,
    private readonly onExit: () => void
  ) {}

  /** An instant PromQL query (`/api/v1/query`): the samples of its vector result. */
  async query(promql: string): Promise<ReadonlyArray<Sample>> {
    const body = (await getJson(`${this.info.url}/api/v1/query?query=${encodeURIComponent(promql)}`)) as {
      status: string
      data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }
    }
    if (body.status !== "success") throw new Error(`query ${promql}: ${JSON.stringify(body)}`)
    if (body.data.resultType !== "vector") throw new Error(`query ${promql}: a ${body.data.resultType}, not a vector`)
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
  }

  /** The scrape targets and their health (`/api/v1/targets`). */
  async targets(): Promise<ReadonlyArray<{ readonly scrapeUrl: string; readonly health: string }>> {
    const body = (await getJson(`${this.info.url}/api/v1/targets`)) as {
      data: { activeTargets: Array<{ scrapeUrl: string; health: string }> }
    }
    return body.data.activeTargets.map((t) => ({ scrapeUrl: t.scrapeUrl, health: t.health }))
  }

  /** Stop Prometheus (SIGTERM, then SIGKILL after 5 s) and remove the work dir. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    process.off("exit", this.onExit)
    await killGroup(this.info.pid, "SIGTERM", 5000)
    if (isAlive(this.info.pid)) await killGroup(this.info.pid, "SIGKILL", 1000)
    Fs.rmSync(this.info.workDir, { recursive: true, force: true })
  }
}

/** Start a private Prometheus on a free loopback port, scraping `targets` every second. */
export const start = async (options: StartOptions): Promise<PrometheusInstance> => {
  ensure()
  reapStale(ROOT)
  Fs.mkdirSync(ROOT, { recursive: true })
  const workDir = Fs.mkdtempSync(Path.join(ROOT, "run-"))
  writeOwner(workDir, 0)
  const config = Path.join(workDir, "prometheus.yml")
  Fs.writeFileSync(config, configText(options.targets))
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const url = `http://${HOST}:${port}`
    const spawned = await spawnDaemon({
      command: "prometheus",
      args: [
        `--config.file=${config}`,
        `--storage.tsdb.path=${Path.join(workDir, "data")}`,
        `--web.listen-address=${HOST}:${port}`,
        "--web.console.templates=/etc/prometheus/consoles",
        "--web.console.libraries=/etc/prometheus/console_libraries"
      ],
      cwd: workDir,
      workDir,
      log: "prometheus.log",
      verbose: options.verbose,
      ready: async () => (await fetch(`${url}/-/ready`)).ok,
      readyTimeoutMs: 30_000
    })
    if (spawned !== undefined) {
      return new PrometheusInstance({ host: HOST, port, url, pid: spawned.pid, workDir }, spawned.onExit)
    }
  }
  const log = Fs.readFileSync(Path.join(workDir, "prometheus.log"), "utf8")
  Fs.rmSync(workDir, { recursive: true, force: true })
  throw new Error(`prometheus did not become ready (log: ${log.slice(-2000)})`)
}
