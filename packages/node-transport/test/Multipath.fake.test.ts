/**
 * The multipath device against the fake target with several portals (each a target port), for what
 * tgt will not do: ALUA (TPGS, REPORT TARGET PORT GROUPS, access states changed under load with
 * UNIT ATTENTION 2A/06, NOT READY from a standby port, a transition with no usable path), a portal
 * that leads to another logical unit (VPD 83h), and path failures timed by the test (commands held
 * in flight on the path that dies, idempotent and not). The same policies against tgtd with two
 * portals and a fault proxy: Multipath.tgt.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { type IscsiError, Negotiation, Pool } from "@effect-iscsi/core"
import { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Multipath, Scsi, type ScsiError } from "@effect-iscsi/scsi"
import { FakeTarget } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { collect, eventually, metricValue, pattern } from "./support.ts"

const INITIATOR = "iqn.2026-11.io.effect-iscsi:multipath-fake"
const { AccessState } = FakeTarget

const targetOf = (t: FakeTarget.FakeTarget): Pool.Target => ({
  address: t.addresses[0]!,
  initiatorName: INITIATOR,
  targetName: t.targetName,
  auth: { _tag: "None" },
  offer: Negotiation.defaultOffer,
  loginTimeoutMs: 2000,
  commandTimeoutMs: 5000,
  keepaliveIntervalMs: 500,
  keepaliveTimeoutMs: 1000
})

const env = Layer.provideMerge(Pool.layer(), IscsiClient.nodeLayer())

const open = (t: FakeTarget.FakeTarget, options: Partial<Multipath.Options> = {}) =>
  Multipath.make({ target: targetOf(t), portals: t.addresses.slice(1), probeIntervalMs: 100, ...options })

/** Run a Scsi program on the device. */
const on =
  (m: Multipath.MultipathShape) =>
  <A, E>(eff: Effect.Effect<A, E, ScsiTransport>) =>
    Effect.provideService(eff, ScsiTransport, m.transport)

/** READ/WRITE commands the fake received per portal. */
const io = (t: FakeTarget.FakeTarget, portal: number) =>
  t.received.filter(
    (r) => r.portal === portal && r.pdu._tag === "ScsiCommand" && (r.pdu.cdb[0] === 0x28 || r.pdu.cdb[0] === 0x2a)
  ).length

const stateOf = (m: Multipath.MultipathShape) =>
  Effect.map(m.paths, (ps) => ps.map((p) => [p.state, p.alua?.state ?? p.access] as const))

/** QD `qd` raw READ/WRITE (10) through the device's transport until `until()`; every outcome kept. */
const load = (m: Multipath.MultipathShape, qd: number, until: () => boolean, base = 0) =>
  Effect.gen(function* () {
    let ops = 0
    const failures: Array<IscsiError.IscsiError> = []
    const notGood: Array<number> = []
    let i = 0
    const worker = Effect.gen(function* () {
      while (!until()) {
        const n = i++
        const lba = base + ((n * 97) % 1000)
        const write = n % 3 === 0
        const cdb = new Uint8Array(10)
        cdb[0] = write ? 0x2a : 0x28
        cdb[2] = lba >>> 24
        cdb[3] = lba >>> 16
        cdb[4] = lba >>> 8
        cdb[5] = lba
        cdb[8] = 1
        const r = yield* Effect.result(
          m.transport.execute(
            write
              ? { lun: 0, cdb, direction: "write", dataOut: pattern(lba, 512, n) }
              : { lun: 0, cdb, direction: "read", readLength: 512 }
          )
        )
        if (r._tag === "Failure") failures.push(r.failure)
        else if (r.success.status !== 0) notGood.push(r.success.status)
        ops++
      }
    })
    yield* Effect.all(
      Array.from({ length: qd }, () => worker),
      { concurrency: "unbounded", discard: true }
    )
    return { ops, failures, notGood }
  })

