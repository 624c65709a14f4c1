/**
 * The copy and startup rows of `npm run bench` (issue 17): `iscsi dd` against `qemu-img convert`
 * (QEMU's block layer over libiscsi) on the same private tgtd in the same run, rounds alternating
 * which goes first; and the time an `iscsi` process takes to start, with the bare `node` start and
 * qemu-img's in the same rounds.
 *
 * Everything is on a tmpfs when there is one (`/dev/shm`): the LUNs' backing files and the local
 * files, so neither tool measures a disk. Data is generated here, deterministically (AES-256-CTR
 * keystreams of fixed keys; the mostly-zero image from a fixed xorshift seed), and every copy is
 * checked byte for byte (`cmp`) against its source — the source file, or the source LUN's backing
 * file — after the run. Each run copies data its destination does not hold yet: a new random image
 * per run (written before the timer starts), so a copy that wrote nothing would fail the check;
 * the mostly-zero rows first fill their destination LUN with random data, so zero runs left
 * unwritten would fail it too.
 *
 * Figures per run: wall time of the whole process (start, login and exit included), as the issue
 * measured; user and system CPU from bash's `times` around it. Rows also run load.ts (the library's
 * own benchmark path: READ or WRITE of dd's transfer size at dd's queue depth, no file) on the same
 * LUN in the same rounds, for its CPU per GiB.
 *
 * Not here: the iscsi-perf rows (scripts/bench.ts).
 */
import { Tgt } from "@effect-iscsi/testing"
import { spawn, spawnSync } from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface CopyBenchOptions {
  readonly root: string
  /** Alternating rounds (default 3). */
  readonly rounds: number
  /** GiB per copy (default 2). */
  readonly gib: number
  /** Runs per startup variant (default 20). */
  readonly startupRuns: number
  /** Only these rows (names). */
  readonly only?: ReadonlyArray<string> | undefined
  /** Seconds before a qemu-img (or our) copy is given up as timed out. */
  readonly timeoutSeconds: number
  /**
   * An earlier build to run in the same rounds as "before": its `packages/cli/bin/iscsi.js` (run with
   * ISCSI_CLI_DIST=1, so its compiled dist/) and a label (e.g. a commit).
   */
  readonly before?: { readonly cli: string; readonly label: string } | undefined
}

const GiB = 1024 ** 3
const MiB = 1024 ** 2
const IQN = `${Tgt.IQN_PREFIX}:copy`

// ---- data -------------------------------------------------------------------------------------------

/** Fill `path` (created or overwritten in place, keeping its inode) with `size` bytes of keystream `seed`. */
const fillRandom = (path: string, size: number, seed: string) => {
  const key = Crypto.createHash("sha256").update(`effect-iscsi bench ${seed}`).digest()
  const cipher = Crypto.createCipheriv("aes-256-ctr", key, Buffer.alloc(16))
  const zeros = Buffer.alloc(8 * MiB)
  const fd = Fs.openSync(path, Fs.existsSync(path) ? "r+" : "w")
  try {
    for (let at = 0; at < size; at += zeros.length) {
      const n = Math.min(zeros.length, size - at)
      const chunk = cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n))
      Fs.writeSync(fd, chunk, 0, chunk.length, at)
    }
    Fs.ftruncateSync(fd, size)
  } finally {
    Fs.closeSync(fd)
  }
}

/** The 4 KiB blocks of the mostly-zero image that hold data: 1 % of them, from a fixed xorshift seed. */
const sparseBlocks = (size: number): Array<number> => {
  let x = 0x9e3779b9
  const out: Array<number> = []
  for (let i = 0; i < size / 4096; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    if (x / 2 ** 32 < 0.01) out.push(i)
  }
  return out
}

/** Write the mostly-zero image into `path` as a sparse file: holes everywhere but its data blocks. */
const writeSparse = (path: string, size: number, blocks: ReadonlyArray<number>) => {
  const key = Crypto.createHash("sha256").update("effect-iscsi bench sparse").digest()
  const cipher = Crypto.createCipheriv("aes-256-ctr", key, Buffer.alloc(16))
  const fd = Fs.openSync(path, Fs.existsSync(path) ? "r+" : "w")
  try {
    Fs.ftruncateSync(fd, 0)
    Fs.ftruncateSync(fd, size)
    const zero = Buffer.alloc(4096)
    for (const b of blocks) Fs.writeSync(fd, cipher.update(zero), 0, 4096, b * 4096)
  } finally {
    Fs.closeSync(fd)
  }
}

