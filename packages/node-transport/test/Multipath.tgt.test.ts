/**
 * The multipath device against a private real tgtd listening on two loopback portals (127.0.0.1:P
 * and 127.0.0.2:P, the second added with tgtadm), one path direct and one through a fault proxy in
 * front of 127.0.0.2: VPD 83h identity on both, round-robin / failover / least-outstanding, a QD32
 * verifying write/read load while the proxied path is killed (its connections reset, new ones
 * refused) and restored several times (no failed command, no lost byte, the restored path carrying
 * I/O again within a stated bound), a non-idempotent command caught on the dying path, discovery
 * of the paths by SendTargets and iSNS, and a portal of another tgtd whose LUN has another
 * identity. tgt does not do ALUA (TPGS 0): Multipath.fake.test.ts covers that.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type IscsiError, Negotiation, Pool } from "@effect-iscsi/core"
import { ScsiTransport, type ScsiTransportService } from "@effect-iscsi/core/ScsiTransport"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Multipath, Scsi, type ScsiError } from "@effect-iscsi/scsi"
import { FaultProxy, Isns, Tgt } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import { collect, eventually, pattern, read10, write10 } from "./support.ts"

const SECOND = "127.0.0.2"
const INITIATOR = "iqn.2026-11.io.effect-iscsi:multipath-tgt"

let tgtd: Tgt.TgtInstance
beforeAll(async () => {
  tgtd = await Tgt.start({ targets: ["disk"], lunSize: 16 * 1024 * 1024 })
  Tgt.ensurePortal(tgtd.controlPort, SECOND, tgtd.info.port)
}, 60_000)
afterAll(async () => {
  await tgtd?.stop()
})

const disk = () => tgtd.info.targets.disk
const direct = () => ({ host: tgtd.info.host, port: tgtd.info.port })
const second = () => ({ host: SECOND, port: tgtd.info.port })

const target = (address: { host: string; port: number }): Pool.Target => ({
  address,
  initiatorName: `${INITIATOR}-${Math.random().toString(36).slice(2, 8)}`,
  targetName: disk().iqn,
  auth: { _tag: "None" },
  offer: Negotiation.defaultOffer,
  loginTimeoutMs: 2000,
  commandTimeoutMs: 20_000
})

const env = Layer.provideMerge(Pool.layer(), IscsiClient.nodeLayer())

/** A proxy in front of the second portal. */
const proxied = () => FaultProxy.make({ upstream: second() })

const on =
  (m: Multipath.MultipathShape) =>
  <A, E>(eff: Effect.Effect<A, E, ScsiTransport>) =>
    Effect.provideService(eff, ScsiTransport, m.transport)

const commandsOf = (m: Multipath.MultipathShape) => Effect.map(m.paths, (ps) => ps.map((p) => p.commands))

/** Sessions of our initiator on the disk target, as tgtd lists them. */
const nexuses = (initiator: string) =>
  tgtd.tgtadm(["--mode", "conn", "--op", "show", "--tid", String(disk().tid)]).split(`Initiator: ${initiator}`).length -
  1

const fileBlock = (lba: number, blocks = 1) => {
  const fd = Fs.openSync(disk().luns[0]!.path!, "r")
  const b = Buffer.alloc(512 * blocks)
  Fs.readSync(fd, b, 0, b.length, lba * 512)
  Fs.closeSync(fd)
  return new Uint8Array(b)
}

interface Verified {
  readonly ops: number
  readonly verified: number
  readonly failures: Array<IscsiError.IscsiError>
  readonly notGood: Array<string>
}

/**
 * Mixed READ/WRITE (1..32 blocks) at queue depth `qd` on [base, base+span) of LUN 1 through the
 * device's transport until `until()`; a write to blocks with a write in flight becomes a read. Every
 * outcome is kept; then every acknowledged write is compared with the backing file.
 */
