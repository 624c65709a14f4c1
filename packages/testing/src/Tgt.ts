/**
 * A private Debian `tgtd` (the Linux SCSI target framework, user space) on loopback, for tests,
 * benchmarks and the demo.
 *
 * `start()` installs tgt when `tgtd` is missing (apt-get, as root), picks a free loopback portal port
 * and a free control port, starts `tgtd -f` in its own process group with its own work dir, and
 * configures the standard set of targets (see {@link TgtTargets}). `stop()` kills exactly the pid it
 * started (never another tgtd) and removes the work dir. A pid file in the work dir lets a later run
 * reap an instance whose owner died without stopping it.
 *
 * Facts and pitfalls: ../../../../shared/TARGETS.md (stdin must be a regular empty file, not
 * /dev/null; LUN 0 is tgt's controller; thin provisioning is a per-LUN param; digests are accepted
 * when the target's HeaderDigest/DataDigest is set to CRC32C).
 *
 * Not here: anything iSCSI. This module only drives tgtd and tgtadm.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import {
  isAlive,
  killGroup,
  portOpen,
  reapStale,
  type Spawned,
  sleep,
  spawnDaemon,
  writeOwner
} from "./internal/daemon.ts"

/** One LUN as the tests see it. */
export interface TgtLun {
  readonly lun: number
  readonly kind: "file" | "null" | "thin"
  readonly blockSize: number
  /** Size in bytes. */
  readonly size: number
  /** The backing file (the oracle for what the initiator wrote); undefined for a null LUN. */
  readonly path?: string | undefined
}

export interface TgtTarget {
  readonly tid: number
  readonly iqn: string
  readonly luns: ReadonlyArray<TgtLun>
  /** iSCSI parameters set on the target (tgtadm --name KEY --value V). */
  readonly params: Readonly<Record<string, string>>
  /** One-way CHAP: the initiator's user name and secret. */
  readonly chap?: { readonly user: string; readonly secret: string } | undefined
  /** Mutual CHAP: the target's own user name and secret (tgtadm --outgoing). */
  readonly mutualChap?: { readonly user: string; readonly secret: string } | undefined
}

/** The standard targets every test run gets. */
export interface TgtTargets {
  /** 512 B file LUN 1, 4096 B file LUN 2, null LUN 3, thin-provisioned 512 B file LUN 4. Defaults. */
  readonly disk: TgtTarget
  /** One-way CHAP, one 512 B file LUN. */
  readonly chap: TgtTarget
  /** Mutual CHAP, one 512 B file LUN. */
  readonly mutual: TgtTarget
  /**
   * MaxConnections=4, InitialR2T=No, large MaxRecvDataSegmentLength/MaxBurstLength,
   * MaxOutstandingR2T=4, CRC32C digests accepted. File LUN 1 (512 B), null LUN 2.
   */
  readonly tuned: TgtTarget
}

/** What the global setup hands to tests (JSON-serializable). */
export interface TgtInfo {
  readonly host: string
  readonly port: number
  /** `host:port` */
  readonly portal: string
  /** tgtd's control port (`tgtadm -C`). */
  readonly controlPort: number
  readonly pid: number
  readonly workDir: string
  readonly targets: TgtTargets
}

export interface StartOptions {
  /** Bytes per file LUN (default 64 MiB). */
  readonly lunSize?: number
  /** Also print tgtd's output (default false). */
  readonly verbose?: boolean
  /** Only the targets needed by a benchmark (default: all). */
  readonly targets?: ReadonlyArray<keyof TgtTargets>
  /**
   * Directory for the work dir and the LUNs' backing files (default: `os.tmpdir()`); e.g. a tmpfs
   * such as `/dev/shm` for benchmarks that must not measure a disk.
   */
  readonly dir?: string | undefined
}

export const IQN_PREFIX = "iqn.2026-11.io.effect-iscsi"
const HOST = "127.0.0.1"
const RUN_DIR = "/var/run/tgtd"
const rootOf = (dir: string) => Path.join(dir, "effect-iscsi-tgt")
const ROOT = rootOf(Os.tmpdir())

const which = (cmd: string): boolean =>
  spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0 || Fs.existsSync(`/usr/sbin/${cmd}`)

/** dpkg says the package is installed. */
const dpkgInstalled = (pkg: string): boolean =>
  spawnSync("dpkg-query", ["-W", "-f=$" + "{db:Status-Status}", pkg], { encoding: "utf8" }).stdout === "installed"

