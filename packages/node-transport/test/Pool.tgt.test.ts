/**
 * The Pool as a session manager (issue 14), against tgtd and against fake targets that reinstate
 * sessions by ISID as RFC 7143 §6.3.5 requires:
 * - 3 targets and 2 pools in one process, verifying write/read load for 20 s each way: no session
 *   replaced by another, no failed command, every ISID different;
 * - a 4096-byte LUN read and written without a block size;
 * - `connections: 4` on the tuned target gives 4 connections;
 * - a command that is never answered fails within its one deadline (± 10 %) whatever the retries;
 * - a layer built while the target is unreachable works once the target is reachable.
 */
import { describe, expect, it } from "@effect/vitest"
import { IscsiConfig, Negotiation, Pool, type Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { BlockDevice, Scsi } from "@effect-iscsi/scsi"
import { FakeTarget, Tgt } from "@effect-iscsi/testing"
import { tgt } from "@effect-iscsi/testing/Provided"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Fs from "node:fs"
import { eventually, freshIsid, INITIATOR, pattern, read10 } from "./support.ts"

const LOAD_SECONDS = 20

interface LoadResult {
  readonly ops: number
  readonly verified: number
  readonly failures: ReadonlyArray<string>
}

/**
 * Write then read back blocks of [base, base + span) at queue depth `qd` for `seconds`, comparing
 * every read with what was written (the device is one pool's view of one target's LUN).
 */
const verifyingLoad = (device: BlockDevice.BlockDevice, base: number, span: number, qd: number, seconds: number) =>
  Effect.gen(function* () {
    const until = Date.now() + seconds * 1000
    let ops = 0
    let verified = 0
    const failures: Array<string> = []
    const lane = (k: number) =>
      Effect.gen(function* () {
        let i = 0
        while (Date.now() < until) {
          const lba = base + ((k * 7919 + i * 104729) % span)
          const data = pattern(lba, device.blockSize, k * 1_000_003 + i)
          i++
          const w = yield* Effect.result(device.write(lba, data))
          ops++
          if (w._tag === "Failure") {
            failures.push(`write: ${w.failure.message}`)
            continue
          }
          const r = yield* Effect.result(device.read(lba, 1))
          ops++
          if (r._tag === "Failure") failures.push(`read: ${r.failure.message}`)
          else if (Buffer.compare(Buffer.from(r.success), Buffer.from(data)) !== 0) failures.push(`lba ${lba} differs`)
          else verified++
        }
      })
    yield* Effect.forEach(
      Array.from({ length: qd }, (_, k) => k),
      lane,
      { concurrency: "unbounded", discard: true }
    )
    return { ops, verified, failures } satisfies LoadResult
  })

/** One pool's work: a verifying load on each target's LUN, in its own region of the LUN. */
const poolWork = (urls: ReadonlyArray<string>, region: number) =>
  Effect.gen(function* () {
    const results = yield* Effect.forEach(
      urls,
      (url) =>
        Effect.gen(function* () {
          const device = yield* BlockDevice.open(url)
          return yield* verifyingLoad(device, 1000 + region * 4096, 4096, 4, LOAD_SECONDS)
        }).pipe(Effect.scoped),
      { concurrency: "unbounded" }
    )
    const pool = yield* Pool.Pool
    return { results, sessions: yield* pool.sessions }
  })

describe("the Pool as a session manager", () => {
  const tunedUrl = `iscsi://${tgt().portal}/${tgt().targets.tuned.iqn}`

  it.live(
    `3 targets and 2 pools in one process for ${LOAD_SECONDS} s against tgtd: no session replaced, no failure, distinct ISIDs`,
    () =>
      Effect.gen(function* () {
        const info = tgt()
        const { disk, chap, tuned } = info.targets
        const urls = [
          `iscsi://${info.portal}/${disk.iqn}/1`,
          `iscsi://${chap.chap!.user}%${chap.chap!.secret}@${info.portal}/${chap.iqn}/1`,
          `iscsi://${info.portal}/${tuned.iqn}/1`
        ]
        // halfway through, tgtd lists the sessions of each target
        const midway = Effect.sleep(`${LOAD_SECONDS / 2} seconds`).pipe(
          Effect.map(() =>
            [disk, chap, tuned].map(
              (t) =>
                new Set(
                  [
                    ...Tgt.tgtadm(info.controlPort, [
                      "--mode",
                      "conn",
                      "--op",
                      "show",
                      "--tid",
                      String(t.tid)
                    ]).matchAll(/Session: (\d+)/g)
                  ].map((m) => m[1])
                ).size
            )
          )
        )
        const [a, b, seen] = yield* Effect.all(
          [
            poolWork(urls, 0).pipe(Effect.provide(IscsiClient.pool())),
            poolWork(urls, 1).pipe(Effect.provide(IscsiClient.pool())),
            midway
          ],
          { concurrency: "unbounded" }
        )
        for (const r of [...a.results, ...b.results]) {
          expect(r.failures).toEqual([])
          expect(r.verified).toBeGreaterThan(100)
        }
        // every session logged in once (generation 1: never lost, never replaced), each ISID its own
        const sessions = [...a.sessions, ...b.sessions]
        expect(sessions.length).toBe(6)
        for (const s of sessions) expect([s.phase, s.generation]).toEqual(["Ready", 1])
        expect(new Set(sessions.map((s) => `${s.targetName} ${s.isid}`)).size).toBe(6)
        // tgtd saw (at least) the two pools' sessions on every target at once
        for (const n of seen) expect(n).toBeGreaterThanOrEqual(2)
        const ops = [...a.results, ...b.results].reduce((n, r) => n + r.ops, 0)
        console.log(`tgtd: 2 pools × 3 targets, ${ops} verified commands in ${LOAD_SECONDS} s, 0 failures`)
      }),
    LOAD_SECONDS * 1000 + 60_000
  )

  it.live(
    `the same against fake targets that reinstate by ISID (RFC 7143 §6.3.5): no session replaced`,
    () =>
      Effect.gen(function* () {
        const fakes = yield* Effect.forEach([1, 2, 3], (n) =>
          FakeTarget.make({ targetName: `iqn.2026-11.io.effect-iscsi:fake-${n}`, reinstate: true, blocks: 16384 })
        )
        // control: two sessions of one initiator with one ISID do replace each other on these targets
        const control = fakes[0]!
        const sameIsid = freshIsid()
        const config: Session.Config = {
          address: control.address,
          initiatorName: INITIATOR,
          targetName: control.targetName,
          isid: sameIsid,
          auth: { _tag: "None" },
          offer: Negotiation.defaultOffer,
          keepaliveIntervalMs: 0
        }
        yield* Effect.scoped(
          Effect.gen(function* () {
            const pool = yield* Pool.make({ defaults: {} })
            yield* (yield* pool.acquire({ ...config })).connect
            // a second pool cannot take the same explicit ISID in this process: typed, before any login
            const other = yield* Pool.make()
            const e = yield* Effect.flip(other.acquire({ ...config }))
            expect(e.reason._tag).toBe("InvalidArgument")
          }).pipe(Effect.provide(IscsiClient.nodeLayer()))
        )
        const urls = fakes.map((t) => `iscsi://${t.host}:${t.port}/${t.targetName}/0`)
        const before = fakes.map((t) => t.reinstatements.length)
        const [a, b] = yield* Effect.all(
          [
            poolWork(urls, 0).pipe(Effect.provide(IscsiClient.pool())),
            poolWork(urls, 1).pipe(Effect.provide(IscsiClient.pool()))
          ],
          { concurrency: "unbounded" }
        )
        for (const r of [...a.results, ...b.results]) {
          expect(r.failures).toEqual([])
          expect(r.verified).toBeGreaterThan(100)
        }
        expect(fakes.map((t) => t.reinstatements.length)).toEqual(before)
        const sessions = [...a.sessions, ...b.sessions]
        for (const s of sessions) expect([s.phase, s.generation]).toEqual(["Ready", 1])
        expect(new Set(sessions.map((s) => `${s.targetName} ${s.isid}`)).size).toBe(6)
        const ops = [...a.results, ...b.results].reduce((n, r) => n + r.ops, 0)
        console.log(`fake targets (reinstating): 2 pools × 3 targets, ${ops} verified commands, 0 reinstatements`)
      }).pipe(Effect.scoped),
    LOAD_SECONDS * 1000 + 60_000
  )

  it.live("a 4096-byte LUN is read and written without a block size", () =>
    Effect.gen(function* () {
      const info = tgt()
      const lun = info.targets.disk.luns.find((l) => l.blockSize === 4096)!
      const data = pattern(77, 3 * 4096, 4096)
      yield* Scsi.write10(lun.lun, 77, data)
      const back = yield* Scsi.read10(lun.lun, 77, 3)
      expect(back.length).toBe(3 * 4096)
      expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true)
      const fd = Fs.openSync(lun.path!, "r")
      const onDisk = Buffer.alloc(data.length)
      Fs.readSync(fd, onDisk, 0, onDisk.length, 77 * 4096)
      Fs.closeSync(fd)
      expect(onDisk.equals(Buffer.from(data))).toBe(true)
      expect(yield* Scsi.geometry(lun.lun)).toEqual({ blockSize: 4096, blocks: lun.size / 4096 })
    }).pipe(Effect.provide(IscsiClient.layer({ url: `iscsi://${tgt().portal}/${tgt().targets.disk.iqn}` })))
  )

  it.live("connections: 4 on the tuned target gives 4", () =>
    Effect.gen(function* () {
      yield* Scsi.testUnitReady(1).pipe(Effect.ignore)
      const [s] = yield* (yield* Pool.Pool).sessions
      expect(s?.info?.connectionsWanted).toBe(4)
      expect(s?.info?.connectionsGranted).toBe(4)
      expect(s?.info?.params.maxConnections).toBe(4)
      const shown = Tgt.tgtadm(tgt().controlPort, [
        "--mode",
        "conn",
        "--op",
        "show",
        "--tid",
        String(tgt().targets.tuned.tid)
      ])
      // tgtd lists every connection under its session's number (no ISID): one session has our 4
      const perSession = new Map<string, number>()
      for (const m of shown.matchAll(/Session: (\d+)/g)) perSession.set(m[1]!, (perSession.get(m[1]!) ?? 0) + 1)
      expect([...perSession.values()]).toContain(4)
      expect(s?.connections.length).toBe(4)
    }).pipe(Effect.provide(IscsiClient.layer({ url: tunedUrl, connections: 4 })))
  )

  it.live("a command that is never answered fails within its one deadline (± 10 %), whatever the retries", () =>
    Effect.gen(function* () {
      // a target that swallows every READ
      const t = yield* FakeTarget.make({
        handler: (_c, pdu) => (pdu._tag === "ScsiCommand" && pdu.cdb[0] === 0x28 ? true : undefined)
      })
      const url = `iscsi://${t.host}:${t.port}/${t.targetName}/0`
      const layer = IscsiClient.layer({ url, commandTimeoutMs: 2000 })
      const timed = <A, E, R>(eff: Effect.Effect<A, E, R>) =>
        Effect.gen(function* () {
          const started = Date.now()
          const e = yield* Effect.flip(eff)
          return { e, ms: Date.now() - started }
        })
      yield* Scsi.geometry(0).pipe(Effect.provide(layer))
      // the layer's deadline, default retries
      const a = yield* timed(Scsi.read10(0, 0, 8, { blockSize: 512 }).pipe(Effect.provide(layer)))
      // the call's deadline with many retries, timeouts retried too: still one deadline
      const b = yield* timed(
        Scsi.read10(0, 0, 8, { blockSize: 512 }).pipe(
          Scsi.withPolicy({ timeoutMs: 1500, retries: 50, retryTimeouts: true, backoff: () => 10 }),
          Effect.provide(layer)
        )
      )
      console.log(
        `never answered: ${a.ms} ms (2000 ms deadline), ${b.ms} ms (1500 ms deadline, ${b.e.attempts ?? 1} attempts)`
      )
      expect(a.e._tag === "IscsiError" && a.e.reason._tag).toBe("Timeout")
      // a Timeout is not retried by default: one attempt
      expect(a.e.attempts ?? 1).toBe(1)
      expect(a.ms).toBeGreaterThanOrEqual(1800)
      expect(a.ms).toBeLessThanOrEqual(2200)
      expect(b.e._tag === "IscsiError" && b.e.reason._tag).toBe("Timeout")
      expect(b.ms).toBeGreaterThanOrEqual(1350)
      expect(b.ms).toBeLessThanOrEqual(1650)
    }).pipe(Effect.scoped)
  )

  it.live("a runtime built while the target is unreachable works once it is reachable (connect on demand)", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => Tgt.freePort())
      // nothing listens on `port` yet: the runtime builds, the first call fails typed and at once
      const rt = ManagedRuntime.make(
        IscsiClient.layer({ url: `iscsi://127.0.0.1:${port}/iqn.2026-11.io.effect-iscsi:late/0`, loginTimeoutMs: 2000 })
      )
      const first = yield* Effect.promise(() => rt.runPromiseExit(Scsi.testUnitReady(0)))
      expect(first._tag).toBe("Failure")
      // the target comes up on that port
      const t = yield* FakeTarget.make({ targetName: "iqn.2026-11.io.effect-iscsi:late", port })
      const r = yield* Effect.promise(() => rt.runPromise(Scsi.read10(0, 0, 1)))
      expect(r.length).toBe(512)
      expect(t.sessions.length).toBe(1)
      yield* Effect.promise(() => rt.dispose())
    }).pipe(Effect.scoped)
  )

  it.live(
    "task management programs on tgtd: ABORT TASK SET and LUN RESET done, CLEAR TASK SET refused (typed); the session goes on",
    () =>
      Effect.gen(function* () {
        yield* Scsi.read10(1, 0, 1)
        const outcomes: Record<string, string> = {}
        for (const [name, tmf] of [
          ["abortTaskSet", Scsi.abortTaskSet],
          ["clearTaskSet", Scsi.clearTaskSet],
          ["lunReset", Scsi.lunReset]
        ] as const) {
          const r = yield* Effect.result(tmf(1))
          outcomes[name] =
            r._tag === "Success"
              ? "done"
              : r.failure._tag === "IscsiError" && r.failure.reason._tag === "TaskManagementFailed"
                ? `refused ${r.failure.reason.response}`
                : `error ${r.failure.message}`
        }
        console.log(`tgtd TMFs: ${JSON.stringify(outcomes)}`)
        // tgt completes ABORT TASK SET and LUN RESET, and refuses CLEAR TASK SET as "function not
        // supported" (response 5): a typed TaskManagementFailed
        expect(outcomes).toEqual({ abortTaskSet: "done", clearTaskSet: "refused 5", lunReset: "done" })
        // after a LUN RESET the LUN reports a Unit Attention, which the runner's retry absorbs
        expect((yield* Scsi.read10(1, 0, 1)).length).toBe(512)
      }).pipe(Effect.provide(IscsiClient.layer({ url: `iscsi://${tgt().portal}/${tgt().targets.disk.iqn}/1` })))
  )

  it.live("CHAP algorithms can be set; an unknown one is a typed error that lists the known ones", () =>
    Effect.gen(function* () {
      const { chap } = tgt().targets
      const url = `iscsi://${chap.chap!.user}%${chap.chap!.secret}@${tgt().portal}/${chap.iqn}/1`
      const status = yield* Scsi.testUnitReady(1).pipe(
        Effect.retry({ times: 3 }),
        Effect.as("ready"),
        Effect.provide(IscsiClient.layer({ url, chapAlgorithms: ["MD5"] }))
      )
      expect(status).toBe("ready")
      const e = yield* Effect.flip(IscsiConfig.parseAlgorithms("SHA-256, SHA512"))
      expect(e.reason._tag).toBe("InvalidArgument")
      expect(e.message).toContain("SHA3-256")
    })
  )

  it.live("sessions are shared while used, kept idleTimeoutMs after, then logged out; at most maxSessions", () =>
    Effect.gen(function* () {
      const a = yield* FakeTarget.make({ targetName: "iqn.2026-11.io.effect-iscsi:idle-a" })
      const b = yield* FakeTarget.make({ targetName: "iqn.2026-11.io.effect-iscsi:idle-b" })
      const urlA = `iscsi://${a.host}:${a.port}/${a.targetName}/0`
      const urlB = `iscsi://${b.host}:${b.port}/${b.targetName}/0`
      const pool = yield* Pool.make({ idleTimeoutMs: 400, maxSessions: 1, defaults: { initiatorName: INITIATOR } })
      const use = (url: string) => Effect.scoped(Effect.flatMap(pool.acquire(url), (s) => s.execute(read10(0, 0, 1))))
      yield* use(urlA)
      yield* use(urlA)
      // one login served both uses
      expect(a.table.history.length).toBe(1)
      // the pool is full (the idle session counts): a second target is refused, typed
      const e = yield* Effect.flip(use(urlB))
      expect(e.reason._tag).toBe("InvalidArgument")
      // after the idle timeout the session is logged out and the room is free again
      expect(yield* eventually(() => a.sessions.length === 0, 3000)).toBe(true)
      yield* use(urlB)
      expect(b.table.history.length).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(IscsiClient.nodeLayer()))
  )
})