const verifyingLoad = (t: ScsiTransportService, base: number, span: number, qd: number, until: () => boolean) =>
  Effect.gen(function* () {
    const model = new Map<number, Uint8Array>()
    const inFlight = new Set<number>()
    const failures: Array<IscsiError.IscsiError> = []
    const notGood: Array<string> = []
    let ops = 0
    let i = 0
    const worker = Effect.gen(function* () {
      while (!until()) {
        const n = i++
        const blocks = 1 + ((n * 7919) % 32)
        const lba = base + ((n * 104729) % (span - blocks))
        let overlaps = false
        for (let b = 0; b < blocks; b++) if (inFlight.has(lba + b)) overlaps = true
        if (n % 2 === 0 && !overlaps) {
          const data = new Uint8Array(blocks * 512)
          for (let b = 0; b < blocks; b++) data.set(pattern(lba + b, 512, n), b * 512)
          for (let b = 0; b < blocks; b++) inFlight.add(lba + b)
          const r = yield* Effect.result(t.execute(write10(1, lba, data)))
          if (r._tag === "Failure") {
            failures.push(r.failure)
            for (let b = 0; b < blocks; b++) model.delete(lba + b)
          } else if (r.success.status !== 0) {
            notGood.push(Buffer.from(r.success.sense ?? []).toString("hex"))
            for (let b = 0; b < blocks; b++) model.delete(lba + b)
          } else {
            for (let b = 0; b < blocks; b++) model.set(lba + b, data.subarray(b * 512, (b + 1) * 512))
          }
          for (let b = 0; b < blocks; b++) inFlight.delete(lba + b)
        } else {
          const r = yield* Effect.result(t.execute(read10(1, lba, blocks)))
          if (r._tag === "Failure") failures.push(r.failure)
          else if (r.success.status !== 0) notGood.push(Buffer.from(r.success.sense ?? []).toString("hex"))
          else if (r.success.data.length !== blocks * 512) notGood.push(`short read ${r.success.data.length}`)
        }
        ops++
      }
    })
    yield* Effect.all(
      Array.from({ length: qd }, () => worker),
      { concurrency: "unbounded", discard: true }
    )
    // the oracle: every acknowledged write is in the backing file, byte for byte
    let lost = 0
    for (const [lba, data] of model) if (!Buffer.from(fileBlock(lba)).equals(data)) lost++
    expect(lost).toBe(0)
    return { ops, verified: model.size, failures, notGood } satisfies Verified
  })