/** Make `path` all holes (reads zeros, holds no pages), keeping its inode and size. */
const punch = (path: string, size: number) => {
  const fd = Fs.openSync(path, "r+")
  Fs.ftruncateSync(fd, 0)
  Fs.ftruncateSync(fd, size)
  Fs.closeSync(fd)
}

const same = (a: string, b: string): boolean => spawnSync("cmp", ["-s", a, b]).status === 0
const allocated = (path: string): number => Fs.statSync(path).blocks * 512

// ---- processes --------------------------------------------------------------------------------------

export interface Run {
  /** Wall seconds from spawn to exit. */
  readonly seconds: number
  readonly userSeconds: number
  readonly systemSeconds: number
  readonly stdout: string
  readonly timedOut: boolean
}

/** Run `cmd` under bash, timing it from spawn to exit; CPU from bash's `times` (its children's line). */
export const timed = (cmd: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, timeoutSeconds: number) =>
  new Promise<Run>((resolve, reject) => {
    const start = performance.now()
    const child = spawn("bash", ["-c", '"$@"; rc=$?; times >&3; exit $rc', "bash", cmd, ...args], {
      env,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      // its own process group: a run that times out is killed with everything under it
      detached: true
    })
    let out = ""
    let err = ""
    let times = ""
    let timedOut = false
    child.stdout!.on("data", (d) => (out += d))
    child.stderr!.on("data", (d) => (err += d))
    child.stdio[3]!.on("data", (d) => (times += d))
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {}
    }, timeoutSeconds * 1000)
    child.on("exit", (code) => {
      const seconds = (performance.now() - start) / 1000
      clearTimeout(timer)
      if (timedOut) return resolve({ seconds, userSeconds: 0, systemSeconds: 0, stdout: out, timedOut })
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(" ")} failed (${code}): ${err.slice(-800)}`))
      // "0m0.001s 0m0.000s\n0m1.234s 0m0.567s": the shell, then its children
      const t = (s: string) => {
        const m = /(\d+)m([\d.]+)s/.exec(s)
        return m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN
      }
      const line = times.trim().split("\n")[1] ?? ""
      const [u, s] = line.split(" ")
      resolve({ seconds, userSeconds: t(u ?? ""), systemSeconds: t(s ?? ""), stdout: out, timedOut })
    })
  })

// ---- rows ------------------------------------------------------------------------------------------

interface Setup {
  readonly size: number
  readonly dir: string
  readonly url: (target: "disk" | "copy", lun: number) => string
  readonly backing: (target: "disk" | "copy", lun: number) => string
  readonly file: (name: string) => string
  readonly sparse: ReadonlyArray<number>
  readonly env: NodeJS.ProcessEnv
  readonly host: string
  readonly port: number
}

interface Side {
  readonly cmd: string
  readonly args: ReadonlyArray<string>
}

interface Row {
  readonly name: string
  readonly title: string
  /** Before each run (not timed): put fresh data in place; `k` numbers the run. */
  readonly prepare: (s: Setup, k: number) => void
  readonly ours: (s: Setup) => Side
  readonly theirs: (s: Setup) => Side
  /** After each run: the destination equals the source. */
  readonly check: (s: Setup) => boolean
  /** After each run: bytes the destination holds allocated (sparse rows). */
  readonly allocated?: ((s: Setup) => number) | undefined
  /** The library's bench path on the same LUN for CPU per GiB: READ or WRITE. */
  readonly reference?: "read" | "write" | undefined
  /** Also run ours with `--progress` (a progress line on stderr) in the same rounds. */
  readonly progress?: boolean | undefined
}

const NODE = process.execPath
const ROOT = Path.resolve(Path.dirname(new URL(import.meta.url).pathname), "..")
const CLI = Path.join(ROOT, "packages/cli/bin/iscsi.js")
const LOAD = Path.join(ROOT, "packages/node-transport/benchmark/load.ts")
const dd = (from: string, to: string): Side => ({ cmd: NODE, args: [CLI, "dd", "--if", from, "--of", to, "--json"] })
const qemu = (from: string, to: string, toLun: boolean): Side => ({
  cmd: "qemu-img",
  args: ["convert", ...(toLun ? ["-n"] : []), "-f", "raw", "-O", "raw", from, to]
})
const rm = (path: string) => Fs.rmSync(path, { force: true })

const rows: ReadonlyArray<Row> = [
  {
    name: "lun-to-file",
    title: "LUN → file (random data)",
    prepare: (s, k) => {
      fillRandom(s.backing("disk", 1), s.size, `lun ${k}`)
      rm(s.file("out.img"))
    },
    ours: (s) => dd(s.url("disk", 1), s.file("out.img")),
    theirs: (s) => qemu(s.url("disk", 1), s.file("out.img"), false),
    check: (s) => same(s.file("out.img"), s.backing("disk", 1)),
    reference: "read",
    progress: true
  },
  {
    name: "file-to-lun",
    title: "file → LUN (random data)",
    prepare: (s, k) => fillRandom(s.file("in.img"), s.size, `file ${k}`),
    ours: (s) => dd(s.file("in.img"), s.url("disk", 1)),
    theirs: (s) => qemu(s.file("in.img"), s.url("disk", 1), true),
    check: (s) => same(s.backing("disk", 1), s.file("in.img")),
    reference: "write"
  },
  {
    name: "lun-to-lun",
    title: "LUN → LUN, two targets (random data)",
    prepare: (s, k) => fillRandom(s.backing("disk", 1), s.size, `lun ${k}`),
    ours: (s) => dd(s.url("disk", 1), s.url("copy", 1)),
    theirs: (s) => qemu(s.url("disk", 1), s.url("copy", 1), true),
    check: (s) => same(s.backing("copy", 1), s.backing("disk", 1))
  },
  {
    name: "sparse-to-thin",
    title: "mostly-zero image → thin LUN (UNMAP, WRITE SAME with UNMAP, LBPRZ)",
    prepare: (s, k) => fillRandom(s.backing("disk", 4), s.size, `junk ${k}`),
    ours: (s) => dd(s.file("sparse.img"), s.url("disk", 4)),
    theirs: (s) => qemu(s.file("sparse.img"), s.url("disk", 4), true),
    check: (s) => same(s.backing("disk", 4), s.file("sparse.img")),
    allocated: (s) => allocated(s.backing("disk", 4))
  },
  {
    name: "sparse-to-lun",
    title: "mostly-zero image → LUN without provisioning (zeros must be written)",
    prepare: (s, k) => fillRandom(s.backing("disk", 1), s.size, `junk ${k}`),
    ours: (s) => dd(s.file("sparse.img"), s.url("disk", 1)),
    theirs: (s) => qemu(s.file("sparse.img"), s.url("disk", 1), true),
    check: (s) => same(s.backing("disk", 1), s.file("sparse.img"))
  },
  {
    name: "thin-to-file",
    title: "mostly-zero thin LUN → file (GET LBA STATUS)",
    prepare: (s) => {
      writeSparse(s.backing("disk", 4), s.size, s.sparse)
      rm(s.file("out.img"))
    },
    ours: (s) => dd(s.url("disk", 4), s.file("out.img")),
    theirs: (s) => qemu(s.url("disk", 4), s.file("out.img"), false),
    check: (s) => same(s.file("out.img"), s.file("sparse.img")),
    allocated: (s) => allocated(s.file("out.img"))
  },
  {
    name: "zero-lun-to-file",
    title: "mostly-zero LUN without provisioning → file (every block read)",
    prepare: (s) => {
      writeSparse(s.backing("disk", 1), s.size, s.sparse)
      rm(s.file("out.img"))
    },
    ours: (s) => dd(s.url("disk", 1), s.file("out.img")),
    theirs: (s) => qemu(s.url("disk", 1), s.file("out.img"), false),
    check: (s) => same(s.file("out.img"), s.file("sparse.img")),
    allocated: (s) => allocated(s.file("out.img"))
  }
]

// ---- figures ---------------------------------------------------------------------------------------

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  return n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
}
const mib = (size: number, r: Run) => size / MiB / r.seconds
const cpuPerGiB = (size: number, r: Run) => (r.userSeconds + r.systemSeconds) / (size / GiB)
const range = (xs: ReadonlyArray<number>, digits = 0) =>
  xs.length < 2 ? "" : `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`

interface RowResult {
  readonly row: Row
  readonly ours: Array<Run>
  readonly oursProgress: Array<Run>
  readonly before: Array<Run>
  readonly theirs: Array<Run>
  readonly reference: Array<{ cpuPerGiB: number; mibPerSec: number }>
  /** coreutils dd moving the same bytes between memory and a tmpfs file: the file side's own cost. */
  readonly fileFloor: Array<Run>
  readonly allocatedOurs: Array<number>
  readonly allocatedTheirs: Array<number>
  readonly summaries: Array<{ zeros: string; zeroBytes: number; unreadBytes: number }>
}

const listOf = (r: RowResult, w: "ours" | "progress" | "theirs" | "before"): Array<Run> =>
  w === "theirs" ? r.theirs : w === "progress" ? r.oursProgress : w === "before" ? r.before : r.ours

/** load.ts on disk LUN 1 with dd's transfer size and queue depth: the library's own path, no file. */
const runReference = (s: Setup, write: boolean, seconds: number) =>
  new Promise<{ cpuPerGiB: number; mibPerSec: number }>((resolve, reject) => {
    const job = {
      host: s.host,
      port: s.port,
      iqn: `${Tgt.IQN_PREFIX}:disk`,
      lun: 1,
      queueDepth: 8,
      blockBytes: MiB,
      random: false,
      write,
      digests: false,
      warmupSeconds: 0.5,
      seconds
    }
    const child = spawn(NODE, ["--disable-warning=ExperimentalWarning", LOAD, JSON.stringify(job)], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`load.ts failed (${code})`))
      const f = JSON.parse(out.trim().split("\n").pop()!) as { cpuSeconds: number; bytes: number; mibPerSec: number }
      resolve({ cpuPerGiB: f.cpuSeconds / (f.bytes / GiB), mibPerSec: f.mibPerSec })
    })
  })

/**
 * The file side alone, as dd's copy does it: for LUN → file, `dd if=/dev/zero of=NEW bs=1M` writes
 * the size into a new file; for file → LUN, `dd if=FILE of=/dev/null bs=1M` reads it.
 */
const runFileFloor = async (s: Setup, read: boolean): Promise<Run> => {
  const count = String(Math.round(s.size / MiB))
  if (read) {
    fillRandom(s.file("in.img"), s.size, "floor")
    return timed("dd", [`if=${s.file("in.img")}`, "of=/dev/null", "bs=1M", "status=none"], s.env, 120)
  }
  rm(s.file("floor.img"))
  const r = await timed(
    "dd",
    ["if=/dev/zero", `of=${s.file("floor.img")}`, "bs=1M", `count=${count}`, "status=none"],
    s.env,
    120
  )
  rm(s.file("floor.img"))
  return r
}

/** A tmpfs with room for the run, else the system's temp dir. */
const pickDir = (size: number): { dir: string; tmpfs: boolean } => {
  const TMPFS_MAGIC = 0x01021994
  for (const dir of ["/dev/shm", Os.tmpdir()]) {
    try {
      const st = Fs.statfsSync(dir)
      // two LUNs, a thin LUN, two images and the output at their largest, with room to spare
      if (st.type === TMPFS_MAGIC && st.bavail * st.bsize > 7 * size) return { dir, tmpfs: true }
    } catch {}
  }
  return { dir: Os.tmpdir(), tmpfs: false }
}

// ---- startup ---------------------------------------------------------------------------------------

interface StartupVariant {
  readonly name: string
  readonly title: string
  readonly cmd: string
  readonly args: ReadonlyArray<string>
  readonly env?: NodeJS.ProcessEnv | undefined
}

const startupVariants = (s: Setup, before?: CopyBenchOptions["before"]): ReadonlyArray<StartupVariant> => [
  ...(before !== undefined
    ? [
        {
          name: "help-before",
          title: `\`iscsi --help\` before (${before.label}: the module tree of dist/)`,
          cmd: NODE,
          args: [before.cli, "--help"]
        },
        {
          name: "first-byte-before",
          title: `the same one-piece dd before (${before.label})`,
          cmd: NODE,
          args: [before.cli, "dd", "--if", s.url("disk", 1), "--of", s.file("first.img"), "--bs", "64k", "--count", "1"]
        }
      ]
    : []),
  { name: "node", title: "`node -e 0` (the floor: Node's own start)", cmd: NODE, args: ["-e", "0"] },
  {
    name: "help",
    title: "`iscsi --help` (the bundle, dist/bin)",
    cmd: NODE,
    args: [CLI, "--help"]
  },
  {
    name: "help-tree",
    title: "`node packages/cli/dist/main.js --help` (the same, from the module tree of dist/, no bundle)",
    cmd: NODE,
    args: [Path.join(ROOT, "packages/cli/dist/main.js"), "--help"]
  },
  {
    name: "first-byte",
    title:
      "`iscsi dd --bs 64k --count 1` LUN → file: start, login, READ CAPACITY, the LUN's capabilities, one READ, the file written, exit (an upper bound on the time to the first byte)",
    cmd: NODE,
    args: [CLI, "dd", "--if", s.url("disk", 1), "--of", s.file("first.img"), "--bs", "64k", "--count", "1"]
  },
  { name: "qemu-help", title: "`qemu-img --help`", cmd: "qemu-img", args: ["--help"] },
  {
    name: "qemu-info",
    title: "`qemu-img info URL` (qemu-img's start, login, capacity, exit)",
    cmd: "qemu-img",
    args: ["info", "-f", "raw", s.url("disk", 1)]
  }
]

