/**
 * The floor of Node itself on this machine: what a bare `net.Socket` loop costs for the same load
 * as load.ts, with no library: hand-built SCSI Command PDUs (READ 10), Data-In headers parsed by
 * hand, the data copied into one buffer per slot, one write per socket read (like our transport),
 * the socket's `onread` into one reused buffer (like our transport). Two modes:
 * - `node`: plain callbacks, nothing else;
 * - `effect`: the same with one Effect fiber per slot that suspends on an `Effect.callback` per
 *   command, what every `Session.execute` costs a caller at least.
 * `npm run bench` runs it next to ours and iscsi-perf for a few scenarios (the "Node floor" rows of
 * benchmark/RESULTS.md): the distance from this floor to ours is the library's own cost; from
 * iscsi-perf to this floor is the runtime's.
 *
 *   node packages/node-transport/benchmark/floor.ts '{"host","port","iqn","lun","queueDepth","blockBytes","random","mode","warmupSeconds","seconds"}'
 *
 * Plain login (no CHAP, no digests, straight to full feature phase; MaxRecvDataSegmentLength 256 KiB
 * so a read of up to 256 KiB comes as one Data-In PDU); the LUN must be < 256 with 512-byte blocks.
 * Prints one JSON line (load.ts's figures that apply).
 */
import * as Effect from "effect/Effect"
import * as Net from "node:net"

interface Job {
  readonly host: string
  readonly port: number
  readonly iqn: string
  readonly lun: number
  readonly queueDepth: number
  readonly blockBytes: number
  readonly random: boolean
  readonly mode: "node" | "effect"
  readonly warmupSeconds: number
  readonly seconds: number
}

const job = JSON.parse(process.argv[2]!) as Job
const BLOCK = 512
const per = job.blockBytes / BLOCK
const slots = Math.floor(131072 / per) // the first 64 MiB of the LUN

const w32 = (b: Uint8Array, o: number, v: number) => {
  b[o] = v >>> 24
  b[o + 1] = v >>> 16
  b[o + 2] = v >>> 8
  b[o + 3] = v
}
const r32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0

let cmdSN = 1
let statSN = 0
let cursor = 0
let loggedIn = false
const buffers = Array.from({ length: job.queueDepth }, () => new Uint8Array(job.blockBytes))
const started = new Float64Array(job.queueDepth)
const out: Array<Uint8Array> = []

const send = (slot: number) => {
  const h = Buffer.alloc(48)
  h[0] = 0x01 // SCSI Command
  h[1] = 0xc1 // F, R, Simple
  h[9] = job.lun // peripheral addressing
  w32(h, 16, slot)
  w32(h, 20, job.blockBytes)
  w32(h, 24, cmdSN++)
  w32(h, 28, statSN + 1)
  h[32] = 0x28 // READ(10)
  w32(h, 34, (job.random ? Math.floor(Math.random() * slots) : cursor++ % slots) * per)
  h[39] = per >> 8
  h[40] = per
  started[slot] = performance.now()
  out.push(h)
}
const flush = () => {
  if (out.length === 1) socket.write(out[0]!)
  else if (out.length > 1) {
    socket.cork()
    for (const b of out) socket.write(b)
    socket.uncork()
  }
  out.length = 0
}

// ---- measurement ---------------------------------------------------------------------------------
const t0 = performance.now()
const warmEnd = t0 + job.warmupSeconds * 1000
const end = warmEnd + job.seconds * 1000
let measuring = false
let mStart = 0
let cpu0 = process.cpuUsage()
let ios = 0
const latencies: Array<number> = []
const finish = () => {
  const cpu = process.cpuUsage(cpu0)
  const seconds = (performance.now() - mStart) / 1000
  latencies.sort((a, b) => a - b)
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))]!
  process.stdout.write(
    `${JSON.stringify({
      mode: job.mode,
      iops: Math.round(ios / seconds),
      mibPerSec: Math.round((ios * job.blockBytes) / seconds / 1048576),
      p50Us: Math.round(at(50)),
      p99Us: Math.round(at(99)),
      meanUs: Math.round(latencies.reduce((a, b) => a + b, 0) / latencies.length),
      ios,
      bytes: ios * job.blockBytes,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10
    })}\n`
  )
  process.exit(0)
}