describe("Multipath against tgtd on two portals", () => {
  it.live(
    "round-robin over 127.0.0.1 and 127.0.0.2: same VPD 83h, two I_T nexuses, I/O on both, data in the file",
    () =>
      Effect.gen(function* () {
        const t = target(direct())
        const m = yield* Multipath.make({ target: t, portals: [second()], lun: 1 })
        const ps = yield* m.paths
        expect(ps.map((p) => [p.portal, p.state, p.access])).toEqual([
          [`127.0.0.1:${tgtd.info.port}`, "active", "optimized"],
          [`127.0.0.2:${tgtd.info.port}`, "active", "optimized"]
        ])
        expect(ps[0]!.isid).not.toBe(ps[1]!.isid)
        expect(nexuses(t.initiatorName)).toBe(2)
        // tgt names the same logical unit through both (its designators derive from tid and LUN)
        const ids = yield* Effect.forEach([0, 1], () => on(m)(Scsi.deviceIdentification(1)))
        expect(ids[0]!.map((d) => d.text)).toEqual(ids[1]!.map((d) => d.text))
        const data = pattern(3000, 128 * 512, 7)
        yield* Effect.forEach(
          Array.from({ length: 16 }, (_, i) => i),
          (i) => on(m)(Scsi.write10(1, 3000 + 8 * i, data.subarray(i * 4096, (i + 1) * 4096))),
          { concurrency: 8, discard: true }
        )
        expect(fileBlock(3000, 128)).toEqual(data)
        expect(yield* on(m)(Scsi.read10(1, 3000, 128))).toEqual(data)
        const [a, b] = yield* commandsOf(m)
        expect(a).toBeGreaterThan(5)
        expect(b).toBeGreaterThan(5)
      }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live(
    "failover: all I/O on the first path; killed, the second takes it with no failure; restored, it fails back",
    () =>
      Effect.gen(function* () {
        const proxy = yield* proxied()
        const m = yield* Multipath.make({
          target: target(proxy.address),
          portals: [direct()],
          policy: "failover",
          lun: 1,
          probeIntervalMs: 200
        })
        expect((yield* m.paths).map((p) => p.state)).toEqual(["active", "standby"])
        const run = (ms: number) => {
          const end = Date.now() + ms
          return verifyingLoad(m.transport, 10_000, 4000, 8, () => Date.now() > end)
        }
        const first = yield* run(300)
        const [a0, b0] = yield* commandsOf(m)
        expect(a0).toBeGreaterThan(50)
        expect(b0).toBe(0)
        proxy.kill()
        const during = yield* run(600)
        const [a1, b1] = yield* commandsOf(m)
        expect(b1).toBeGreaterThan(50)
        expect((yield* m.paths).map((p) => p.state)).toEqual(["failed", "active"])
        proxy.restore()
        expect(yield* eventually(() => Effect.runSync(m.paths)[0]!.state === "active", 2000)).toBe(true)
        const after = yield* run(300)
        const [a2, b2] = yield* commandsOf(m)
        expect(a2).toBeGreaterThan(a1 + 20)
        expect(b2 - b1).toBeLessThan(10)
        for (const r of [first, during, after]) {
          expect(r.failures.map((f) => f.message)).toEqual([])
          expect(r.notGood).toEqual([])
        }
      }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("least-outstanding: a path gone silent (frozen) gets nothing new; thawed, everything completes", () =>
    Effect.gen(function* () {
      const proxy = yield* proxied()
      const m = yield* Multipath.make({
        target: target(direct()),
        portals: [proxy.address],
        policy: "least-outstanding",
        lun: 1
      })
      proxy.freeze()
      let stop = false
      const running = yield* Effect.forkChild(verifyingLoad(m.transport, 20_000, 4000, 16, () => stop))
      yield* Effect.sleep("600 millis")
      const [a, b] = yield* commandsOf(m)
      const stuck = (yield* m.paths)[1]!.outstanding
      // what went to the silent path before its outstanding count told stays there; nothing more
      expect(b).toBeLessThan(20)
      expect(stuck).toBe(b)
      expect(a).toBeGreaterThan(200)
      proxy.thaw()
      stop = true
      const r = yield* Fiber.join(running)
      expect(r.failures).toEqual([])
      expect(r.notGood).toEqual([])
      expect((yield* m.paths).map((p) => [p.state, p.outstanding])).toEqual([
        ["active", 0],
        ["active", 0]
      ])
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live(
    "QD32 verifying write/read load, the proxied path killed and restored 5 times: 0 failed commands, 0 bytes lost, back within 2 s",
    () =>
      Effect.gen(function* () {
        const proxy = yield* proxied()
        // round-robin over the direct path and the proxied one, probed every 500 ms (the default)
        const m = yield* Multipath.make({ target: target(direct()), portals: [proxy.address], lun: 1 })
        const events = yield* collect(m.events)
        let stop = false
        const running = yield* Effect.forkChild(verifyingLoad(m.transport, 4000, 24_000, 32, () => stop))
        const backAfter: Array<number> = []
        for (let cycle = 0; cycle < 5; cycle++) {
          yield* Effect.sleep("1500 millis")
          proxy.kill()
          yield* Effect.sleep("1000 millis")
          expect((yield* m.paths)[1]!.state === "active").toBe(false)
          const before = (yield* m.paths)[1]!.commands
          proxy.restore()
          const restored = Date.now()
          // the restored path carries I/O again: its command count moves
          while ((yield* m.paths)[1]!.commands === before && Date.now() - restored < 5000) {
            yield* Effect.sleep("5 millis")
          }
          backAfter.push(Date.now() - restored)
        }
        yield* Effect.sleep("500 millis")
        stop = true
        const r = yield* Fiber.join(running)
        const ps = yield* m.paths
        const reissued = events.filter((e) => e._tag === "Reissued").length
        console.log(
          `multipath soak: ${r.ops} commands at QD32, ${r.verified} acknowledged blocks verified, 0 lost, ` +
            `${r.failures.length} failed, ${reissued} re-issued on the other path, ${proxy.counters.refused} logins refused while down, ` +
            `restored path carrying I/O again after ${backAfter.join(", ")} ms; per path commands ${ps.map((p) => p.commands).join(" / ")}`
        )
        expect(r.failures.map((f) => f.message)).toEqual([])
        expect(r.notGood).toEqual([])
        expect(r.verified).toBeGreaterThan(1000)
        expect(ps[1]!.failures).toBe(5)
        expect(reissued).toBeGreaterThan(0)
        // the bound: one probe interval (500 ms) + login + identity check, well within 2 s
        for (const ms of backAfter) expect(ms).toBeLessThan(2000)
        expect(ps.map((p) => [p.state, p.outstanding])).toEqual([
          ["active", 0],
          ["active", 0]
        ])
      }).pipe(Effect.scoped, Effect.provide(env)),
    120_000
  )

  it.live(
    "a path that goes silent under load is taken out by its keepalive; its commands finish on the other path",
    () =>
      Effect.gen(function* () {
        const proxy = yield* proxied()
        // keepalive: a NOP after 500 ms of silence, the path declared dead 1000 ms after that
        const m = yield* Multipath.make({
          target: { ...target(direct()), keepaliveIntervalMs: 500, keepaliveTimeoutMs: 1000 },
          portals: [proxy.address],
          lun: 1
        })
        let stop = false
        const running = yield* Effect.forkChild(verifyingLoad(m.transport, 2000, 1500, 16, () => stop))
        yield* Effect.sleep("300 millis")
        proxy.freeze()
        const frozen = Date.now()
        expect(yield* eventually(() => Effect.runSync(m.paths)[1]!.state !== "active", 5000)).toBe(true)
        const takenOut = Date.now() - frozen
        yield* Effect.sleep("300 millis")
        stop = true
        const r = yield* Fiber.join(running)
        console.log(`a silent path was taken out after ${takenOut} ms (keepalive 500 + 1000 ms)`)
        expect(takenOut).toBeLessThan(3000)
        expect(r.failures.map((f) => f.message)).toEqual([])
        expect(r.notGood).toEqual([])
        expect((yield* m.paths)[1]!.reissued).toBeGreaterThan(0)
      }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live("a non-idempotent command in flight on the dying path fails typed; idempotent ones finish on the other", () =>
    Effect.gen(function* () {
      const proxy = yield* proxied()
      const m = yield* Multipath.make({
        target: target(proxy.address),
        portals: [direct()],
        policy: "failover",
        lun: 1
      })
      const events = yield* collect(m.events)
      // the primary goes silent with commands on it, then dies
      proxy.freeze()
      const reads = yield* Effect.forkChild(
        Effect.forEach(
          Array.from({ length: 8 }, (_, i) => i),
          (i) => m.transport.execute(read10(1, 30_000 + i, 1)),
          { concurrency: "unbounded" }
        )
      )
      const raw = pattern(30_100, 512, 5)
      const write = yield* Effect.forkChild(
        Effect.flip(
          on(m)(Scsi.raw(1, Uint8Array.of(0x2a, 0, 0, 0, 0x75, 0x94, 0, 0, 1, 0), { direction: "write", dataOut: raw }))
        )
      )
      expect(yield* eventually(() => Effect.runSync(m.paths)[0]!.outstanding === 9)).toBe(true)
      proxy.kill()
      const done = yield* Fiber.join(reads)
      expect(done.map((r) => r.status)).toEqual(Array(8).fill(0))
      const e = yield* Fiber.join(write)
      expect(e._tag).toBe("IscsiError")
      const ie = e as IscsiError.IscsiError
      expect(ie.reason._tag).toBe("ConnectionLost")
      expect(ie.reason.message).toContain("not safe to repeat")
      // the 8 reads went again on the surviving path, the write did not: it is nowhere on the disk
      expect(events.filter((x) => x._tag === "Reissued")).toHaveLength(8)
      expect(Buffer.from(fileBlock(30_100)).equals(Buffer.from(raw))).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(env))
  )

  it.live(
    "discovery: SendTargets from tgt names one portal (one path); iSNS names both (two paths)",
    () =>
      Effect.gen(function* () {
        const viaSendTargets = yield* Effect.scoped(
          Effect.flatMap(Multipath.make({ target: target(direct()), discovery: "sendtargets", lun: 1 }), (m) => m.paths)
        )
        expect(viaSendTargets.map((p) => p.portal)).toEqual([`127.0.0.1:${tgtd.info.port}`])
        const isnsd = yield* Effect.acquireRelease(
          Effect.promise(() => Isns.start()),
          (i) => Effect.promise(() => i.stop())
        )
        isnsd.register({
          entity: "effect-iscsi-multipath",
          portals: [direct(), second()],
          targets: [{ name: disk().iqn }]
        })
        const m = yield* Multipath.make({
          target: target(direct()),
          discovery: { isns: { host: isnsd.info.host, port: isnsd.info.port } },
          lun: 1
        })
        const ps = yield* m.paths
        expect(ps.map((p) => [p.portal, p.state])).toEqual([
          [`127.0.0.1:${tgtd.info.port}`, "active"],
          [`127.0.0.2:${tgtd.info.port}`, "active"]
        ])
        // the URL's portal gets its portal group tag from iSNS too
        expect(ps.map((p) => p.address.tpgt)).toEqual([1, 1])
        yield* on(m)(Scsi.testUnitReady(1))
      }).pipe(Effect.scoped, Effect.provide(env)),
    60_000
  )

  it.live(
    "a portal of another tgtd, same target name, whose LUN has another identity: PathIdentityMismatch",
    () =>
      Effect.gen(function* () {
        const other = yield* Effect.acquireRelease(
          Effect.promise(() => Tgt.start({ targets: ["disk"], lunSize: 1024 * 1024 })),
          (o) => Effect.promise(() => o.stop())
        )
        // tgt derives its designators from tid and LUN: give this one its own (scsi_id, scsi_sn)
        other.tgtadm([
          "--mode",
          "logicalunit",
          "--op",
          "update",
          "--tid",
          "1",
          "--lun",
          "1",
          "--params",
          "scsi_id=another-disk,scsi_sn=ANOTHER0001"
        ])
        const e = yield* Effect.flip(
          Effect.scoped(
            Multipath.make({
              target: target(direct()),
              portals: [{ host: other.info.host, port: other.info.port }],
              lun: 1
            })
          )
        )
        expect(e._tag).toBe("ScsiError")
        const r = (e as ScsiError.ScsiError).reason
        if (r._tag !== "PathIdentityMismatch") throw new Error(`not a mismatch: ${r._tag}`)
        expect([r.portal, r.referencePortal].sort()).toEqual(
          [`127.0.0.1:${tgtd.info.port}`, `127.0.0.1:${other.info.port}`].sort()
        )
        const theirs = r.portal === `127.0.0.1:${other.info.port}` ? r.designators : r.referenceDesignators
        expect(theirs).toContain("logical unit T10 vendor ID: another-disk")
      }).pipe(Effect.scoped, Effect.provide(env)),
    60_000
  )
})
