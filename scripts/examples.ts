/**
 * `npm run test:examples`: run every program in examples/ against a private tgtd, as the README
 * says to run them (`npm run example -- examples/NAME.ts ARGS`), and check what each one did against
 * the target's backing files. CI runs it; `npm run typecheck` type-checks the examples.
 */
import { Tgt } from "@effect-iscsi/testing"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = fileURLToPath(new URL("..", import.meta.url))

const run = (example: string, args: ReadonlyArray<string>): unknown => {
  const started = Date.now()
  const r = spawnSync("tsx", ["--conditions=source", Path.join("examples", example), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000
  })
  if (r.status !== 0) {
    process.stdout.write(r.stdout ?? "")
    process.stderr.write(r.stderr ?? "")
    throw new Error(`${example} exited with ${r.status ?? r.signal}`)
  }
  const last = r.stdout.trim().split("\n").at(-1) ?? ""
  console.log(`${example} (${Date.now() - started} ms): ${last}`)
  return JSON.parse(last)
}

const check = (what: string, ok: boolean) => {
  if (!ok) throw new Error(`${what}: not as expected`)
  console.log(`  ok: ${what}`)
}

const sameFiles = (a: string, b: string, bytes: number) => {
  const x = Buffer.alloc(bytes)
  const y = Buffer.alloc(bytes)
  const fa = Fs.openSync(a, "r")
  const fb = Fs.openSync(b, "r")
  Fs.readSync(fa, x, 0, bytes, 0)
  Fs.readSync(fb, y, 0, bytes, 0)
  Fs.closeSync(fa)
  Fs.closeSync(fb)
  return x.equals(y)
}

const target = await Tgt.start({ targets: ["disk", "tuned"], lunSize: 32 * 1024 * 1024 })
const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-iscsi-examples-"))
let failed = false
try {
  const { portal, targets } = target.info
  const disk = targets.disk.luns.find((l) => l.lun === 1)!
  const tuned = targets.tuned.luns.find((l) => l.lun === 1)!
  const diskUrl = `iscsi://${portal}/${targets.disk.iqn}/1`
  const tunedUrl = `iscsi://${portal}/${targets.tuned.iqn}/1`
  // something worth copying: random bytes at the start, the middle and the end of the source LUN
  const fd = Fs.openSync(disk.path!, "r+")
  for (const at of [0, disk.size / 2, disk.size - 1024 * 1024])
    Fs.writeSync(fd, randomBytes(1024 * 1024), 0, 1024 * 1024, at)
  Fs.closeSync(fd)

  const copied = run("copy-lun.ts", [diskUrl, tunedUrl]) as { bytes: number }
  check("copy-lun copied the whole LUN", copied.bytes === disk.size)
  check("copy-lun: the destination's backing file equals the source's", sameFiles(disk.path!, tuned.path!, disk.size))

  const image = Path.join(work, "disk.img")
  const backup = run("backup-to-file.ts", [diskUrl, image]) as { bytes: number }
  check("backup-to-file wrote the whole LUN", backup.bytes === disk.size && Fs.statSync(image).size === disk.size)
  check("backup-to-file: the file equals the backing file", sameFiles(disk.path!, image, disk.size))

  const pools = run("two-pools.ts", [diskUrl]) as {
    a: { isid: string; logins: number }
    b: { isid: string; logins: number }
    distinctIsids: boolean
  }
  check(
    "two-pools: two sessions, two ISIDs, neither replaced",
    pools.distinctIsids && pools.a.logins === 1 && pools.b.logins === 1
  )

  const raw = run("raw-cdb.ts", [diskUrl]) as { capacity: { lastLba: number; blockSize: number }; refused: string }
  check(
    "raw-cdb: READ CAPACITY (10) by hand",
    raw.capacity.blockSize === 512 && raw.capacity.lastLba === disk.size / 512 - 1
  )
  check("raw-cdb: an unknown opcode is a typed ILLEGAL REQUEST", raw.refused.startsWith("ILLEGAL REQUEST"))

  // a second portal on the same tgtd (loopback, no setup): two paths to every target
  Tgt.ensurePortal(target.info.controlPort, "127.0.0.2", target.info.port)
  const mp = run("multipath.ts", [diskUrl, `127.0.0.2:${target.info.port}`]) as {
    bytes: number
    same: boolean
    paths: ReadonlyArray<{ portal: string; state: string; commands: number }>
  }
  check(
    "multipath: two active paths, both carried I/O, the data read back",
    mp.same && mp.paths.length === 2 && mp.paths.every((p) => p.state === "active" && p.commands >= 16)
  )
  check(
    "multipath: the data is in the backing file",
    (() => {
      const b = Buffer.alloc(mp.bytes)
      const f = Fs.openSync(disk.path!, "r")
      Fs.readSync(f, b, 0, mp.bytes, 0)
      Fs.closeSync(f)
      return b.every((x, i) => x === ((i * 31 + (i >> 12)) & 0xff))
    })()
  )

  const aborted = run("abort-signal.ts", [diskUrl]) as { outcome: string; nextRead: number }
  check(
    "abort-signal: the job was cancelled and the runtime kept serving",
    aborted.outcome.startsWith("cancelled") && aborted.nextRead === 4096
  )
  console.log("\nexamples passed")
} catch (error) {
  failed = true
  console.error(`\nexamples failed: ${error instanceof Error ? error.message : String(error)}`)
} finally {
  await target.stop()
  Fs.rmSync(work, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
