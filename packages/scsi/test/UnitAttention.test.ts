/**
 * Unit Attentions and SCSI asynchronous events as data: the ASC/ASCQ → kind → action table, sense
 * and iSCSI Async Message (AsyncEvent 0) decoding, fuzzed; and the runner's `OnUnitAttention` hook,
 * called with every UNIT ATTENTION a command's retry absorbed (and never on the success path).
 */
import type * as P from "@effect-iscsi/core/PduTypes"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { Scsi, Sense, UnitAttention } from "../src/index.ts"
import * as Fake from "./support/FakeDisk.ts"

const asyncMessage = (asyncEvent: number, data: Uint8Array, lun = 0x0001_0000_0000_0000n): P.AsyncMessage => ({
  _tag: "AsyncMessage",
  lun,
  statSN: 1,
  expCmdSN: 1,
  maxCmdSN: 8,
  asyncEvent,
  asyncVCode: 0,
  parameter1: 0,
  parameter2: 0,
  parameter3: 0,
  data
})

/** SenseLength (2 bytes) + sense + iSCSI event data, as RFC 7143 §11.9.1 lays out the data segment. */
const withLength = (sense: Uint8Array, eventData: Uint8Array = new Uint8Array(0)) => {
  const d = new Uint8Array(2 + sense.length + eventData.length)
  d[0] = sense.length >> 8
  d[1] = sense.length & 0xff
  d.set(sense, 2)
  d.set(eventData, 2 + sense.length)
  return d
}

describe("UnitAttention", () => {
  it("ASC/ASCQ → kind → action", () => {
    const rows: ReadonlyArray<readonly [number, number, UnitAttention.Kind, UnitAttention.Action]> = [
      [0x29, 0x00, "PowerOnReset", "Reset"],
      [0x29, 0x07, "PowerOnReset", "Reset"],
      [0x2a, 0x00, "ParametersChanged", "None"],
      [0x2a, 0x01, "ModeParametersChanged", "RereadModePages"],
      [0x2a, 0x03, "ReservationsPreempted", "None"],
      [0x2a, 0x06, "AsymmetricAccessStateChanged", "RereadTargetPortGroups"],
      [0x2a, 0x07, "ImplicitAsymmetricAccessStateTransitionFailed", "RereadTargetPortGroups"],
      [0x2a, 0x09, "CapacityDataChanged", "RereadCapacity"],
      [0x2a, 0x14, "ParametersChanged", "None"],
      [0x2f, 0x00, "CommandsCleared", "None"],
      [0x3f, 0x01, "MicrocodeChanged", "RereadInquiry"],
      [0x3f, 0x03, "InquiryDataChanged", "RereadInquiry"],
      [0x3f, 0x0e, "ReportedLunsDataChanged", "RereadLuns"],
      [0x3f, 0x12, "TargetOperatingConditionsChanged", "None"],
      [0x28, 0x00, "MediumMayHaveChanged", "RereadCapacity"],
      [0x38, 0x07, "ThinProvisioningSoftThresholdReached", "None"],
      [0x04, 0x01, "Other", "None"]
    ]
    for (const [asc, ascq, kind, action] of rows) {
      expect([UnitAttention.kindOf(asc, ascq), UnitAttention.actionOf(UnitAttention.kindOf(asc, ascq))]).toEqual([
        kind,
        action
      ])
    }
  })

  it("decodes sense bytes (fixed and descriptor) and keeps them; other sense keys are not unit attentions", () => {
    const fixed = Sense.encodeFixed({ senseKey: 6, asc: 0x2a, ascq: 0x09 })
    const ua = Result.getOrThrow(UnitAttention.decode(fixed, { lun: 4 }))
    expect(ua).toMatchObject({
      _tag: "UnitAttention",
      kind: "CapacityDataChanged",
      action: "RereadCapacity",
      origin: "Command",
      lun: 4,
      senseKey: 6,
      asc: 0x2a,
      ascq: 0x09,
      description: "CAPACITY DATA HAS CHANGED"
    })
    expect(ua?.raw).toEqual(fixed)
    const desc = Result.getOrThrow(UnitAttention.decode(Sense.encodeDescriptor({ senseKey: 6, asc: 0x3f, ascq: 0x0e })))
    expect([desc?.kind, desc?.sense.format]).toEqual(["ReportedLunsDataChanged", "descriptor"])
    expect(Result.getOrThrow(UnitAttention.decode(Sense.encodeFixed({ senseKey: 5, asc: 0x24, ascq: 0 })))).toBe(
      undefined
    )
    const bad = UnitAttention.decode(new Uint8Array(0))
    expect(Result.isFailure(bad) && bad.failure.reason._tag).toBe("MalformedResponse")
  })

  it("AsyncEvent 0: the sense in the Async Message's data segment, its LUN from the PDU", () => {
    const sense = Sense.encodeFixed({ senseKey: 6, asc: 0x3f, ascq: 0x0e })
    const ev = Result.getOrThrow(
      UnitAttention.fromAsyncMessage(asyncMessage(0, withLength(sense, Uint8Array.of(1, 2, 3))))
    )
    expect(ev).toMatchObject({ kind: "ReportedLunsDataChanged", action: "RereadLuns", origin: "AsyncEvent", lun: 1 })
    expect(ev?.raw).toEqual(sense)
    // flat-space LUN 300
    const flat = Result.getOrThrow(
      UnitAttention.fromAsyncMessage(asyncMessage(0, withLength(sense), 0x412c_0000_0000_0000n))
    )
    expect(flat?.lun).toBe(300)
    // a deferred error reported asynchronously: classified, its sense key kept
    const deferred = Sense.encodeFixed({ senseKey: 3, asc: 0x11, ascq: 0x00, deferred: true })
    const d = Result.getOrThrow(UnitAttention.fromAsyncMessage(asyncMessage(0, withLength(deferred))))
    expect([d?.kind, d?.senseKey, d?.sense.deferred]).toEqual(["Other", 3, true])
    // iSCSI events (logout request, drop connection, …) are not SCSI events
    for (const event of [1, 2, 3, 4, 5, 0xff])
      expect(Result.getOrThrow(UnitAttention.fromAsyncMessage(asyncMessage(event, new Uint8Array(0))))).toBe(undefined)
    for (const data of [new Uint8Array(0), Uint8Array.of(0, 0), Uint8Array.of(0, 18, 0x70)]) {
      const r = UnitAttention.fromAsyncMessage(asyncMessage(0, data))
      expect(Result.isFailure(r) && r.failure.reason._tag).toBe("MalformedResponse")
    }
  })

  it("never throws on random Async Message data or sense bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.bigUint64Array({ minLength: 1, maxLength: 1 }), (data, lun) => {
        for (const r of [UnitAttention.fromAsyncMessage(asyncMessage(0, data, lun[0]!)), UnitAttention.decode(data)]) {
          if (Result.isFailure(r)) expect(r.failure.reason._tag).toBe("MalformedResponse")
        }
      }),
      { numRuns: 2000 }
    )
  })
})

