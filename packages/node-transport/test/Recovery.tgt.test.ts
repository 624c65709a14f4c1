/**
 * ERL 0 session recovery against a private real tgtd through the fault proxy (issue 9): a soak of
 * mixed READ/WRITE at queue depth 32 with ≥ 200 injected faults (drops, resets, stalls at random
 * byte offsets in both directions), every acknowledged write verified in the backing file; byte
 * flips with digests on (every one detected, then recovered); flips with digests off (what is and is
 * not caught); a replacement budget that runs out ends in a typed error; non-idempotent commands
 * are not re-issued.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type IscsiError, type ManagedSession, Negotiation, type Pool } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { FaultProxy, Tgt } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import { collect, INITIATOR, openTarget, pattern, read10, write10 } from "./support.ts"

const { nodeLayer } = IscsiClient

let tgtd: Tgt.TgtInstance
beforeAll(async () => {
  tgtd = await Tgt.start({ targets: ["disk", "tuned"], lunSize: 16 * 1024 * 1024 })
}, 60_000)
afterAll(async () => {
  await tgtd?.stop()
})

const poolConfig = (
  proxy: FaultProxy.FaultProxy,
  target: "disk" | "tuned",
  extra: Partial<Pool.Config> = {}
): Pool.Config => ({
  address: proxy.address,
  initiatorName: `${INITIATOR}-${Math.random().toString(36).slice(2, 8)}`,
  targetName: tgtd.info.targets[target].iqn,
  auth: { _tag: "None" },
  offer: Negotiation.defaultOffer,
  keepaliveIntervalMs: 500,
  keepaliveTimeoutMs: 1000,
  commandTimeoutMs: 10_000,
  loginTimeoutMs: 3000,
  recovery: { replacementTimeoutMs: 20_000, initialDelayMs: 20, maxDelayMs: 500, maxTime2WaitMs: 0 },
  ...extra
})

const isUnitAttention = (r: { status: number; sense?: Uint8Array | undefined }) =>
  r.status === 2 && r.sense !== undefined && (r.sense[2]! & 0x0f) === 6

interface WorkloadResult {
  readonly ops: number
  readonly verified: number
  readonly unitAttentions: number
  readonly failures: Array<IscsiError.IscsiError>
}

/**
 * Mixed READ/WRITE at queue depth `qd` over [base, base+span) until `until()` says stop; writes to
 * blocks with a write in flight become reads. Returns after checking every acknowledged write in the
 * backing file.
 */
const workload = (
  execute: ManagedSession.ManagedSession["execute"],
  path: string,
  base: number,
  span: number,
  qd: number,
  until: (ops: number) => boolean
) =>
  Effect.gen(function* () {
    const bs = 512
    const model = new Map<number, Uint8Array>()
    const inFlight = new Set<number>()
    const failures: Array<IscsiError.IscsiError> = []
    let ops = 0
    let unitAttentions = 0
    let i = 0
    const worker = Effect.gen(function* () {
      while (!until(ops)) {
        const n = i++
        const blocks = 1 + ((n * 7919) % 32)
        const lba = base + ((n * 104729) % (span - blocks))
        let overlaps = false
        for (let b = 0; b < blocks; b++) if (inFlight.has(lba + b)) overlaps = true
        const isWrite = n % 2 === 0 && !overlaps
        if (isWrite) {
          const data = new Uint8Array(blocks * bs)
          for (let b = 0; b < blocks; b++) data.set(pattern(lba + b, bs, n), b * bs)
          for (let b = 0; b < blocks; b++) inFlight.add(lba + b)
          for (;;) {
            const r = yield* Effect.result(execute(write10(1, lba, data)))
            if (r._tag === "Failure") {
              failures.push(r.failure)
              // unknown outcome: these blocks are no longer known
              for (let b = 0; b < blocks; b++) model.delete(lba + b)
              break
            }
            if (isUnitAttention(r.success)) {
              unitAttentions++
              continue
            }
            expect({ status: r.success.status, sense: Buffer.from(r.success.sense ?? []).toString("hex") }).toEqual({
              status: 0,
              sense: ""
            })
            for (let b = 0; b < blocks; b++) model.set(lba + b, data.subarray(b * bs, (b + 1) * bs))
            break
          }
          for (let b = 0; b < blocks; b++) inFlight.delete(lba + b)
        } else {
          for (;;) {
            const r = yield* Effect.result(execute(read10(1, lba, blocks)))
            if (r._tag === "Failure") {
              failures.push(r.failure)
              break
            }
            if (isUnitAttention(r.success)) {
              unitAttentions++
              continue
            }
            expect([r.success.status, Buffer.from(r.success.sense ?? []).toString("hex")]).toEqual([0, ""])
            expect(r.success.data.length).toBe(blocks * bs)
            break
          }
        }
        ops++
      }
    })
    yield* Effect.all(
      Array.from({ length: qd }, () => worker),
      { concurrency: "unbounded", discard: true }
    )
    // the oracle: every acknowledged write is in the backing file, byte for byte
    const fd = Fs.openSync(path, "r")
    const buf = Buffer.alloc(bs)
    let verified = 0
    let lost = 0
    for (const [lba, data] of model) {
      Fs.readSync(fd, buf, 0, bs, lba * bs)
      if (!buf.equals(data)) lost++
      verified++
    }
    Fs.closeSync(fd)
    expect(lost).toBe(0)
    return { ops, verified, unitAttentions, failures } satisfies WorkloadResult
  })

