/**
 * The command programs against an in-memory SBC disk (test/support/FakeDisk.ts) that parses the
 * CDBs independently: round trips prove builders and decoders agree; scripted faults prove status
 * mapping, retries (and their limits) and interruption.
 */
import * as IscsiError from "@effect-iscsi/core/IscsiError"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import { ExtendedCopy, ModePages, PersistentReservation, Scsi, Sense } from "../src/index.ts"
import * as Fake from "./support/FakeDisk.ts"

const noDelay = { retries: 5, backoff: () => 0 }

const run = <A, E>(
  disk: Fake.FakeDisk,
  eff: Effect.Effect<A, E, import("@effect-iscsi/core/ScsiTransport").ScsiTransport>
) => eff.pipe(Scsi.withPolicy(noDelay), Effect.provide(Fake.layer(disk, { luns: [1, 2, 300] })))

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)

const reasonTag = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const err = exit.cause.reasons.find((r) => r._tag === "Fail")
  const e = err?._tag === "Fail" ? (err.error as { _tag: string; reason: { _tag: string } }) : undefined
  return e === undefined ? "no-fail" : `${e._tag}/${e.reason._tag}`
}

describe("Scsi programs on a fake disk", () => {
  it.effect("the used-by line: read10 after write10 (default 512-byte blocks)", () => {
    const disk = Fake.make()
    const data = pattern(4 * 512, 1)
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.write10(1, 100, data)
        const back = yield* Scsi.read10(1, 100, 4)
        expect(back).toEqual(data)
        expect(disk.log.at(-1)?.readLength).toBe(2048)
      })
    )
  })

  it.effect("READ/WRITE 6/10/12/16 with DPO/FUA and a 4096-byte block size", () => {
    const disk = Fake.make({ blockSize: 4096, blocks: 512 })
    const o = { blockSize: 4096 }
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.write6(1, 1, pattern(4096, 6), o)
        yield* Scsi.write10(1, 2, pattern(8192, 10), { ...o, fua: true })
        yield* Scsi.write12(1, 4, pattern(4096, 12), { ...o, dpo: true })
        yield* Scsi.write16(1, 5, pattern(4096, 16), { ...o, dpo: true, fua: true })
        expect(yield* Scsi.read6(1, 1, 1, o)).toEqual(pattern(4096, 6))
        expect(yield* Scsi.read10(1, 2, 2, { ...o, fua: true })).toEqual(pattern(8192, 10))
        expect(yield* Scsi.read12(1, 4, 1, o)).toEqual(pattern(4096, 12))
        expect(yield* Scsi.read16(1, 5, 1, { ...o, dpo: true })).toEqual(pattern(4096, 16))
        expect(disk.log.map((r) => r.cdb[1])).toEqual([0x00, 0x08, 0x10, 0x18, 0x00, 0x08, 0x00, 0x10])
      })
    )
  })

  it.effect("write data not a multiple of the block size fails before sending", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        const exit = yield* Effect.exit(Scsi.write10(1, 0, new Uint8Array(100)))
        expect(reasonTag(exit)).toBe("ScsiError/InvalidArgument")
        const exit2 = yield* Effect.exit(Scsi.read10(1, 0x1_0000_0000, 1))
        expect(reasonTag(exit2)).toBe("ScsiError/InvalidArgument")
        // only READ CAPACITY (16), once, to learn the LUN's block size: no WRITE, no READ
        expect(disk.log.map((r) => r.cdb[0])).toEqual([0x9e])
      })
    )
  })

  it.effect("read past the last LBA → CHECK CONDITION ILLEGAL REQUEST / LBA OUT OF RANGE, not retried", () => {
    const disk = Fake.make({ blocks: 100 })
    return run(
      disk,
      Effect.gen(function* () {
        const e = yield* Effect.flip(Scsi.read10(1, 99, 2))
        expect(e._tag).toBe("ScsiError")
        if (e._tag !== "ScsiError" || e.reason._tag !== "CheckCondition") throw new Error("expected CheckCondition")
        expect([e.reason.senseKey, e.reason.asc, e.reason.ascq]).toEqual([Sense.SenseKey.IllegalRequest, 0x21, 0x00])
        expect(e.isRetryable).toBe(false)
        // READ CAPACITY to learn the block size, then the READ, once
        expect(disk.log.map((r) => r.cdb[0])).toEqual([0x9e, 0x28])
      })
    )
  })

  it.effect("TEST UNIT READY, INQUIRY, VPD pages, READ CAPACITY", () => {
    const disk = Fake.make({ blocks: 2048 })
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.testUnitReady(1)
        const inq = yield* Scsi.inquiry(1)
        expect([inq.vendorId, inq.productId, inq.productRevision, inq.cmdque, inq.version]).toEqual([
          "FAKE",
          "DISK",
          "0001",
          true,
          6
        ])
        expect(yield* Scsi.supportedVpdPages(1)).toEqual([0x00, 0x80, 0x83, 0x85, 0x86, 0x87, 0x88, 0xb0, 0xb1, 0xb2])
        expect(yield* Scsi.unitSerialNumber(1)).toBe("SN0001")
        const ids = yield* Scsi.deviceIdentification(1)
        expect(ids.map((d) => [d.designatorTypeName, d.text])).toEqual([
          ["T10 vendor ID", "FAKEDISK"],
          ["NAA", "6001020304050607"]
        ])
        expect(ids[1].naa).toBe(6)
        const bl = yield* Scsi.blockLimits(1)
        expect([bl.maximumCompareAndWriteLength, bl.maximumTransferLength]).toEqual([1, 0x1000])
        const bdc = yield* Scsi.blockDeviceCharacteristics(1)
        expect([bdc.mediumRotationRate, bdc.fuab]).toEqual([1, true])
        const lbp = yield* Scsi.logicalBlockProvisioning(1)
        expect([lbp.lbpu, lbp.lbpws, lbp.lbpws10, lbp.provisioningType]).toEqual([true, true, true, 2])
        expect(yield* Scsi.readCapacity10(1)).toEqual({
          lastLba: 2047,
          blockSize: 512,
          blockCount: 2048,
          needs16: false
        })
        const c16 = yield* Scsi.readCapacity16(1)
        expect([c16.lastLba, c16.blockSize, c16.lbpme]).toEqual([2047, 512, true])
      })
    )
  })

  it.effect("VERIFY, WRITE AND VERIFY, SYNCHRONIZE CACHE, START STOP UNIT, REPORT LUNS, REQUEST SENSE", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.writeAndVerify10(1, 10, pattern(512, 3))
        yield* Scsi.writeAndVerify16(1, 11, pattern(512, 4))
        yield* Scsi.verify10(1, 10, 1)
        yield* Scsi.verify16(1, 10, 2, { data: Uint8Array.from([...pattern(512, 3), ...pattern(512, 4)]) })
        const e = yield* Effect.flip(Scsi.verify10(1, 10, 1, { data: pattern(512, 9) }))
        expect(e._tag === "ScsiError" && e.reason._tag).toBe("Miscompare")
        yield* Scsi.synchronizeCache10(1)
        yield* Scsi.synchronizeCache16(1, { lba: 10, blocks: 2, immediate: true })
        yield* Scsi.startStopUnit(1, { start: true })
        const luns = yield* Scsi.reportLuns()
        expect(luns.luns.map((l) => [l.addressMethod, l.lun])).toEqual([
          ["peripheral", 0],
          ["peripheral", 1],
          ["peripheral", 2],
          ["flat", 300]
        ])
        const s = yield* Scsi.requestSense(1)
        expect([s.format, s.senseKey]).toEqual(["fixed", 0])
        const d = yield* Scsi.requestSense(1, { descriptorFormat: true })
        expect(d.format).toBe("descriptor")
      })
    )
  })

  it.effect("MODE SENSE 6/10 decode caching and control; MODE SELECT changes them", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        const m6 = yield* Scsi.modeSense6(1)
        expect(m6.blockDescriptors).toEqual([{ blocks: 2048, blockLength: 512 }])
        expect([m6.dpofua, m6.caching?.wce, m6.control?.dSense]).toEqual([true, true, false])
        const caching = m6.caching!
        yield* Scsi.modeSelect6(1, [ModePages.encodeCaching({ ...caching, wce: false })])
        const m10 = yield* Scsi.modeSense10(1, { page: ModePages.PageCode.Caching, dbd: true })
        expect([m10.blockDescriptors.length, m10.caching?.wce, m10.control]).toEqual([0, false, undefined])
        yield* Scsi.modeSelect10(1, [ModePages.encodeControl({ ...m6.control!, dSense: true })])
        expect((yield* Scsi.modeSense10(1, { page: ModePages.PageCode.Control })).control?.dSense).toBe(true)
        // With D_SENSE set the fake answers in descriptor format: still a typed LBA OUT OF RANGE.
        const e = yield* Effect.flip(Scsi.read16(1, 5000, 1))
        expect(
          e._tag === "ScsiError" && e.reason._tag === "CheckCondition" && [e.reason.sense.format, e.reason.asc]
        ).toEqual(["descriptor", 0x21])
      })
    )
  })

  it.effect("UNMAP, WRITE SAME (with UNMAP), GET LBA STATUS", () => {
    const disk = Fake.make()
    disk.data.fill(0xaa)
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.unmap(1, [
          { lba: 0, blocks: 2 },
          { lba: 10, blocks: 1 }
        ])
        expect(disk.data.subarray(0, 1024).every((b) => b === 0)).toBe(true)
        expect(disk.data[1024]).toBe(0xaa)
        yield* Scsi.writeSame10(1, 20, 3, pattern(512, 7))
        expect(yield* Scsi.read10(1, 20, 3)).toEqual(
          Uint8Array.from([...pattern(512, 7), ...pattern(512, 7), ...pattern(512, 7)])
        )
        yield* Scsi.writeSame16(1, 20, 3, pattern(512, 7), { unmap: true })
        expect((yield* Scsi.read10(1, 20, 3)).every((b) => b === 0)).toBe(true)
        yield* Scsi.writeSame16(1, 30, 1, undefined, { ndob: true })
        expect(disk.log.at(-1)?.direction).toBe("none")
        const st = yield* Scsi.getLbaStatus(1, 100)
        expect(st).toEqual([{ lba: 100, blocks: 1948, provisioningStatus: 0, status: "mapped", additionalStatus: 0 }])
      })
    )
  })

  it.effect("COMPARE AND WRITE: success, then a non-retryable Miscompare with the offset", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.write10(1, 50, pattern(512, 1))
        yield* Scsi.compareAndWrite(1, 50, pattern(512, 1), pattern(512, 2))
        expect(disk.log.at(-1)?.idempotent).toBe(false)
        expect(yield* Scsi.read10(1, 50, 1)).toEqual(pattern(512, 2))
        const wrong = pattern(512, 2)
        wrong[17] ^= 0xff
        const before = disk.log.length
        const e = yield* Effect.flip(Scsi.compareAndWrite(1, 50, wrong, pattern(512, 3)))
        expect(e._tag === "ScsiError" && e.reason._tag === "Miscompare" && [e.reason.offset, e.isRetryable]).toEqual([
          17,
          false
        ])
        expect(disk.log.length).toBe(before + 1)
      })
    )
  })

  it.effect("PERSISTENT RESERVE: register, reserve, read keys and reservation, conflict, release", () => {
    const disk = Fake.make()
    const PR = PersistentReservation
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.persistentReserveOut(1, PR.OutAction.Register, { serviceActionReservationKey: 0xabcn })
        expect(disk.log.at(-1)?.idempotent).toBe(false)
        expect((yield* Scsi.readKeys(1)).keys).toEqual([0xabcn])
        yield* Scsi.persistentReserveOut(
          1,
          PR.OutAction.Reserve,
          { reservationKey: 0xabcn },
          { type: PR.Type.WriteExclusive }
        )
        expect((yield* Scsi.readReservation(1)).reservation).toEqual({ key: 0xabcn, scope: 0, type: 1 })
        const e = yield* Effect.flip(Scsi.persistentReserveOut(1, PR.OutAction.Release, { reservationKey: 0x999n }))
        expect(e._tag === "ScsiError" && e.reason._tag).toBe("ReservationConflict")
        yield* Scsi.persistentReserveOut(1, PR.OutAction.Release, { reservationKey: 0xabcn })
        expect((yield* Scsi.readReservation(1)).reservation).toBeUndefined()
        const caps = yield* Scsi.reportCapabilities(1)
        expect([caps.crh, caps.ptplC, caps.tmv]).toEqual([true, true, true])
      })
    )
  })

  it.effect("raw: any CDB with direction and length", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        const r = yield* Scsi.raw(1, Uint8Array.from([0x12, 0, 0, 0, 36, 0]), { direction: "read", readLength: 36 })
        expect(r.data.length).toBe(36)
        const e = yield* Effect.flip(Scsi.raw(1, Uint8Array.from([0xff, 0, 0, 0, 0, 0]), { direction: "none" }))
        expect(e._tag === "ScsiError" && e.reason._tag === "CheckCondition" && e.reason.asc).toBe(0x20)
      })
    )
  })
})