// ---- main -------------------------------------------------------------------------------------------

/** A private tgtd with 2 GiB LUNs (or `gib`) on a tmpfs, the second target, and the files' directory. */
const withSetup = async <A>(
  o: CopyBenchOptions,
  f: (s: Setup, where: { dir: string; tmpfs: boolean }) => Promise<A>
) => {
  Tgt.ensureInstalled([{ cmd: "qemu-img", pkg: "qemu-utils" }, { pkg: "qemu-block-extra" }])
  const size = Math.round(o.gib * GiB)
  const where = pickDir(size)
  const instance = await Tgt.start({ targets: ["disk"], lunSize: size, dir: where.dir })
  const info = instance.info
  // Ctrl-C: stop the private tgtd and remove its files (gigabytes on a tmpfs) before exiting
  const interrupted = () => {
    void instance.stop().then(() => process.exit(130))
  }
  process.once("SIGINT", interrupted)
  process.once("SIGTERM", interrupted)
  try {
    // a second target with tgt's defaults and one file LUN, for LUN → LUN
    const copyLun = Path.join(info.workDir, "copy-lun1.img")
    Fs.writeFileSync(copyLun, "")
    punch(copyLun, size)
    instance.tgtadm(["--mode", "target", "--op", "new", "--tid", "5", "--targetname", IQN])
    instance.tgtadm(["--mode", "logicalunit", "--op", "new", "--tid", "5", "--lun", "1", "--backing-store", copyLun])
    instance.tgtadm(["--mode", "target", "--op", "bind", "--tid", "5", "--initiator-address", "ALL"])
    const files = Path.join(info.workDir, "bench")
    Fs.mkdirSync(files)
    const s: Setup = {
      size,
      dir: where.dir,
      host: info.host,
      port: info.port,
      url: (t, lun) => `iscsi://${info.host}:${info.port}/${t === "disk" ? info.targets.disk.iqn : IQN}/${lun}`,
      backing: (t, lun) => (t === "copy" ? copyLun : info.targets.disk.luns.find((l) => l.lun === lun)!.path!),
      file: (name) => Path.join(files, name),
      sparse: sparseBlocks(size),
      // the bundle from the build at the start of `npm run bench`
      env: { ...process.env, ISCSI_CLI_DIST: "1" }
    }
    return await f(s, where)
  } finally {
    process.off("SIGINT", interrupted)
    process.off("SIGTERM", interrupted)
    await instance.stop()
  }
}

