/**
 * The ready-to-use Node layers: `IscsiLive` (configured from the environment through Effect
 * Config, see core's `IscsiConfig`) and `layer({ url, ... })`, both providing core's `Pool` and
 * `ScsiTransport` over Node TCP with native CRC32C and node:crypto for CHAP.
 *
 * Providing a layer per call logs in per call:
 * `Effect.runPromise(Scsi.read10(1, 0, 8).pipe(Effect.provide(IscsiLive)))` opens a session, runs
 * the command and logs out. To share one session between many calls, build a runtime once:
 * `const rt = ManagedRuntime.make(IscsiLive)`; `await rt.runPromise(Scsi.read10(1, 0, 8))` …;
 * `await rt.dispose()` (drains, logs out, closes).
 */
import * as IscsiConfig from "@effect-iscsi/core/IscsiConfig"
import type * as IscsiError from "@effect-iscsi/core/IscsiError"
import * as Pool from "@effect-iscsi/core/Pool"
import type { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import { Platform } from "@effect-iscsi/core/Transport"
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Os from "node:os"
import * as NativeCrc32c from "./NativeCrc32c.ts"
import * as NodeCrypto from "./NodeCrypto.ts"
import * as NodeTransport from "./NodeTransport.ts"

/** core's `Platform` on Node: node:crypto hashes and random bytes, native CRC32C (TS fallback). */
export const platformLayer: Layer.Layer<Platform> = Layer.succeed(
  Platform,
  Platform.of({ hash: NodeCrypto.hash, randomBytes: NodeCrypto.randomBytes, crc32c: NativeCrc32c.crc32c })
)

/** Transport + Platform for Node. */
export const nodeLayer = (options: NodeTransport.Options = {}) =>
  Layer.merge(NodeTransport.layer(options), platformLayer)

/** The default initiator name on this host. */
export const defaultInitiatorName = (): string =>
  `iqn.2026-11.io.effect-iscsi:${
    Os.hostname()
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, "-") || "initiator"
  }`

export interface LayerOptions extends IscsiConfig.Options {
  readonly url: string
  readonly transport?: NodeTransport.Options | undefined
}

/** Pool + ScsiTransport for the target named by an iSCSI URL. */
export const layer = (options: LayerOptions): Layer.Layer<Pool.Pool | ScsiTransport, IscsiError.IscsiError> =>
  Layer.unwrap(
    Effect.map(IscsiConfig.fromUrl(options.url, { initiatorName: defaultInitiatorName(), ...options }), (config) =>
      Pool.layer(config)
    )
  ).pipe(Layer.provide(nodeLayer(options.transport)))

/** Pool + ScsiTransport configured from the environment (ISCSI_URL, ISCSI_CHAP_USER, …). */
export const IscsiLive: Layer.Layer<Pool.Pool | ScsiTransport, IscsiError.IscsiError | Config.ConfigError> =
  Layer.unwrap(
    Effect.map(IscsiConfig.fromConfig, (config) =>
      Pool.layer(
        config.initiatorName === IscsiConfig.DEFAULT_INITIATOR_NAME
          ? { ...config, initiatorName: defaultInitiatorName() }
          : config
      )
    )
  ).pipe(Layer.provide(nodeLayer()))
