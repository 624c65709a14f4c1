/**
 * The ready-to-use Node layers: `IscsiLive` (configured from the environment through Effect
 * Config, see core's `IscsiConfig`) and `layer({ url, ... })`, both providing core's `Pool` and
 * `ScsiTransport` over Node TCP with native CRC32C and node:crypto for CHAP.
 *
 * Providing a layer per call logs in per call:
 * `Effect.runPromise(Scsi.read10(1, 0, 8).pipe(Effect.provide(IscsiLive)))` opens a session, runs
 * the command and logs out. To share one session between many calls, build a runtime once:
 * `const rt = ManagedRuntime.make(IscsiLive)`; `await rt.runPromise(Scsi.read10(1, 0, 8))` …;
 * `await rt.dispose()` (drains, logs out, closes). For several targets in one program, `pool()`
 * and `on(url)` / `target(url)`.
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

export interface PoolOptions extends Pool.Options {
  readonly transport?: NodeTransport.Options | undefined
}

/**
 * The `Pool` on Node, for programs that use several targets: aim programs with
 * `IscsiClient.on(url)` / `Pool.on(url)` or layers with `IscsiClient.target(url)`. Targets given as
 * URLs get this host's initiator name unless `defaults` says otherwise.
 */
export const pool = (options: PoolOptions = {}): Layer.Layer<Pool.Pool> =>
  Pool.layer({ ...options, defaults: { initiatorName: defaultInitiatorName(), ...options.defaults } }).pipe(
    Layer.provide(nodeLayer(options.transport))
  )

/** Run a program on a target of the `Pool` in context: `Scsi.read10(1, 0, 8).pipe(IscsiClient.on(url))`. */
export const on = Pool.on

/** `ScsiTransport` for a target of the `Pool` in context (nothing is sent until a command needs it). */
export const target = Pool.target

export interface LayerOptions extends IscsiConfig.Options {
  readonly url: string
  readonly transport?: NodeTransport.Options | undefined
  /** Options of the layer's own pool (idle timeout, bound on sessions). */
  readonly pool?: Pool.Options | undefined
}

/**
 * A pool with one target, named by an iSCSI URL: `Pool | ScsiTransport`. The URL's LUN (if any) is
 * the target's default LUN (`BlockDevice.make()` opens it). Nothing is sent until the first command.
 */
export const layer = (options: LayerOptions): Layer.Layer<Pool.Pool | ScsiTransport, IscsiError.IscsiError> =>
  Layer.unwrap(
    Effect.map(IscsiConfig.fromUrl(options.url, { initiatorName: defaultInitiatorName(), ...options }), (config) =>
      Pool.layerTarget(config, options.pool)
    )
  ).pipe(Layer.provide(nodeLayer(options.transport)))

/**
 * A pool with one target configured from the environment (ISCSI_URL, ISCSI_CHAP_USER, …; see core's
 * `IscsiConfig`): `Pool | ScsiTransport`. Nothing is sent until the first command.
 */
export const IscsiLive: Layer.Layer<Pool.Pool | ScsiTransport, IscsiError.IscsiError | Config.ConfigError> =
  Layer.unwrap(
    Effect.map(IscsiConfig.fromConfig, (config) =>
      Pool.layerTarget(
        config.initiatorName === IscsiConfig.DEFAULT_INITIATOR_NAME
          ? { ...config, initiatorName: defaultInitiatorName() }
          : config
      )
    )
  ).pipe(Layer.provide(nodeLayer()))
