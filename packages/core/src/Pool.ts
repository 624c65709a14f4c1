/**
 * The Pool service: opens and owns the session (ISID/TSIH) and its connections for one target,
 * hands out execution (it is also the `ScsiTransport` that SCSI programs use), reports events, and
 * shuts down gracefully (drains in-flight tasks within a bound, logs out, closes).
 *
 * The current session is held in a `Ref`; ITT, CmdSN and ExpStatSN stay inside the session engine
 * and never leave it. With recovery on (ErrorRecoveryLevel 0 session recovery, RFC 7143 §6.3.5,
 * see `Recovery`), a lost session is reinstated with the same ISID and idempotent tasks are
 * re-issued on it.
 *
 * Not here: protocol state (Session), byte transport (Transport), SCSI semantics (@effect-iscsi/scsi).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as IscsiError from "./IscsiError.ts"
import * as Recovery from "./Recovery.ts"
import type * as Session from "./Session.ts"
import { ScsiTransport } from "./ScsiTransport.ts"
import type { Platform, Transport } from "./Transport.ts"

export interface Config extends Omit<Session.Config, "isid"> {
  /** 48-bit ISID; default: derived from the initiator and target names (stable across runs). */
  readonly isid?: number | undefined
  /** Session recovery after connection loss (default on). */
  readonly recovery?: Recovery.Options | false | undefined
}

export interface PoolShape {
  /** The current session (after a recovery: the reinstated one). */
  readonly session: Effect.Effect<Session.Session, IscsiError.IscsiError>
  readonly execute: ScsiTransport["Service"]["execute"]
  /** Session and recovery events. */
  readonly events: Stream.Stream<Session.SessionEvent | Recovery.RecoveryEvent>
  /** Graceful shutdown now (also done when the layer's scope closes). */
  readonly shutdown: Effect.Effect<void>
}

export class Pool extends Context.Service<Pool, PoolShape>()("@effect-iscsi/core/Pool") {}

/**
 * A stable 48-bit ISID for (initiator, target) in the "random" format (RFC 7143 §11.12.5: T=0b10),
 * so reconnects and recovery reuse the same I_T nexus.
 */
export const stableIsid = (initiatorName: string, targetName: string): number => {
  let h1 = 0x811c9dc5
  let h2 = 0x01000193
  const s = `${initiatorName}\u0000${targetName}`
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0
  }
  // T=10 (random), A=0, B+C = 24 bits, D = 16 bits
  return 0x80 * 2 ** 40 + (h1 & 0xffffff) * 2 ** 16 + (h2 & 0xffff)
}

/** Build the pool in the current scope. */
export const make = Effect.fn("Pool.make")(function* (
  config: Config
): Effect.fn.Return<PoolShape, IscsiError.IscsiError, Transport | Platform | Scope.Scope> {
  const isid = config.isid ?? stableIsid(config.initiatorName, config.targetName ?? "")
  return yield* Recovery.make({ ...config, isid }, config.recovery === false ? undefined : (config.recovery ?? {}))
})

/** `Pool` and `ScsiTransport` for one target. */
export const layer = (config: Config): Layer.Layer<Pool | ScsiTransport, IscsiError.IscsiError, Transport | Platform> =>
  Layer.effectContext(
    Effect.map(make(config), (pool) =>
      Context.make(Pool, pool).pipe(Context.add(ScsiTransport, ScsiTransport.of({ execute: pool.execute })))
    )
  )
