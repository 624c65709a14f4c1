/**
 * Unit Attentions and SCSI asynchronous events reach the pool's event stream as data, and the ones
 * that change what the pool knows are acted on: CAPACITY DATA HAS CHANGED (2A/09) makes the session
 * forget the LUN's geometry, so the next READ learns the new block size instead of using the old one.
 */
import { describe, expect, it } from "@effect/vitest"
import { Pool } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Scsi, UnitAttention } from "@effect-iscsi/scsi"
import { FakeTarget } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import { collect, eventually } from "./support.ts"

describe("Unit Attentions as events", () => {
  it.live("CAPACITY DATA HAS CHANGED is published with its sense, and the LUN's geometry is learned again", () =>
    Effect.gen(function* () {
      let pending = false
      const t = yield* FakeTarget.make({
        blocks: 4096,
        handler: (c, pdu) => {
          if (pending && pdu._tag === "ScsiCommand" && pdu.cdb[0] === 0x28) {
            pending = false
            c.checkCondition(pdu.itt, 6, 0x2a, 0x09)
            return true
          }
          return undefined
        }
      })
      const url = `iscsi://${t.host}:${t.port}/${t.targetName}/0`
      yield* Effect.gen(function* () {
        const pool = yield* Pool.Pool
        const events = yield* collect(pool.events)
        yield* Scsi.read10(0, 0, 1)
        const capacityReads = () => t.sent("ScsiCommand").filter((c) => c.cdb[0] === 0x9e || c.cdb[0] === 0x25).length
        expect(capacityReads()).toBe(1)
        pending = true
        // the READ meets the Unit Attention; the runner's retry absorbs it, the pool still reports it
        yield* Scsi.read10(0, 0, 1)
        expect(yield* eventually(() => events.some((e) => e.event._tag === "UnitAttention"), 2000)).toBe(true)
        const ua = events.find((e) => e.event._tag === "UnitAttention")!.event
        if (ua._tag !== "UnitAttention") throw new Error("unreachable")
        expect([ua.asc, ua.ascq]).toEqual([0x2a, 0x09])
        // scsi decodes the raw sense into a typed event
        const decoded = UnitAttention.decode(ua.sense)
        expect(decoded._tag === "Success" && decoded.success?.kind).toBe("CapacityDataChanged")
        // the geometry was forgotten: the next READ learns it again
        yield* Scsi.read10(0, 1, 1)
        expect(capacityReads()).toBe(2)
      }).pipe(Effect.provide(IscsiClient.layer({ url })))
    }).pipe(Effect.scoped)
  )

  it.live("an asynchronous SCSI event (AsyncEvent 0) carrying a Unit Attention is published like one", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make()
      const url = `iscsi://${t.host}:${t.port}/${t.targetName}/0`
      yield* Effect.gen(function* () {
        const pool = yield* Pool.Pool
        const events = yield* collect(pool.events)
        yield* Scsi.testUnitReady(0)
        const sense = new Uint8Array(2 + 18)
        sense[1] = 18
        sense[2] = 0x70
        sense[4] = 6
        sense[9] = 10
        sense[14] = 0x3f
        sense[15] = 0x0e
        for (const c of t.live) c.asyncMessage(0, { lun: 0n, data: sense })
        expect(
          yield* eventually(
            () => events.some((e) => e.event._tag === "UnitAttention" && e.event.asc === 0x3f && e.event.ascq === 0x0e),
            2000
          )
        ).toBe(true)
      }).pipe(Effect.provide(IscsiClient.layer({ url })))
    }).pipe(Effect.scoped)
  )
})
