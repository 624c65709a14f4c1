/**
 * Metrics exported for real: `iscsi bench` and `iscsi dd` with `--metrics-port` serve the Prometheus
 * text format while they run, a private Prometheus server (Debian's `prometheus`, started here on a
 * free loopback port, scraping every second) scrapes them, and its HTTP API must show the command
 * counter and the latency histogram moving as the run did: their final values equal what the
 * command reported, and earlier samples were taken while it ran.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Prometheus, Tgt } from "@effect-iscsi/testing"
import { tgt } from "@effect-iscsi/testing/Provided"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const BIN = fileURLToPath(new URL("../bin/iscsi.js", import.meta.url))

const clean = {
  ISCSI_CHAP_USER: "",
  ISCSI_CHAP_SECRET: "",
  LIBISCSI_CHAP_PASSWORD: "",
  ISCSI_TARGET_CHAP_USER: "",
  ISCSI_TARGET_CHAP_SECRET: "",
  ISCSI_HEADER_DIGEST: "",
  ISCSI_DATA_DIGEST: "",
  ISCSI_CLI_DIST: "",
  OTEL_EXPORTER_OTLP_ENDPOINT: ""
}

/** Run the CLI without blocking this process (Prometheus scrapes it meanwhile). */
const iscsi = (args: ReadonlyArray<string>) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...clean },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000)
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")))
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")))
    child.on("error", reject)
    child.on("close", (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })

describe("--metrics-port, scraped by a real Prometheus", () => {
  let prometheus: Prometheus.PrometheusInstance
  let benchPort = 0
  let ddPort = 0

  beforeAll(async () => {
    benchPort = await Tgt.freePort()
    ddPort = await Tgt.freePort()
    prometheus = await Prometheus.start({ targets: [`127.0.0.1:${benchPort}`, `127.0.0.1:${ddPort}`] })
  }, 120_000)

  afterAll(async () => {
    await prometheus?.stop()
  })

  /** The last value Prometheus scraped of a series in the last two minutes (it goes stale once the CLI exits). */
  const last = async (selector: string): Promise<number> => {
    const samples = await prometheus.query(`last_over_time(${selector}[2m])`)
    expect(samples, selector).toHaveLength(1)
    return samples[0]!.value
  }

  it("iscsi bench: the READ (10) counter and latency histogram end at the I/Os bench reports, having moved while it ran", async () => {
    const { disk } = tgt().targets
    const r = await iscsi([
      "bench",
      `iscsi://127.0.0.1:${tgt().port}/${disk.iqn}/3`,
      "--qd",
      "8",
      "--bs",
      "4k",
      "--random",
      "--duration",
      "5",
      "--metrics-port",
      String(benchPort),
      "--metrics-linger",
      "3",
      "--json"
    ])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr).toContain(`http://127.0.0.1:${benchPort}/metrics`)
    const result = JSON.parse(r.stdout) as { ios: number; bytes: number; p50Us: number }
    expect(result.ios).toBeGreaterThan(100)
    const up = await prometheus.targets()
    expect(up.some((t) => t.scrapeUrl === `http://127.0.0.1:${benchPort}/metrics`)).toBe(true)

    const series = `target="${disk.iqn}",lun="3",opcode="READ (10)"`
    // every READ (10) bench counted, and nothing else
    expect(await last(`iscsi_commands_total{${series},outcome="ok"}`)).toBe(result.ios)
    expect(await prometheus.query(`iscsi_commands_total{${series},outcome!="ok"}`)).toHaveLength(0)
    expect(await last(`iscsi_command_duration_seconds_count{${series}}`)).toBe(result.ios)
    expect(await last(`iscsi_command_duration_seconds_bucket{${series},le="+Inf"}`)).toBe(result.ios)
    // the histogram's median is bench's, to the resolution of its buckets (1-2-5 steps)
    const median = await prometheus.query(
      `histogram_quantile(0.5, last_over_time(iscsi_command_duration_seconds_bucket{${series}}[2m]))`
    )
    expect(median).toHaveLength(1)
    const p50 = result.p50Us / 1e6
    expect(median[0]!.value).toBeGreaterThan(p50 / 2.5)
    expect(median[0]!.value).toBeLessThan(p50 * 2.5)
    // the data: bench's bytes plus READ CAPACITY's 32 (the block size, learned once)
    expect(await last(`iscsi_read_bytes_total{target="${disk.iqn}",lun="3"}`)).toBe(result.bytes + 32)
    expect(await last(`iscsi_wire_bytes_total{target="${disk.iqn}",direction="in"}`)).toBeGreaterThan(result.bytes)
    expect(await last(`iscsi_logins_total{target="${disk.iqn}"}`)).toBe(1)

    // it moved while the run went on: samples below the final count, and commands in flight
    const count = `iscsi_commands_total{${series},outcome="ok"}`
    const during = await prometheus.query(`count_over_time(${count}[2m])`)
    expect(during[0]!.value).toBeGreaterThanOrEqual(4)
    const lowest = await prometheus.query(`min_over_time(${count}[2m])`)
    expect(lowest[0]!.value).toBeLessThan(result.ios)
    const rate = await prometheus.query(`max_over_time(rate(${count}[3s])[2m:1s])`)
    expect(rate[0]!.value).toBeGreaterThan(0)
    const inFlight = await prometheus.query(`max_over_time(iscsi_commands_in_flight{target="${disk.iqn}"}[2m])`)
    expect(inFlight[0]!.value).toBeGreaterThan(0)
  }, 120_000)

  it("iscsi dd: the bytes read from the LUN are the bytes copied", async () => {
    const { disk } = tgt().targets
    const out = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "iscsi-metrics-")), "copy.img")
    try {
      const r = await iscsi([
        "dd",
        "--if",
        `iscsi://127.0.0.1:${tgt().port}/${disk.iqn}/2`,
        "--of",
        out,
        "--bs",
        "1M",
        "--count",
        "16",
        "--metrics-port",
        String(ddPort),
        "--metrics-linger",
        "3",
        "--json"
      ])
      expect(r.status, r.stderr).toBe(0)
      const summary = JSON.parse(r.stdout) as { bytes: number }
      expect(summary.bytes).toBe(16 * 1024 * 1024)
      expect(Fs.statSync(out).size).toBe(summary.bytes)
      // besides the copy, only what opening the LUN read (READ CAPACITY)
      const read = await last(`iscsi_read_bytes_total{target="${disk.iqn}",lun="2"}`)
      expect(read).toBeGreaterThanOrEqual(summary.bytes)
      expect(read).toBeLessThan(summary.bytes + 65536)
      const reads = await prometheus.query(
        `last_over_time(iscsi_commands_total{target="${disk.iqn}",lun="2",outcome="ok"}[2m])`
      )
      const opcodes = reads.map((s) => s.metric.opcode)
      expect(opcodes).toContain("READ CAPACITY (16)")
      expect(opcodes.some((o) => o?.startsWith("READ ("))).toBe(true)
    } finally {
      Fs.rmSync(Path.dirname(out), { recursive: true, force: true })
    }
  }, 120_000)
})
