/**
 * What every private server of the harness (tgtd, isnsd, …) needs: spawn it in its own process
 * group with its output in a log in its work dir, record who owns it (`owner.json`), kill the
 * group if this process exits first, wait until it is ready, stop it by pid, and reap the ones
 * whose owner died without stopping them. Never touches a process it did not start.
 */
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Does something accept TCP connections on host:port? */
export const portOpen = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = Net.connect({ host, port })
    s.once("connect", () => {
      s.destroy()
      resolve(true)
    })
    s.once("error", () => resolve(false))
  })

/** Signal the process group of `pid` and wait (at most `waitMs`) for `pid` to be gone. */
export const killGroup = async (pid: number, signal: NodeJS.Signals, waitMs = 2000): Promise<void> => {
  try {
    process.kill(-pid, signal)
  } catch {}
  for (let i = 0; i < waitMs / 20 && isAlive(pid); i++) await sleep(20)
}

/** Write who owns the work dir (this process) and which pid it started (0: none yet). */
export const writeOwner = (workDir: string, pid: number): void =>
  Fs.writeFileSync(Path.join(workDir, "owner.json"), JSON.stringify({ owner: process.pid, pid }))

/** Reap the work dirs under `root` whose owner process died (killing their server by pid group). */
export const reapStale = (root: string): void => {
  if (!Fs.existsSync(root)) return
  for (const dir of Fs.readdirSync(root)) {
    const full = Path.join(root, dir)
    try {
      const meta = JSON.parse(Fs.readFileSync(Path.join(full, "owner.json"), "utf8")) as {
        owner: number
        pid: number
      }
      if (isAlive(meta.owner)) continue
      if (meta.pid > 0 && isAlive(meta.pid)) {
        try {
          process.kill(-meta.pid, "SIGKILL")
        } catch {
          try {
            process.kill(meta.pid, "SIGKILL")
          } catch {}
        }
      }
      Fs.rmSync(full, { recursive: true, force: true })
    } catch {
      // a dir being created by a live run, or not ours: leave it
    }
  }
}

/** A server this process started. */
export interface Spawned {
  readonly pid: number
  /** The exit hook that kills the group if this process ends first (take it off with `process.off`). */
  readonly onExit: () => void
}

export interface SpawnOptions {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly workDir: string
  /** Log file name in the work dir (stdout and stderr; appended). */
  readonly log: string
  /** A file to give as stdin (default: none). */
  readonly stdin?: string | undefined
  /** Print the server's output instead of logging it. */
  readonly verbose?: boolean | undefined
  /** Working directory (default: this process's). */
  readonly cwd?: string | undefined
  /** Ready when this says so (polled every 50 ms while the server lives, for at most `readyTimeoutMs`). */
  readonly ready: () => Promise<boolean>
  /** Default 5000 ms. */
  readonly readyTimeoutMs?: number | undefined
}

/** Spawn a server in its own process group and wait until it is ready; undefined when it never is. */
export const spawnDaemon = async (options: SpawnOptions): Promise<Spawned | undefined> => {
  const stdin = options.stdin === undefined ? "ignore" : Fs.openSync(options.stdin, "r")
  const log = Fs.openSync(Path.join(options.workDir, options.log), "a")
  const out = options.verbose === true ? "inherit" : log
  const child = spawn(options.command, [...options.args], {
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    detached: true, // own process group: stopping kills the group
    stdio: [stdin, out, out]
  })
  if (typeof stdin === "number") Fs.closeSync(stdin)
  Fs.closeSync(log)
  child.unref()
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not spawn ${options.command}`)
  writeOwner(options.workDir, pid)
  const onExit = () => {
    try {
      process.kill(-pid, "SIGKILL")
    } catch {}
  }
  process.on("exit", onExit)
  for (let i = 0; i < (options.readyTimeoutMs ?? 5000) / 50 && isAlive(pid); i++) {
    await sleep(50)
    try {
      if (await options.ready()) return { pid, onExit }
    } catch {}
  }
  process.off("exit", onExit)
  await killGroup(pid, "SIGKILL", 1000)
  return undefined
}
