/**
 * The session engine against a real tgtd: login, pipelined READ/WRITE at several queue depths with
 * every written byte checked in the backing file, MC/S, keepalive, task management, discovery.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Redacted from "effect/Redacted"
import { LoginMachine, Negotiation, Pool, Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { tgt } from "@effect-iscsi/testing/Provided"
import { cdbRw10 } from "./support.ts"

const { nodeLayer } = IscsiClient

const sessionConfig = (target: "disk" | "tuned", extra: Partial<Session.Config> = {}): Session.Config => ({
  address: { host: tgt().host, port: tgt().port },
  initiatorName: "iqn.2026-11.io.effect-iscsi:test-session",
  targetName: tgt().targets[target].iqn,
  isid: Pool.stableIsid("iqn.2026-11.io.effect-iscsi:test-session", `${target}-${Math.random()}`),
  auth: { _tag: "None" },
  offer: Negotiation.defaultOffer,
  ...extra
})

const cdbRead10 = (lba: number, blocks: number) => cdbRw10(0x28, lba, blocks)
const cdbWrite10 = (lba: number, blocks: number) => cdbRw10(0x2a, lba, blocks)

/** tgt reports a UNIT ATTENTION (power on / reset) on the first command of a new I_T nexus: consume it. */
const clearUnitAttention = (session: Session.Session, lun: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < 5; i++) {
      const r = yield* session.execute({ lun, cdb: new Uint8Array(6), direction: "none" })
      if (r.status === 0) return
      expect(r.status).toBe(2)
      expect(r.sense![2]! & 0x0f).toBe(6) // UNIT ATTENTION
    }
    throw new Error("unit attention did not clear")
  })

/** Deterministic content for (lba, generation). */
const pattern = (lba: number, bytes: number, seed: number) => {
  const b = new Uint8Array(bytes)
  let x = (lba * 2654435761 + seed * 40503) >>> 0
  for (let i = 0; i < bytes; i += 4) {
    x = (x * 1664525 + 1013904223) >>> 0
    b[i] = x
    b[i + 1] = x >>> 8
    b[i + 2] = x >>> 16
    b[i + 3] = x >>> 24
  }
  return b
}

/** `count` mixed READ/WRITE commands at queue depth `qd` over LBA region [base, base+span), verified. */
const mixedWorkload = (
  session: Session.Session,
  lun: number,
  path: string,
  base: number,
  span: number,
  count: number,
  qd: number,
  maxBlocks: number
) =>
  Effect.gen(function* () {
    const bs = 512
    yield* clearUnitAttention(session, lun)
    const model = new Map<number, Uint8Array>() // lba -> last written block content
    let next = 0
    let inFlightWrites = new Set<number>()
    const one = (i: number) =>
      Effect.gen(function* () {
        // mostly small transfers, every 50th one as large as the test allows (several R2Ts on the tuned target)
        const blocks = i % 50 === 25 ? maxBlocks : 1 + ((i * 7919) % Math.min(maxBlocks, 64))
        const lba = base + ((i * 104729) % (span - blocks))
        // concurrent writes to the same blocks have no defined order: such a write becomes a read
        let overlaps = false
        for (let b = 0; b < blocks; b++) if (inFlightWrites.has(lba + b)) overlaps = true
        const isWrite = i % 2 === 0 && !overlaps
        if (isWrite) {
          const data = new Uint8Array(blocks * bs)
          for (let b = 0; b < blocks; b++) data.set(pattern(lba + b, bs, i), b * bs)
          for (let b = 0; b < blocks; b++) inFlightWrites.add(lba + b)
          const r = yield* session.execute({ lun, cdb: cdbWrite10(lba, blocks), direction: "write", dataOut: data })
          for (let b = 0; b < blocks; b++) inFlightWrites.delete(lba + b)
          expect({ status: r.status, sense: Buffer.from(r.sense ?? []).toString("hex") }).toEqual({
            status: 0,
            sense: ""
          })
          for (let b = 0; b < blocks; b++) model.set(lba + b, data.subarray(b * bs, (b + 1) * bs))
        } else {
          const r = yield* session.execute({
            lun,
            cdb: cdbRead10(lba, blocks),
            direction: "read",
            readLength: blocks * bs
          })
          expect({ status: r.status, sense: Buffer.from(r.sense ?? []).toString("hex") }).toEqual({
            status: 0,
            sense: ""
          })
          expect(r.data.length).toBe(blocks * bs)
        }
      })
    yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => one(i + next),
      { concurrency: qd, discard: true }
    )
    next += count
    inFlightWrites = new Set()
    // oracle: the backing file holds exactly what was acknowledged
    const fd = Fs.openSync(path, "r")
    const buf = Buffer.alloc(bs)
    let checked = 0
    for (const [lba, data] of model) {
      Fs.readSync(fd, buf, 0, bs, lba * bs)
      if (!buf.equals(data)) throw new Error(`LBA ${lba} differs in the backing file`)
      checked++
    }
    Fs.closeSync(fd)
    // and reading back through iSCSI gives the same bytes
    for (const [lba, data] of [...model].slice(0, 200)) {
      const r = yield* session.execute({ lun, cdb: cdbRead10(lba, 1), direction: "read", readLength: bs })
      expect(Buffer.from(r.data).equals(Buffer.from(data))).toBe(true)
    }
    return checked
  })