describe("retries and interruption", () => {
  const ua = { _tag: "Status", status: 2, sense: Sense.encodeFixed({ senseKey: 6, asc: 0x29, ascq: 0 }) } as const
  const becomingReady = {
    _tag: "Status",
    status: 2,
    sense: Sense.encodeFixed({ senseKey: 2, asc: 4, ascq: 1 })
  } as const

  it.effect("UNIT ATTENTION, NOT READY becoming ready, BUSY, TASK SET FULL are retried, then success", () => {
    const disk = Fake.make()
    disk.faults.push(ua, becomingReady, { _tag: "Status", status: 0x08 }, { _tag: "Status", status: 0x28 })
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.testUnitReady(1)
        expect(disk.log.length).toBe(5)
      })
    )
  })

  it.effect("retries stop at the schedule's limit with the last error", () => {
    const disk = Fake.make()
    for (let i = 0; i < 10; i++) disk.faults.push(ua)
    return run(
      disk,
      Effect.gen(function* () {
        const e = yield* Effect.flip(Scsi.testUnitReady(1))
        expect(e._tag === "ScsiError" && e.reason._tag === "CheckCondition" && e.reason.senseKey).toBe(6)
        expect(disk.log.length).toBe(6)
      })
    )
  })

  it.effect("the schedule is configurable: no retries", () => {
    const disk = Fake.make()
    disk.faults.push(ua)
    return Effect.gen(function* () {
      const exit = yield* Effect.exit(Scsi.testUnitReady(1))
      expect(reasonTag(exit)).toBe("ScsiError/CheckCondition")
      expect(disk.log.length).toBe(1)
    }).pipe(Scsi.withPolicy({ retries: 0 }), Effect.provide(Fake.layer(disk)))
  })

  it.live("the default schedule retries with delays", () => {
    const disk = Fake.make()
    disk.faults.push(ua, ua)
    return Effect.gen(function* () {
      yield* Scsi.testUnitReady(1)
      expect(disk.log.length).toBe(3)
    }).pipe(Effect.provide(Fake.layer(disk)))
  })

  it.effect("non-retryable errors (ILLEGAL REQUEST, MEDIUM ERROR, RESERVATION CONFLICT) fail at once", () => {
    const disk = Fake.make()
    disk.faults.push({ _tag: "Status", status: 2, sense: Sense.encodeFixed({ senseKey: 3, asc: 0x11, ascq: 0 }) })
    disk.faults.push({ _tag: "Status", status: 0x18 })
    return run(
      disk,
      Effect.gen(function* () {
        const e1 = yield* Effect.flip(Scsi.read10(1, 0, 1))
        expect(e1._tag === "ScsiError" && e1.reason._tag === "CheckCondition" && e1.reason.senseKeyName).toBe(
          "MEDIUM ERROR"
        )
        const e2 = yield* Effect.flip(Scsi.read10(1, 0, 1))
        expect(e2._tag === "ScsiError" && e2.reason._tag).toBe("ReservationConflict")
        expect(disk.log.length).toBe(2)
      })
    )
  })

  it.effect("transport loss is retried for idempotent commands only", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.geometry(1)
        disk.faults.push({ _tag: "Transport" })
        const before = disk.log.length
        yield* Scsi.read10(1, 0, 1)
        expect(disk.log.length - before).toBe(2)
        disk.faults.push({ _tag: "Transport" })
        const e = yield* Effect.flip(Scsi.compareAndWrite(1, 0, new Uint8Array(512), new Uint8Array(512)))
        expect(e._tag === "IscsiError" && e.reason._tag).toBe("ConnectionLost")
        expect(disk.log.length - before).toBe(3)
        disk.faults.push({ _tag: "Transport" })
        const e2 = yield* Effect.flip(Scsi.persistentReserveOut(1, 0, { serviceActionReservationKey: 1n }))
        expect(e2 instanceof IscsiError.IscsiError).toBe(true)
      })
    )
  })

  it.effect("cancellation is interruption", () => {
    const disk = Fake.make()
    disk.faults.push({ _tag: "Hang" })
    return run(
      disk,
      Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(Scsi.read10(1, 0, 8))
        yield* Effect.yieldNow
        yield* Effect.yieldNow
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        expect(Exit.isFailure(exit) && exit.cause.reasons.some((r) => r._tag === "Interrupt")).toBe(true)
        expect(disk.log.length).toBe(1)
      })
    )
  })
})

