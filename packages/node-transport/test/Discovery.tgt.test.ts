/** SendTargets discovery and URL-configured layers against the real tgtd. */
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { Discovery, Pool } from "@effect-iscsi/core"
import { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import { IscsiClient, IscsiLive } from "@effect-iscsi/node-transport"
import { tgt } from "@effect-iscsi/testing/Provided"

describe("Discovery against tgtd", () => {
  it.live("SendTargets=All lists every configured target with its portal and tag", () =>
    Effect.gen(function* () {
      const info = tgt()
      const targets = yield* Discovery.discover({
        address: { host: info.host, port: info.port },
        initiatorName: "iqn.2026-11.io.effect-iscsi:discovery-test"
      })
      const names = targets.map((t) => t.name).sort()
      expect(names).toEqual(
        Object.values(info.targets)
          .map((t) => t.iqn)
          .sort()
      )
      for (const t of targets) {
        expect(t.portals).toEqual([{ host: info.host, port: info.port, tpgt: 1 }])
      }
    }).pipe(Effect.provide(IscsiClient.nodeLayer()))
  )

  it.live("SendTargets=<name> lists only that target", () =>
    Effect.gen(function* () {
      const info = tgt()
      const targets = yield* Discovery.discover({
        address: { host: info.host, port: info.port },
        initiatorName: "iqn.2026-11.io.effect-iscsi:discovery-test",
        sendTargets: info.targets.tuned.iqn
      })
      expect(targets.map((t) => t.name)).toEqual([info.targets.tuned.iqn])
    }).pipe(Effect.provide(IscsiClient.nodeLayer()))
  )

  it.live("a refused portal is a typed, retryable connect failure", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        Discovery.discover({ address: { host: "127.0.0.1", port: 1 }, initiatorName: "iqn.2026-11.io.effect-iscsi:x" })
      )
      expect(e.reason._tag).toBe("ConnectFailed")
      expect(e.isRetryable).toBe(true)
    }).pipe(Effect.provide(IscsiClient.nodeLayer()))
  )
})

describe("IscsiLive and IscsiClient.layer", () => {
  const tur = Effect.gen(function* () {
    const t = yield* ScsiTransport
    for (let i = 0; i < 3; i++) {
      const r = yield* t.execute({ lun: 1, cdb: new Uint8Array(6), direction: "none" })
      if (r.status === 0) return r.status
    }
    return -1
  })

  it.live("IscsiLive reads ISCSI_URL and CHAP credentials from Config", () =>
    Effect.gen(function* () {
      const { chap } = tgt().targets
      const config = ConfigProvider.layer(
        ConfigProvider.fromUnknown({
          ISCSI_URL: `iscsi://${tgt().portal}/${chap.iqn}/1`,
          ISCSI_CHAP_USER: chap.chap!.user,
          ISCSI_CHAP_SECRET: chap.chap!.secret
        })
      )
      const status = yield* tur.pipe(Effect.provide(IscsiLive.pipe(Layer.provide(config))))
      expect(status).toBe(0)
    })
  )

  it.live("IscsiLive without a URL fails with a typed configuration error", () =>
    Effect.gen(function* () {
      const config = ConfigProvider.layer(ConfigProvider.fromUnknown({}))
      const e = yield* Effect.flip(tur.pipe(Effect.provide(IscsiLive.pipe(Layer.provide(config)))))
      expect(e._tag === "IscsiError" ? e.reason._tag : e._tag).toBe("InvalidArgument")
    })
  )

  it.live(
    "IscsiClient.layer: initiator credentials in the URL, mutual CHAP from options; Pool exposes the session",
    () =>
      Effect.gen(function* () {
        const { mutual } = tgt().targets
        const layer = IscsiClient.layer({
          url: `iscsi://${mutual.chap!.user}%${mutual.chap!.secret}@${tgt().portal}/${mutual.iqn}/1`,
          targetChap: { user: mutual.mutualChap!.user, secret: Redacted.make(mutual.mutualChap!.secret) }
        })
        const out = yield* Effect.gen(function* () {
          const status = yield* tur
          const [session] = yield* (yield* Pool.Pool).sessions
          return { status, tsih: session?.info?.tsih ?? 0 }
        }).pipe(Effect.provide(layer))
        expect(out.status).toBe(0)
        expect(out.tsih).toBeGreaterThan(0)
      })
  )

  it.live("a ManagedRuntime shares one session between calls, and dispose logs out", () =>
    Effect.gen(function* () {
      const { disk } = tgt().targets
      const rt = ManagedRuntime.make(
        IscsiClient.layer({ url: `iscsi://${tgt().portal}/${disk.iqn}/1`, isid: 0x800000000d01 })
      )
      const tsihs: Array<number> = []
      for (let i = 0; i < 3; i++) {
        const tsih = yield* Effect.promise(() =>
          rt.runPromise(
            Effect.gen(function* () {
              yield* tur
              const [session] = yield* (yield* Pool.Pool).sessions
              return session?.info?.tsih ?? 0
            })
          )
        )
        tsihs.push(tsih)
      }
      expect(new Set(tsihs).size).toBe(1)
      yield* Effect.promise(() => rt.dispose())
    })
  )

  it.live("a malformed URL is a typed InvalidArgument that does not show the secret", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        tur.pipe(Effect.provide(IscsiClient.layer({ url: "iscsi://user%topsecret@:99999/x" })))
      )
      expect(e._tag).toBe("IscsiError")
      expect(e.reason._tag).toBe("InvalidArgument")
      expect(`${e.message} ${JSON.stringify(e)}`).not.toContain("topsecret")
    })
  )
})
