/**
 * iSNS discovery against a real open-isns `isnsd` (started here, on its own loopback port) that
 * lists the run's tgtd targets on two portals: 127.0.0.1 and 127.0.0.2, the second one added to
 * tgtd for this file. tgt's SendTargets names only the portal it was asked on; iSNS must name both,
 * and a login through each portal it names must work.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Discovery, IsnsClient } from "@effect-iscsi/core"
import { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Isns, Tgt } from "@effect-iscsi/testing"
import { tgt } from "@effect-iscsi/testing/Provided"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Net from "node:net"

const SECOND = "127.0.0.2"
const INITIATOR = "iqn.2026-11.io.effect-iscsi:isns-test"
const OTHER_INITIATOR = "iqn.2026-11.io.effect-iscsi:some-initiator"

let isnsd: Isns.IsnsInstance | undefined

const server = () => ({ host: isnsd!.info.host, port: isnsd!.info.port })
const allTargets = () => Object.values(tgt().targets)

beforeAll(async () => {
  const info = tgt()
  Tgt.ensurePortal(info.controlPort, SECOND, info.port)
  isnsd = await Isns.start()
  isnsd.register({
    entity: "effect-iscsi-tgtd",
    portals: [
      { host: info.host, port: info.port },
      { host: SECOND, port: info.port }
    ],
    targets: allTargets().map((t) => (t === info.targets.tuned ? { name: t.iqn, alias: "tuned" } : { name: t.iqn }))
  })
  // an initiator node in another entity: listed by iSNS, never returned as a target
  isnsd.isnsadm(["--register", "entity=some-host", `initiator=${OTHER_INITIATOR}`])
})

afterAll(async () => {
  await isnsd?.stop()
})

describe("iSNS discovery against isnsd", () => {
  it.live("lists every tgtd target with both portals and their portal group tag", () =>
    Effect.gen(function* () {
      const info = tgt()
      const targets = yield* Discovery.isns({ server: server(), sourceName: INITIATOR })
      expect(targets.map((t) => t.name).sort()).toEqual(
        allTargets()
          .map((t) => t.iqn)
          .sort()
      )
      for (const t of targets) {
        expect(t.nodeType & 1).toBe(1)
        expect([...t.portals].sort((a, b) => a.host.localeCompare(b.host))).toEqual([
          { host: "127.0.0.1", port: info.port, tpgt: 1 },
          { host: SECOND, port: info.port, tpgt: 1 }
        ])
      }
      expect(targets.find((t) => t.name === info.targets.tuned.iqn)!.alias).toBe("tuned")
      expect(targets.find((t) => t.name === info.targets.disk.iqn)!.alias).toBeUndefined()
    }).pipe(Effect.provide(IscsiClient.nodeLayer()))
  )

  it.live("walks initiators too, but returns only targets", () =>
    Effect.gen(function* () {
      const names = yield* Effect.scoped(
        Effect.flatMap(IsnsClient.connect({ server: server(), sourceName: INITIATOR }), (c) => IsnsClient.nodes(c))
      )
      expect(names.find((n) => n.name === OTHER_INITIATOR)?.nodeType).toBe(2)
      const targets = yield* Discovery.isns({ server: server(), sourceName: INITIATOR })
      expect(targets.map((t) => t.name)).not.toContain(OTHER_INITIATOR)
    }).pipe(Effect.provide(IscsiClient.nodeLayer()))
  )

  it.live("a login through every portal iSNS returns works (TEST UNIT READY, INQUIRY)", () =>
    Effect.gen(function* () {
      const targets = yield* Discovery.isns({ server: server(), sourceName: INITIATOR })
      let logins = 0
      for (const t of targets) {
        const configured = allTargets().find((c) => c.iqn === t.name)!
        for (const p of t.portals) {
          const user = configured.chap !== undefined ? `${configured.chap.user}%${configured.chap.secret}@` : ""
          const layer = IscsiClient.layer({
            url: `iscsi://${user}${p.host}:${p.port}/${t.name}/1`,
            ...(configured.mutualChap !== undefined
              ? {
                  targetChap: {
                    user: configured.mutualChap.user,
                    secret: Redacted.make(configured.mutualChap.secret)
                  }
                }
              : {})
          })
          const out = yield* Effect.gen(function* () {
            const scsi = yield* ScsiTransport
            let tur = -1
            for (let i = 0; i < 3 && tur !== 0; i++) {
              tur = (yield* scsi.execute({ lun: 1, cdb: new Uint8Array(6), direction: "none" })).status
            }
            const inquiry = yield* scsi.execute({
              lun: 1,
              cdb: Uint8Array.of(0x12, 0, 0, 0, 36, 0),
              direction: "read",
              readLength: 36
            })
            return { tur, inquiry }
          }).pipe(Effect.provide(layer))
          expect(out.tur).toBe(0)
          expect(out.inquiry.status).toBe(0)
          expect(out.inquiry.data[0]! & 0x1f).toBe(0) // direct-access block device
          logins++
        }
      }
      expect(logins).toBe(2 * allTargets().length)
    }).pipe(Effect.provide(IscsiClient.nodeLayer()))
  )

  it.live("a refused server port is a typed, retryable connect failure", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        Discovery.isns({ server: { host: "127.0.0.1", port: 1 }, sourceName: INITIATOR, timeoutMs: 5000 })
      )
      expect(e.reason._tag).toBe("ConnectFailed")
      expect(e.isRetryable).toBe(true)
    }).pipe(Effect.provide(IscsiClient.nodeLayer()))
  )

  it.live("a server that never answers is a Timeout", () =>
    Effect.gen(function* () {
      const sockets: Array<Net.Socket> = []
      const silent = Net.createServer((s) => sockets.push(s))
      const port = yield* Effect.promise(
        () =>
          new Promise<number>((resolve) =>
            silent.listen(0, "127.0.0.1", () => resolve((silent.address() as Net.AddressInfo).port))
          )
      )
      const e = yield* Effect.flip(
        Discovery.isns({ server: { host: "127.0.0.1", port }, sourceName: INITIATOR, timeoutMs: 300 })
      ).pipe(
        Effect.ensuring(
          Effect.promise(
            () =>
              new Promise<void>((resolve) => {
                for (const s of sockets) s.destroy()
                silent.close(() => resolve())
              })
          )
        )
      )
      expect(e.reason._tag).toBe("Timeout")
      expect(e.reason._tag === "Timeout" && e.reason.operation).toBe("iSNS DevGetNext")
    }).pipe(Effect.provide(IscsiClient.nodeLayer()))
  )
})