describe("the task helpers of issue 19 on the fake disk (what tgt refuses, as SBC-4/SPC-5 say)", () => {
  const checkOf = (e: unknown): readonly [string, number, number, number] | string => {
    const x = e as { _tag: string; reason: { _tag: string; senseKey?: number; asc?: number; ascq?: number } }
    return x.reason._tag === "CheckCondition"
      ? ["CheckCondition", x.reason.senseKey!, x.reason.asc!, x.reason.ascq!]
      : `${x._tag}/${x.reason._tag}`
  }

  it.effect("PRE-FETCH (10)/(16): CONDITION MET when the blocks fit the cache, GOOD otherwise", () => {
    const disk = Fake.make({ blocks: 4096 })
    return run(
      disk,
      Effect.gen(function* () {
        expect(yield* Scsi.preFetch10(1, 0, 8)).toBe(true)
        expect(yield* Scsi.preFetch16(1, 0, Fake.CACHE_BLOCKS + 1, { immediate: true })).toBe(false)
        expect(yield* Scsi.preFetch10(1, 4000, 0)).toBe(true) // to the end: 96 blocks
        expect(checkOf(yield* Effect.flip(Scsi.preFetch16(1, 4095, 2)))).toEqual(["CheckCondition", 5, 0x21, 0])
        expect(disk.log.map((r) => r.cdb[0])).toEqual([0x34, 0x90, 0x34, 0x90])
      })
    )
  })

  it.effect("PREVENT ALLOW MEDIUM REMOVAL", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.preventAllowMediumRemoval(1, true)
        expect(disk.preventRemoval).toBe(true)
        yield* Scsi.preventAllowMediumRemoval(1, false)
        expect(disk.preventRemoval).toBe(false)
      })
    )
  })

  it.effect("ORWRITE (16): the data is ORed into the medium", () => {
    const disk = Fake.make()
    const a = pattern(1024, 1)
    const b = pattern(1024, 77)
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.write10(1, 20, a, { blockSize: 512 })
        yield* Scsi.orWrite16(1, 20, b, { blockSize: 512 })
        expect(yield* Scsi.read10(1, 20, 2, { blockSize: 512 })).toEqual(a.map((x, i) => x | b[i]!))
        expect(disk.log[1]?.cdb[0]).toBe(0x8b)
        expect(checkOf(yield* Effect.flip(Scsi.orWrite16(1, 0, new Uint8Array(100))))).toBe("ScsiError/InvalidArgument")
      })
    )
  })

  it.effect("WRITE ATOMIC (16): up to the maximum atomic transfer length, ILLEGAL REQUEST beyond", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        expect((yield* Scsi.blockLimits(1)).maximumAtomicTransferLength).toBe(Fake.MAX_ATOMIC_BLOCKS)
        const data = pattern(Fake.MAX_ATOMIC_BLOCKS * 512, 5)
        yield* Scsi.writeAtomic16(1, 100, data)
        expect(disk.data.subarray(100 * 512, 100 * 512 + data.length)).toEqual(data)
        const e = yield* Effect.flip(Scsi.writeAtomic16(1, 0, new Uint8Array((Fake.MAX_ATOMIC_BLOCKS + 1) * 512)))
        expect(checkOf(e)).toEqual(["CheckCondition", 5, 0x24, 0])
        expect(disk.data.subarray(0, 512).every((x) => x === 0)).toBe(true)
      })
    )
  })

  it.effect("VERIFY (12), WRITE AND VERIFY (12)", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.writeAndVerify12(1, 30, pattern(1024, 8), { blockSize: 512 })
        yield* Scsi.verify12(1, 30, 2)
        yield* Scsi.verify12(1, 30, 2, { data: pattern(1024, 8), blockSize: 512 })
        const e = yield* Effect.flip(Scsi.verify12(1, 30, 2, { data: pattern(1024, 9), blockSize: 512 }))
        expect(e._tag === "ScsiError" && e.reason._tag).toBe("Miscompare")
        expect(disk.log.map((r) => r.cdb[0])).toEqual([0xae, 0xaf, 0xaf, 0xaf])
      })
    )
  })

  it.effect(
    "SANITIZE: overwrite (with INVERT over an even count), block erase, cryptographic erase, exit failure mode",
    () => {
      const disk = Fake.make({ blocks: 64 })
      return run(
        disk,
        Effect.gen(function* () {
          yield* Scsi.sanitize(1, { _tag: "Overwrite", pattern: Uint8Array.of(0x0f, 0xf0, 0x55) })
          expect(Array.from(disk.data.subarray(510, 516))).toEqual([0x0f, 0xf0, 0x0f, 0xf0, 0x55, 0x0f])
          yield* Scsi.sanitize(1, { _tag: "Overwrite", pattern: Uint8Array.of(0x0f), count: 2, invert: true })
          expect(disk.data.every((x) => x === 0xf0)).toBe(true)
          yield* Scsi.sanitize(1, { _tag: "BlockErase" }, { ause: true })
          expect(disk.data.every((x) => x === 0)).toBe(true)
          disk.data.fill(7)
          yield* Scsi.sanitize(1, { _tag: "CryptographicErase" })
          expect(disk.data.every((x) => x === 0)).toBe(true)
          yield* Scsi.sanitize(1, { _tag: "ExitFailureMode" })
          expect(disk.sanitized).toBe(5)
          // a pattern longer than a block: INVALID FIELD IN PARAMETER LIST
          const e = yield* Effect.flip(Scsi.sanitize(1, { _tag: "Overwrite", pattern: new Uint8Array(513) }))
          expect(checkOf(e)).toEqual(["CheckCondition", 5, 0x26, 0])
          expect(disk.log.map((r) => [r.cdb[1], r.direction, r.dataOut?.length ?? 0])).toEqual([
            [0x01, "write", 7],
            [0x01, "write", 5],
            [0x22, "none", 0],
            [0x03, "none", 0],
            [0x1f, "none", 0],
            [0x01, "write", 517]
          ])
          // not idempotent: a lost connection is not replayed
          disk.faults.push({ _tag: "Transport" })
          const lost = yield* Effect.flip(Scsi.sanitize(1, { _tag: "BlockErase" }))
          expect(lost._tag).toBe("IscsiError")
          expect(disk.log.length).toBe(7)
        })
      )
    }
  )

  it.effect("RESERVE (6) / RELEASE (6): held here; held by another nexus → RESERVATION CONFLICT", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.reserve6(1)
        expect(disk.legacyReservation).toBe("self")
        yield* Scsi.reserve6(1) // again from the holder: fine
        yield* Scsi.read10(1, 0, 1)
        yield* Scsi.release6(1)
        expect(disk.legacyReservation).toBeUndefined()
        disk.legacyReservation = "other"
        expect(checkOf(yield* Effect.flip(Scsi.read10(1, 0, 1)))).toBe("ScsiError/ReservationConflict")
        expect(checkOf(yield* Effect.flip(Scsi.reserve6(1)))).toBe("ScsiError/ReservationConflict")
        expect((yield* Scsi.inquiry(1)).vendorId).toBe("FAKE")
        yield* Scsi.release6(1) // releasing what this nexus does not hold changes nothing… on a real target
      })
    )
  })

  it.effect("EXTENDED COPY (LID1 and LID4) within the disk, RECEIVE COPY RESULTS", () => {
    const disk = Fake.make()
    const data = pattern(8 * 512, 31)
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.write10(1, 10, data)
        const naa = (yield* Scsi.deviceIdentification(1)).find((d) => d.designatorType === 3)!
        const source = { designation: naa, blockLength: 512 }
        const params = yield* Effect.fromResult(
          ExtendedCopy.encodeBlockCopy({
            listId: 7,
            source,
            ranges: [
              { sourceLba: 10, destinationLba: 100, blocks: 8 },
              { sourceLba: 10, destinationLba: 200, blocks: 4 }
            ]
          })
        )
        yield* Scsi.extendedCopy(1, params)
        expect(yield* Scsi.read10(1, 100, 8)).toEqual(data)
        expect(yield* Scsi.read10(1, 200, 4)).toEqual(data.subarray(0, 4 * 512))
        expect(yield* Scsi.receiveCopyStatus(1, 7)).toEqual({
          heldDataDiscarded: false,
          status: 1,
          state: "completed",
          segmentsProcessed: 2,
          transferCountUnits: 0xf1,
          transferCount: 12
        })
        expect((yield* Scsi.receiveCopyFailureDetails(1, 7)).failed).toBe(false)
        const lid4 = yield* Effect.fromResult(
          ExtendedCopy.encodeBlockCopy({
            listId: 0x01020304,
            source,
            destination: source,
            ranges: [{ sourceLba: 10, destinationLba: 300, blocks: 8 }],
            lid4: true
          })
        )
        yield* Scsi.extendedCopy(1, lid4, { lid4: true })
        expect(disk.log.at(-1)?.cdb[1]).toBe(0x01)
        expect(yield* Scsi.read10(1, 300, 8)).toEqual(data)
        const s4 = yield* Scsi.receiveCopyStatusLid4(1, 0x01020304)
        expect([s4.state, s4.segmentsProcessed, s4.transferCount, s4.completionStatus]).toEqual(["completed", 1, 8, 0])
        const op = yield* Scsi.receiveCopyOperatingParameters(1)
        expect([op.maximumCscdDescriptorCount, op.implementedDescriptorTypeCodes]).toEqual([2, [0x02, 0xe4]])
        // a CSCD naming another logical unit: COPY ABORTED, the details kept for RECEIVE COPY RESULTS
        const other = yield* Effect.fromResult(
          ExtendedCopy.encodeBlockCopy({
            listId: 8,
            source: { designation: { ...naa, value: Uint8Array.of(0x60, 9, 9, 9, 9, 9, 9, 9) }, blockLength: 512 },
            ranges: [{ sourceLba: 0, destinationLba: 1, blocks: 1 }]
          })
        )
        expect(checkOf(yield* Effect.flip(Scsi.extendedCopy(1, other)))).toEqual(["CheckCondition", 0x0a, 0x0d, 0x02])
        const details = yield* Scsi.receiveCopyFailureDetails(1, 8)
        expect(details.failed).toBe(true)
        const sense = yield* Effect.fromResult(Sense.decode(details.sense))
        expect([sense.senseKey, sense.asc, sense.ascq]).toEqual([0x0a, 0x0d, 0x02])
        expect(checkOf(yield* Effect.flip(Scsi.receiveCopyStatus(1, 99)))).toEqual(["CheckCondition", 5, 0x24, 0])
      })
    )
  })

  it.effect("REPORT SUPPORTED OPERATION CODES: all (with timeouts), one opcode, one service action", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        const all = yield* Scsi.reportSupportedOperationCodes(1)
        expect(all.commands.map((c) => [c.opcode, c.serviceAction, c.cdbLength])).toEqual(
          Fake.SUPPORTED.map(([op, sa, len]) => [op, sa, len])
        )
        const timed = yield* Scsi.reportSupportedOperationCodes(1, { timeouts: true })
        expect(timed.commands[0]?.timeouts).toEqual({ commandSpecific: 0, nominal: 1, recommended: 30 })
        const read10 = yield* Scsi.reportSupportedOperationCode(1, 0x28, { timeouts: true })
        expect([read10.supported, read10.cdbSize, read10.usage[0], read10.timeouts?.recommended]).toEqual([
          true,
          10,
          0x28,
          30
        ])
        const erase = yield* Scsi.reportSupportedOperationCode(1, 0x48, { serviceAction: 0x02 })
        expect([erase.support, erase.cdbSize]).toEqual(["supported", 10])
        expect((yield* Scsi.reportSupportedOperationCode(1, 0x99)).support).toBe("not supported")
        expect(disk.log.at(-1)?.cdb.subarray(0, 6)).toEqual(Uint8Array.of(0xa3, 0x0c, 0x01, 0x99, 0, 0))
      })
    )
  })

  it.effect("REPORT TARGET PORT GROUPS: two groups, length-only and extended header", () => {
    const disk = Fake.make()
    disk.aluaState = 0x01
    return run(
      disk,
      Effect.gen(function* () {
        const r = yield* Scsi.reportTargetPortGroups(1)
        expect(r.groups.map((g) => [g.id, g.preferred, g.state, g.targetPorts])).toEqual([
          [1, true, "active/non-optimized", [1]],
          [2, false, "standby", [2]]
        ])
        const x = yield* Scsi.reportTargetPortGroups(1, { extended: true })
        expect([x.extended, x.implicitTransitionTime, x.groups.length]).toEqual([true, 10, 2])
      })
    )
  })

  it.effect("READ DEFECT DATA (10)/(12): the grown list in long and short block formats", () => {
    const disk = Fake.make()
    disk.defects = [5, 0x100]
    return run(
      disk,
      Effect.gen(function* () {
        const g = yield* Scsi.readDefectData10(1, { grown: true })
        expect([g.grownValid, g.format, g.defects]).toEqual([
          true,
          3,
          [
            { _tag: "Block", lba: 5 },
            { _tag: "Block", lba: 0x100 }
          ]
        ])
        const s = yield* Scsi.readDefectData12(1, { grown: true, primary: true, format: 0 })
        expect([s.primaryValid, s.generationCode, s.defects.map((d) => d._tag === "Block" && d.lba)]).toEqual([
          true,
          0,
          [5, 0x100]
        ])
        expect((yield* Scsi.readDefectData10(1, { primary: true })).defects).toEqual([])
        expect(checkOf(yield* Effect.flip(Scsi.readDefectData10(1, { format: 4 })))).toEqual([
          "CheckCondition",
          5,
          0x24,
          0
        ])
      })
    )
  })

  it.effect("VPD 85h–88h through the programs", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        expect(yield* Scsi.managementNetworkAddresses(1)).toEqual([
          expect.objectContaining({ serviceTypeName: "storage configuration service", address: "http://fake/cfg" })
        ])
        const x = yield* Scsi.extendedInquiryData(1)
        expect([
          x.headSup,
          x.ordSup,
          x.simpSup,
          x.vSup,
          x.nvSup,
          x.luiclr,
          x.extendedSelfTestCompletionMinutes
        ]).toEqual([true, true, true, true, true, true, 5])
        expect((yield* Scsi.modePagePolicy(1)).map((d) => [d.pageCode, d.policy, d.mlus])).toEqual([
          [0x3f, "shared", false],
          [0x08, "per target port", true]
        ])
        const ports = yield* Scsi.scsiPorts(1)
        expect(ports.map((p) => [p.relativePortIdentifier, p.targetPortDesignators[0]?.number])).toEqual([[1, 1]])
      })
    )
  })

  it.effect("READ TOC on an optical unit; a disk refuses it", () => {
    const cd = Fake.make({ cdrom: true, blocks: 1000 })
    return Effect.gen(function* () {
      const toc = yield* run(cd, Scsi.readToc(1))
      expect([toc.firstTrack, toc.lastTrack, toc.tracks.map((t) => [t.track, t.data, t.lba])]).toEqual([
        1,
        1,
        [
          [1, true, 0],
          [0xaa, true, 1000]
        ]
      ])
      const msf = yield* run(cd, Scsi.readToc(1, { msf: true }))
      expect(msf.tracks[0]?.msf).toEqual({ minute: 0, second: 2, frame: 0 })
      const e = yield* Effect.flip(run(Fake.make(), Scsi.readToc(1)))
      expect(checkOf(e)).toEqual(["CheckCondition", 5, 0x20, 0])
      expect(checkOf(yield* Effect.flip(run(cd, Scsi.readToc(1, { format: 2 }))))).toBe("ScsiError/InvalidArgument")
    })
  })
})