describe("Multipath on the fake target", () => {
  it.live("two portals, one logical unit: identity checked on both, round-robin spreads the I/O", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ portals: 2, blocks: 4096, powerOnUnitAttention: true })
      const m = yield* open(t)
      expect(yield* stateOf(m)).toEqual([
        ["active", "optimized"],
        ["active", "optimized"]
      ])
      // VPD 83h was asked through each portal before it carried I/O
      for (const portal of [0, 1]) {
        expect(
          t.received.some(
            (r) => r.portal === portal && r.pdu._tag === "ScsiCommand" && r.pdu.cdb[0] === 0x12 && r.pdu.cdb[2] === 0x83
          )
        ).toBe(true)
      }
      const data = pattern(100, 64 * 512, 1)
      for (let i = 0; i < 64; i++) yield* on(m)(Scsi.write10(0, 100 + i, data.subarray(i * 512, (i + 1) * 512)))
      expect(yield* on(m)(Scsi.read10(0, 100, 64))).toEqual(data)
      expect(t.disk.subarray(100 * 512, 164 * 512)).toEqual(data)
      // one command each in turn; READ CAPACITY (the block size, once) met the power-on Unit
      // Attention of path 0's nexus and the first WRITE that of path 1's: each was cleared here and
      // the command sent again on its path, so 64 + 1 + 1 READ/WRITEs and nobody saw a Unit Attention
      expect(io(t, 0) + io(t, 1)).toBe(66)
      expect(Math.abs(io(t, 0) - io(t, 1))).toBeLessThanOrEqual(2)
      const ps = yield* m.paths
      expect(ps.map((p) => p.portal)).toEqual(t.addresses.map((a) => `${a.host}:${a.port}`))
      expect(new Set(ps.map((p) => p.isid)).size).toBe(2)
      expect(t.sessions).toHaveLength(2)
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live(
    "a path dies with commands in flight: the idempotent ones finish on the other path, a non-idempotent one fails typed; it rejoins within a probe",
    () =>
      Effect.gen(function* () {
        let hold = true
        const held: Array<number> = []
        const t = yield* FakeTarget.make({
          portals: 2,
          handler: (c, pdu) => {
            // portal 1 swallows READ/WRITE while `hold`: they stay in flight there
            if (hold && c.portal === 1 && pdu._tag === "ScsiCommand" && (pdu.cdb[0] === 0x28 || pdu.cdb[0] === 0x2a)) {
              held.push(pdu.itt)
              return true
            }
            return undefined
          }
        })
        // failover, portal 1 first: it is the primary path
        const m = yield* Multipath.make({
          target: { ...targetOf(t), address: t.addresses[1]! },
          portals: [t.addresses[0]!],
          policy: "failover",
          probeIntervalMs: 100
        })
        expect((yield* m.paths).map((p) => p.state)).toEqual(["active", "standby"])
        const events = yield* collect(m.events)
        const reads = yield* Effect.forkChild(
          Effect.forEach(
            Array.from({ length: 8 }, (_, i) => i),
            (i) => on(m)(Scsi.read10(0, 10 + i, 1, { blockSize: 512 })),
            { concurrency: "unbounded" }
          )
        )
        const cdb = Uint8Array.of(0x2a, 0, 0, 0, 0, 50, 0, 0, 1, 0)
        const write = yield* Effect.forkChild(
          Effect.flip(
            m.transport.execute({
              lun: 0,
              cdb,
              direction: "write",
              dataOut: pattern(50, 512, 3),
              idempotent: false
            })
          )
        )
        expect(yield* eventually(() => held.length === 9)).toBe(true)
        t.setPortalDown(1, true)
        const done = yield* Fiber.join(reads)
        expect(done).toHaveLength(8)
        const failed = yield* Fiber.join(write)
        expect(failed.reason._tag).toBe("ConnectionLost")
        expect(failed.reason.message).toContain("not safe to repeat")
        // the 8 reads went again through portal 0; the write never did
        expect(io(t, 0)).toBe(8)
        expect(t.received.some((r) => r.portal === 0 && r.pdu._tag === "ScsiCommand" && r.pdu.cdb[0] === 0x2a)).toBe(
          false
        )
        expect((yield* m.paths).map((p) => p.state)).toContain("failed")
        expect(events.filter((e) => e._tag === "Reissued")).toHaveLength(8)
        const down = events.find(
          (e) => e._tag === "PathStateChanged" && e.path.index === 0 && e.path.state === "failed"
        ) as Extract<Multipath.Event, { _tag: "PathStateChanged" }> | undefined
        expect((down?.error as IscsiError.IscsiError | undefined)?.reason._tag).toBe("ConnectionLost")
        // back: the prober logs in again within one probe interval, failback makes it primary again
        hold = false
        const before = io(t, 1)
        t.setPortalDown(1, false)
        const restored = Date.now()
        let carried = 0
        while (io(t, 1) === before && Date.now() - restored < 3000) {
          yield* on(m)(Scsi.read10(0, 0, 1, { blockSize: 512 }))
          yield* Effect.sleep("5 millis")
          carried = Date.now() - restored
        }
        expect(io(t, 1)).toBeGreaterThan(before)
        // probe interval 100 ms + login + identity check, on loopback
        expect(carried).toBeLessThan(1000)
        expect((yield* m.paths).map((p) => p.state)).toEqual(["active", "standby"])
      }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("path states and counts are metrics: the failed path reads failed, then active again", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ portals: 2, blocks: 4096 })
      const m = yield* open(t, { probeIntervalMs: 100 })
      const [p0, p1] = (yield* m.paths).map((p) => p.portal)
      const series = (id: string, portal: string, state?: string) =>
        Effect.map(Metric.snapshot, (snapshot) =>
          metricValue(snapshot, id, { portal, ...(state !== undefined ? { state } : {}) })
        )
      for (let i = 0; i < 16; i++) yield* on(m)(Scsi.read10(0, i, 1, { blockSize: 512 }))
      expect(yield* series("iscsi_path_state", p0!, "active")).toBe(1)
      expect(yield* series("iscsi_path_commands_total", p0!)).toBeGreaterThan(0)
      expect(yield* series("iscsi_path_commands_total", p1!)).toBeGreaterThan(0)
      t.setPortalDown(1, true)
      for (let i = 0; i < 16; i++) yield* on(m)(Scsi.read10(0, i, 1, { blockSize: 512 }))
      expect(yield* eventually(() => Effect.runSync(m.paths)[1]!.state !== "active", 3000)).toBe(true)
      expect(
        (yield* series("iscsi_path_state", p1!, "active")) + (yield* series("iscsi_path_state", p0!, "failed"))
      ).toBe(0)
      expect(yield* series("iscsi_path_failures_total", p1!)).toBeGreaterThanOrEqual(1)
      t.setPortalDown(1, false)
      expect(yield* eventually(() => Effect.runSync(m.paths)[1]!.state === "active", 3000)).toBe(true)
      expect(yield* series("iscsi_path_state", p1!, "active")).toBe(1)
      expect(yield* series("iscsi_path_state", p1!, "failed")).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(env), Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.live("least-outstanding keeps a slow path nearly idle; round-robin gives it half", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        portals: 2,
        handler: (c, pdu) => {
          // portal 1 answers READ/WRITE 40 ms late
          if (c.portal === 1 && pdu._tag === "ScsiCommand" && (pdu.cdb[0] === 0x28 || pdu.cdb[0] === 0x2a)) {
            setTimeout(() => c.defaultFull(pdu), 40)
            return true
          }
          return undefined
        }
      })
      const share: Record<string, number> = {}
      for (const policy of ["round-robin", "least-outstanding"] as const) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const m = yield* open(t, { policy })
            const at = [io(t, 0), io(t, 1)] as const
            const until = Date.now() + 600
            const r = yield* load(m, 16, () => Date.now() > until)
            expect(r.failures).toEqual([])
            expect(r.notGood).toEqual([])
            const slow = io(t, 1) - at[1]
            share[policy] = slow / (slow + io(t, 0) - at[0])
          })
        )
      }
      expect(share["round-robin"]).toBeGreaterThan(0.4)
      expect(share["least-outstanding"]).toBeLessThan(0.1)
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("a portal that leads to another logical unit: refused at open, naming both portals and designators", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ portals: 2 })
      t.setDeviceId(1, "another-disk")
      const e = yield* Effect.flip(Effect.scoped(open(t)))
      expect(e._tag).toBe("ScsiError")
      const r = (e as ScsiError.ScsiError).reason
      if (r._tag !== "PathIdentityMismatch") throw new Error(`not a mismatch: ${r._tag}`)
      const portals = t.addresses.map((a) => `${a.host}:${a.port}`)
      expect([r.portal, r.referencePortal].sort()).toEqual([...portals].sort())
      expect(r.lun).toBe(0)
      expect(r.designators).not.toEqual(r.referenceDesignators)
      expect(r.designators.some((d) => d.startsWith("logical unit NAA:"))).toBe(true)
      expect(r.message).toContain(portals[0])
      expect(r.message).toContain(portals[1])
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("a path that comes back leading elsewhere is refused and kept out; I/O goes on; fixed, it rejoins", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ portals: 2 })
      const m = yield* open(t, { probeIntervalMs: 50 })
      const events = yield* collect(m.events)
      t.setDeviceId(1, "swapped-disk")
      t.setPortalDown(1, true)
      t.setPortalDown(1, false)
      expect(
        yield* eventually(() =>
          events.some((e) => e._tag === "PathStateChanged" && e.path.index === 1 && e.path.state === "refused")
        )
      ).toBe(true)
      const refused = events.find((e) => e._tag === "PathStateChanged" && e.path.state === "refused") as Extract<
        Multipath.Event,
        { _tag: "PathStateChanged" }
      >
      expect((refused.error as ScsiError.ScsiError).reason._tag).toBe("PathIdentityMismatch")
      const before = io(t, 1)
      const until = Date.now() + 200
      const r = yield* load(m, 4, () => Date.now() > until)
      expect(r.failures).toEqual([])
      expect(io(t, 1)).toBe(before)
      // refused paths are probed 10× less often (500 ms here)
      t.setDeviceId(1, undefined)
      expect(
        yield* eventually(
          () => events.some((e) => e._tag === "PathStateChanged" && e.path.index === 1 && e.path.state === "active"),
          3000
        )
      ).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("no portal answers at open: one typed error naming every path; nothing stays open", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ portals: 2 })
      t.setPortalDown(0, true)
      t.setPortalDown(1, true)
      const e = yield* Effect.flip(Effect.scoped(open(t)))
      expect(e._tag).toBe("IscsiError")
      const ie = e as IscsiError.IscsiError
      expect(["ConnectFailed", "ConnectionLost"]).toContain(ie.reason._tag)
      expect(ie.reason.message).toContain("no path to")
      for (const a of t.addresses) expect(ie.reason.message).toContain(`${a.host}:${a.port} failed`)
      expect(t.sessions).toHaveLength(0)
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("no usable path: a command waits within its deadline for one, then fails typed naming every path", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ portals: 2 })
      const m = yield* open(t)
      t.setPortalDown(0, true)
      t.setPortalDown(1, true)
      const read = (timeoutMs: number) =>
        m.transport.execute({
          lun: 0,
          cdb: Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0),
          direction: "read",
          readLength: 512,
          timeoutMs
        })
      const started = Date.now()
      const e = yield* Effect.flip(read(400))
      expect(Date.now() - started).toBeGreaterThanOrEqual(390)
      expect(e.reason._tag).toBe("ConnectionLost")
      for (const a of t.addresses) expect(e.reason.message).toContain(`${a.host}:${a.port}`)
      // a path that returns within the deadline serves the waiting command
      const waiting = yield* Effect.forkChild(read(3000))
      yield* Effect.sleep("200 millis")
      t.setPortalDown(1, false)
      const r = yield* Fiber.join(waiting)
      expect(r.status).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(env))
  )
})