const resumes: Array<((e: Effect.Effect<void>) => void) | undefined> = []
const worker = (slot: number) =>
  Effect.gen(function* () {
    for (;;) {
      yield* Effect.callback<void>((resume) => {
        resumes[slot] = resume
        send(slot)
      })
    }
  })

const completed = (slot: number) => {
  const now = performance.now()
  if (!measuring && now >= warmEnd) {
    measuring = true
    mStart = now
    cpu0 = process.cpuUsage()
  }
  if (measuring) {
    ios++
    if (latencies.length < 1 << 20) latencies.push((now - started[slot]!) * 1000)
    if (now >= end) return finish()
  }
  if (job.mode === "effect") {
    const r = resumes[slot]!
    resumes[slot] = undefined
    r(Effect.void)
  } else send(slot)
}

// ---- receive: headers by hand, data copied into the slot's buffer ---------------------------------
const header = new Uint8Array(48)
let have = 0
let dest: Uint8Array | undefined
let destFill = 0
let skip = 0 // bytes of a data segment nobody wants (login text)
let completes = false
let slotOf = 0
const onBytes = (chunk: Uint8Array) => {
  let pos = 0
  const n = chunk.length
  while (pos < n) {
    if (skip > 0) {
      const take = Math.min(skip, n - pos)
      skip -= take
      pos += take
      continue
    }
    if (dest !== undefined) {
      const take = Math.min(dest.length - destFill, n - pos)
      dest.set(chunk.subarray(pos, pos + take), destFill)
      destFill += take
      pos += take
      if (destFill === dest.length) {
        dest = undefined
        if (completes) completed(slotOf)
      }
      continue
    }
    const take = Math.min(48 - have, n - pos)
    header.set(chunk.subarray(pos, pos + take), have)
    have += take
    pos += take
    if (have < 48) break
    have = 0
    const dsl = (header[5]! << 16) | (header[6]! << 8) | header[7]!
    statSN = r32(header, 24)
    if (!loggedIn) {
      if ((header[0]! & 0x3f) !== 0x23 || header[36] !== 0) throw new Error("login failed")
      loggedIn = true
      skip = dsl + (-dsl & 3)
      if (job.mode === "effect") for (let i = 0; i < job.queueDepth; i++) Effect.runFork(worker(i))
      else for (let i = 0; i < job.queueDepth; i++) send(i)
      continue
    }
    const opcode = header[0]! & 0x3f
    slotOf = r32(header, 16)
    completes = opcode === 0x21 || (opcode === 0x25 && (header[1]! & 0x01) !== 0)
    if (dsl > 0 && opcode === 0x25) {
      dest = buffers[slotOf]!.subarray(r32(header, 40), r32(header, 40) + dsl)
      destFill = 0
    } else {
      skip = dsl + (-dsl & 3)
      if (completes) completed(slotOf)
    }
  }
}

const recvBuffer = new Uint8Array(256 * 1024)
const socket = Net.connect({
  host: job.host,
  port: job.port,
  noDelay: true,
  onread: {
    buffer: recvBuffer,
    callback: (n: number) => {
      onBytes(recvBuffer.subarray(0, n))
      flush()
      return true
    }
  }
})
socket.on("connect", () => {
  const text = new TextEncoder().encode(
    Object.entries({
      InitiatorName: "iqn.2026-11.io.effect-iscsi:floor",
      TargetName: job.iqn,
      SessionType: "Normal",
      HeaderDigest: "None",
      DataDigest: "None",
      MaxRecvDataSegmentLength: "262144"
    })
      .map(([k, v]) => `${k}=${v}\0`)
      .join("")
  )
  const h = Buffer.alloc(48 + text.length + (-text.length & 3))
  h[0] = 0x43 // Login Request, immediate
  h[1] = 0x87 // T, CSG 1, NSG 3
  h[5] = text.length >> 16
  h[6] = text.length >> 8
  h[7] = text.length
  h[8] = 0x40 // ISID: random format
  h[12] = process.pid >> 8
  h[13] = process.pid
  w32(h, 24, 1) // CmdSN
  h.set(text, 48)
  socket.write(h)
})
socket.on("error", (e) => {
  process.stderr.write(`${e.message}\n`)
  process.exit(1)
})