describe("scatter-gather READ/WRITE (10/16) on the fake disk", () => {
  /** `data` cut into buffers of these sizes (the last takes the rest). */
  const cut = (data: Uint8Array, sizes: ReadonlyArray<number>) => {
    const out: Array<Uint8Array> = []
    let o = 0
    for (const n of sizes) {
      out.push(data.slice(o, o + n))
      o += n
    }
    out.push(data.slice(o))
    return out
  }

  it.effect("odd-sized buffers that sum to whole blocks, read back with another split", () => {
    const disk = Fake.make()
    const data = pattern(8 * 512, 12)
    return run(
      disk,
      Effect.gen(function* () {
        yield* Scsi.write10Iov(1, 40, cut(data, [1, 511, 700, 0, 1000, 300]), { blockSize: 512 })
        expect(disk.data.subarray(40 * 512, 48 * 512)).toEqual(data)
        expect(disk.log[0]?.dataOutIov?.length).toBe(7)
        const into = [new Uint8Array(3), new Uint8Array(2000), new Uint8Array(0), new Uint8Array(8 * 512 - 2003)]
        yield* Scsi.read16Iov(1, 40, into, { blockSize: 512 })
        expect(Uint8Array.from(into.flatMap((b) => Array.from(b)))).toEqual(data)
        yield* Scsi.write16Iov(1, 50, [data.subarray(0, 512)], { fua: true, blockSize: 512 })
        const one = [new Uint8Array(512)]
        yield* Scsi.read10Iov(1, 50, one, { blockSize: 512 })
        expect(one[0]).toEqual(data.subarray(0, 512))
        expect(disk.log.map((r) => r.cdb[0])).toEqual([0x2a, 0x88, 0x8a, 0x28])
      })
    )
  })

  it.effect("buffers that do not add up to whole blocks fail before anything is sent", () => {
    const disk = Fake.make({ blockSize: 4096, blocks: 64 })
    return run(
      disk,
      Effect.gen(function* () {
        const e = yield* Effect.flip(
          Scsi.write10Iov(1, 0, [new Uint8Array(512), new Uint8Array(512)], { blockSize: 4096 })
        )
        expect(e._tag === "ScsiError" && e.reason._tag).toBe("InvalidArgument")
        const r = yield* Effect.flip(Scsi.read16Iov(1, 0, [new Uint8Array(100)], { blockSize: 4096 }))
        expect(r._tag === "ScsiError" && r.reason._tag).toBe("InvalidArgument")
        expect(disk.log.length).toBe(0)
        yield* Scsi.write10Iov(1, 1, [new Uint8Array(4000), new Uint8Array(96).fill(7)], { blockSize: 4096 })
        expect(disk.data[2 * 4096 - 1]).toBe(7)
      })
    )
  })
})

