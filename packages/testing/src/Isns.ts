/**
 * A private open-isns `isnsd` (Debian `open-isns-server`, an RFC 4171 iSNS server) on loopback,
 * for the iSNS tests and the golden capture.
 *
 * `start()` installs open-isns when `isnsd` or `isnsadm` is missing (apt-get, as root), writes a
 * private config in its own work dir (`BindAddress = 127.0.0.1:PORT` on a free port, its own
 * `Database`, `PIDFile` and `ControlSocket`, `Security = 0`, `SLPRegister = 0`,
 * `DefaultDiscoveryDomain = 1` so that every node sees every other), and runs `isnsd -f -c CONF`
 * in its own process group. `register()` adds entities with `isnsadm -c CONF --local --register …`
 * (over the private control socket: root only). `stop()` sends SIGTERM to exactly the pid it
 * started (isnsd takes about 2 s to exit), SIGKILL after 3 s, and removes the work dir. A pid file
 * in the work dir lets a later run reap an instance whose owner died without stopping it; other
 * isnsd instances are never touched.
 *
 * Facts and pitfalls (../../../../shared/TARGETS.md): isnsd registers a default portal group with
 * tag 1 for every portal/target pair of an entity registered together; it answers IPv4 portal
 * addresses as `::a.b.c.d`. tgt's own iSNS client is not used (it wedges tgtd with two targets and
 * isnsd rejects it with two portals): the harness registers tgt's targets itself.
 *
 * Not here: anything of the protocol (core's `Isns`, `IsnsClient`).
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { isAlive, killGroup, portOpen, reapStale, spawnDaemon, writeOwner } from "./internal/daemon.ts"
import { ensureInstalled, freePort } from "./Tgt.ts"

export interface IsnsInfo {
  readonly host: string
  readonly port: number
  /** `host:port` */
  readonly server: string
  readonly pid: number
  readonly workDir: string
  /** The private config (`isnsd -c`, `isnsadm -c`). */
  readonly config: string
}

/** One network entity to register: its portals and the iSCSI targets reachable through all of them. */
export interface Entity {
  readonly entity: string
  readonly portals: ReadonlyArray<{ readonly host: string; readonly port: number }>
  readonly targets: ReadonlyArray<{ readonly name: string; readonly alias?: string | undefined }>
}

export interface StartOptions {
  /** Also print isnsd's output (default false). */
  readonly verbose?: boolean
}

const HOST = "127.0.0.1"
const ROOT = Path.join(Os.tmpdir(), "effect-iscsi-isns")
/** The iSCSI name isnsd and isnsadm use as their own source name. */
export const SOURCE_NAME = "iqn.2026-11.io.effect-iscsi:isnsd"

/** Install open-isns (server and utils) when missing. */
export const ensure = (): void =>
  ensureInstalled([
    { cmd: "isnsd", pkg: "open-isns-server" },
    { cmd: "isnsadm", pkg: "open-isns-utils" }
  ])

const configText = (workDir: string, port: number): string =>
  [
    `SourceName = ${SOURCE_NAME}`,
    `BindAddress = ${HOST}:${port}`,
    `ServerAddress = ${HOST}:${port}`,
    `Database = ${Path.join(workDir, "db")}`,
    `PIDFile = ${Path.join(workDir, "isnsd.pid")}`,
    `ControlSocket = ${Path.join(workDir, "control")}`,
    "Security = 0",
    "SLPRegister = 0",
    "DefaultDiscoveryDomain = 1",
    ""
  ].join("\n")

/** Run isnsadm against one instance (local control socket); returns stdout, throws with stderr on failure. */
export const isnsadm = (config: string, args: ReadonlyArray<string>): string =>
  execFileSync("isnsadm", ["-c", config, "--local", ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 20_000
  })

/** A running private isnsd. */
export class IsnsInstance {
  private stopped = false
  constructor(
    readonly info: IsnsInfo,
    private readonly onExit: () => void
  ) {}

  isnsadm(args: ReadonlyArray<string>): string {
    return isnsadm(this.info.config, args)
  }

  /** Register an entity with its portals and targets (isnsd adds a portal group, tag 1, per pair). */
  register(entity: Entity): void {
    const args = [
      "--register",
      `entity=${entity.entity}`,
      ...entity.portals.map((p) => `portal=${p.host.includes(":") ? `[${p.host}]` : p.host}:${p.port}`),
      ...entity.targets.map((t) => (t.alias !== undefined ? `target=${t.name},alias=${t.alias}` : `target=${t.name}`))
    ]
    const out = this.isnsadm(args)
    if (!out.includes("Successfully registered")) throw new Error(`isnsadm --register: ${out}`)
  }

  /** Stop isnsd (SIGTERM, then SIGKILL after 3 s) and remove the work dir. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    process.off("exit", this.onExit)
    await killGroup(this.info.pid, "SIGTERM", 3000)
    if (isAlive(this.info.pid)) await killGroup(this.info.pid, "SIGKILL", 1000)
    Fs.rmSync(this.info.workDir, { recursive: true, force: true })
  }
}

/** Start a private isnsd on a free loopback port (nothing registered yet). */
export const start = async (options: StartOptions = {}): Promise<IsnsInstance> => {
  ensure()
  reapStale(ROOT)
  Fs.mkdirSync(ROOT, { recursive: true })
  const workDir = Fs.mkdtempSync(Path.join(ROOT, "run-"))
  writeOwner(workDir, 0)
  Fs.mkdirSync(Path.join(workDir, "db"))
  const config = Path.join(workDir, "isnsd.conf")
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    Fs.writeFileSync(config, configText(workDir, port))
    const spawned = await spawnDaemon({
      command: "isnsd",
      args: ["-f", "-c", config],
      workDir,
      log: "isnsd.log",
      verbose: options.verbose,
      ready: async () => Fs.existsSync(Path.join(workDir, "control")) && (await portOpen(HOST, port))
    })
    if (spawned !== undefined) {
      return new IsnsInstance(
        { host: HOST, port, server: `${HOST}:${port}`, pid: spawned.pid, workDir, config },
        spawned.onExit
      )
    }
  }
  const log = Fs.readFileSync(Path.join(workDir, "isnsd.log"), "utf8")
  Fs.rmSync(workDir, { recursive: true, force: true })
  throw new Error(`isnsd did not become ready (log: ${log})`)
}
