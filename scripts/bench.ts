/**
 * `npm run bench`: our initiator against libiscsi's `iscsi-perf`, side by side on the same private
 * tgtd, alternating in the same run (issue 8), plus the codec micro-benchmark (issue 3) and the
 * engine micro-benchmark (the library's own CPU per command, packages/core/benchmark/engine.ts).
 *
 * It starts its own tgtd (targets `disk`: tgt's defaults, it accepts PDUs of up to 8 KiB from us;
 * `tuned`: 256 KiB PDUs, InitialR2T=No, digests accepted; each with a file LUN and a null LUN; both
 * send a 64 KiB read as one Data-In PDU, since we accept 256 KiB), then for every scenario runs
 * `rounds` (default 5) rounds of [ours, libiscsi, and for some rows the bare Node floor] (the order
 * rotates every round), each in its own process for `warmup + seconds`, and keeps the median of the
 * measured windows, with the range of the per-round ratios (this machine drifts by ±10–20% within
 * minutes). Ours is packages/node-transport/benchmark/load.ts; libiscsi is
 * `iscsi-perf -m QD -b BLOCKS [-r] URL` (its per-second "iops current" figures after the warm-up; its
 * CPU time and peak RSS from /proc); the floor is packages/node-transport/benchmark/floor.ts (a bare
 * `net.Socket` loop: what Node itself costs for the same load, no library).
 *
 * Digests: tgtd computes CRC32C in software on its one main thread, so with digests on it is the
 * bottleneck; the `crc` scenarios run against packages/node-transport/benchmark/crc-target.ts (its
 * own process, native CRC32C, zero data with cached data digests) to show what digests cost us.
 * Every row also reports how many cores the target process kept busy (the two share the machine).
 *
 * Multipath rows (`mp-*`): the same target through two portals of the tgtd (127.0.0.1:P and
 * 127.0.0.2:P, the second added with tgtadm), round-robin over both against one path, both through
 * the public API (packages/node-transport/benchmark/multipath-load.ts: `Scsi.read10` on the
 * `Multipath` device, or on `Pool.target`), alternating in the same rounds.
 * Observability (issue 16): the `obs-null-api` row runs `iscsi bench` (4 KiB random read QD32, null
 * LUN) three ways in rotating order — metrics off (the CLI's default: nothing counted per command),
 * metrics on (`--metrics-port`, scraped every second as Prometheus would), metrics and a span for
 * every READ (`--spans`, recorded by Effect's default tracer: the library's side of tracing, no
 * exporter) — and reports each against "off" with the per-round range; the engine micro-benchmark
 * does the same in-memory (`api off|metrics|spans`).
 * The copy and startup rows (`iscsi dd` against `qemu-img convert`, process start) are in
 * scripts/bench-copy.ts; a full run ends with them (`--copy`: only them; `--no-copy`: not them;
 * `--copy-rounds N` (3), `--copy-gib N` (2), `--copy-only NAME[,NAME]`, `--startup-runs N` (20),
 * `--copy-timeout S` (120); `--copy-sweep`: dd's transfer sizes × queue depths, where its defaults
 * come from; `--copy-before DIR [--copy-before-label L]`: an earlier build of this repository in DIR
 * run in the same rounds, for before/after figures).
 *
 * Flags: `--quick` (~1 min: one short round each), `--soak` (only the 5-minute RSS run),
 * `--rounds N`, `--seconds S`, `--warmup S`, `--only NAME[,NAME]`, `--no-results` (do not write
 * benchmark/RESULTS.md), `--source` (run our process from TypeScript source through tsx instead of the
 * compiled dist). Results go to benchmark/RESULTS.md (the part after the notes marker is kept).
 *
 * MB/s here are MiB/s (2^20 bytes per second), as iscsi-perf prints them.
 */
import { Tgt } from "@effect-iscsi/testing"
import { runCopyBench, runCopySweep } from "./bench-copy.ts"
import { execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const LOAD = Path.join(ROOT, "packages/node-transport/benchmark/load.ts")
const MULTIPATH_LOAD = Path.join(ROOT, "packages/node-transport/benchmark/multipath-load.ts")
/** The tgtd's second portal (loopback, no setup): the second path of the multipath rows. */
const SECOND_PORTAL = "127.0.0.2"
const CODEC = Path.join(ROOT, "packages/core/benchmark/codec.ts")
const ENGINE = Path.join(ROOT, "packages/core/benchmark/engine.ts")
const FLOOR = Path.join(ROOT, "packages/node-transport/benchmark/floor.ts")
const CRC_TARGET = Path.join(ROOT, "packages/node-transport/benchmark/crc-target.ts")
const RESULTS = Path.join(ROOT, "benchmark/RESULTS.md")
const NOTES_MARKER = "<!-- notes: everything below this line is kept by scripts/bench.ts -->"

// ---- options --------------------------------------------------------------------------------------
const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(name)
const value = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}
const quick = flag("--quick")
const soak = flag("--soak")
const rounds = Number(value("--rounds") ?? (quick ? 1 : 5))
const seconds = Number(value("--seconds") ?? (quick ? 1.5 : 5))
const warmup = Number(value("--warmup") ?? (quick ? 0.5 : 2))
const only = value("--only")?.split(",")
const writeResults = !flag("--no-results")
/** Only the copy and startup rows (scripts/bench-copy.ts); `--no-copy` leaves them out of a full run. */
const copyOnly = flag("--copy")
/** The dd transfer-size × queue-depth sweep (scripts/bench-copy.ts), written to its own section. */
const copySweep = flag("--copy-sweep")
const copyRows = !flag("--no-copy") && !quick && !soak && only === undefined
const copyOptions = () => ({
  root: ROOT,
  rounds: Number(value("--copy-rounds") ?? 3),
  gib: Number(value("--copy-gib") ?? 2),
  startupRuns: Number(value("--startup-runs") ?? 20),
  only: value("--copy-only")?.split(","),
  timeoutSeconds: Number(value("--copy-timeout") ?? 120),
  before:
    value("--copy-before") !== undefined
      ? {
          cli: Path.resolve(value("--copy-before")!, "packages/cli/bin/iscsi.js"),
          label: value("--copy-before-label") ?? Path.basename(value("--copy-before")!)
        }
      : undefined
})

// ---- runners --------------------------------------------------------------------------------------
interface Figures {
  readonly iops: number
  readonly mibPerSec: number
  readonly p50Us?: number | undefined
  readonly p99Us?: number | undefined
  readonly meanUs: number
  readonly cpuSeconds: number
  /** CPU seconds the target process used while this run was measured (busy cores = / seconds). */
  readonly targetCpuSeconds?: number | undefined
  readonly seconds: number
  readonly bytes: number
  readonly maxRssMb: number
  readonly rssSamplesMb?: ReadonlyArray<number> | undefined
}