describe("Multipath: what the logical unit reports", () => {
  it.live("CAPACITY DATA HAS CHANGED on a path makes the device learn the block size again", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ portals: 2, luns: [{ lun: 1, blocks: 2048 }] })
      const m = yield* open(t)
      const capacityReads = () => t.sent("ScsiCommand").filter((c) => c.cdb[0] === 0x9e || c.cdb[0] === 0x25).length
      yield* on(m)(Scsi.read10(1, 0, 1))
      yield* on(m)(Scsi.read10(1, 1, 1))
      expect(capacityReads()).toBe(1)
      t.raiseUnitAttention(0x2a, 0x09)
      // each path's nexus reports it once; the runner's retry absorbs it, the device forgets the geometry
      yield* on(m)(Scsi.read10(1, 2, 1))
      yield* on(m)(Scsi.read10(1, 3, 1))
      yield* Effect.sleep("50 millis")
      yield* on(m)(Scsi.read10(1, 4, 1))
      expect(capacityReads()).toBeGreaterThan(1)
    }).pipe(Effect.scoped, Effect.provide(env))
  )
})

describe("Multipath with ALUA on the fake target", () => {
  it.live("reads the access states: optimized paths carry the I/O, a non-optimized one stands by", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        portals: 3,
        alua: { groups: [1, 2, 1], states: { 1: AccessState.ActiveOptimized, 2: AccessState.ActiveNonOptimized } }
      })
      const m = yield* open(t)
      expect(yield* stateOf(m)).toEqual([
        ["active", "active/optimized"],
        ["standby", "active/non-optimized"],
        ["active", "active/optimized"]
      ])
      expect((yield* m.paths).map((p) => p.alua?.group)).toEqual([1, 2, 1])
      const until = Date.now() + 200
      const r = yield* load(m, 8, () => Date.now() > until)
      expect(r.failures).toEqual([])
      expect(io(t, 1)).toBe(0)
      expect(io(t, 0)).toBeGreaterThan(10)
      expect(io(t, 2)).toBeGreaterThan(10)
      // the optimized group gone, the non-optimized one carries the I/O
      t.setAccessState(1, AccessState.Unavailable)
      const after = yield* load(
        m,
        8,
        (() => {
          const end = Date.now() + 300
          return () => Date.now() > end
        })()
      )
      expect(after.failures).toEqual([])
      expect(after.notGood).toEqual([])
      expect(yield* stateOf(m)).toEqual([
        ["standby", "unavailable"],
        ["active", "active/non-optimized"],
        ["standby", "unavailable"]
      ])
      expect(io(t, 1)).toBeGreaterThan(10)
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("an access state change under QD16 load (UNIT ATTENTION 2A/06): re-read, I/O moves, no command fails", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        portals: 2,
        alua: { states: { 1: AccessState.ActiveOptimized, 2: AccessState.Standby } }
      })
      const m = yield* open(t, { aluaIntervalMs: 0 })
      const events = yield* collect(m.events)
      const rtpg = () => t.sent("ScsiCommand").filter((c) => c.cdb[0] === 0xa3).length
      const rtpg0 = rtpg()
      let stop = false
      const running = yield* Effect.forkChild(load(m, 16, () => stop))
      yield* Effect.sleep("150 millis")
      // the target swaps the groups and raises 2A/06 on every nexus
      t.setAccessState(2, AccessState.ActiveOptimized, { unitAttention: false })
      t.setAccessState(1, AccessState.Standby)
      expect(yield* eventually(() => events.some((e) => e._tag === "AccessChanged" && e.path.index === 1), 2000)).toBe(
        true
      )
      yield* Effect.sleep("100 millis")
      const moved = io(t, 0)
      yield* Effect.sleep("200 millis")
      stop = true
      const r = yield* Fiber.join(running)
      expect(r.failures).toEqual([])
      expect(r.notGood).toEqual([])
      expect(r.ops).toBeGreaterThan(100)
      // after the switch nothing went to the standby port
      expect(io(t, 0)).toBe(moved)
      expect(yield* stateOf(m)).toEqual([
        ["standby", "standby"],
        ["active", "active/optimized"]
      ])
      expect(rtpg()).toBeGreaterThan(rtpg0)
      expect(events.some((e) => e._tag === "AluaRead" && e.reason.includes("2A/06"))).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("no Unit Attention, only NOT READY 04/0B from the port gone standby: re-read and sent elsewhere", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        portals: 2,
        alua: { states: { 1: AccessState.ActiveOptimized, 2: AccessState.Standby } }
      })
      const m = yield* open(t, { aluaIntervalMs: 0 })
      t.setAccessState(2, AccessState.ActiveOptimized, { unitAttention: false })
      t.setAccessState(1, AccessState.Standby, { unitAttention: false })
      const data = yield* on(m)(Scsi.read10(0, 0, 4, { blockSize: 512 }))
      expect(data).toHaveLength(2048)
      const notReady = t.received.filter((r) => r.portal === 0 && r.pdu._tag === "ScsiCommand" && r.pdu.cdb[0] === 0x28)
      expect(notReady).toHaveLength(1)
      expect(io(t, 1)).toBe(1)
      expect(yield* stateOf(m)).toEqual([
        ["standby", "standby"],
        ["active", "active/optimized"]
      ])
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live(
    "a transition with no usable path: commands wait, the states are polled, they finish when a group is optimized",
    () =>
      Effect.gen(function* () {
        const t = yield* FakeTarget.make({
          portals: 2,
          alua: { states: { 1: AccessState.ActiveOptimized, 2: AccessState.Standby } }
        })
        const m = yield* open(t, { aluaIntervalMs: 0 })
        t.setAccessState(1, AccessState.Transitioning, { unitAttention: false })
        let stop = false
        const running = yield* Effect.forkChild(load(m, 4, () => stop))
        yield* Effect.sleep("400 millis")
        expect((yield* m.paths).some((p) => p.state === "active")).toBe(false)
        // the target finishes the transition on group 2 and says nothing: the poll finds it
        t.setAccessState(2, AccessState.ActiveOptimized, { unitAttention: false })
        t.setAccessState(1, AccessState.Standby, { unitAttention: false })
        expect(yield* eventually(() => io(t, 1) > 20, 3000)).toBe(true)
        stop = true
        const r = yield* Fiber.join(running)
        expect(r.failures).toEqual([])
        expect(r.notGood).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("an asynchronous event (AsyncEvent 0, 2A/06) on an idle path makes the device re-read the states", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        portals: 2,
        alua: { states: { 1: AccessState.ActiveOptimized, 2: AccessState.ActiveNonOptimized } }
      })
      const m = yield* open(t, { aluaIntervalMs: 0 })
      t.setAccessState(2, AccessState.ActiveOptimized, { unitAttention: false })
      const sense = new Uint8Array(2 + 18)
      sense[1] = 18
      sense[2] = 0x70
      sense[4] = 6
      sense[9] = 10
      sense[14] = 0x2a
      sense[15] = 0x06
      for (const c of t.live) if (c.portal === 1) c.asyncMessage(0, { lun: 0n, data: sense })
      expect(
        yield* eventually(() => {
          const ps = Effect.runSync(m.paths)
          return ps.every((p) => p.state === "active")
        }, 2000)
      ).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("every path unavailable past the deadline: ConnectionLost naming each path's state", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        portals: 2,
        alua: { states: { 1: AccessState.Unavailable, 2: AccessState.Unavailable } }
      })
      const m = yield* open(t, { aluaIntervalMs: 0 })
      expect((yield* m.paths).map((p) => p.state)).toEqual(["standby", "standby"])
      const e = yield* Effect.flip(
        m.transport.execute({
          lun: 0,
          cdb: Uint8Array.of(0, 0, 0, 0, 0, 0),
          direction: "none",
          timeoutMs: 300
        })
      )
      expect(e.reason._tag).toBe("ConnectionLost")
      expect(e.reason.message.match(/standby \(unavailable\)/g)).toHaveLength(2)
    }).pipe(Effect.scoped, Effect.provide(env))
  )
})