describe("retries are visible and counted", () => {
  it.effect("each retry is a Debug log line; the final error says how many attempts were made", () => {
    const disk = Fake.make()
    const lines: Array<string> = []
    const collector = Logger.make((o) => {
      lines.push(`${o.logLevel} ${String(o.message)}`)
    })
    return Effect.gen(function* () {
      yield* Scsi.geometry(1)
      // BUSY twice, then GOOD: 3 attempts, 2 retries logged
      disk.faults.push({ _tag: "Status", status: 0x08 }, { _tag: "Status", status: 0x08 })
      yield* Scsi.read10(1, 0, 1)
      expect(lines.filter((l) => l.startsWith("Debug retrying a SCSI command")).length).toBe(2)
      // BUSY more often than the policy retries: the error carries the attempts
      for (let i = 0; i < 5; i++) disk.faults.push({ _tag: "Status", status: 0x08 })
      const e = yield* Effect.flip(Scsi.read10(1, 0, 1).pipe(Scsi.withPolicy({ retries: 2, backoff: () => 0 })))
      expect(e._tag === "ScsiError" && e.reason._tag).toBe("Busy")
      expect(e.attempts).toBe(3)
      expect(e.message).toContain("after 3 attempts")
    }).pipe(
      Scsi.withPolicy(noDelay),
      Effect.provide(Fake.layer(disk)),
      Effect.provide(Logger.layer([collector])),
      Effect.provideService(References.MinimumLogLevel, "All")
    )
  })
})