/**
 * Where a scenario runs: tgtd's `disk` (tgt's defaults) or `tuned` target, or `crc`: the null target of
 * packages/node-transport/benchmark/crc-target.ts in its own process, whose CRC32C is not the
 * bottleneck (the cost of digests on our side).
 */
interface Load {
  readonly target: "disk" | "tuned" | "crc"
  readonly lun: number
  readonly queueDepth: number
  readonly blockBytes: number
  readonly random: boolean
  readonly write: boolean
  readonly digests: boolean
  /** Extra node flags for our process (V8 tuning scenarios). */
  readonly nodeFlags?: ReadonlyArray<string> | undefined
  /** Run the library from its TypeScript source through tsx (as before), not from packages/*\/dist. */
  readonly source?: boolean | undefined
  /**
   * `"api"`: ours is `iscsi bench` (the CLI, compiled): every command through the public API
   * (`Scsi.read10` on `ScsiTransport` from the Pool layer, with recovery and retries), not
   * load.ts's direct `Session.execute`. It has no warm-up: its figures cover warm-up + seconds.
   */
  readonly via?: "api" | undefined
  /** More `iscsi bench` flags (`via: "api"`). */
  readonly cliFlags?: ReadonlyArray<string> | undefined
}

/**
 * How our process runs: by default as users run the library, compiled JavaScript (packages/*\/dist,
 * built by `npm run build` at start) with no TypeScript loader in the process; load.ts itself is
 * only type-stripped by Node (erasable syntax only). `--source` (or a scenario's `source`) runs
 * everything from TypeScript source through tsx instead (~120 MB more RSS: the loader).
 */
const sourceArgs = ["--conditions=source", "--import", "tsx"]
const fromSource = flag("--source")
const nodeArgsOf = (load: Load): ReadonlyArray<string> =>
  load.source === true || fromSource ? sourceArgs : ["--disable-warning=ExperimentalWarning"]
const codecArgs = sourceArgs

/** The address, IQN and pid of each target kind. */
interface Endpoint {
  readonly host: string
  readonly port: number
  readonly iqn: string
  readonly pid: number
}
type Endpoints = Readonly<Record<Load["target"], Endpoint>>

const runOurs = (ep: Endpoints, load: Load, secs = seconds, rssSampleMs = 0): Promise<Figures> => {
  const target = ep[load.target]
  const job = {
    host: target.host,
    port: target.port,
    iqn: target.iqn,
    lun: load.lun,
    queueDepth: load.queueDepth,
    blockBytes: load.blockBytes,
    random: load.random,
    write: load.write,
    digests: load.digests,
    warmupSeconds: warmup,
    seconds: secs,
    rssSampleMs
  }
  return runJson("load.ts", [...(load.nodeFlags ?? []), ...nodeArgsOf(load), LOAD, JSON.stringify(job)], target.pid)
}

/** floor.ts (bare Node, no library) on the same load, in its own process. */
const runFloor = (ep: Endpoints, load: Load): Promise<Figures> =>
  runJson(
    "floor.ts",
    ["--disable-warning=ExperimentalWarning", FLOOR, JSON.stringify(floorJob(ep[load.target], load))],
    ep[load.target].pid
  )

/**
 * Run `node ARGS` (load.ts or floor.ts: their last line of output is their figures as JSON) and add
 * the target's CPU over the measured window (from the warm-up's end to the process's end).
 */
const runJson = (what: string, args: ReadonlyArray<string>, targetPid: number): Promise<Figures> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (err += d))
    let targetCpu0 = 0
    setTimeout(() => (targetCpu0 = procStat(targetPid).cpu), warmup * 1000 + 700)
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`${what} failed (${code}): ${err}`))
      const f = JSON.parse(out.trim().split("\n").pop()!) as Figures
      resolve({ ...f, targetCpuSeconds: procStat(targetPid).cpu - targetCpu0 })
    })
  })

const floorJob = (target: { readonly host: string; readonly port: number; readonly iqn: string }, load: Load) => ({
  host: target.host,
  port: target.port,
  iqn: target.iqn,
  lun: load.lun,
  queueDepth: load.queueDepth,
  blockBytes: load.blockBytes,
  random: load.random,
  mode: "node",
  warmupSeconds: warmup,
  seconds
})

const CLI = Path.join(ROOT, "packages/cli/bin/iscsi.js")
const cliArgs = (ep: Endpoints, load: Load): Array<string> => {
  const target = ep[load.target]
  return [
    CLI,
    "bench",
    "--qd",
    String(load.queueDepth),
    "--bs",
    `${load.blockBytes / 1024}k`,
    ...(load.random ? ["--random"] : []),
    "--duration",
    String(warmup + seconds),
    ...(load.cliFlags ?? []),
    "--json",
    `iscsi://${target.host}:${target.port}/${target.iqn}/${load.lun}`
  ]
}

/**
 * `iscsi bench --json` (compiled); CPU and peak RSS sampled from /proc after the warm-up. With
 * `scrape`, its metrics are fetched from that port every second (as a Prometheus would).
 */
const runCli = (ep: Endpoints, load: Load, scrape?: number): Promise<Figures> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(ep, load), {
      cwd: ROOT,
      env: { ...process.env, ISCSI_CLI_DIST: "1" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const pid = child.pid!
    const targetPid = ep[load.target].pid
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (err += d))
    let first: { t: number; cpu: number; target: number } | undefined
    let last: { t: number; cpu: number; target: number; hwm: number } | undefined
    const sampler = setInterval(() => {
      const s = procStat(pid)
      if (s.cpu === 0 && s.hwmMb === 0) return
      const now = { t: performance.now(), cpu: s.cpu, target: procStat(targetPid).cpu }
      if (first === undefined) {
        if (now.t - started >= (warmup + 1) * 1000) first = now
      } else last = { ...now, hwm: s.hwmMb }
    }, 250)
    const started = performance.now()
    let scrapes = 0
    const scraper =
      scrape === undefined
        ? undefined
        : setInterval(() => {
            fetch(`http://127.0.0.1:${scrape}/metrics`).then(
              (r) => r.text().then((t) => t.includes("iscsi_commands_total") && scrapes++),
              () => {}
            )
          }, 1000)
    child.on("exit", (code) => {
      clearInterval(sampler)
      if (scraper !== undefined) {
        clearInterval(scraper)
        if (scrapes === 0) return reject(new Error(`iscsi bench served no metrics on port ${scrape}: ${err}`))
      }
      if (code !== 0) return reject(new Error(`iscsi bench failed (${code}): ${err}`))
      const j = JSON.parse(out) as { iops: number; mbPerSec: number; p50Us: number; p99Us: number; bytes: number }
      const secs = first && last ? (last.t - first.t) / 1000 : Number.NaN
      const scale = seconds / secs
      resolve({
        iops: j.iops,
        mibPerSec: Math.round((j.iops * load.blockBytes) / 1048576),
        p50Us: Math.round(j.p50Us),
        p99Us: Math.round(j.p99Us),
        meanUs: Math.round((1e6 * load.queueDepth) / j.iops),
        // CPU of the sampled window, scaled to `seconds` (the unit the table divides by)
        cpuSeconds: first && last ? (last.cpu - first.cpu) * scale : Number.NaN,
        targetCpuSeconds: first && last ? (last.target - first.target) * scale : Number.NaN,
        seconds,
        bytes: j.iops * load.blockBytes * seconds,
        maxRssMb: last?.hwm ?? 0
      })
    })
  })

