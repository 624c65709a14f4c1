/**
 * The fake target's sessions and logical units seen through core's Session: two initiators with the
 * same ISID evict each other (session reinstatement, RFC 7143 §6.3.5) unless the target is told not
 * to (tgt's behaviour); distinct ISIDs live side by side; several LUNs with their own block sizes
 * answer READ CAPACITY (10)/(16), REPORT LUNS and READ/WRITE (10)/(16) in their own block size.
 */
import { describe, expect, it } from "@effect/vitest"
import { Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { FakeTarget } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import {
  fakeConfig,
  freshIsid,
  pattern,
  read10,
  read16,
  readCapacity10,
  readCapacity16,
  write10,
  write16
} from "./support.ts"

const { nodeLayer } = IscsiClient

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)
/** The sense key of fixed-format sense data. */
const senseKey = (sense: Uint8Array | undefined) => (sense === undefined ? undefined : sense[2]! & 0x0f)

describe("FakeTarget sessions through core's Session", () => {
  it.live("a second session with the same ISID reinstates: the first one loses its connection", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make()
      const isid = freshIsid()
      const first = yield* Session.make(fakeConfig(t, { isid }))
      expect((yield* first.execute(read10(1, 0, 1))).status).toBe(0)
      const second = yield* Session.make(fakeConfig(t, { isid }))
      const closed = yield* first.closed.pipe(Effect.timeout("3 seconds"))
      expect(closed.reason._tag).toBe("ConnectionLost")
      expect(t.reinstatements.map((r) => [r.evictedTsih, r.tsih])).toEqual([[first.info.tsih, second.info.tsih]])
      expect(t.reinstatements[0]!.evicted.commands).toBe(1)
      expect((yield* second.execute(read10(1, 0, 1))).status).toBe(0)
      expect(t.sessions.map((s) => s.tsih)).toEqual([second.info.tsih])
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("distinct ISIDs, or reinstate: false, keep both sessions working", () =>
    Effect.gen(function* () {
      for (const [options, sameIsid] of [
        [{}, false],
        [{ reinstate: false }, true]
      ] as const) {
        const t = yield* FakeTarget.make(options)
        const isid = freshIsid()
        const a = yield* Session.make(fakeConfig(t, sameIsid ? { isid } : {}))
        const b = yield* Session.make(fakeConfig(t, sameIsid ? { isid } : {}))
        for (const s of [a, b, a, b]) expect((yield* s.execute(read10(1, 0, 1))).status).toBe(0)
        expect(t.sessions.map((s) => s.commands)).toEqual([2, 2])
        expect(t.reinstatements).toHaveLength(0)
      }
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )
})

describe("FakeTarget logical units through core's Session", () => {
  const luns = [
    { lun: 1, blocks: 4096, blockSize: 512 },
    { lun: 2, blocks: 512, blockSize: 4096 }
  ]

  it.live("READ CAPACITY (10) and (16) report each LUN's size and block size; REPORT LUNS lists them", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ luns })
      const s = yield* Session.make(fakeConfig(t))
      for (const l of luns) {
        const c10 = yield* s.execute(readCapacity10(l.lun))
        expect(c10.status).toBe(0)
        expect([view(c10.data).getUint32(0), view(c10.data).getUint32(4)]).toEqual([l.blocks - 1, l.blockSize])
        const c16 = yield* s.execute(readCapacity16(l.lun))
        expect(c16.status).toBe(0)
        expect(c16.data.length).toBe(32)
        expect([Number(view(c16.data).getBigUint64(0)), view(c16.data).getUint32(8)]).toEqual([
          l.blocks - 1,
          l.blockSize
        ])
      }
      const report = yield* s.execute({
        lun: 0,
        cdb: Uint8Array.of(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
        direction: "read",
        readLength: 256
      })
      expect(report.status).toBe(0)
      const list = view(report.data)
      expect(list.getUint32(0)).toBe(16)
      expect([list.getUint16(8), list.getUint16(16)]).toEqual([1, 2]) // peripheral addressing
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("READ/WRITE (10) and (16) use each LUN's block size on its own disk", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ luns })
      const s = yield* Session.make(fakeConfig(t))
      const big = pattern(3, 2 * 4096, 7)
      expect((yield* s.execute(write16(2, 3, big, 4096))).status).toBe(0)
      const small = pattern(3, 2 * 512, 8)
      expect((yield* s.execute(write10(1, 3, small))).status).toBe(0)
      const [d1, d2] = t.luns
      expect(Buffer.from(d2!.data.subarray(3 * 4096, 5 * 4096)).equals(Buffer.from(big))).toBe(true)
      expect(Buffer.from(d1!.data.subarray(3 * 512, 5 * 512)).equals(Buffer.from(small))).toBe(true)
      const r10 = yield* s.execute(read10(2, 3, 2, 4096))
      const r16 = yield* s.execute(read16(2, 3, 2, 4096))
      for (const r of [r10, r16]) {
        expect(r.status).toBe(0)
        expect(Buffer.from(r.data).equals(Buffer.from(big))).toBe(true)
      }
      expect(Buffer.from((yield* s.execute(read16(1, 3, 2))).data).equals(Buffer.from(small))).toBe(true)
      // beyond the last block of LUN 2 (512 blocks): LBA OUT OF RANGE
      const out = yield* s.execute(read10(2, 511, 2, 4096))
      expect([out.status, senseKey(out.sense), out.sense?.[12]]).toEqual([2, 5, 0x21])
      // a LUN that is not there: LOGICAL UNIT NOT SUPPORTED
      const none = yield* s.execute(read10(3, 0, 1))
      expect([none.status, senseKey(none.sense), none.sense?.[12]]).toEqual([2, 5, 0x25])
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("by default one 512-byte disk answers on every LUN, and REPORT LUNS lists LUN 0", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ blocks: 1024 })
      const s = yield* Session.make(fakeConfig(t))
      for (const lun of [0, 1, 7]) {
        const c = yield* s.execute(readCapacity16(lun))
        expect([Number(view(c.data).getBigUint64(0)), view(c.data).getUint32(8)]).toEqual([1023, 512])
      }
      const report = yield* s.execute({
        lun: 5,
        cdb: Uint8Array.of(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
        direction: "read",
        readLength: 256
      })
      expect([view(report.data).getUint32(0), report.data.length]).toEqual([8, 16])
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )
})