/**
 * `--copy-sweep`: our dd alone, LUN → file and file → LUN, over transfer sizes and queue depths, in
 * rotating order: where the defaults (--bs, --qd) come from.
 */
export const runCopySweep = (o: CopyBenchOptions): Promise<string> =>
  withSetup(o, async (s) => {
    const sizes = ["256k", "512k", "1M", "2M", "4M"]
    const depths = [4, 8, 16]
    const configs = sizes.flatMap((bs) => depths.map((qd) => ({ bs, qd })))
    const out = new Map<string, { read: Array<Run>; write: Array<Run> }>(
      configs.map((c) => [`${c.bs} ${c.qd}`, { read: [], write: [] }])
    )
    let k = 0
    for (let round = 0; round < o.rounds; round++) {
      for (let i = 0; i < configs.length; i++) {
        const c = configs[(i + round * 7) % configs.length]!
        const flags = ["--bs", c.bs, "--qd", String(c.qd)]
        fillRandom(s.backing("disk", 1), s.size, `lun ${k++}`)
        rm(s.file("out.img"))
        const side = dd(s.url("disk", 1), s.file("out.img"))
        const r = await timed(side.cmd, [...side.args, ...flags], s.env, o.timeoutSeconds)
        if (!same(s.file("out.img"), s.backing("disk", 1))) throw new Error("sweep: LUN → file differs")
        fillRandom(s.file("in.img"), s.size, `file ${k++}`)
        const side2 = dd(s.file("in.img"), s.url("disk", 1))
        const w = await timed(side2.cmd, [...side2.args, ...flags], s.env, o.timeoutSeconds)
        if (!same(s.backing("disk", 1), s.file("in.img"))) throw new Error("sweep: file → LUN differs")
        out.get(`${c.bs} ${c.qd}`)!.read.push(r)
        out.get(`${c.bs} ${c.qd}`)!.write.push(w)
        console.log(
          `  --bs ${c.bs.padEnd(4)} --qd ${String(c.qd).padEnd(2)}  LUN → file ${mib(s.size, r).toFixed(0).padStart(5)} MiB/s  file → LUN ${mib(s.size, w).toFixed(0).padStart(5)} MiB/s`
        )
      }
    }
    const lines = [
      `## dd transfer size and queue depth (${o.gib} GiB, ${o.rounds} rounds in rotating order; medians, MiB/s of the whole process, CPU s/GiB)`,
      "",
      "| --bs | --qd | LUN → file MiB/s | CPU | file → LUN MiB/s | CPU |",
      "|---|---|---|---|---|---|"
    ]
    for (const c of configs) {
      const v = out.get(`${c.bs} ${c.qd}`)!
      const f = (xs: ReadonlyArray<Run>) =>
        `${median(xs.map((x) => mib(s.size, x))).toFixed(0)} [${xs.map((x) => mib(s.size, x).toFixed(0)).join(", ")}] | ${median(xs.map((x) => cpuPerGiB(s.size, x))).toFixed(2)}`
      lines.push(`| ${c.bs} | ${c.qd} | ${f(v.read)} | ${f(v.write)} |`)
    }
    lines.push(
      "",
      "Commands: `ISCSI_CLI_DIST=1 node packages/cli/bin/iscsi.js dd --if iscsi://127.0.0.1:PORT/IQN/1 --of out.img --bs BS --qd QD --json` and `… dd --if in.img --of iscsi://127.0.0.1:PORT/IQN/1 …` (`npm run bench -- --copy-sweep`).",
      ""
    )
    return lines.join("\n")
  })