const procStat = (pid: number): { cpu: number; hwmMb: number } => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ticks = Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14, 15)
    const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status)
    return { cpu: ticks / 100, hwmMb: hwm ? Math.round(Number(hwm[1]) / 102.4) / 10 : 0 }
  } catch {
    return { cpu: 0, hwmMb: 0 }
  }
}

const libiscsiArgs = (ep: Endpoints, load: Load): Array<string> => {
  const blocks = load.blockBytes / 512
  const target = ep[load.target]
  return [
    "-m",
    String(load.queueDepth),
    "-b",
    String(blocks),
    ...(load.random ? ["-r"] : []),
    `iscsi://${target.host}:${target.port}/${target.iqn}/${load.lun}`
  ]
}

/** iscsi-perf for warmup + seconds; figures from its per-second lines after the warm-up. */
const runLibiscsi = (ep: Endpoints, load: Load): Promise<Figures> =>
  new Promise((resolve, reject) => {
    const targetPid = ep[load.target].pid
    const child = spawn("iscsi-perf", libiscsiArgs(ep, load), { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    const pid = child.pid!
    let cpuStart = 0
    let cpuEnd = 0
    let targetCpuStart = 0
    let targetCpuEnd = 0
    let hwm = 0
    setTimeout(
      () => {
        cpuStart = procStat(pid).cpu
        targetCpuStart = procStat(targetPid).cpu
      },
      warmup * 1000 + 1000
    )
    setTimeout(
      () => {
        const s = procStat(pid)
        targetCpuEnd = procStat(targetPid).cpu
        cpuEnd = s.cpu
        hwm = s.hwmMb
        child.kill("SIGINT")
        // iscsi-perf ignores SIGINT while it reconnects (e.g. the target died): never hang the bench
        setTimeout(() => child.kill("SIGKILL"), 3000).unref()
      },
      (warmup + seconds) * 1000 + 1000
    )
    child.on("exit", () => {
      // "00:00:05 - lba 60160, iops current 17181 (1073 MB/s), iops average ..."
      const samples: Array<number> = []
      for (const line of out.split(/[\r\n]+/)) {
        const m = /^(\d\d):(\d\d):(\d\d) .*iops current (\d+)/.exec(line)
        if (!m) continue
        const t = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])
        if (t > warmup + 1) samples.push(Number(m[4]))
      }
      if (samples.length === 0) return reject(new Error(`iscsi-perf printed no figures: ${out.slice(-500)}`))
      const iops = samples.reduce((a, b) => a + b, 0) / samples.length
      const secs = samples.length
      resolve({
        iops: Math.round(iops),
        mibPerSec: Math.round((iops * load.blockBytes) / 1048576),
        meanUs: Math.round((1e6 * load.queueDepth) / iops),
        cpuSeconds: cpuEnd - cpuStart,
        targetCpuSeconds: targetCpuEnd - targetCpuStart,
        seconds: (cpuEnd > 0 ? seconds : secs) as number,
        bytes: iops * load.blockBytes * seconds,
        maxRssMb: hwm
      })
    })
  })

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  return n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
}

/** The target process's busy cores over the measured window. */
const busy = (f: Figures): string =>
  f.targetCpuSeconds === undefined || Number.isNaN(f.targetCpuSeconds) ? "–" : (f.targetCpuSeconds / seconds).toFixed(2)

/** CPU seconds per GiB moved (measured window). */
const cpuPerGiB = (f: Figures): number => f.cpuSeconds / ((f.mibPerSec * seconds) / 1024)

const summarize = (fs: ReadonlyArray<Figures>): Figures => ({
  iops: Math.round(median(fs.map((f) => f.iops))),
  mibPerSec: Math.round(median(fs.map((f) => f.mibPerSec))),
  p50Us: fs[0]?.p50Us === undefined ? undefined : Math.round(median(fs.map((f) => f.p50Us!))),
  p99Us: fs[0]?.p99Us === undefined ? undefined : Math.round(median(fs.map((f) => f.p99Us!))),
  meanUs: Math.round(median(fs.map((f) => f.meanUs))),
  cpuSeconds: median(fs.map((f) => f.cpuSeconds)),
  targetCpuSeconds: median(fs.map((f) => f.targetCpuSeconds ?? Number.NaN)),
  seconds: median(fs.map((f) => f.seconds)),
  bytes: median(fs.map((f) => f.bytes)),
  maxRssMb: Math.max(...fs.map((f) => f.maxRssMb))
})

// ---- scenarios ------------------------------------------------------------------------------------
interface Scenario {
  readonly name: string
  readonly title: string
  readonly load: Load
  /** Compare with iscsi-perf (reads only). */
  readonly libiscsi: boolean
  /** Also run floor.ts (bare Node, no library) on the same load in every round. */
  readonly floor?: boolean | undefined
  /** The figure that matters. */
  readonly metric: "mib" | "iops" | "latency"
  /**
   * Instead of libiscsi and the floor: the same load (`via: "api"`) with these `iscsi bench` flags,
   * side by side with the first (the baseline); `PORT` is replaced by a free port, scraped.
   */
  readonly variants?: ReadonlyArray<{ readonly label: string; readonly flags: ReadonlyArray<string> }> | undefined
}

