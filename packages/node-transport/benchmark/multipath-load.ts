/**
 * One benchmark run of the multipath device or of one plain path, in its own process (so its CPU
 * time and peak RSS are its own): keep `queueDepth` READs in flight on one LUN for `warmup +
 * seconds` through the public API (`Scsi.read10` into a per-worker buffer, the command runner, the
 * `ScsiTransport` of the Pool), and print one JSON line with the figures of the measured window.
 *
 * `mode: "multipath"`: `Multipath.make` over every portal in `paths` with `policy` (round-robin by
 * default); `mode: "single"`: `Pool.target` on the first portal, the path every program without
 * multipath uses. Same target, same loop, same figures, so the two compare directly.
 *
 * Spawned by `scripts/bench.ts` as `node multipath-load.ts '<json Job>'` (the library from its
 * compiled packages/*\/dist; `--source`: through tsx). The figures' shape is load.ts's.
 *
 * Not here: targets (the caller starts tgtd and its second portal), tables (scripts/bench.ts).
 */
import { Negotiation, Pool } from "@effect-iscsi/core"
import { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Multipath, Scsi } from "@effect-iscsi/scsi"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export interface Job {
  readonly paths: ReadonlyArray<{ readonly host: string; readonly port: number }>
  readonly iqn: string
  readonly lun: number
  readonly queueDepth: number
  readonly blockBytes: number
  readonly random: boolean
  readonly warmupSeconds: number
  readonly seconds: number
  readonly mode: "multipath" | "single"
  readonly policy?: "failover" | "round-robin" | "least-outstanding"
}

const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

export const run = (job: Job) =>
  Effect.gen(function* () {
    const pool = yield* Pool.Pool
    const target: Pool.Target = {
      address: job.paths[0]!,
      initiatorName: `iqn.2026-11.io.effect-iscsi:bench-multipath-${process.pid}`,
      targetName: job.iqn,
      auth: { _tag: "None" },
      offer: { ...Negotiation.defaultOffer, headerDigest: ["None"], dataDigest: ["None"] },
      keepaliveIntervalMs: 0
    }
    const transport =
      job.mode === "multipath"
        ? (yield* Multipath.make({
            target,
            portals: job.paths.slice(1),
            policy: job.policy ?? "round-robin",
            lun: job.lun,
            aluaIntervalMs: 0
          })).transport
        : Pool.transportOf(yield* pool.acquire(target))
    const program = Effect.gen(function* () {
      const g = yield* Scsi.geometry(job.lun)
      const per = job.blockBytes / g.blockSize
      const slots = Math.floor(Math.min(g.blocks, 0x7fffffff) / per)
      let cursor = 0
      const nextLba = () => (job.random ? Math.floor(Math.random() * slots) : cursor++ % slots) * per
      // the power-on Unit Attention of each new nexus is taken before the clock starts
      for (let i = 0; i < 4; i++) yield* Effect.ignore(Scsi.testUnitReady(job.lun))
      const warmEnd = performance.now() + job.warmupSeconds * 1000
      const end = warmEnd + job.seconds * 1000
      let measuring = false
      let t0 = 0
      let cpu0 = process.cpuUsage()
      const RESERVOIR = 1 << 18
      const latencies = new Float64Array(RESERVOIR)
      let ios = 0
      let last = 0
      const worker = Effect.gen(function* () {
        const into = new Uint8Array(job.blockBytes)
        for (;;) {
          const start = performance.now()
          if (start >= end) return
          if (!measuring && start >= warmEnd) {
            measuring = true
            t0 = start
            cpu0 = process.cpuUsage()
          }
          yield* Scsi.read10(job.lun, nextLba(), per, { blockSize: g.blockSize, into })
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
      const seconds = (last - t0) / 1000
      const sorted = latencies.slice(0, Math.min(ios, RESERVOIR)).sort()
      let sum = 0
      for (let i = 0; i < sorted.length; i++) sum += sorted[i]!
      return {
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
        rssSamplesMb: []
      }
    })
    return yield* Effect.provideService(program, ScsiTransport, transport)
  }).pipe(Effect.scoped, Effect.provide(Layer.provideMerge(Pool.layer(), IscsiClient.nodeLayer())))

const arg = process.argv[2]
if (arg !== undefined && process.argv[1]?.endsWith("multipath-load.ts")) {
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
