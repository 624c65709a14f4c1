/**
 * One benchmark run of our initiator, in its own process (so its CPU time and peak RSS are its
 * own, like `iscsi-perf`'s): log in, keep `queueDepth` READs (or WRITEs) in flight on one LUN for
 * `warmup + seconds`, and print one JSON line with the figures of the measured window.
 *
 * Spawned by `scripts/bench.ts` as `node load.ts '<json Job>'`: Node strips this file's types (so
 * erasable syntax only) and the library runs from its compiled packages/*\/dist, as users run it;
 * `--source` there runs it as `node --conditions=source --import tsx load.ts` instead.
 * The load loop mirrors `iscsi-perf`: a shared sequential cursor that wraps at the end of the LUN
 * (or uniform random aligned offsets with `random`), one preallocated buffer per slot, the data
 * placed straight into it (`readInto`). Figures: IOPS, MiB/s (as iscsi-perf prints them), latency
 * p50/p99 (µs), CPU seconds of this process in the window, peak RSS, and RSS samples (soak).
 *
 * Not here: targets (the caller starts tgtd), libiscsi, tables (scripts/bench.ts).
 */
import { Negotiation, Pool, ScsiTransport, Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import * as Effect from "effect/Effect"

export interface Job {
  readonly host: string
  readonly port: number
  readonly iqn: string
  readonly lun: number
  readonly queueDepth: number
  readonly blockBytes: number
  readonly random: boolean
  readonly write: boolean
  readonly digests: boolean
  readonly warmupSeconds: number
  readonly seconds: number
  /** Sample RSS every this many ms (0 = off). */
  readonly rssSampleMs?: number
}

export interface Figures {
  readonly iops: number
  readonly mibPerSec: number
  readonly p50Us: number
  readonly p99Us: number
  readonly meanUs: number
  readonly ios: number
  readonly bytes: number
  readonly seconds: number
  readonly cpuSeconds: number
  readonly cpuSystemSeconds: number
  readonly maxRssMb: number
  /** RSS samples in MiB (like maxRssMb). */
  readonly rssSamplesMb: ReadonlyArray<number>
  /** PDUs received per command over the whole run (Data-In PDUs plus responses). */
  readonly pdusInPerCommand: number
  readonly params: { readonly maxXmit: number; readonly maxRecv: number; readonly hd: boolean; readonly dd: boolean }
}

/** READ(10)/WRITE(10) into `c` (a worker reuses its CDB: the engine encodes it when the command starts). */
const cdb = (op: number, lba: number, blocks: number, c = new Uint8Array(10)): Uint8Array => {
  c[0] = op
  c[2] = lba >>> 24
  c[3] = lba >>> 16
  c[4] = lba >>> 8
  c[5] = lba
  c[7] = blocks >> 8
  c[8] = blocks
  return c
}

const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

export const run = (job: Job) =>
  Effect.gen(function* () {
    const initiatorName = "iqn.2026-11.io.effect-iscsi:bench"
    const session = yield* Session.make({
      address: { host: job.host, port: job.port },
      initiatorName,
      targetName: job.iqn,
      isid: Pool.stableIsid(initiatorName, `bench-${process.pid}`),
      auth: { _tag: "None" },
      // explicit either way: tgt's tuned target picks CRC32C from the default None,CRC32C
      offer: job.digests
        ? { ...Negotiation.defaultOffer, headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] }
        : { ...Negotiation.defaultOffer, headerDigest: ["None"], dataDigest: ["None"] },
      keepaliveIntervalMs: 0
    })
    // consume the power-on UNIT ATTENTION, then READ CAPACITY(10) for the LUN size
    let blockSize = 512
    let blocks = 0
    for (let i = 0; i < 5; i++) {
      const r = yield* session.execute({ lun: job.lun, cdb: cdb(0x25, 0, 0), direction: "read", readLength: 8 })
      if (r.status !== 0) continue
      const d = r.data
      blocks = ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0
      blockSize = ((d[4]! << 24) | (d[5]! << 16) | (d[6]! << 8) | d[7]!) >>> 0
      blocks += 1
      break
    }
    if (blocks === 0) return yield* Effect.die(new Error("READ CAPACITY failed"))
    const per = job.blockBytes / blockSize
    // iscsi-perf walks the whole LUN; keep the region ≤ 2^31 blocks so READ(10) addresses it
    const slots = Math.floor(Math.min(blocks, 0x7fffffff) / per)
    const op = job.write ? 0x2a : 0x28
    let cursor = 0
    const nextLba = () => (job.random ? Math.floor(Math.random() * slots) : cursor++ % slots) * per

    const warmEnd = performance.now() + job.warmupSeconds * 1000
    const end = warmEnd + job.seconds * 1000
    let measuring = false
    let t0 = 0
    let cpu0 = process.cpuUsage()
    // a fixed reservoir of latencies (uniform sample once full): memory stays flat in the soak run
    const RESERVOIR = 1 << 18
    const latencies = new Float64Array(RESERVOIR)
    let ios = 0
    let last = 0
    const rss: Array<number> = []
    let sampler: ReturnType<typeof setInterval> | undefined
    if ((job.rssSampleMs ?? 0) > 0) {
      sampler = setInterval(() => rss.push(Math.round(process.memoryUsage.rss() / 104857.6) / 10), job.rssSampleMs)
    }
    const worker = Effect.gen(function* () {
      const buf = new Uint8Array(job.blockBytes)
      const cdbBuf = new Uint8Array(10)
      if (job.write) for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) >>> 24
      for (;;) {
        const start = performance.now()
        if (start >= end) return
        if (!measuring && start >= warmEnd) {
          measuring = true
          t0 = start
          cpu0 = process.cpuUsage()
        }
        const lba = nextLba()
        // ScsiTransport.request: a class instance, not a literal that V8 would pretenure (see there)
        const r = yield* session.execute(
          ScsiTransport.request(
            job.write
              ? { lun: job.lun, cdb: cdb(op, lba, per, cdbBuf), direction: "write", dataOut: buf }
              : {
                  lun: job.lun,
                  cdb: cdb(op, lba, per, cdbBuf),
                  direction: "read",
                  readLength: job.blockBytes,
                  readInto: buf
                }
          )
        )
        if (r.status !== 0) return yield* Effect.die(new Error(`SCSI status ${r.status}`))
        const now = performance.now()
        if (measuring && start >= t0) {
          const us = (now - start) * 1000
          if (ios < RESERVOIR) latencies[ios] = us
          else {
            const j = Math.floor(Math.random() * (ios + 1))
            if (j < RESERVOIR) latencies[j] = us
          }
          ios++
          last = now
        }
      }
    })
    yield* Effect.forEach(
      Array.from({ length: job.queueDepth }, () => worker),
      (w) => w,
      { concurrency: job.queueDepth, discard: true }
    )
    const cpu = process.cpuUsage(cpu0)
    if (sampler !== undefined) clearInterval(sampler)
    const seconds = (last - t0) / 1000
    const sorted = latencies.slice(0, Math.min(ios, RESERVOIR)).sort()
    let sum = 0
    for (let i = 0; i < sorted.length; i++) sum += sorted[i]!
    const p = session.info.params
    const counters = (yield* session.stats).counters
    const figures: Figures = {
      iops: Math.round(ios / seconds),
      mibPerSec: Math.round((ios * job.blockBytes) / seconds / 1048576),
      p50Us: Math.round(percentile(sorted, 50)),
      p99Us: Math.round(percentile(sorted, 99)),
      meanUs: Math.round(sum / Math.max(1, sorted.length)),
      ios,
      bytes: ios * job.blockBytes,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10,
      rssSamplesMb: rss,
      pdusInPerCommand: Math.round((100 * counters.pdusIn) / Math.max(1, counters.commands)) / 100,
      params: {
        maxXmit: p.maxXmitDataSegmentLength,
        maxRecv: p.maxRecvDataSegmentLength,
        hd: p.headerDigest,
        dd: p.dataDigest
      }
    }
    return figures
  }).pipe(Effect.scoped, Effect.provide(IscsiClient.nodeLayer()))

const arg = process.argv[2]
if (arg !== undefined && process.argv[1]?.endsWith("load.ts")) {
  const job = JSON.parse(arg) as Job
  Effect.runPromise(run(job)).then(
    (f) => {
      process.stdout.write(`${JSON.stringify(f)}\n`)
      process.exit(0)
    },
    (e) => {
      process.stderr.write(`${String(e)}\n`)
      process.exit(1)
    }
  )
}
