/**
 * Target restarts (issue 9): a private tgtd is killed (SIGKILL) and started again on the same port
 * with the same backing files in the middle of a READ/WRITE workload. The pool recovers within its
 * budget and every acknowledged write is in the backing file; when tgtd stays down, the budget is
 * spent and callers get a typed ConnectionLost, never a hang.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Fs from "node:fs"
import { Negotiation, type Pool, type Recovery } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Tgt } from "@effect-iscsi/testing"
import { collect, freshIsid, openTarget, read10, write10 } from "./support.ts"

let instance: Tgt.TgtInstance

beforeAll(async () => {
  instance = await Tgt.start({ targets: ["disk"], lunSize: 16 * 1024 * 1024 })
}, 60_000)
afterAll(async () => {
  await instance?.stop()
})

const poolConfig = (recovery: Recovery.Options): Pool.Config => ({
  address: { host: instance.info.host, port: instance.info.port },
  initiatorName: "iqn.2026-11.io.effect-iscsi:restart-test",
  targetName: instance.info.targets.disk.iqn,
  isid: freshIsid(),
  auth: { _tag: "None" },
  offer: Negotiation.defaultOffer,
  keepaliveIntervalMs: 500,
  keepaliveTimeoutMs: 1000,
  loginTimeoutMs: 2000,
  commandTimeoutMs: 10_000,
  recovery
})

const block = (lba: number, round: number) => {
  const b = new Uint8Array(512)
  for (let i = 0; i < 512; i++) b[i] = (lba * 31 + round * 7 + i) & 0xff
  return b
}

describe("tgtd killed and restarted mid-workload", () => {
  it.live(
    "the pool recovers within its budget; every acknowledged write is in the backing file",
    () =>
      Effect.gen(function* () {
        const pool = yield* openTarget(
          poolConfig({ replacementTimeoutMs: 20_000, initialDelayMs: 50, maxDelayMs: 500, maxTime2WaitMs: 0 })
        )
        const events = yield* collect(pool.events)
        const acked = new Map<number, Uint8Array>()
        let stop = false
        let commands = 0
        // 8 workers, each owning its own LBAs (no overlapping writes), writing then reading back
        const worker = (w: number) =>
          Effect.gen(function* () {
            for (let round = 0; !stop; round++) {
              const lba = 1000 + w * 500 + (round % 500)
              const data = block(lba, round)
              const r = yield* pool.execute(write10(1, lba, data))
              commands++
              if (r.status === 0) acked.set(lba, data)
              const back = yield* pool.execute(read10(1, lba, 1))
              commands++
              if (back.status === 0 && r.status === 0)
                expect(Buffer.from(back.data).equals(Buffer.from(data))).toBe(true)
            }
          })
        const fibers = yield* Effect.forEach([0, 1, 2, 3, 4, 5, 6, 7], (w) => Effect.forkChild(worker(w)))
        yield* Effect.sleep("500 millis")
        const before = commands
        yield* Effect.promise(() => instance.kill())
        yield* Effect.sleep("700 millis")
        yield* Effect.promise(() => instance.restart())
        // the workload goes on after the restart
        const deadline = Date.now() + 15_000
        while (commands < before + 2000 && Date.now() < deadline) yield* Effect.sleep("100 millis")
        stop = true
        for (const f of fibers) yield* Fiber.join(f)
        expect(commands).toBeGreaterThan(before + 2000)
        expect(events.some((e) => e._tag === "Recovered")).toBe(true)
        expect(events.some((e) => e._tag === "RecoveryFailed")).toBe(false)
        // the oracle
        const fd = Fs.openSync(instance.info.targets.disk.luns[0]!.path!, "r")
        const buf = Buffer.alloc(512)
        for (const [lba, data] of acked) {
          Fs.readSync(fd, buf, 0, 512, lba * 512)
          expect(buf.equals(Buffer.from(data))).toBe(true)
        }
        Fs.closeSync(fd)
        expect(acked.size).toBeGreaterThan(100)
      }).pipe(Effect.scoped, Effect.provide(IscsiClient.nodeLayer())),
    60_000
  )

  it.live(
    "tgtd stays down: the budget is spent and callers get a typed ConnectionLost; once it is back, the same pool works",
    () =>
      Effect.gen(function* () {
        const pool = yield* openTarget(
          poolConfig({ replacementTimeoutMs: 1500, initialDelayMs: 50, maxDelayMs: 200, maxTime2WaitMs: 0 })
        )
        yield* pool.execute(read10(1, 0, 1))
        yield* Effect.promise(() => instance.kill())
        const started = Date.now()
        const e = yield* Effect.flip(pool.execute(read10(1, 0, 1)))
        const took = Date.now() - started
        expect(e.reason._tag).toBe("ConnectionLost")
        expect(took).toBeLessThan(10_000)
        // nothing is poisoned: a later call logs in anew, which fails at once (typed) while tgtd is down
        const again0 = Date.now()
        const again = yield* Effect.flip(pool.execute(read10(1, 0, 1)))
        expect(again.reason._tag).toBe("ConnectFailed")
        expect(Date.now() - again0).toBeLessThan(2000)
        // and once tgtd is back, the same managed session serves commands again
        yield* Effect.promise(() => instance.restart())
        const back = yield* pool.execute(read10(1, 0, 1))
        expect(back.status).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(IscsiClient.nodeLayer())),
    60_000
  )
})