describe("Session against tgtd", () => {
  it.live("logs in to the default target with tgt's defaults and reads", () =>
    Effect.gen(function* () {
      const session = yield* Session.make(sessionConfig("disk"))
      const p = session.info.params
      expect(p.maxXmitDataSegmentLength).toBe(8192) // tgt's MaxRecvDataSegmentLength default
      expect(p.initialR2T).toBe(true) // tgt default InitialR2T=Yes wins (OR)
      expect(p.maxOutstandingR2T).toBe(1)
      expect(session.info.tsih).toBeGreaterThan(0)
      yield* clearUnitAttention(session, 1)
      const r = yield* session.execute({ lun: 1, cdb: cdbRead10(0, 128), direction: "read", readLength: 65536 })
      expect(r.status).toBe(0)
      expect(r.data.length).toBe(65536)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live(
    "digest offers on tgt: the default None,CRC32C gets None from disk; tuned (CRC32C configured) picks CRC32C",
    () =>
      Effect.gen(function* () {
        const digestsOf = (s: Session.Session) => [s.info.params.headerDigest, s.info.params.dataDigest]
        const noneOnly = { ...Negotiation.defaultOffer, headerDigest: ["None" as const], dataDigest: ["None" as const] }
        const disk = yield* Session.make(sessionConfig("disk"))
        expect(digestsOf(disk)).toEqual([false, false])
        // tgt answers from its own list, not with our first choice (RFC 7143 §6.2.1 says the
        // originator's order decides): None,CRC32C gets CRC32C from a target configured with CRC32C …
        const tuned = yield* Session.make(sessionConfig("tuned"))
        expect(digestsOf(tuned)).toEqual([true, true])
        expect(tuned.info.params.rejectedKeys).toBeUndefined()
        yield* clearUnitAttention(tuned, 1)
        const r = yield* tuned.execute({ lun: 1, cdb: cdbRead10(0, 8), direction: "read", readLength: 4096 })
        expect(r.status).toBe(0)
        // … and None alone still gets None (tgt accepts both)
        const plain = yield* Session.make(sessionConfig("tuned", { offer: noneOnly }))
        expect(digestsOf(plain)).toEqual([false, false])
      }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live(
    "the same engine over Effect's NodeSocket transport: 2,000 mixed commands at queue depth 32, verified",
    () =>
      Effect.gen(function* () {
        const session = yield* Session.make(sessionConfig("disk"))
        const lun = tgt().targets.disk.luns[0]!
        const checked = yield* mixedWorkload(session, 1, lun.path!, 7_000, 900, 2_000, 32, 64)
        expect(checked).toBeGreaterThan(100)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer({ socket: "effect" }))),
    120_000
  )

  for (const qd of [1, 8, 32, 128]) {
    it.live(
      `10,000 pipelined mixed READ/WRITE at queue depth ${qd} on the default target, verified in the file`,
      () =>
        Effect.gen(function* () {
          const session = yield* Session.make(sessionConfig("disk"))
          const lun = tgt().targets.disk.luns[0]!
          const checked = yield* mixedWorkload(
            session,
            1,
            lun.path!,
            2_000 + [1, 8, 32, 128].indexOf(qd) * 1_000,
            900,
            10_000,
            qd,
            64
          )
          expect(checked).toBeGreaterThan(500)
          const stats = yield* session.stats
          expect(stats.inFlight).toBe(0)
        }).pipe(Effect.scoped, Effect.provide(nodeLayer())),
      180_000
    )
  }

  for (const qd of [1, 8, 32, 128]) {
    it.live(
      `10,000 mixed commands at queue depth ${qd} on the tuned target (digests, big PDUs, R2Ts)`,
      () =>
        Effect.gen(function* () {
          const session = yield* Session.make(
            sessionConfig("tuned", {
              offer: { ...Negotiation.defaultOffer, headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] }
            })
          )
          const p = session.info.params
          expect(p.headerDigest).toBe(true)
          expect(p.dataDigest).toBe(true)
          expect(p.initialR2T).toBe(false)
          expect(p.maxOutstandingR2T).toBeGreaterThan(1)
          const lun = tgt().targets.tuned.luns[0]!
          const checked = yield* mixedWorkload(
            session,
            1,
            lun.path!,
            20_000 + [1, 8, 32, 128].indexOf(qd) * 10_000,
            9_000,
            10_000,
            qd,
            2048
          )
          expect(checked).toBeGreaterThan(500)
        }).pipe(Effect.scoped, Effect.provide(nodeLayer())),
      300_000
    )
  }

  it.live(
    "MC/S: 4 connections on the tuned target share the work; a connection can be removed and added",
    () =>
      Effect.gen(function* () {
        const session = yield* Session.make(
          sessionConfig("tuned", { connections: 4, offer: { ...Negotiation.defaultOffer, maxConnections: 4 } })
        )
        expect(session.info.params.maxConnections).toBe(4)
        expect((yield* session.stats).connections.length).toBe(4)
        const lun = tgt().targets.tuned.luns[0]!
        yield* mixedWorkload(session, 1, lun.path!, 60_000, 4_000, 2_000, 32, 64)
        const counters = (yield* session.stats).connections
        yield* session.removeConnection(counters[3]!)
        expect((yield* session.stats).connections.length).toBe(3)
        yield* session.addConnection
        expect((yield* session.stats).connections.length).toBe(4)
        yield* mixedWorkload(session, 1, lun.path!, 60_000, 4000, 500, 32, 16)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer())),
    120_000
  )

  it.live("an idle session outlives several keepalive intervals", () =>
    Effect.gen(function* () {
      const session = yield* Session.make(sessionConfig("disk", { keepaliveIntervalMs: 300, keepaliveTimeoutMs: 1000 }))
      yield* clearUnitAttention(session, 1)
      yield* Effect.sleep("2 seconds")
      const r = yield* session.execute({ lun: 1, cdb: new Uint8Array(6), direction: "none" })
      expect(r.status).toBe(0)
      expect((yield* session.stats).counters.pdusOut).toBeGreaterThan(3) // the pings went out
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("task management: LUN reset and ABORT TASK SET complete; ABORT TASK of an unknown tag is answered", () =>
    Effect.gen(function* () {
      const session = yield* Session.make(sessionConfig("disk"))
      yield* session.taskManagement(5 /* LUN RESET */, { lun: 1 })
      yield* session.taskManagement(2 /* ABORT TASK SET */, { lun: 1 })
      const r = yield* Effect.result(session.taskManagement(1 /* ABORT TASK */, { lun: 1, referencedTaskTag: 0x1234 }))
      // tgt answers "task does not exist" (1) or "function complete" (0)
      if (r._tag === "Failure") expect(r.failure.reason._tag).toBe("TaskManagementFailed")
      // the session is still usable (a UNIT ATTENTION may follow the reset)
      const tur = yield* session.execute({ lun: 1, cdb: new Uint8Array(6), direction: "none" })
      expect([0, 2]).toContain(tur.status)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("interrupting a command sends ABORT TASK, frees the ITT and leaves the session usable", () =>
    Effect.gen(function* () {
      const session = yield* Session.make(sessionConfig("disk"))
      yield* clearUnitAttention(session, 1)
      // a large read interrupted at once
      yield* session
        .execute({ lun: 1, cdb: cdbRead10(0, 2048), direction: "read", readLength: 2048 * 512 })
        .pipe(Effect.timeout("1 millis"), Effect.ignore)
      yield* Effect.sleep("200 millis")
      const stats = yield* session.stats
      expect(stats.inFlight).toBe(0)
      const r = yield* session.execute({ lun: 1, cdb: cdbRead10(0, 8), direction: "read", readLength: 4096 })
      expect(r.status).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("logout leaves tgtd with no session for our initiator", () =>
    Effect.gen(function* () {
      const name = "iqn.2026-11.io.effect-iscsi:logout-check"
      const before = yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Session.make({ ...sessionConfig("disk"), initiatorName: name })
          return tgtSessions(tgt().targets.disk.tid)
        })
      ).pipe(Effect.provide(nodeLayer()))
      expect(before).toContain(name)
      yield* Effect.sleep("200 millis")
      expect(tgtSessions(tgt().targets.disk.tid)).not.toContain(name)
    })
  )

  it.live("CHAP and mutual CHAP sessions run commands; a wrong secret is a typed authentication failure", () =>
    Effect.gen(function* () {
      const { chap, mutual } = tgt().targets
      const s1 = yield* Session.make({
        ...sessionConfig("disk"),
        targetName: chap.iqn,
        auth: { _tag: "Chap", user: chap.chap!.user, secret: Redacted.make(chap.chap!.secret) }
      })
      yield* clearUnitAttention(s1, 1)
      const s2 = yield* Session.make({
        ...sessionConfig("disk"),
        targetName: mutual.iqn,
        auth: {
          _tag: "Chap",
          user: mutual.chap!.user,
          secret: Redacted.make(mutual.chap!.secret),
          mutual: { user: mutual.mutualChap!.user, secret: Redacted.make(mutual.mutualChap!.secret) }
        }
      })
      yield* clearUnitAttention(s2, 1)
      const bad = yield* Effect.flip(
        Session.make({
          ...sessionConfig("disk"),
          targetName: chap.iqn,
          auth: { _tag: "Chap", user: chap.chap!.user, secret: Redacted.make("wrong-secret-123") }
        })
      )
      expect(bad.reason._tag).toBe("LoginFailed")
      if (bad.reason._tag === "LoginFailed") expect(bad.reason.status).toMatch(/Authentication/)
      expect(JSON.stringify(bad)).not.toContain("wrong-secret-123")
      // no credentials at all: tgt fails the login the same way, and the error says how to pass them
      const none = yield* Effect.flip(Session.make({ ...sessionConfig("disk"), targetName: chap.iqn }))
      expect(none.reason._tag === "LoginFailed" && none.reason.status).toBe("AuthenticationFailure")
      expect(none.reason._tag === "LoginFailed" && none.reason.hint).toBe(LoginMachine.CHAP_REQUIRED)
      expect(none.message).toContain("ISCSI_CHAP_USER")
      expect(none.isRetryable).toBe(false)
      // mutual CHAP with the wrong target secret: we refuse the target
      const badTarget = yield* Effect.flip(
        Session.make({
          ...sessionConfig("disk"),
          targetName: mutual.iqn,
          auth: {
            _tag: "Chap",
            user: mutual.chap!.user,
            secret: Redacted.make(mutual.chap!.secret),
            mutual: { user: mutual.mutualChap!.user, secret: Redacted.make("not-the-target-secret") }
          }
        })
      )
      expect(badTarget.reason._tag).toBe("AuthenticationFailed")
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("tgt's CHAP_A=7 quirk: explicit SHA-256 fails against tgt, the default order logs in", () =>
    Effect.gen(function* () {
      const { chap } = tgt().targets
      const auth = (algorithms?: ReadonlyArray<"MD5" | "SHA1" | "SHA256" | "SHA3-256">) => ({
        _tag: "Chap" as const,
        user: chap.chap!.user,
        secret: Redacted.make(chap.chap!.secret),
        ...(algorithms ? { algorithms } : {})
      })
      // tgt 1.0.85 picks 7 but verifies it as SHA-1: our (correct) SHA-256 response is refused
      const e = yield* Effect.flip(
        Session.make({ ...sessionConfig("disk"), targetName: chap.iqn, auth: auth(["SHA256"]) })
      )
      expect(e.reason._tag).toBe("LoginFailed")
      // MD5 alone and the default order both work
      yield* Session.make({ ...sessionConfig("disk"), targetName: chap.iqn, auth: auth(["MD5"]) })
      yield* Session.make({ ...sessionConfig("disk"), targetName: chap.iqn, auth: auth() })
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )

  it.live("an unknown target is a typed not-found login failure", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        Session.make({ ...sessionConfig("disk"), targetName: "iqn.2026-11.io.effect-iscsi:nope" })
      )
      expect(e.reason._tag).toBe("LoginFailed")
      if (e.reason._tag === "LoginFailed") {
        expect(e.reason.statusClass).toBe(2)
        expect(e.reason.statusDetail).toBe(3)
        expect(e.isRetryable).toBe(false)
      }
    }).pipe(Effect.scoped, Effect.provide(nodeLayer()))
  )
})

const tgtSessions = (tid: number): string => {
  const all = execFileSync(
    "tgtadm",
    ["-C", String(tgt().controlPort), "--lld", "iscsi", "--mode", "target", "--op", "show"],
    { encoding: "utf8" }
  )
  // the section of this target, up to the next "Target N:" line
  const start = all.indexOf(`Target ${tid}:`)
  const rest = all.slice(start + 1)
  const end = rest.search(/^Target \d+:/m)
  return end < 0 ? all.slice(start) : all.slice(start, start + 1 + end)
}