const countEvents = (events: ReadonlyArray<ManagedSession.Event>, tag: string) =>
  events.filter((e) => e._tag === tag).length

describe("ERL 0 recovery through the fault proxy", () => {
  it.live(
    "soak: ≥ 200 faults (drop/reset/stall, both directions, random offsets) at QD 32; no acknowledged write lost",
    () =>
      Effect.gen(function* () {
        const random = FaultProxy.rng(0x5eed)
        const proxy = yield* FaultProxy.make({
          upstream: { host: tgtd.info.host, port: tgtd.info.port },
          plan: () => {
            const direction = random() < 0.5 ? "up" : "down"
            const offset = 8192 + Math.floor(random() * 400_000)
            const k = random()
            if (k < 0.45) return [{ _tag: "Drop", direction, offset }]
            if (k < 0.9) return [{ _tag: "Reset", direction, offset }]
            // a stall shorter than the keepalive deadline is survived without a reconnect; a split
            // write stream must be reassembled by the framer
            return [
              { _tag: "Stall", direction, offset, ms: 50 + Math.floor(random() * 200) },
              { _tag: "Split", direction: "down", maxChunk: 7 },
              { _tag: "Reset", direction, offset: offset + 200_000 }
            ]
          }
        })
        const pool = yield* openTarget(poolConfig(proxy, "disk"))
        const events = yield* collect(pool.events)
        const lun = tgtd.info.targets.disk.luns[0]!
        const started = Date.now()
        const result = yield* workload(pool.execute, lun.path!, 1000, 20_000, 32, () => proxy.injected >= 200)
        const seconds = ((Date.now() - started) / 1000).toFixed(1)
        const recovered = countEvents(events, "Recovered")
        console.log(
          `soak: ${proxy.injected} faults injected (${JSON.stringify(proxy.counters)}), ${recovered} recoveries, ` +
            `${result.ops} commands, ${result.verified} acknowledged blocks verified, 0 lost, ` +
            `${result.failures.length} typed failures, ${result.unitAttentions} unit attentions, ${seconds} s`
        )
        expect(proxy.injected).toBeGreaterThanOrEqual(200)
        expect(result.failures.map((f) => f.reason._tag)).toEqual([])
        expect(result.verified).toBeGreaterThan(1000)
        expect(recovered).toBeGreaterThan(100)
        // nothing left waiting in the session
        const session = yield* pool.session
        const stats = yield* session.stats
        expect(stats.inFlight).toBe(0)
        expect(stats.waiting).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer())),
    240_000
  )

  it.live(
    "digests on: every flipped byte toward us is a DigestError, then recovery; writes verified",
    () =>
      Effect.gen(function* () {
        const random = FaultProxy.rng(0xf11b)
        const proxy = yield* FaultProxy.make({
          upstream: { host: tgtd.info.host, port: tgtd.info.port },
          plan: (index) =>
            index === 0
              ? []
              : [{ _tag: "Flip", direction: "down", offset: 4096 + Math.floor(random() * 200_000), xor: 0x10 }]
        })
        const pool = yield* openTarget(
          poolConfig(proxy, "tuned", {
            offer: { ...Negotiation.defaultOffer, headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] }
          })
        )
        const session0 = yield* pool.session
        expect(session0.info.params.headerDigest).toBe(true)
        expect(session0.info.params.dataDigest).toBe(true)
        const events = yield* collect(pool.events)
        proxy.dropAll() // from now on every connection carries one flip
        const lun = tgtd.info.targets.tuned.luns[0]!
        const result = yield* workload(pool.execute, lun.path!, 22_000, 9_000, 32, () => proxy.counters.flips >= 25)
        yield* Effect.sleep("300 millis")
        const digestErrors = events.filter(
          (e) => e._tag === "ConnectionDown" && e.error.reason._tag === "DigestError"
        ).length
        console.log(
          `digests on: ${proxy.counters.flips} bytes flipped toward the initiator, ${digestErrors} digest errors, ` +
            `${countEvents(events, "Recovered")} recoveries, ${result.verified} blocks verified`
        )
        expect(digestErrors).toBe(proxy.counters.flips)
        expect(result.failures.map((f) => f.reason._tag)).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(nodeLayer())),
    120_000
  )

  it.live(
    "digests off: a flipped byte in read data is NOT caught (documented)",
    () =>
      Effect.gen(function* () {
        const lun = tgtd.info.targets.disk.luns[0]!
        const plain = yield* FaultProxy.make({ upstream: { host: tgtd.info.host, port: tgtd.info.port } })
        const pool = yield* openTarget(poolConfig(plain, "disk", { recovery: false }))
        const data = pattern(32_000, 4096, 9)
        let w = yield* pool.execute(write10(1, 32_000, data))
        while (isUnitAttention(w)) w = yield* pool.execute(write10(1, 32_000, data))
        expect([w.status, Buffer.from(w.sense ?? []).toString("hex")]).toEqual([0, ""])
        expect(
          Fs.readFileSync(lun.path!)
            .subarray(32_000 * 512, 32_008 * 512)
            .equals(Buffer.from(data))
        ).toBe(true)
        // each READ of 8 blocks is a 48-byte header + 4096 data bytes toward us: byte 20,000 falls in a
        // data segment unless it hits one of the few header bytes
        const proxy = yield* FaultProxy.make({
          upstream: { host: tgtd.info.host, port: tgtd.info.port },
          plan: () => [{ _tag: "Flip", direction: "down", offset: 20_000, xor: 0xff }]
        })
        const flipped = yield* openTarget(poolConfig(proxy, "disk", { recovery: false }))
        let caught = 0
        let silent = 0
        for (let k = 0; k < 20 && proxy.counters.flips === 0; k++) {
          const x = yield* Effect.result(flipped.execute(read10(1, 32_000, 8)))
          if (x._tag === "Failure") caught++
          else if (!isUnitAttention(x.success) && !Buffer.from(x.success.data).equals(Buffer.from(data))) silent++
        }
        console.log(
          `digests off: ${proxy.counters.flips} byte flipped toward the initiator: ${silent} read returned corrupted ` +
            `data with status GOOD and no error, ${caught} caught as a protocol error`
        )
        expect(proxy.counters.flips).toBe(1)
        expect(silent + caught).toBe(1)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer())),
    60_000
  )

  it.live(
    "a spent replacement budget ends in a typed error, not a hang",
    () =>
      Effect.gen(function* () {
        const proxy = yield* FaultProxy.make({
          upstream: { host: tgtd.info.host, port: tgtd.info.port },
          // first connection works until byte 20000 up; every later one dies during login
          plan: (index) =>
            index === 0
              ? [{ _tag: "Reset", direction: "down", offset: 20_000 }]
              : [{ _tag: "Drop", direction: "up", offset: 10 }]
        })
        const pool = yield* openTarget(
          poolConfig(proxy, "disk", {
            recovery: { replacementTimeoutMs: 1500, initialDelayMs: 50, maxDelayMs: 200, maxTime2WaitMs: 0 }
          })
        )
        const events = yield* collect(pool.events)
        const started = Date.now()
        let error: IscsiError.IscsiError | undefined
        for (let i = 0; i < 1000 && error === undefined; i++) {
          const r = yield* Effect.result(pool.execute(read10(1, 100, 16)))
          if (r._tag === "Failure") error = r.failure
        }
        const elapsed = Date.now() - started
        expect(error?.reason._tag).toBe("ConnectionLost")
        expect(elapsed).toBeLessThan(6000)
        expect(countEvents(events, "RecoveryFailed")).toBe(1)
        expect(countEvents(events, "RecoveryAttemptFailed")).toBeGreaterThan(1)
        // a later call logs in anew (nothing is poisoned); this proxy still kills every login: typed
        const again = yield* Effect.flip(pool.execute(read10(1, 100, 1)))
        expect(again.reason._tag).toBe("ConnectionLost")
      }).pipe(Effect.scoped, Effect.provide(nodeLayer())),
    30_000
  )

  it.live(
    "soak, MC/S lane: 2 connections with digests, connections cut at random points of their command stream; no command fails",
    () =>
      Effect.gen(function* () {
        const random = FaultProxy.rng(0xc0de)
        const proxy = yield* FaultProxy.make({
          upstream: { host: tgtd.info.host, port: tgtd.info.port },
          // every connection is cut (RST) somewhere in what the initiator sends: mostly inside a
          // SCSI Command PDU or its data, so the target may never receive a CmdSN
          plan: () => [{ _tag: "Reset", direction: "up", offset: 16_384 + Math.floor(random() * 300_000) }]
        })
        const pool = yield* openTarget(
          poolConfig(proxy, "tuned", {
            offer: {
              ...Negotiation.defaultOffer,
              headerDigest: ["CRC32C"],
              dataDigest: ["CRC32C"],
              maxConnections: 2
            },
            connections: 2,
            holeTimeoutMs: 2000
          })
        )
        const events = yield* collect(pool.events)
        const lun = tgtd.info.targets.tuned.luns[0]!
        const started = Date.now()
        const result = yield* workload(pool.execute, lun.path!, 1000, 8_000, 32, () => proxy.injected >= 40)
        const seconds = ((Date.now() - started) / 1000).toFixed(1)
        console.log(
          `MC/S lane: ${proxy.injected} connections cut, ${countEvents(events, "ConnectionDown")} lost, ` +
            `${countEvents(events, "ConnectionUp")} (re)added, ${countEvents(events, "CmdSNHole")} CmdSN holes, ` +
            `${countEvents(events, "Recovered")} reinstatements, ${result.ops} commands, ${result.verified} blocks verified, ${seconds} s`
        )
        expect(proxy.injected).toBeGreaterThanOrEqual(40)
        expect(result.failures.map((f) => f.reason._tag)).toEqual([])
        expect(result.verified).toBeGreaterThan(500)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer())),
    180_000
  )

  it.live(
    "soak, delete-and-recreate lane: the target is removed and created again under load; recovery waits out 'not found'",
    () =>
      Effect.gen(function* () {
        const plain = yield* FaultProxy.make({ upstream: { host: tgtd.info.host, port: tgtd.info.port } })
        const pool = yield* openTarget(poolConfig(plain, "disk"))
        const events = yield* collect(pool.events)
        const lun = tgtd.info.targets.disk.luns[0]!
        const started = Date.now()
        let rounds = 0
        const admin = Effect.gen(function* () {
          for (; rounds < 3; rounds++) {
            yield* Effect.sleep("700 millis")
            yield* Effect.promise(() => tgtd.recreateTarget("disk", 1500))
          }
        })
        const [result] = yield* Effect.all(
          [
            workload(pool.execute, lun.path!, 24_000, 4_000, 16, () => rounds >= 3 && Date.now() - started > 6000),
            admin
          ],
          { concurrency: "unbounded" }
        )
        const notFound = events.filter(
          (e) =>
            e._tag === "RecoveryAttemptFailed" &&
            e.error.reason._tag === "LoginFailed" &&
            e.error.reason.statusDetail === 3
        ).length
        console.log(
          `delete/re-create lane: target re-created ${rounds} times, ${notFound} reinstatement attempts met "not found", ` +
            `${countEvents(events, "Recovered")} reinstatements, ${result.ops} commands, ${result.verified} blocks verified`
        )
        expect(result.failures.map((f) => f.reason._tag)).toEqual([])
        expect(countEvents(events, "Recovered")).toBeGreaterThanOrEqual(3)
        expect(notFound).toBeGreaterThan(0)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer())),
    120_000
  )

  it.live(
    "a command that is not safe to repeat is not re-issued after a loss: typed error",
    () =>
      Effect.gen(function* () {
        const proxy = yield* FaultProxy.make({
          upstream: { host: tgtd.info.host, port: tgtd.info.port },
          plan: (index) => (index === 0 ? [{ _tag: "Drop", direction: "up", offset: 3000 }] : [])
        })
        const pool = yield* openTarget(poolConfig(proxy, "disk"))
        // clear the UA, then a large non-idempotent write crosses the drop offset
        for (let i = 0; i < 3; i++)
          yield* Effect.ignore(pool.execute({ lun: 1, cdb: new Uint8Array(6), direction: "none" }))
        const e = yield* Effect.flip(
          pool.execute({ ...write10(1, 32_200, new Uint8Array(64 * 512)), idempotent: false })
        )
        expect(e.reason._tag).toBe("ConnectionLost")
        // the pool recovered and serves idempotent commands again
        const r = yield* pool.execute(read10(1, 32_200, 1))
        expect([0, 2]).toContain(r.status)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer())),
    30_000
  )
})