const seq = { queueDepth: 32, blockBytes: 65536, random: false, write: false, digests: false }
const rnd = { queueDepth: 32, blockBytes: 4096, random: true, write: false, digests: false }
const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "seq-file",
    title: "64 KiB seq read QD32, file LUN, tgt defaults",
    load: { ...seq, target: "disk", lun: 1 },
    libiscsi: true,
    floor: true,
    metric: "mib"
  },
  {
    name: "seq-null",
    title: "64 KiB seq read QD32, null LUN, tgt defaults",
    load: { ...seq, target: "disk", lun: 3 },
    libiscsi: true,
    floor: true,
    metric: "mib"
  },
  {
    name: "seq-file-tuned",
    title: "64 KiB seq read QD32, file LUN, tuned (256 KiB PDUs)",
    load: { ...seq, target: "tuned", lun: 1 },
    libiscsi: true,
    metric: "mib"
  },
  {
    name: "seq-null-tuned",
    title: "64 KiB seq read QD32, null LUN, tuned",
    load: { ...seq, target: "tuned", lun: 2 },
    libiscsi: true,
    metric: "mib"
  },
  {
    name: "rand-file",
    title: "4 KiB random read QD32, file LUN (IOPS)",
    load: { ...rnd, target: "disk", lun: 1 },
    libiscsi: true,
    floor: true,
    metric: "iops"
  },
  {
    name: "rand-null",
    title: "4 KiB random read QD32, null LUN (IOPS)",
    load: { ...rnd, target: "disk", lun: 3 },
    libiscsi: true,
    floor: true,
    metric: "iops"
  },
  {
    name: "rand-null-api",
    title: "4 KiB random read QD32, null LUN, through the public API (`iscsi bench`: Scsi.read10 via the Pool)",
    load: { ...rnd, target: "disk", lun: 3, via: "api" },
    libiscsi: true,
    metric: "iops"
  },
  {
    name: "obs-null-api",
    title:
      "4 KiB random read QD32, null LUN, `iscsi bench`: metrics off / on (`--metrics-port`, scraped every second) / on with a span per READ (`--spans`)",
    load: { ...rnd, target: "disk", lun: 3, via: "api" },
    libiscsi: false,
    metric: "iops",
    variants: [
      { label: "off", flags: [] },
      { label: "metrics", flags: ["--metrics-port", "PORT"] },
      { label: "metrics+spans", flags: ["--metrics-port", "PORT", "--spans"] }
    ]
  },
  {
    name: "rand-file-api",
    title: "4 KiB random read QD32, file LUN, through the public API (`iscsi bench`)",
    load: { ...rnd, target: "disk", lun: 1, via: "api" },
    libiscsi: true,
    metric: "iops"
  },
  {
    name: "qd1-file",
    title: "4 KiB random read QD1, file LUN (latency)",
    load: { ...rnd, queueDepth: 1, target: "disk", lun: 1 },
    libiscsi: true,
    floor: true,
    metric: "latency"
  },
  {
    name: "write-file-tuned",
    title: "64 KiB seq WRITE QD32, file LUN, tuned (ours only)",
    load: { ...seq, write: true, target: "tuned", lun: 1 },
    libiscsi: false,
    metric: "mib"
  },
  {
    name: "write-null-tuned",
    title: "64 KiB seq WRITE QD32, null LUN, tuned (ours only)",
    load: { ...seq, write: true, target: "tuned", lun: 2 },
    libiscsi: false,
    metric: "mib"
  },
  {
    name: "write-file",
    title: "64 KiB seq WRITE QD32, file LUN, tgt defaults (R2T, ours only)",
    load: { ...seq, write: true, target: "disk", lun: 1 },
    libiscsi: false,
    metric: "mib"
  },
  {
    name: "digest-file-tuned",
    title: "64 KiB seq read QD32, file LUN, tuned, HeaderDigest+DataDigest CRC32C (ours)",
    load: { ...seq, digests: true, target: "tuned", lun: 1 },
    libiscsi: false,
    metric: "mib"
  },
  {
    name: "digest-null-tuned",
    title: "64 KiB seq read QD32, null LUN, tuned, digests CRC32C (ours)",
    load: { ...seq, digests: true, target: "tuned", lun: 2 },
    libiscsi: false,
    metric: "mib"
  },
  {
    name: "crc-seq",
    title: "64 KiB seq read QD32, CRC-capable null target (crc-target.ts), no digests (ours)",
    load: { ...seq, target: "crc", lun: 0 },
    libiscsi: false,
    metric: "mib"
  },
  {
    name: "crc-seq-digests",
    title: "the same with HeaderDigest+DataDigest CRC32C (ours)",
    load: { ...seq, digests: true, target: "crc", lun: 0 },
    libiscsi: false,
    metric: "mib"
  },
  {
    name: "crc-rand",
    title: "4 KiB random read QD32, CRC-capable null target, no digests (ours)",
    load: { ...rnd, target: "crc", lun: 0 },
    libiscsi: false,
    metric: "iops"
  },
  {
    name: "crc-rand-digests",
    title: "the same with HeaderDigest+DataDigest CRC32C (ours)",
    load: { ...rnd, digests: true, target: "crc", lun: 0 },
    libiscsi: false,
    metric: "iops"
  },
  {
    name: "qd128-null-tuned",
    title: "64 KiB seq read QD128, null LUN, tuned (peak RSS, ours)",
    load: { ...seq, queueDepth: 128, target: "tuned", lun: 2 },
    libiscsi: false,
    metric: "mib"
  },
  {
    name: "qd128-tsx",
    title: "the same from TypeScript source through tsx, Node defaults (peak RSS, ours)",
    load: { ...seq, queueDepth: 128, target: "tuned", lun: 2, source: true },
    libiscsi: false,
    metric: "mib"
  }
]

/** Round-robin over two paths against one path (both ours, through the public API). */
interface MultipathScenario {
  readonly name: string
  readonly title: string
  readonly lun: number
  readonly queueDepth: number
  readonly blockBytes: number
  readonly random: boolean
  readonly metric: "mib" | "iops"
}

const multipathScenarios: ReadonlyArray<MultipathScenario> = [
  {
    name: "mp-rand-null",
    title: "4 KiB random read QD32, null LUN, public API: round-robin over 2 paths vs 1 path",
    lun: 3,
    queueDepth: 32,
    blockBytes: 4096,
    random: true,
    metric: "iops"
  },
  {
    name: "mp-seq-file",
    title: "64 KiB seq read QD32, file LUN, public API: round-robin over 2 paths vs 1 path",
    lun: 1,
    queueDepth: 32,
    blockBytes: 65536,
    random: false,
    metric: "mib"
  }
]

interface MultipathRow {
  readonly scenario: MultipathScenario
  readonly two: Figures
  readonly one: Figures
  readonly twoAll: ReadonlyArray<Figures>
  readonly oneAll: ReadonlyArray<Figures>
}

const multipathJob = (ep: Endpoints, s: MultipathScenario, mode: "multipath" | "single") => ({
  paths: [
    { host: ep.disk.host, port: ep.disk.port },
    { host: SECOND_PORTAL, port: ep.disk.port }
  ],
  iqn: ep.disk.iqn,
  lun: s.lun,
  queueDepth: s.queueDepth,
  blockBytes: s.blockBytes,
  random: s.random,
  warmupSeconds: warmup,
  seconds,
  mode,
  policy: "round-robin"
})

/** multipath-load.ts in its own process: the device over both portals, or one plain path. */
const runMultipath = (ep: Endpoints, s: MultipathScenario, mode: "multipath" | "single"): Promise<Figures> =>
  runJson(
    "multipath-load.ts",
    [
      ...(fromSource ? sourceArgs : ["--disable-warning=ExperimentalWarning"]),
      MULTIPATH_LOAD,
      JSON.stringify(multipathJob(ep, s, mode))
    ],
    ep.disk.pid
  )