/**
 * Install Debian packages when a command is missing, or (no `cmd`: a package of libraries or
 * plugins, e.g. `qemu-block-extra`) when dpkg does not list the package as installed (needs root).
 * Runs `apt-get update` once. Throws with a clear message when it can't.
 */
export const ensureInstalled = (
  pkgs: ReadonlyArray<{ readonly cmd?: string | undefined; readonly pkg: string }>
): void => {
  const missing = pkgs.filter((p) => (p.cmd !== undefined ? !which(p.cmd) : !dpkgInstalled(p.pkg))).map((p) => p.pkg)
  if (missing.length === 0) return
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${missing.join(", ")}: install with 'sudo apt-get install -y ${missing.join(" ")}'`)
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  execFileSync("apt-get", ["update", "-qq"], { stdio: "ignore", env })
  execFileSync("apt-get", ["install", "-y", "-qq", ...missing], { stdio: "ignore", env })
}

/** A free TCP port on loopback (bound then released). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = Net.createServer()
    srv.unref()
    srv.on("error", reject)
    srv.listen(0, HOST, () => {
      const addr = srv.address()
      const port = typeof addr === "object" && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })

/** Run tgtadm against one instance; returns stdout, throws with stderr on failure. */
export const tgtadm = (controlPort: number, args: ReadonlyArray<string>): string =>
  execFileSync("tgtadm", ["-C", String(controlPort), "--lld", "iscsi", ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"]
  })

const freeControlPort = (): number => {
  for (let i = 0; i < 1000; i++) {
    // tgtd accepts control ports up to 32767
    const n = 2000 + Math.floor(Math.random() * 30000)
    if (!Fs.existsSync(Path.join(RUN_DIR, `socket.${n}`)) && !Fs.existsSync(Path.join(RUN_DIR, `socket.${n}.lock`))) {
      return n
    }
  }
  throw new Error("no free tgtd control port")
}

/** A running private tgtd. */
export class TgtInstance {
  private stopped = false
  private current: { pid: number; onExit: () => void }
  constructor(
    private infoValue: TgtInfo,
    onExit: () => void,
    private readonly setup: {
      readonly lunSize: number
      readonly wanted: ReadonlySet<keyof TgtTargets>
      readonly verbose: boolean
    }
  ) {
    this.current = { pid: infoValue.pid, onExit }
  }

  get info(): TgtInfo {
    return this.infoValue
  }

  get controlPort(): number {
    return this.infoValue.controlPort
  }

  tgtadm(args: ReadonlyArray<string>): string {
    return tgtadm(this.infoValue.controlPort, args)
  }

  /** `tgtadm --mode conn --op show` style session listing for a target. */
  sessions(tid: number): string {
    return this.tgtadm(["--mode", "conn", "--op", "show", "--tid", String(tid)])
  }

  /** Kill tgtd abruptly (SIGKILL: a crash, no logout, no FIN from the target's side beyond the kernel's). */
  async kill(): Promise<void> {
    process.off("exit", this.current.onExit)
    await killGroup(this.current.pid, "SIGKILL")
    for (const f of [`socket.${this.infoValue.controlPort}`, `socket.${this.infoValue.controlPort}.lock`]) {
      Fs.rmSync(Path.join(RUN_DIR, f), { force: true })
    }
  }

  /**
   * Start tgtd again (after `kill`, or killing it now) on the same portal and control port with the
   * same targets and the same backing files (their content is kept).
   */
  async restart(): Promise<void> {
    if (isAlive(this.current.pid)) await this.kill()
    for (let attempt = 0; attempt < 20; attempt++) {
      const spawned = await spawnTgtd(
        this.infoValue.workDir,
        this.infoValue.port,
        this.infoValue.controlPort,
        this.setup.verbose
      )
      if (spawned !== undefined) {
        configure(this.infoValue.controlPort, this.infoValue.workDir, this.setup.lunSize, this.setup.wanted)
        this.current = spawned
        this.infoValue = { ...this.infoValue, pid: spawned.pid }
        return
      }
      await sleep(100)
    }
    throw new Error("tgtd did not restart on its port")
  }

  /**
   * Delete one target while tgtd runs (`--force`: its sessions are dropped), wait `downMs`, then
   * create it again with the same IQN, LUNs and backing files (their content is kept) — as an
   * administrator who removes and re-creates a target does. Logins meanwhile fail with 02/03.
   */
  async recreateTarget(name: keyof TgtTargets, downMs: number): Promise<void> {
    const t = this.infoValue.targets[name]
    this.tgtadm(["--mode", "target", "--op", "delete", "--force", "--tid", String(t.tid)])
    await sleep(downMs)
    configure(this.infoValue.controlPort, this.infoValue.workDir, this.setup.lunSize, new Set([name]), false)
  }

  /** Stop tgtd (SIGTERM, then SIGKILL after 2 s) and remove the work dir. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    process.off("exit", this.current.onExit)
    const pid = this.current.pid
    await killGroup(pid, "SIGTERM")
    if (isAlive(pid)) await killGroup(pid, "SIGKILL")
    for (const f of [`socket.${this.infoValue.controlPort}`, `socket.${this.infoValue.controlPort}.lock`]) {
      Fs.rmSync(Path.join(RUN_DIR, f), { force: true })
    }
    Fs.rmSync(this.infoValue.workDir, { recursive: true, force: true })
  }
}

/** Spawn `tgtd -f` on a given portal/control port and wait until both answer; undefined if it never does. */
const spawnTgtd = async (
  workDir: string,
  port: number,
  controlPort: number,
  verbose: boolean
): Promise<Spawned | undefined> => {
  const stdinFile = Path.join(workDir, "stdin")
  if (!Fs.existsSync(stdinFile)) Fs.writeFileSync(stdinFile, "")
  return spawnDaemon({
    command: "tgtd",
    args: ["-f", "-C", String(controlPort), "--iscsi", `portal=${HOST}:${port}`],
    workDir,
    log: "tgtd.log",
    // a regular empty file, not /dev/null (TARGETS.md: GET LBA STATUS on a null LUN spins otherwise)
    stdin: stdinFile,
    verbose,
    // ready when the control channel answers and the portal accepts connections
    ready: async () => {
      tgtadm(controlPort, ["--mode", "sys", "--op", "show"])
      return portOpen(HOST, port)
    }
  })
}

/** Start a private tgtd with the standard targets. */
export const start = async (options: StartOptions = {}): Promise<TgtInstance> => {
  ensureInstalled([{ cmd: "tgtd", pkg: "tgt" }])
  const root = options.dir !== undefined ? rootOf(options.dir) : ROOT
  reapStale(root)
  const lunSize = options.lunSize ?? 64 * 1024 * 1024
  const wanted = new Set<keyof TgtTargets>(options.targets ?? ["disk", "chap", "mutual", "tuned"])
  Fs.mkdirSync(RUN_DIR, { recursive: true })
  Fs.mkdirSync(root, { recursive: true })
  const workDir = Fs.mkdtempSync(Path.join(root, "run-"))
  writeOwner(workDir, 0)
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const controlPort = freeControlPort()
    const spawned = await spawnTgtd(workDir, port, controlPort, options.verbose ?? false)
    if (spawned === undefined) continue
    const targets = configure(controlPort, workDir, lunSize, wanted)
    return new TgtInstance(
      { host: HOST, port, portal: `${HOST}:${port}`, controlPort, pid: spawned.pid, workDir, targets },
      spawned.onExit,
      { lunSize, wanted, verbose: options.verbose ?? false }
    )
  }
  const log = Fs.readFileSync(Path.join(workDir, "tgtd.log"), "utf8")
  Fs.rmSync(workDir, { recursive: true, force: true })
  throw new Error(`tgtd did not become ready (log: ${log})`)
}

/** Create a sparse file of `size` bytes; an existing file keeps its content (a restart reuses it). */
const makeFile = (path: string, size: number) => {
  const fd = Fs.openSync(path, Fs.existsSync(path) ? "r+" : "w")
  Fs.ftruncateSync(fd, size)
  Fs.closeSync(fd)
}

const configure = (
  ctl: number,
  workDir: string,
  lunSize: number,
  wanted: ReadonlySet<keyof TgtTargets>,
  accounts = true
): TgtTargets => {
  const run = (args: ReadonlyArray<string>) => tgtadm(ctl, args)
  const newTarget = (tid: number, name: string, params: Record<string, string>) => {
    const iqn = `${IQN_PREFIX}:${name}`
    run(["--mode", "target", "--op", "new", "--tid", String(tid), "--targetname", iqn])
    for (const [k, v] of Object.entries(params)) {
      run(["--mode", "target", "--op", "update", "--tid", String(tid), "--name", k, "--value", v])
    }
    run(["--mode", "target", "--op", "bind", "--tid", String(tid), "--initiator-address", "ALL"])
    return iqn
  }
  const fileLun = (tid: number, lun: number, blockSize: number, kind: "file" | "thin"): TgtLun => {
    const path = Path.join(workDir, `t${tid}-lun${lun}.img`)
    makeFile(path, lunSize)
    const args = ["--mode", "logicalunit", "--op", "new", "--tid", String(tid), "--lun", String(lun)]
    run([...args, "--backing-store", path, "--blocksize", String(blockSize)])
    if (kind === "thin") {
      run([
        "--mode",
        "logicalunit",
        "--op",
        "update",
        "--tid",
        String(tid),
        "--lun",
        String(lun),
        "--params",
        "thin_provisioning=1"
      ])
    }
    return { lun, kind, blockSize, size: lunSize, path }
  }
  const nullLun = (tid: number, lun: number): TgtLun => {
    const args = ["--mode", "logicalunit", "--op", "new", "--tid", String(tid), "--lun", String(lun)]
    run([...args, "--bstype", "null", "--backing-store", "/dev/null"])
    // tgt's null backing store reports a fixed size; READ CAPACITY tells the real one
    return { lun, kind: "null", blockSize: 512, size: 0 }
  }
  const bind = (tid: number, user: string, outgoing: boolean) =>
    run([
      "--mode",
      "account",
      "--op",
      "bind",
      "--tid",
      String(tid),
      "--user",
      user,
      ...(outgoing ? ["--outgoing"] : [])
    ])
  const account = (tid: number, user: string, secret: string, outgoing: boolean) => {
    // accounts are global to tgtd: a re-created target binds the ones that exist
    if (accounts) run(["--mode", "account", "--op", "new", "--user", user, "--password", secret])
    bind(tid, user, outgoing)
  }
  const initiator = { user: "initiator-user", secret: "initiator-secret-1" }
  const empty: TgtTarget = { tid: 0, iqn: "", luns: [], params: {} }

  const disk: TgtTarget = wanted.has("disk")
    ? (() => {
        const iqn = newTarget(1, "disk", {})
        return {
          tid: 1,
          iqn,
          params: {},
          luns: [fileLun(1, 1, 512, "file"), fileLun(1, 2, 4096, "file"), nullLun(1, 3), fileLun(1, 4, 512, "thin")]
        }
      })()
    : empty
  const chap: TgtTarget = wanted.has("chap")
    ? (() => {
        const iqn = newTarget(2, "chap", {})
        const c = initiator
        account(2, c.user, c.secret, false)
        return { tid: 2, iqn, params: {}, luns: [fileLun(2, 1, 512, "file")], chap: c }
      })()
    : empty
  const mutual: TgtTarget = wanted.has("mutual")
    ? (() => {
        const iqn = newTarget(3, "mutual", {})
        // the initiator account is shared with the one-way CHAP target (tgt accounts are global), so
        // one set of credentials logs in everywhere (libiscsi's iscsi-ls -s stops at the first failure)
        const c = initiator
        const t = { user: "target-user", secret: "target-secret-01" }
        bind(3, c.user, false)
        account(3, t.user, t.secret, true)
        return { tid: 3, iqn, params: {}, luns: [fileLun(3, 1, 512, "file")], chap: c, mutualChap: t }
      })()
    : empty
  const tunedParams = {
    MaxConnections: "4",
    InitialR2T: "No",
    ImmediateData: "Yes",
    MaxRecvDataSegmentLength: "262144",
    MaxXmitDataSegmentLength: "262144",
    FirstBurstLength: "262144",
    MaxBurstLength: "1048576",
    MaxOutstandingR2T: "4",
    HeaderDigest: "CRC32C",
    DataDigest: "CRC32C"
  }
  const tuned: TgtTarget = wanted.has("tuned")
    ? (() => {
        const iqn = newTarget(4, "tuned", tunedParams)
        return { tid: 4, iqn, params: tunedParams, luns: [fileLun(4, 1, 512, "file"), nullLun(4, 2)] }
      })()
    : empty
  return { disk, chap, mutual, tuned }
}

/**
 * Give a running tgtd one more portal (`tgtadm --op new --mode portal`), unless it has it already:
 * e.g. `127.0.0.2` on the same port, a second path to every target (loopback, no network setup).
 * Safe to call from several test files at once; the portal lives as long as that tgtd.
 */
export const ensurePortal = (controlPort: number, host: string, port: number): void => {
  const portal = `${host}:${port}`
  const has = () => tgtadm(controlPort, ["--mode", "portal", "--op", "show"]).includes(`Portal: ${portal},`)
  if (has()) return
  try {
    tgtadm(controlPort, ["--mode", "portal", "--op", "new", "--param", `portal=${portal}`])
  } catch (e) {
    if (!has()) throw e
  }
}
