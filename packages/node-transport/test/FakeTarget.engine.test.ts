/**
 * The session engine against the scripted fake target (issue 5): the behaviours a real target will
 * not show on demand: closed CmdSN window, target NOP-In replies (bytes), async messages, Reject,
 * DataSN gap, a connection dropped mid-transfer, interruption sending ABORT TASK, MC/S failover.
 */
import { describe, expect, it } from "@effect/vitest"
import { Negotiation, Pdu, Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { FakeTarget } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { collect, eventually, fakeConfig, pattern, read10, write10 } from "./support.ts"

const { nodeLayer } = IscsiClient
const RESERVED = 0xffffffff

/** One Data-In frame with all of `data` from offset 0 (F set; with GOOD status when `status`). */
const dataInFrame = (c: FakeTarget.FakeConnection, itt: number, data: Uint8Array, status: boolean) =>
  Pdu.encode({
    _tag: "ScsiDataIn",
    final: true,
    acknowledge: false,
    overflow: false,
    underflow: false,
    statusPresent: status,
    status: 0,
    lun: 0n,
    itt,
    ttt: RESERVED,
    statSN: status ? c.nextStatSN() : 0,
    expCmdSN: c.expCmdSN,
    maxCmdSN: c.maxCmdSN,
    dataSN: 0,
    bufferOffset: 0,
    residualCount: 0,
    data
  })

describe("Session against the fake target", () => {
  it.live("logs in and serves READ/WRITE from the RAM disk (immediate data and R2T)", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make()
      const session = yield* Session.make(fakeConfig(t))
      const data = pattern(10, 64 * 512, 1)
      const w = yield* session.execute(write10(1, 10, data))
      expect(w.status).toBe(0)
      expect(Buffer.from(t.disk.subarray(10 * 512, 74 * 512)).equals(Buffer.from(data))).toBe(true)
      expect(t.sent("ScsiDataOut").length).toBeGreaterThan(0) // beyond FirstBurst/immediate: R2T → Data-Out
      const r = yield* session.execute(read10(1, 10, 64))
      expect(r.status).toBe(0)
      expect(Buffer.from(r.data).equals(Buffer.from(data))).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a closed CmdSN window holds commands (nothing is sent), then they flow when it opens", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ window: 0 })
      const session = yield* Session.make(fakeConfig(t))
      const fiber = yield* Effect.forkChild(
        Effect.forEach([0, 1, 2, 3, 4, 5, 6, 7], (i) => session.execute(read10(1, i, 1)), { concurrency: 8 })
      )
      yield* Effect.sleep("300 millis")
      const held = yield* session.stats
      expect(held.waiting).toBe(8)
      expect(t.sent("ScsiCommand").length).toBe(0)
      // the engine pinged to learn whether the window reopened
      expect(t.sent("NopOut").filter((n) => n.itt !== RESERVED).length).toBeGreaterThan(0)
      t.window = 4 // the next NOP-In (answer to the window ping) opens it
      const results = yield* Fiber.join(fiber)
      expect(results.map((r) => r.status)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
      const cmdSNs = t.sent("ScsiCommand").map((c) => c.cmdSN)
      expect(new Set(cmdSNs).size).toBe(8) // each a fresh CmdSN
      expect((yield* session.stats).waiting).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("answers a target NOP-In with the exact NOP-Out bytes (ITT reserved, same TTT, LUN and data)", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make()
      const session = yield* Session.make(fakeConfig(t))
      const events = yield* collect(session.events)
      const conn = t.live[0]!
      const payload = new TextEncoder().encode("are-you-there")
      const lun = 0x0001000000000000n
      conn.nopIn(0x12345678, payload, lun)
      expect(yield* eventually(() => t.sent("NopOut").some((n) => n.ttt === 0x12345678))).toBe(true)
      const reply = t.sent("NopOut").find((n) => n.ttt === 0x12345678)!
      const stats = yield* session.stats
      const expected = Pdu.encode({
        _tag: "NopOut",
        immediate: true,
        lun,
        itt: RESERVED,
        ttt: 0x12345678,
        cmdSN: stats.cmdSN,
        expStatSN: conn.statSN,
        data: payload
      })
      expect(Buffer.from(Pdu.encode(reply)).toString("hex")).toBe(Buffer.from(expected).toString("hex"))
      expect(events.some((e) => e._tag === "NopReply")).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("async messages: a SCSI event is published; a logout request makes the session log out", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make()
      const session = yield* Session.make(fakeConfig(t))
      const events = yield* collect(session.events)
      const conn = t.live[0]!
      const sense = new Uint8Array(2 + 18)
      sense[1] = 18
      sense[2] = 0x70
      sense[4] = 6 // UNIT ATTENTION: capacity changed
      sense[14] = 0x2a
      sense[15] = 0x09
      conn.asyncMessage(0, { lun: 0x0001000000000000n, data: sense })
      expect(yield* eventually(() => events.some((e) => e._tag === "AsyncMessage"))).toBe(true)
      const ev = events.find((e) => e._tag === "AsyncMessage")!
      if (ev._tag === "AsyncMessage") expect(ev.message.asyncEvent).toBe(0)
      conn.asyncMessage(1, { parameter3: 2 })
      const closed = yield* session.closed.pipe(Effect.timeout("3 seconds"))
      expect(closed.reason._tag).toBe("SessionClosed")
      const logout = t.sent("LogoutRequest")
      expect(logout.length).toBe(1)
      expect(logout[0]!.reason).toBe(0)
      const after = yield* Effect.flip(session.execute(read10(1, 0, 1)))
      expect(after.reason._tag).toBe("SessionClosed")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a Reject of a command fails that command with PduRejected; the session stays usable", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        handler: (c, pdu) => {
          if (pdu._tag === "ScsiCommand" && pdu.cdb[0] === 0x28 && pdu.cdb[5] === 99) {
            c.reject(pdu, 0x09)
            return true
          }
        }
      })
      const session = yield* Session.make(fakeConfig(t))
      const e = yield* Effect.flip(session.execute(read10(1, 99, 1)))
      expect(e.reason._tag).toBe("PduRejected")
      if (e.reason._tag === "PduRejected") expect(e.reason.reason).toBe(0x09)
      expect(e.isRetryable).toBe(false)
      const ok = yield* session.execute(read10(1, 1, 1))
      expect(ok.status).toBe(0)
      expect((yield* session.stats).inFlight).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a DataSN gap fails the read with ProtocolError and sends ABORT TASK for it", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        handler: (c, pdu) => {
          if (pdu._tag === "ScsiCommand" && pdu.cdb[0] === 0x28 && pdu.cdb[5] === 7) {
            c.dataIn(pdu.itt, 0, 0, new Uint8Array(512))
            c.dataIn(pdu.itt, 2, 1024, new Uint8Array(512), { status: 0 }) // DataSN 1 never came
            return true
          }
        }
      })
      const session = yield* Session.make(fakeConfig(t))
      const e = yield* Effect.flip(session.execute(read10(1, 7, 3)))
      expect(e.reason._tag).toBe("ProtocolError")
      const cmd = t.sent("ScsiCommand").find((c) => c.cdb[5] === 7)!
      expect(
        yield* eventually(() =>
          t.sent("TaskManagementRequest").some((m) => m.function === 1 && m.referencedTaskTag === cmd.itt)
        )
      ).toBe(true)
      expect(yield* eventually(() => t.live.length === 1)).toBe(true)
      const ok = yield* session.execute(read10(1, 1, 1))
      expect(ok.status).toBe(0)
      expect(yield* eventually(() => false, 50)).toBe(false)
      expect((yield* session.stats).inFlight).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a connection dropped mid-transfer fails every task on it with ConnectionLost, none left waiting", () =>
    Effect.gen(function* () {
      let seen = 0
      const t = yield* FakeTarget.make({
        handler: (c, pdu) => {
          if (pdu._tag === "ScsiCommand") {
            seen++
            if (seen === 8) {
              c.dataIn(pdu.itt, 0, 0, new Uint8Array(1024)) // half of the data, then the wire dies
              c.reset()
            }
            return true // hold all the others
          }
        }
      })
      const session = yield* Session.make(fakeConfig(t))
      const exits = yield* Effect.forEach(
        [0, 1, 2, 3, 4, 5, 6, 7],
        (i) => Effect.exit(session.execute(read10(1, i * 4, 4))),
        { concurrency: 8 }
      ).pipe(Effect.timeout("5 seconds"))
      for (const exit of exits) {
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const f = exit.cause.reasons.find((r) => r._tag === "Fail")
          expect(f?._tag === "Fail" ? (f.error as { reason: { _tag: string } }).reason._tag : "none").toBe(
            "ConnectionLost"
          )
        }
      }
      const stats = yield* session.stats
      expect(stats.inFlight).toBe(0)
      expect(stats.waiting).toBe(0)
      const closed = yield* session.closed.pipe(Effect.timeout("1 second"))
      expect(closed.reason._tag).toBe("ConnectionLost")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("interrupting a waiting command sends ABORT TASK for its ITT and frees it", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({
        handler: (_c, pdu) => pdu._tag === "ScsiCommand" && pdu.cdb[0] === 0x28 && pdu.cdb[5] === 42
      })
      const session = yield* Session.make(fakeConfig(t))
      const fiber = yield* Effect.forkChild(session.execute(read10(1, 42, 8)))
      expect(yield* eventually(() => t.sent("ScsiCommand").some((c) => c.cdb[5] === 42))).toBe(true)
      yield* Fiber.interrupt(fiber)
      // the abort runs in the session's scope: the caller does not wait for the target
      expect(yield* eventually(() => t.sent("TaskManagementRequest").some((m) => m.function === 1))).toBe(true)
      const cmd = t.sent("ScsiCommand").find((c) => c.cdb[5] === 42)!
      const tmf = t.sent("TaskManagementRequest").find((m) => m.function === 1)
      expect(tmf?.referencedTaskTag).toBe(cmd.itt)
      expect(tmf?.refCmdSN).toBe(cmd.cmdSN)
      expect(tmf?.immediate).toBe(true)
      expect(yield* eventually(() => false, 100)).toBe(false)
      expect((yield* session.stats).inFlight).toBe(0)
      expect((yield* session.execute(read10(1, 0, 1))).status).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("interrupting a read while its Data-In is read into the caller's buffer: nothing more lands there", () =>
    Effect.gen(function* () {
      // the target sends the header and the first 1000 bytes of a 256 KiB Data-In, then stalls: the
      // rest of the segment would be read straight into the caller's buffer (Framer placement)
      let rest: (() => void) | undefined
      const t = yield* FakeTarget.make({
        handler: (c, pdu) => {
          if (pdu._tag !== "ScsiCommand" || pdu.cdb[0] !== 0x28 || pdu.cdb[5] !== 77) return
          const frame = dataInFrame(c, pdu.itt, pattern(77, 262144, 3), true)
          c.sendRaw(frame.subarray(0, 48 + 1000))
          rest = () => c.sendRaw(frame.subarray(48 + 1000))
          return true
        }
      })
      const session = yield* Session.make(fakeConfig(t))
      const buf = new Uint8Array(262144).fill(0xaa)
      const fiber = yield* Effect.forkChild(session.execute({ ...read10(1, 77, 512), readInto: buf }))
      expect(yield* eventually(() => buf[999] !== 0xaa)).toBe(true)
      yield* Fiber.interrupt(fiber)
      // the caller has its buffer back: the rest of the segment is read and dropped
      rest!()
      expect((yield* session.execute(read10(1, 0, 1))).status).toBe(0)
      expect(Buffer.from(buf.subarray(0, 1000)).equals(Buffer.from(pattern(77, 262144, 3).subarray(0, 1000)))).toBe(
        true
      )
      expect(buf.subarray(1000).every((x) => x === 0xaa)).toBe(true)
      expect(yield* eventually(() => t.sent("TaskManagementRequest").some((m) => m.function === 1))).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("scatter-gather: a segment inside one buffer is read straight into it; interrupted, nothing more lands", () =>
    Effect.gen(function* () {
      // as above, with readIntoIov [y, z]: the 256 KiB segment at offset 0 lies inside y
      let rest: (() => void) | undefined
      const t = yield* FakeTarget.make({
        handler: (c, pdu) => {
          if (pdu._tag !== "ScsiCommand" || pdu.cdb[0] !== 0x28 || pdu.cdb[5] !== 79) return
          const frame = dataInFrame(c, pdu.itt, pattern(79, 262144, 3), true)
          c.sendRaw(frame.subarray(0, 48 + 1000))
          rest = () => c.sendRaw(frame.subarray(48 + 1000))
          return true
        }
      })
      const session = yield* Session.make(fakeConfig(t))
      const y = new Uint8Array(262144).fill(0xaa)
      const z = new Uint8Array(4096).fill(0xaa)
      const fiber = yield* Effect.forkChild(session.execute({ ...read10(1, 79, 520), readIntoIov: [y, z] }))
      expect(yield* eventually(() => y[999] !== 0xaa)).toBe(true)
      yield* Fiber.interrupt(fiber)
      rest!()
      expect((yield* session.execute(read10(1, 0, 1))).status).toBe(0)
      expect(Buffer.from(y.subarray(0, 1000)).equals(Buffer.from(pattern(79, 262144, 3).subarray(0, 1000)))).toBe(true)
      expect(y.subarray(1000).every((x) => x === 0xaa)).toBe(true)
      expect(z.every((x) => x === 0xaa)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live(
    "scatter-gather through the socket: RAM-disk writes from and reads into odd splits, immediate data and R2T",
    () =>
      Effect.gen(function* () {
        const t = yield* FakeTarget.make({ maxRecvDataSegmentLength: 8192 })
        const session = yield* Session.make(fakeConfig(t))
        const data = pattern(5, 64 * 512, 11)
        const split = (d: Uint8Array, sizes: ReadonlyArray<number>) => {
          const out: Array<Uint8Array> = []
          let o = 0
          for (const n of [...sizes, d.length]) {
            out.push(d.slice(o, Math.min(d.length, o + n)))
            o = Math.min(d.length, o + n)
          }
          return out
        }
        const w = yield* session.execute({
          ...write10(1, 5, data),
          dataOut: undefined,
          dataOutIov: split(data, [3, 8190, 0, 9000, 1])
        })
        expect(w.status).toBe(0)
        const into = [new Uint8Array(777), new Uint8Array(20000), new Uint8Array(64 * 512 - 20777)]
        const r = yield* session.execute({ ...read10(1, 5, 64), readIntoIov: into })
        expect([r.status, r.data.length]).toEqual([0, 0])
        expect(Buffer.concat(into).equals(Buffer.from(data))).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live(
    "a read failed by the engine while its Data-In is being placed (a Reject in the same read): nothing more lands",
    () =>
      Effect.gen(function* () {
        let rest: (() => void) | undefined
        const t = yield* FakeTarget.make({
          handler: (c, pdu) => {
            if (pdu._tag !== "ScsiCommand" || pdu.cdb[0] !== 0x28 || pdu.cdb[5] !== 78) return
            const reject = Pdu.encode({
              _tag: "Reject",
              reason: 0x09,
              statSN: c.nextStatSN(),
              expCmdSN: c.expCmdSN,
              maxCmdSN: c.maxCmdSN,
              dataSN: 0,
              data: Pdu.encodeHeader(pdu).subarray(0, 48)
            })
            const frame = dataInFrame(c, pdu.itt, pattern(78, 262144, 3), false)
            // the Reject first, then the start of the segment, in one write: the framer places the
            // segment, then the engine fails its task, in the same socket read
            const first = new Uint8Array(reject.length + 48 + 1000)
            first.set(reject, 0)
            first.set(frame.subarray(0, 48 + 1000), reject.length)
            c.sendRaw(first)
            rest = () => c.sendRaw(frame.subarray(48 + 1000))
            return true
          }
        })
        const session = yield* Session.make(fakeConfig(t))
        const buf = new Uint8Array(262144).fill(0xaa)
        const e = yield* Effect.flip(session.execute({ ...read10(1, 78, 512), readInto: buf }))
        expect(e.reason._tag).toBe("PduRejected")
        rest!()
        expect((yield* session.execute(read10(1, 0, 1))).status).toBe(0)
        expect(buf.subarray(1000).every((x) => x === 0xaa)).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("a command timeout aborts the task and fails with Timeout", () =>
    Effect.gen(function* () {
      const t = yield* FakeTarget.make({ handler: (_c, pdu) => pdu._tag === "ScsiCommand" && pdu.cdb[5] === 5 })
      const session = yield* Session.make(fakeConfig(t, { commandTimeoutMs: 300 }))
      const e = yield* Effect.flip(session.execute(read10(1, 5, 1)))
      expect(e.reason._tag).toBe("Timeout")
      expect(yield* eventually(() => t.sent("TaskManagementRequest").length === 1)).toBe(true)
      expect((yield* session.execute(read10(1, 0, 1))).status).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("MC/S: when one connection dies, its tasks move to the others and complete", () =>
    Effect.gen(function* () {
      let killed = false
      const t = yield* FakeTarget.make({
        maxConnections: 2,
        handler: (c, pdu) => {
          // the first connection to see a READ dies with every task it holds
          if (!killed && pdu._tag === "ScsiCommand" && pdu.cdb[0] === 0x28) {
            if (c.received.filter((p) => p._tag === "ScsiCommand").length >= 3) {
              killed = true
              c.reset()
            }
            return true
          }
        }
      })
      const session = yield* Session.make(
        fakeConfig(t, { connections: 2, offer: { ...Negotiation.defaultOffer, maxConnections: 2 } })
      )
      expect((yield* session.stats).connections.length).toBe(2)
      const results = yield* Effect.forEach([0, 1, 2, 3, 4, 5, 6, 7], (i) => session.execute(read10(1, i, 1)), {
        concurrency: 8
      }).pipe(Effect.timeout("5 seconds"))
      expect(results.every((r) => r.status === 0)).toBe(true)
      expect(killed).toBe(true)
      expect((yield* session.stats).connections.length).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )
})