/** One run of each variant per round, the order rotating; medians and per-round ratios to the first. */
interface VariantRow {
  readonly scenario: Scenario
  readonly runs: ReadonlyArray<ReadonlyArray<Figures>>
}

const runVariants = async (ep: Endpoints, s: Scenario): Promise<VariantRow> => {
  const variants = s.variants!
  const runs: Array<Array<Figures>> = variants.map(() => [])
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = (k + r) % variants.length
      const port = variants[v]!.flags.includes("PORT") ? await Tgt.freePort() : undefined
      const flags = variants[v]!.flags.map((f) => (f === "PORT" ? String(port) : f))
      runs[v]!.push(await runCli(ep, { ...s.load, cliFlags: flags }, port))
    }
  }
  return { scenario: s, runs }
}

/** The initiator's CPU per I/O (µs), over the measured window: steadier than IOPS on a busy machine. */
const cpuUsPerIo = (f: Figures): number => (1e6 * f.cpuSeconds) / (f.iops * seconds)

const variantTable = (v: VariantRow): string => {
  const variants = v.scenario.variants!
  const base = v.runs[0]!
  const lines = [
    `| ${v.scenario.title} | IOPS (median) | vs ${variants[0]!.label} (per-round range) | initiator CPU µs per I/O (median) | p50 µs | p99 µs |`,
    "|---|---|---|---|---|---|"
  ]
  variants.forEach((variant, i) => {
    const f = summarize(v.runs[i]!)
    const rs = v.runs[i]!.map((x, r) => x.iops / base[r]!.iops)
    lines.push(
      `| ${variant.label}${variant.flags.length > 0 ? ` (\`${variant.flags.join(" ").replace("PORT", "P")}\`)` : ""} | ${f.iops} | ${i === 0 ? "–" : `${(f.iops / summarize(base).iops).toFixed(3)}× (rounds ${Math.min(...rs).toFixed(3)}–${Math.max(...rs).toFixed(3)})`} | ${median(v.runs[i]!.map(cpuUsPerIo)).toFixed(1)} | ${f.p50Us} | ${f.p99Us} |`
    )
  })
  return lines.join("\n")
}

interface Row {
  readonly scenario: Scenario
  readonly ours: Figures
  readonly theirs: Figures | undefined
  readonly oursAll: ReadonlyArray<Figures>
  readonly theirsAll: ReadonlyArray<Figures>
  readonly floor: Figures | undefined
}

const fmt = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? "–" : n.toFixed(digits))
const ratio = (a: number, b: number | undefined) => (b === undefined || b === 0 ? "–" : `${(a / b).toFixed(2)}×`)

/** The figure that matters of one run. */
const key = (f: Figures, metric: Scenario["metric"]): number =>
  metric === "iops" ? f.iops : metric === "mib" ? f.mibPerSec : (f.p50Us ?? f.meanUs)

/** The lowest and highest of the per-round ratios ours/libiscsi (same round, neighbouring runs). */
const spread = (r: Row): string => {
  const m = r.scenario.metric
  const n = Math.min(r.oursAll.length, r.theirsAll.length)
  if (n < 2) return ""
  const rs: Array<number> = []
  for (let i = 0; i < n; i++) {
    const o = r.oursAll[i]!
    const t = r.theirsAll[i]!
    rs.push(m === "latency" ? o.p50Us! / t.meanUs : key(o, m) / key(t, m))
  }
  return `(rounds ${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})`
}

const figure = (f: Figures, metric: Scenario["metric"]): string =>
  metric === "latency"
    ? `p50 ${f.p50Us} µs, p99 ${f.p99Us} µs`
    : metric === "iops"
      ? `${f.iops} IOPS`
      : `${f.mibPerSec} MB/s`

const commandOf = (ep: Endpoints, s: Scenario) => ({
  ours:
    s.load.via === "api"
      ? `ISCSI_CLI_DIST=1 node ${cliArgs(ep, s.load)
          .map((a) => a.replace(`${ROOT}/`, "").replace(/:\d+\//, ":PORT/"))
          .join(" ")}`
      : `node ${[...(s.load.nodeFlags ?? []), ...nodeArgsOf(s.load)].map((f) => `${f} `).join("")}packages/node-transport/benchmark/load.ts '{"iqn":"${ep[s.load.target].iqn}","lun":${s.load.lun},"queueDepth":${s.load.queueDepth},"blockBytes":${s.load.blockBytes},"random":${s.load.random},"write":${s.load.write},"digests":${s.load.digests},"warmupSeconds":${warmup},"seconds":${seconds},"host":"127.0.0.1","port":${s.load.target === "crc" ? "CRC_PORT" : "PORT"}}'`,
  libiscsi: s.libiscsi
    ? `timeout -s INT ${warmup + seconds + 1} iscsi-perf ${libiscsiArgs(
        { ...ep, [s.load.target]: { ...ep[s.load.target], host: "127.0.0.1", port: 0 } },
        s.load
      )
        .join(" ")
        .replace(":0/", ":PORT/")}`
    : undefined
})

/** Start crc-target.ts in its own process (through tsx: the testing harness is TypeScript source). */
const startCrcTarget = (): Promise<{ readonly port: number; readonly pid: number; readonly stop: () => void }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...sourceArgs, CRC_TARGET], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (d) => {
      out += d
      const line = out.split("\n")[0]
      if (out.includes("\n"))
        resolve({
          port: (JSON.parse(line!) as { port: number }).port,
          pid: child.pid!,
          stop: () => child.kill("SIGTERM")
        })
    })
    child.on("exit", (code) => reject(new Error(`crc-target.ts exited (${code})`)))
  })

const runCodec = (): Promise<string> =>
  new Promise((resolve) => {
    if (!Fs.existsSync(CODEC)) return resolve("(packages/core/benchmark/codec.ts not found)")
    const child = spawn(process.execPath, [...codecArgs, CODEC, ...(quick ? ["--quick"] : [])], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.on("exit", () => resolve(out.trim()))
  })

/** The engine micro-benchmark (in-memory target: the library's own CPU per command), a few loads. */
const runEngine = async (): Promise<string> => {
  const one = (args: ReadonlyArray<string>): Promise<string> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", ENGINE, ...args], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "inherit"]
      })
      let out = ""
      child.stdout.on("data", (d) => (out += d))
      child.on("exit", () => resolve(out.trim()))
    })
  const lines = ["| load | CPU µs per command | commands/s |", "|---|---|---|"]
  for (const [mode, bs, observe] of [
    ["session", 4096, ""],
    ["api", 4096, "off"],
    ["api", 4096, "metrics"],
    ["api", 4096, "spans"],
    ["paths", 4096, ""],
    ["session", 65536, ""]
  ] as const) {
    const runs: Array<{ cpuUsPerCommand: number; commandsPerSecond: number }> = []
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      const out = await one(["32", String(bs), quick ? "1" : "2", mode, ...(observe === "" ? [] : [observe])])
      try {
        runs.push(JSON.parse(out))
      } catch {
        lines.push(`| ${mode} ${bs} | failed: ${out.slice(0, 100)} | |`)
      }
    }
    if (runs.length === 0) continue
    lines.push(
      `| ${mode === "api" ? `Scsi.read10 via the Pool (public API), ${observe === "off" ? "metrics off" : observe === "metrics" ? "metrics on (the default)" : "metrics and a span per READ"}` : mode === "paths" ? "Scsi.read10 via a PathSet of two paths, round-robin (multipath)" : "Session.execute"}, ${bs / 1024} KiB, QD32 | ${median(runs.map((r) => r.cpuUsPerCommand)).toFixed(2)} | ${Math.round(median(runs.map((r) => r.commandsPerSecond)))} |`
    )
  }
  return lines.join("\n")
}

const DPKG_VERSION = "-f=$" + "{Version}"

const machine = () => {
  const v = (cmd: string, args: ReadonlyArray<string>) => {
    try {
      return execFileSync(cmd, [...args], { encoding: "utf8" }).trim()
    } catch {
      return "?"
    }
  }
  return [
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${Os.cpus().length} × ${Os.cpus()[0]?.model ?? "?"}, ${Math.round(Os.totalmem() / 2 ** 30)} GiB RAM, Linux ${Os.release()} (target and initiator share the cores)`,
    `- Node ${process.version}; tgt ${v("dpkg-query", ["-W", DPKG_VERSION, "tgt"])}; libiscsi-bin ${v("dpkg-query", ["-W", DPKG_VERSION, "libiscsi-bin"])}`,
    `- Load average at start: ${Os.loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`
  ].join("\n")
}

// ---- main -----------------------------------------------------------------------------------------
const main = async () => {
  if (!fromSource || copyOnly || copyRows || copySweep) {
    console.log("npm run build (our process runs the compiled packages/*/dist)")
    execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" })
  }
  if (copySweep) {
    const text = await runCopySweep(copyOptions())
    console.log(text)
    if (writeResults) writeSection("sweep", text)
    return
  }
  if (copyOnly) {
    const text = `${machine()}\n\n${await runCopyBench(copyOptions())}`
    console.log(text)
    if (writeResults) writeSection("copy", text)
    return
  }
  const instance = await Tgt.start({ targets: ["disk", "tuned"] })
  Tgt.ensurePortal(instance.info.controlPort, SECOND_PORTAL, instance.info.port)
  const crc = await startCrcTarget()
  const stop = () => {
    crc.stop()
    void instance.stop().then(() => process.exit(130))
  }
  process.on("SIGINT", stop)
  const tgt = instance.info
  const ep: Endpoints = {
    disk: { host: tgt.host, port: tgt.port, iqn: tgt.targets.disk.iqn, pid: tgt.pid },
    tuned: { host: tgt.host, port: tgt.port, iqn: tgt.targets.tuned.iqn, pid: tgt.pid },
    crc: { host: "127.0.0.1", port: crc.port, iqn: "iqn.2026-11.io.effect-iscsi:crc", pid: crc.pid }
  }
  const header = machine()
  console.log(header)
  console.log(
    `tgtd pid ${tgt.pid} on ${tgt.portal}; crc-target pid ${crc.pid} on port ${crc.port}; rounds ${rounds}, warm-up ${warmup} s, measured ${seconds} s\n`
  )
  try {
    if (soak) {
      const load: Load = { ...seq, target: "tuned", lun: 2 }
      const soakSeconds = Number(value("--soak-seconds") ?? 300)
      console.log(`soak: 64 KiB seq read QD32 on the tuned null LUN for ${soakSeconds} s, RSS every 5 s`)
      const f = await runOurs(ep, load, soakSeconds, 5000)
      const s = f.rssSamplesMb ?? []
      // RSS is a sawtooth (V8 grows its heap, then a major GC gives memory back): compare the
      // envelopes of the two halves, not single samples
      const half = Math.floor(s.length / 2)
      const first = s.slice(0, half)
      const second = s.slice(half)
      const growth = Math.max(...second) - Math.max(...first)
      const text = [
        `## Soak (${soakSeconds} s, 64 KiB seq read QD32, tuned null LUN)`,
        "",
        `- throughput ${f.mibPerSec} MiB/s, ${f.iops} IOPS; CPU ${(f.cpuSeconds / (f.bytes / 2 ** 30 || 1)).toFixed(2)} s/GiB`,
        `- RSS samples (MiB, every 5 s): ${s.join(" ")}`,
        `- peak RSS ${f.maxRssMb} MiB; first half: highest ${Math.max(...first)}, lowest ${Math.min(...first)} MiB; second half: highest ${Math.max(...second)}, lowest ${Math.min(...second)} MiB; growth of the highest ${growth.toFixed(1)} MiB`,
        ""
      ].join("\n")
      console.log(text)
      if (writeResults) writeSection("soak", text)
      return
    }
    const rows: Array<Row> = []
    const variantRows: Array<VariantRow> = []
    for (const s of scenarios) {
      if (only !== undefined && !only.includes(s.name)) continue
      if (s.variants !== undefined) {
        const v = await runVariants(ep, s)
        variantRows.push(v)
        const base = summarize(v.runs[0]!)
        console.log(
          `${s.name.padEnd(18)} ${s.variants
            .map(
              (x, i) =>
                `${x.label} ${summarize(v.runs[i]!).iops} IOPS${i === 0 ? "" : ` (${ratio(summarize(v.runs[i]!).iops, base.iops)})`} ${median(v.runs[i]!.map(cpuUsPerIo)).toFixed(1)} µs CPU/IO`
            )
            .join(
              " | "
            )}   [${s.variants.map((x, i) => `${x.label} ${v.runs[i]!.map((f) => f.iops).join(", ")}`).join("; ")}]`
        )
        continue
      }
      const ours: Array<Figures> = []
      const theirs: Array<Figures> = []
      const floor: Array<Figures> = []
      const who = ["ours", ...(s.libiscsi ? ["libiscsi"] : []), ...(s.floor === true ? ["floor"] : [])]
      for (let r = 0; r < rounds; r++) {
        // a different order every round (the machine drifts)
        for (let k = 0; k < who.length; k++) {
          const w = who[(k + r) % who.length]
          if (w === "ours") ours.push(await (s.load.via === "api" ? runCli(ep, s.load) : runOurs(ep, s.load)))
          else if (w === "libiscsi") theirs.push(await runLibiscsi(ep, s.load))
          else floor.push(await runFloor(ep, s.load))
        }
      }
      const row: Row = {
        scenario: s,
        ours: summarize(ours),
        theirs: theirs.length > 0 ? summarize(theirs) : undefined,
        oursAll: ours,
        theirsAll: theirs,
        floor: floor.length > 0 ? summarize(floor) : undefined
      }
      rows.push(row)
      const o = row.ours
      const t = row.theirs
      const line =
        s.metric === "latency"
          ? `${s.name.padEnd(18)} ours p50 ${o.p50Us} µs p99 ${o.p99Us} µs mean ${o.meanUs} µs (${o.iops} IOPS) | libiscsi mean ${fmt(t?.meanUs)} µs (${fmt(t?.iops)} IOPS) | p50/libiscsi-mean ${ratio(o.p50Us!, t?.meanUs)}`
          : `${s.name.padEnd(18)} ours ${o.mibPerSec} MiB/s ${o.iops} IOPS cpu ${cpuPerGiB(o).toFixed(2)} s/GiB rss ${o.maxRssMb} MB | libiscsi ${fmt(t?.mibPerSec)} MiB/s ${fmt(t?.iops)} IOPS cpu ${t ? cpuPerGiB(t).toFixed(2) : "–"} s/GiB rss ${fmt(t?.maxRssMb)} MB | ratio ${ratio(s.metric === "iops" ? o.iops : o.mibPerSec, s.metric === "iops" ? t?.iops : t?.mibPerSec)} ${spread(row)}   [ours ${ours.map((f) => (s.metric === "iops" ? f.iops : f.mibPerSec)).join(", ")}; libiscsi ${theirs.map((f) => (s.metric === "iops" ? f.iops : f.mibPerSec)).join(", ")}]`
      console.log(line)
      if (row.floor !== undefined)
        console.log(`${"".padEnd(18)} Node floor (floor.ts, no library): ${figure(row.floor, s.metric)}`)
    }
    const mpRows: Array<MultipathRow> = []
    for (const s of multipathScenarios) {
      if (only !== undefined && !only.includes(s.name)) continue
      const two: Array<Figures> = []
      const one: Array<Figures> = []
      for (let r = 0; r < rounds; r++) {
        // a different order every round (the machine drifts)
        for (const mode of r % 2 === 0 ? (["multipath", "single"] as const) : (["single", "multipath"] as const)) {
          ;(mode === "multipath" ? two : one).push(await runMultipath(ep, s, mode))
        }
      }
      const row: MultipathRow = { scenario: s, two: summarize(two), one: summarize(one), twoAll: two, oneAll: one }
      mpRows.push(row)
      const k = (f: Figures) => (s.metric === "iops" ? f.iops : f.mibPerSec)
      const unit = s.metric === "iops" ? "IOPS" : "MiB/s"
      console.log(
        `${s.name.padEnd(18)} 2 paths ${k(row.two)} ${unit} cpu ${cpuPerGiB(row.two).toFixed(2)} s/GiB | 1 path ${k(row.one)} ${unit} cpu ${cpuPerGiB(row.one).toFixed(2)} s/GiB | ratio ${ratio(k(row.two), k(row.one))} ${mpSpread(row)}   [2 paths ${two.map(k).join(", ")}; 1 path ${one.map(k).join(", ")}]`
      )
    }
    console.log("\ncodec micro-benchmark:")
    const codec = await runCodec()
    console.log(codec)
    console.log("\nengine micro-benchmark (in-memory target, median of runs):")
    const engine = await runEngine()
    console.log(engine)
    if (writeResults && only === undefined)
      writeSection(quick ? "quick" : "full", render(ep, header, rows, mpRows, codec, engine, variantRows))
  } finally {
    crc.stop()
    await instance.stop()
  }
  if (copyRows) {
    const text = `${machine()}\n\n${await runCopyBench(copyOptions())}`
    console.log(text)
    if (writeResults) writeSection("copy", text)
  }
}

/** The lowest and highest per-round ratio of two paths over one path. */
const mpSpread = (r: MultipathRow): string => {
  const n = Math.min(r.twoAll.length, r.oneAll.length)
  if (n < 2) return ""
  const k = (f: Figures) => (r.scenario.metric === "iops" ? f.iops : f.mibPerSec)
  const rs = Array.from({ length: n }, (_, i) => k(r.twoAll[i]!) / k(r.oneAll[i]!))
  return `(rounds ${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})`
}

const render = (
  ep: Endpoints,
  header: string,
  rows: ReadonlyArray<Row>,
  mpRows: ReadonlyArray<MultipathRow>,
  codec: string,
  engine: string,
  variantRows: ReadonlyArray<VariantRow>
): string => {
  const by = (name: string) => rows.find((r) => r.scenario.name === name)
  const lines: Array<string> = []
  lines.push(
    `## ${quick ? "Quick run (--quick)" : "Full run"}`,
    "",
    header,
    `- Rounds ${rounds}, warm-up ${warmup} s, measured ${seconds} s per run; medians; MB/s = MiB/s`,
    ""
  )
  lines.push(
    "| scenario | ours | libiscsi | ours/libiscsi (per-round range) | ours CPU s/GiB | libiscsi CPU s/GiB | ours peak RSS MB | libiscsi peak RSS MB | target's busy cores (ours / libiscsi) | bare Node floor (floor.ts) |"
  )
  lines.push("|---|---|---|---|---|---|---|---|---|---|")
  for (const r of rows) {
    const o = r.ours
    const t = r.theirs
    const m = r.scenario.metric
    const oursCell =
      m === "latency"
        ? `p50 ${o.p50Us} µs, p99 ${o.p99Us} µs, mean ${o.meanUs} µs (${o.iops} IOPS)`
        : m === "iops"
          ? `${o.iops} IOPS (${o.mibPerSec} MB/s)`
          : `${o.mibPerSec} MB/s`
    const theirCell =
      t === undefined
        ? "–"
        : m === "latency"
          ? `mean ${t.meanUs} µs (${t.iops} IOPS)`
          : m === "iops"
            ? `${t.iops} IOPS (${t.mibPerSec} MB/s)`
            : `${t.mibPerSec} MB/s`
    const rat =
      t === undefined
        ? "–"
        : m === "latency"
          ? `p50/mean ${ratio(o.p50Us!, t.meanUs)}; mean ${ratio(o.meanUs, t.meanUs)}`
          : m === "iops"
            ? ratio(o.iops, t.iops)
            : ratio(o.mibPerSec, t.mibPerSec)
    lines.push(
      `| ${r.scenario.title} | ${oursCell} | ${theirCell} | ${rat} ${spread(r)} | ${cpuPerGiB(o).toFixed(2)} | ${t ? cpuPerGiB(t).toFixed(2) : "–"} | ${o.maxRssMb} | ${t ? t.maxRssMb : "–"} | ${busy(o)} / ${t ? busy(t) : "–"} | ${r.floor ? `${figure(r.floor, m)}, CPU ${cpuPerGiB(r.floor).toFixed(2)} s/GiB` : "–"} |`
    )
  }
  const d = (a: string, b: string) => {
    const x = by(a)
    const y = by(b)
    return x && y
      ? `${(100 * (1 - x.ours.mibPerSec / y.ours.mibPerSec)).toFixed(0)}% (ours ${cpuPerGiB(y.ours).toFixed(2)} → ${cpuPerGiB(x.ours).toFixed(2)} CPU s/GiB; target ${busy(y.ours)} → ${busy(x.ours)} busy cores)`
      : "–"
  }
  lines.push("")
  lines.push(
    `- Cost of HeaderDigest+DataDigest CRC32C (throughput lost) against tgtd, whose CRC32C runs in software on its one main thread: file LUN ${d("digest-file-tuned", "seq-file-tuned")}, null LUN ${d("digest-null-tuned", "seq-null-tuned")}`,
    `- The same against crc-target.ts (native CRC32C, zero data: its digests cost it little): 64 KiB seq ${d("crc-seq-digests", "crc-seq")}; 4 KiB random ${d("crc-rand-digests", "crc-rand")}`
  )
  const w = by("write-null-tuned")
  const rd = by("seq-null-tuned")
  if (w && rd)
    lines.push(
      `- Writes vs reads on the tuned null LUN (the ceiling): write ${w.ours.mibPerSec} MB/s vs read ${rd.ours.mibPerSec} MB/s`
    )
  const q = by("qd128-null-tuned")
  const qt = by("qd128-tsx")
  if (q) {
    lines.push(
      `- Peak RSS at queue depth 128: ${q.ours.maxRssMb} MB with Node's defaults (${fromSource ? "from TypeScript source through tsx" : "compiled JavaScript, no TypeScript loader"})${qt ? `; ${qt.ours.maxRssMb} MB from source through tsx (the loader's share)` : ""}`
    )
  }
  for (const v of variantRows) {
    lines.push(
      "",
      "### What observability costs (`iscsi bench`, public API)",
      "",
      variantTable(v),
      "",
      `- ${v.scenario.name}: \`${commandOf(ep, v.scenario).ours}\` with ${v.scenario
        .variants!.map((x) =>
          x.flags.length === 0 ? "no more flags" : `\`${x.flags.join(" ").replace("PORT", "P")}\``
        )
        .join(", ")} (P: a free port, fetched every second)`
    )
  }
  lines.push(
    "",
    "Commands (PORT = the private tgtd's portal port, CRC_PORT = crc-target.ts's port, started by `node --conditions=source --import tsx packages/node-transport/benchmark/crc-target.ts`; `npm run bench` starts both and runs these):",
    ""
  )
  for (const r of rows) {
    const c = commandOf(ep, r.scenario)
    lines.push(
      `- ${r.scenario.name}: \`${c.ours}\`${c.libiscsi ? `; \`${c.libiscsi}\`` : ""}${r.scenario.floor === true ? `; \`node packages/node-transport/benchmark/floor.ts '${JSON.stringify({ ...floorJob({ ...ep[r.scenario.load.target], host: "127.0.0.1", port: 0 }, r.scenario.load) }).replace('"port":0', '"port":PORT')}'\`` : ""}`
    )
  }
  if (mpRows.length > 0) {
    lines.push(
      "",
      "### Multipath: round-robin over two paths vs one path",
      "",
      `The disk target through 127.0.0.1:PORT and ${SECOND_PORTAL}:PORT (two sessions, two ISIDs, one tgtd) with the \`Multipath\` device, against \`Pool.target\` on 127.0.0.1:PORT; both run \`Scsi.read10\` through the public API, in alternating order every round.`,
      "",
      "| scenario | round-robin, 2 paths | 1 path | 2 paths / 1 path (per-round range) | CPU s/GiB (2 / 1) | peak RSS MB (2 / 1) | target's busy cores (2 / 1) |",
      "|---|---|---|---|---|---|---|"
    )
    for (const r of mpRows) {
      const m = r.scenario.metric
      const cell = (f: Figures) => (m === "iops" ? `${f.iops} IOPS (${f.mibPerSec} MB/s)` : `${f.mibPerSec} MB/s`)
      const k = (f: Figures) => (m === "iops" ? f.iops : f.mibPerSec)
      lines.push(
        `| ${r.scenario.title} | ${cell(r.two)} | ${cell(r.one)} | ${ratio(k(r.two), k(r.one))} ${mpSpread(r)} | ${cpuPerGiB(r.two).toFixed(2)} / ${cpuPerGiB(r.one).toFixed(2)} | ${r.two.maxRssMb} / ${r.one.maxRssMb} | ${busy(r.two)} / ${busy(r.one)} |`
      )
    }
    lines.push("")
    for (const r of mpRows) {
      for (const mode of ["multipath", "single"] as const) {
        lines.push(
          `- ${r.scenario.name} (${mode === "multipath" ? "2 paths" : "1 path"}): \`node packages/node-transport/benchmark/multipath-load.ts '${JSON.stringify(
            multipathJob(ep, r.scenario, mode)
          ).replaceAll(`"port":${ep.disk.port}`, '"port":PORT')}'\``
        )
      }
    }
  }
  lines.push("", "### Codec micro-benchmark (packages/core/benchmark/codec.ts)", "", "```", codec, "```", "")
  lines.push(
    "### Engine micro-benchmark (packages/core/benchmark/engine.ts QD BYTES SECONDS session|api)",
    "",
    "The library's own CPU per command: an in-memory target, no socket, no kernel.",
    "",
    engine,
    ""
  )
  return lines.join("\n")
}

/** Replace the section `key` of benchmark/RESULTS.md, keeping the others and the notes. */
const writeSection = (key: string, text: string) => {
  Fs.mkdirSync(Path.dirname(RESULTS), { recursive: true })
  const old = Fs.existsSync(RESULTS) ? Fs.readFileSync(RESULTS, "utf8") : ""
  const i = old.indexOf(NOTES_MARKER)
  const notes = i >= 0 ? old.slice(i + NOTES_MARKER.length) : "\n"
  const sections = new Map<string, string>()
  const re = /<!-- section:(\w+) -->\n([\s\S]*?)<!-- \/section -->/g
  for (let m = re.exec(old); m !== null; m = re.exec(old)) sections.set(m[1]!, m[2]!)
  sections.set(key, `${text}\n`)
  const order = ["full", "copy", "sweep", "quick", "soak"]
  const body = order
    .filter((k) => sections.has(k))
    .map((k) => `<!-- section:${k} -->\n${sections.get(k)}<!-- /section -->`)
    .join("\n\n")
  Fs.writeFileSync(
    RESULTS,
    `# Benchmark results\n\nGenerated by \`npm run bench\` (scripts/bench.ts; \`--quick\`, \`--soak\`). Rerun it to refresh the sections below.\n\n${body}\n\n${NOTES_MARKER}${notes}`
  )
  console.log(`wrote ${Path.relative(ROOT, RESULTS)} (${key})`)
}

await main()
