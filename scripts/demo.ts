/**
 * `npm run demo`: the whole tool on a fresh machine. Starts a private tgtd through the test harness
 * (installing tgt when missing), then runs the `iscsi` command as a child process, the same bin
 * users get: discover → ls → inq → readcap → write a random 1 MiB and read it back (compared
 * byte for byte) → a 5-second bench. Prints each command and its output, and stops the target
 * even when a step fails. It writes only to the demo's own private LUN.
 */
import { Tgt } from "@effect-iscsi/testing"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const BIN = fileURLToPath(new URL("../packages/cli/bin/iscsi.js", import.meta.url))
const tty = process.stdout.isTTY === true
const bold = (s: string) => (tty ? `\u001b[1m${s}\u001b[0m` : s)

/** Run `iscsi ...args`, echo the command line and its output; throw on a non-zero exit. */
const iscsi = (args: ReadonlyArray<string>, input?: Uint8Array): Buffer => {
  console.log(bold(`\n$ iscsi ${args.join(" ")}${input !== undefined ? ` < (${input.length} bytes)` : ""}`))
  const r = spawnSync(process.execPath, [BIN, ...args], {
    input,
    stdio: ["pipe", "pipe", "inherit"],
    maxBuffer: 64 * 1024 * 1024
  })
  const binary = args[0] === "read"
  if (!binary && r.stdout.length > 0) process.stdout.write(r.stdout)
  if (binary) console.log(`(${r.stdout.length} bytes on stdout)`)
  if (r.status !== 0) throw new Error(`iscsi ${args[0]} exited with status ${r.status ?? r.signal}`)
  return r.stdout
}

console.log(bold("Starting a private tgt target on 127.0.0.1 …"))
const target = await Tgt.start({ targets: ["disk"], lunSize: 64 * 1024 * 1024 })
const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "iscsi-demo-"))
let failed = false
try {
  const { host, port } = target.info
  const disk = target.info.targets.disk
  const lun = disk.luns.find((l) => l.lun === 1)!
  const url = `iscsi://${host}:${port}/${disk.iqn}/${lun.lun}`
  console.log(`target ${disk.iqn} on ${host}:${port}, LUN ${lun.lun}: ${lun.size} bytes backed by ${lun.path}`)

  iscsi(["discover", `${host}:${port}`])
  iscsi(["ls", `iscsi://${host}:${port}/`])
  iscsi(["inq", url])
  iscsi(["readcap", url, "--json"])

  const data = randomBytes(1024 * 1024)
  const lba = 2048
  const blocks = data.length / lun.blockSize
  const file = Path.join(work, "random.bin")
  Fs.writeFileSync(file, data)
  iscsi(["write", url, "--lba", String(lba), "-i", file])
  const back = iscsi(["read", url, "--lba", String(lba), "--blocks", String(blocks)])
  if (!back.equals(data)) throw new Error("read back differs from what was written")
  const fd = Fs.openSync(lun.path!, "r")
  const onDisk = Buffer.alloc(data.length)
  Fs.readSync(fd, onDisk, 0, data.length, lba * lun.blockSize)
  Fs.closeSync(fd)
  if (!onDisk.equals(data)) throw new Error("the backing file differs from what was written")
  console.log(`read back ${back.length} bytes: identical to what was written, and to the target's backing file`)

  iscsi(["bench", url, "--duration", "5", "--qd", "16", "--random"])
  console.log(bold("\nDemo done."))
} catch (error) {
  failed = true
  console.error(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`)
} finally {
  await target.stop()
  Fs.rmSync(work, { recursive: true, force: true })
  console.log("target stopped")
}
process.exit(failed ? 1 : 0)