export const runCopyBench = (o: CopyBenchOptions): Promise<string> =>
  withSetup(o, async (s, where) => {
    const size = s.size
    writeSparse(s.file("sparse.img"), size, s.sparse)
    console.log(
      `copy rows: ${o.gib} GiB per copy on ${where.tmpfs ? `tmpfs (${where.dir})` : `${where.dir} (no tmpfs with room)`}; tgtd on ${s.host}:${s.port}; ${o.rounds} rounds; mostly-zero image: ${s.sparse.length} of ${size / 4096} 4 KiB blocks hold data`
    )
    const results: Array<RowResult> = []
    let k = 0
    for (const row of rows) {
      if (o.only !== undefined && !o.only.includes(row.name)) continue
      const r: RowResult = {
        row,
        ours: [],
        oursProgress: [],
        before: [],
        theirs: [],
        reference: [],
        fileFloor: [],
        allocatedOurs: [],
        allocatedTheirs: [],
        summaries: []
      }
      const who: Array<"ours" | "progress" | "theirs" | "reference" | "before"> = [
        "ours",
        "theirs",
        ...(o.before !== undefined ? (["before"] as const) : []),
        ...(row.progress === true ? (["progress"] as const) : []),
        ...(row.reference !== undefined ? (["reference"] as const) : [])
      ]
      for (let round = 0; round < o.rounds; round++) {
        for (let i = 0; i < who.length; i++) {
          const w = who[(i + round) % who.length]!
          if (w === "reference") {
            r.reference.push(await runReference(s, row.reference === "write", 3))
            r.fileFloor.push(await runFileFloor(s, row.reference === "write"))
            continue
          }
          row.prepare(s, k++)
          const side = w === "theirs" ? row.theirs(s) : row.ours(s)
          const args =
            w === "progress"
              ? [...side.args, "--progress"]
              : w === "before"
                ? [o.before!.cli, ...side.args.slice(1)]
                : side.args
          const run = await timed(side.cmd, args, s.env, o.timeoutSeconds)
          if (run.timedOut) {
            console.log(`  ${row.name} ${w}: timed out after ${o.timeoutSeconds} s`)
            listOf(r, w).push(run)
            continue
          }
          if (!row.check(s)) throw new Error(`${row.name}: ${w}'s copy differs from its source`)
          if (w === "ours") {
            const j = JSON.parse(run.stdout) as { zeros: string; zeroBytes: number; unreadBytes: number }
            r.summaries.push({ zeros: j.zeros, zeroBytes: j.zeroBytes, unreadBytes: j.unreadBytes })
          }
          if (row.allocated !== undefined && (w === "ours" || w === "theirs"))
            (w === "ours" ? r.allocatedOurs : r.allocatedTheirs).push(row.allocated(s))
          listOf(r, w).push(run)
          console.log(
            `  ${row.name.padEnd(16)} ${w.padEnd(8)} ${mib(size, run).toFixed(0).padStart(5)} MiB/s  ${run.seconds.toFixed(2)} s  cpu ${run.userSeconds.toFixed(2)} u + ${run.systemSeconds.toFixed(2)} s`
          )
        }
      }
      results.push(r)
      rm(s.file("out.img"))
    }
    // startup: every variant `startupRuns` times, in rotating order
    const variants = startupVariants(s, o.before)
    const times = new Map<string, Array<Run>>(variants.map((v) => [v.name, []]))
    for (let i = 0; i < o.startupRuns; i++) {
      for (let j = 0; j < variants.length; j++) {
        const v = variants[(i + j) % variants.length]!
        times.get(v.name)!.push(await timed(v.cmd, v.args, s.env, 30))
      }
    }
    rm(s.file("first.img"))
    return render(o, s, where, results, variants, times)
  })