describe("OnUnitAttention: the runner reports what its retry absorbed", () => {
  const ua = (asc: number, ascq: number) => ({
    _tag: "Status" as const,
    status: 2,
    sense: Sense.encodeFixed({ senseKey: 6, asc, ascq })
  })

  it.effect("every absorbed UNIT ATTENTION, in order, with its LUN and sense bytes; nothing on success", () => {
    const disk = Fake.make()
    const seen: Array<UnitAttention.UnitAttention> = []
    disk.faults.push(ua(0x29, 0x00), { _tag: "Status", status: 0x08 }, ua(0x2a, 0x09))
    return Effect.gen(function* () {
      yield* Scsi.read10(2, 0, 1, { blockSize: 512 })
      expect(seen.map((e) => [e.kind, e.lun, e.origin])).toEqual([
        ["PowerOnReset", 2, "Command"],
        ["CapacityDataChanged", 2, "Command"]
      ])
      expect(seen[1]?.raw).toEqual(Sense.encodeFixed({ senseKey: 6, asc: 0x2a, ascq: 0x09 }))
      yield* Scsi.read10(2, 0, 1, { blockSize: 512 })
      yield* Scsi.inquiry(2)
      expect(seen.length).toBe(2)
      expect(disk.log.length).toBe(6)
    }).pipe(
      Effect.provideService(UnitAttention.OnUnitAttention, (e) => Effect.sync(() => seen.push(e))),
      Scsi.withPolicy({ retries: 5, backoff: () => 0 }),
      Effect.provide(Fake.layer(disk))
    )
  })

  it.effect("with retries off, the UNIT ATTENTION is reported and also returned", () => {
    const disk = Fake.make()
    const seen: Array<UnitAttention.Kind> = []
    disk.faults.push(ua(0x3f, 0x0e))
    return Effect.gen(function* () {
      const e = yield* Effect.flip(Scsi.testUnitReady(1))
      expect(e._tag === "ScsiError" && e.reason._tag === "CheckCondition" && e.reason.senseBytes?.length).toBe(18)
      expect(seen).toEqual(["ReportedLunsDataChanged"])
    }).pipe(
      Effect.provideService(UnitAttention.OnUnitAttention, (e) => Effect.sync(() => seen.push(e.kind))),
      Scsi.withPolicy({ retries: 0, backoff: () => 0 }),
      Effect.provide(Fake.layer(disk))
    )
  })
})
