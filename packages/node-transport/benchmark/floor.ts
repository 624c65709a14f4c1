/**
 * The queue-depth-1 latency floor of Node itself on this machine: 4 KiB random READ(10)s one at a
 * time over a plain `net.Socket`, with hand-built SCSI Command PDUs and core's `Framer` for the
 * answers: no session engine, no Effect (`node`), or the same loop with one Effect fiber
 * suspension per command (`effect`: an `Effect.callback` that the socket resumes, what every
 * `Session.execute` costs a caller at least). Compare with load.ts at queue depth 1 and with
 * `iscsi-perf -m 1 -b 8 -r`; see benchmark/RESULTS.md.
 *
 *   node packages/node-transport/benchmark/floor.ts PORT IQN LUN node|effect [SECONDS]
 *
 * Plain login (no CHAP, no digests, straight to full feature phase); the LUN must be < 256 and hold
 * at least 64 MiB of 512-byte blocks. Prints one JSON line.
 */
import * as Framer from "@effect-iscsi/core/Framer"
import * as Pdu from "@effect-iscsi/core/Pdu"
import * as Effect from "effect/Effect"
import * as Net from "node:net"

const port = Number(process.argv[2])
const iqn = process.argv[3]!
const lun = Number(process.argv[4])
const mode = process.argv[5] === "effect" ? "effect" : "node"
const seconds = Number(process.argv[6] ?? 5)
const WARMUP_MS = 1000

const keys = (o: Record<string, string>) =>
  new TextEncoder().encode(
    Object.entries(o)
      .map(([k, v]) => `${k}=${v}\0`)
      .join("")
  )

const socket = Net.connect({ host: "127.0.0.1", port, noDelay: true })
const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
let loggedIn = false
let cmdSN = 1
let statSN = 0
let itt = 1

const send = (lba: number) => {
  const h = Buffer.alloc(48)
  h[0] = 0x01 // SCSI Command
  h[1] = 0xc1 // F, R, Simple
  h[9] = lun // peripheral addressing
  h.writeUInt32BE(itt++, 16)
  h.writeUInt32BE(4096, 20)
  h.writeUInt32BE(cmdSN++, 24)
  h.writeUInt32BE(statSN + 1, 28)
  h[32] = 0x28 // READ(10)
  h.writeUInt32BE(lba, 34)
  h[40] = 8
  socket.write(h)
}

const latencies: Array<number> = []
let t0 = 0
let start = 0
const issue = () => {
  start = performance.now()
  send(Math.floor(Math.random() * 16384) * 8)
}
let resume: ((effect: Effect.Effect<void>) => void) | undefined
const worker = Effect.gen(function* () {
  for (;;) {
    yield* Effect.callback<void>((r) => {
      resume = r
      issue()
    })
  }
})

const finish = () => {
  latencies.sort((a, b) => a - b)
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!
  const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length
  process.stdout.write(
    `${JSON.stringify({ mode, ios: latencies.length, p50Us: +at(50).toFixed(1), p99Us: +at(99).toFixed(1), meanUs: +mean.toFixed(1) })}\n`
  )
  process.exit(0)
}

const completed = () => {
  const now = performance.now()
  if (now - t0 > WARMUP_MS) latencies.push((now - start) * 1000)
  if (now - t0 > WARMUP_MS + seconds * 1000) return finish()
  if (mode === "effect") {
    const r = resume!
    resume = undefined
    r(Effect.void)
  } else issue()
}

socket.on("connect", () => {
  socket.write(
    Pdu.encode({
      _tag: "LoginRequest",
      transit: true,
      continue: false,
      csg: 1,
      nsg: 3,
      versionMax: 0,
      versionMin: 0,
      isid: 0x400000000000 + (process.pid & 0xffff),
      tsih: 0,
      itt: 0,
      cid: 1,
      cmdSN: 1,
      expStatSN: 0,
      data: keys({
        InitiatorName: "iqn.2026-11.io.effect-iscsi:floor",
        TargetName: iqn,
        SessionType: "Normal",
        HeaderDigest: "None",
        DataDigest: "None",
        MaxRecvDataSegmentLength: "262144"
      })
    })
  )
})

socket.on("data", (chunk) => {
  const r = framer.push(chunk)
  if (r._tag === "Failure") throw new Error(r.failure.message)
  for (const pdu of r.success) {
    if (!loggedIn) {
      if (pdu._tag !== "LoginResponse" || pdu.statusClass !== 0) throw new Error("login failed")
      loggedIn = true
      statSN = pdu.statSN
      t0 = performance.now()
      if (mode === "effect") Effect.runFork(worker)
      else issue()
      continue
    }
    if ((pdu._tag === "ScsiDataIn" && pdu.statusPresent) || pdu._tag === "ScsiResponse") {
      statSN = pdu.statSN
      completed()
    }
  }
})
socket.on("error", (e) => {
  process.stderr.write(`${e.message}\n`)
  process.exit(1)
})