const render = (
  o: CopyBenchOptions,
  s: Setup,
  where: { dir: string; tmpfs: boolean },
  results: ReadonlyArray<RowResult>,
  variants: ReadonlyArray<StartupVariant>,
  times: ReadonlyMap<string, ReadonlyArray<Run>>
): string => {
  const size = s.size
  const lines: Array<string> = [
    `## Copies: \`iscsi dd\` and \`qemu-img convert\` (${o.gib} GiB)`,
    "",
    `- ${o.rounds} rounds, the order rotating every round; medians, with every round's figure in brackets. MiB/s = bytes / 2^20 / the wall time of the whole process (start, login and exit included).`,
    `- LUNs and files on ${where.tmpfs ? `tmpfs (\`${where.dir}\`)` : `\`${where.dir}\` (no tmpfs with room was found)`}; tgt file LUNs with tgt's default parameters (disk LUN 1: 512-byte blocks, no provisioning; LUN 4: the same, thin_provisioning=1; a second target for LUN → LUN).`,
    `- Mostly-zero image: ${s.sparse.length} of ${size / 4096} 4 KiB blocks (1 %) hold random data, at places from a fixed seed; a sparse file.`,
    "- Every copy is checked with `cmp` against its source after the run. CPU = user + system seconds (bash `times`) per GiB copied.",
    `- qemu-img ${qemuVersion()}; our dd: \`ISCSI_CLI_DIST=1 node packages/cli/bin/iscsi.js dd --if SRC --of DST --json\` (defaults: --bs 1M, --qd 8).`,
    "",
    `| copy | ours MiB/s | qemu-img MiB/s | ours/qemu-img (rounds) | ours CPU s/GiB (user + sys) | qemu-img CPU s/GiB | library bench path CPU s/GiB; the file side alone (coreutils dd) | zeros |${o.before !== undefined ? ` before (${o.before.label}) MiB/s, CPU s/GiB |` : ""}`,
    `|---|---|---|---|---|---|---|---|${o.before !== undefined ? "---|" : ""}`
  ]
  for (const r of results) {
    const ok = (xs: ReadonlyArray<Run>) => xs.filter((x) => !x.timedOut)
    const ours = ok(r.ours)
    const theirs = ok(r.theirs)
    const oursMib = ours.map((x) => mib(size, x))
    const theirsMib = theirs.map((x) => mib(size, x))
    const timedOut = r.theirs.length - theirs.length
    const ratios: Array<number> = []
    for (let i = 0; i < Math.min(r.ours.length, r.theirs.length); i++) {
      const a = r.ours[i]!
      const b = r.theirs[i]!
      if (!a.timedOut) ratios.push(b.timedOut ? Number.POSITIVE_INFINITY : mib(size, a) / mib(size, b))
    }
    const cpu = (xs: ReadonlyArray<Run>) =>
      xs.length === 0
        ? "–"
        : `${median(xs.map((x) => cpuPerGiB(size, x))).toFixed(2)} (${median(xs.map((x) => x.userSeconds / (size / GiB))).toFixed(2)} + ${median(xs.map((x) => x.systemSeconds / (size / GiB))).toFixed(2)})`
    const z = r.summaries[0]
    const zeros =
      z === undefined
        ? "–"
        : `${z.zeros}; ${(z.zeroBytes / MiB).toFixed(0)} MiB not sent${z.unreadBytes > 0 ? `, ${(z.unreadBytes / MiB).toFixed(0)} MiB not read` : ""}${
            r.allocatedOurs.length > 0
              ? `; allocated after: ours ${(median(r.allocatedOurs) / MiB).toFixed(0)} MiB, qemu-img ${r.allocatedTheirs.length > 0 ? `${(median(r.allocatedTheirs) / MiB).toFixed(0)} MiB` : "–"}`
              : ""
          }`
    const ratio =
      theirs.length === 0
        ? `> ${(median(oursMib) / (size / MiB / o.timeoutSeconds)).toFixed(0)}× (qemu-img timed out after ${o.timeoutSeconds} s)`
        : `${(median(oursMib) / median(theirsMib)).toFixed(2)}× (${range(ratios.filter(Number.isFinite), 2)})`
    lines.push(
      `| ${r.row.title} | ${median(oursMib).toFixed(0)} [${oursMib.map((x) => x.toFixed(0)).join(", ")}] | ${theirs.length > 0 ? `${median(theirsMib).toFixed(0)} [${theirsMib.map((x) => x.toFixed(0)).join(", ")}]` : "–"}${timedOut > 0 ? ` (${timedOut} timed out after ${o.timeoutSeconds} s)` : ""} | ${ratio} | ${cpu(ours)} | ${cpu(theirs)} | ${r.reference.length > 0 ? `${median(r.reference.map((x) => x.cpuPerGiB)).toFixed(2)} (load.ts ${r.row.reference} 1 MiB QD8, ${median(r.reference.map((x) => x.mibPerSec)).toFixed(0)} MiB/s); file side alone ${median(r.fileFloor.map((x) => cpuPerGiB(size, x))).toFixed(2)}` : "–"} | ${zeros} |${
        o.before !== undefined
          ? (
              () => {
                const b = ok(r.before)
                const bm = b.map((x) => mib(size, x))
                return ` ${median(bm).toFixed(0)} [${bm.map((x) => x.toFixed(0)).join(", ")}], ${cpu(b)} |`
              }
            )()
          : ""
      }`
    )
  }
  const withProgress = results.filter((r) => r.oursProgress.length > 0)
  if (withProgress.length > 0) {
    lines.push("")
    for (const r of withProgress) {
      const on = r.oursProgress.filter((x) => !x.timedOut).map((x) => mib(size, x))
      const off = r.ours.filter((x) => !x.timedOut).map((x) => mib(size, x))
      lines.push(
        `- Progress line on (\`--progress\`, redrawn every 200 ms on stderr) vs off, ${r.row.title}, same rounds: ${median(on).toFixed(0)} [${on.map((x) => x.toFixed(0)).join(", ")}] vs ${median(off).toFixed(0)} [${off.map((x) => x.toFixed(0)).join(", ")}] MiB/s`
      )
    }
  }
  lines.push(
    "",
    `### Startup (${o.startupRuns} runs each, in rotating order; wall time from spawn to exit, CPU = user + system)`,
    "",
    "| process | wall median (min–max) ms | CPU median ms |",
    "|---|---|---|"
  )
  for (const v of variants) {
    const xs = times.get(v.name) ?? []
    const wall = xs.map((x) => x.seconds * 1000)
    lines.push(
      `| ${v.title} | ${median(wall).toFixed(0)} (${range(wall)}) | ${median(xs.map((x) => (x.userSeconds + x.systemSeconds) * 1000)).toFixed(0)} |`
    )
  }
  lines.push(
    "",
    "Commands (PORT = the private tgtd's port, IQN = iqn.2026-11.io.effect-iscsi:disk, COPY = iqn.2026-11.io.effect-iscsi:copy; `npm run bench -- --copy` runs only these rows):",
    ""
  )
  const show = (side: Side) =>
    [side.cmd === NODE ? "ISCSI_CLI_DIST=1 node" : side.cmd, ...side.args]
      .map((a) =>
        a
          .replace(`${ROOT}/`, "")
          .replace(/iscsi:\/\/127\.0\.0\.1:\d+\/iqn\.2026-11\.io\.effect-iscsi:disk/, "iscsi://127.0.0.1:PORT/IQN")
          .replace(/iscsi:\/\/127\.0\.0\.1:\d+\/iqn\.2026-11\.io\.effect-iscsi:copy/, "iscsi://127.0.0.1:PORT/COPY")
          .replace(/^.*\/bench\//, "")
      )
      .join(" ")
  for (const r of results) {
    lines.push(`- ${r.row.name}: \`${show(r.row.ours(s))}\`; \`${show(r.row.theirs(s))}\``)
  }
  lines.push(
    "- the file side alone: `dd if=/dev/zero of=floor.img bs=1M count=SIZE_IN_MiB status=none` (a new file, as LUN → file writes one) and `dd if=in.img of=/dev/null bs=1M status=none`"
  )
  lines.push(
    `- library bench path: \`node packages/node-transport/benchmark/load.ts '{"iqn":"iqn.2026-11.io.effect-iscsi:disk","lun":1,"queueDepth":8,"blockBytes":1048576,"random":false,"write":false,"digests":false,"warmupSeconds":0.5,"seconds":3,"host":"127.0.0.1","port":PORT}'\` (and \`"write":true\`)`
  )
  for (const v of variants) lines.push(`- startup ${v.name}: \`${show({ cmd: v.cmd, args: v.args })}\``)
  lines.push("")
  return lines.join("\n")
}

const qemuVersion = () => {
  try {
    return /version ([^\s]+)/.exec(spawnSync("qemu-img", ["--version"], { encoding: "utf8" }).stdout)?.[1] ?? "?"
  } catch {
    return "?"
  }
}
