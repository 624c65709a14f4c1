/**
 * The Pool: the session manager of a program. It opens, shares and closes the sessions of any
 * number of targets, and every command goes through it.
 *
 * - A target (`Target`: portal, target name, initiator name, credentials, negotiation offer,
 *   connections, timeouts, recovery) maps to one `ManagedSession`, shared by everything that uses
 *   that target in this pool (reference-counted with effect's `RcMap`); when the last user lets go
 *   it stays open `idleTimeoutMs` for the next one, then logs out. At most `maxSessions` at once.
 * - Every session gets its own ISID from the process-wide `IsidAllocator` (RFC 7143 §4.4.3, §11.12.5):
 *   stable for the life of its managed session (so reinstatement after a loss replaces exactly that
 *   session), never shared by two sessions of this process to one target — so any number of layers,
 *   runtimes and pools in one process never replace each other's sessions on a target that
 *   reinstates by ISID (§6.3.5), which RFC targets do.
 * - Nothing is sent until a command needs the session (see `ManagedSession`): building a layer
 *   never fails because a target is down, and a runtime built while it was down works once it is up.
 *
 * Aim programs at a target: `Pool.target(t)` (a layer providing `ScsiTransport`), `Pool.on(t)`
 * (pipeable: `Scsi.read10(1, 0, 8).pipe(Pool.on(url))`), or `pool.acquire(t)` (scoped). Targets
 * are given as a `Target` or as an iSCSI URL, completed with the pool's defaults (initiator name,
 * credentials, tuning).
 *
 * Not here: the session protocol (`Session`), recovery rules (`Recovery`), byte transport.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as RcMap from "effect/RcMap"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as IscsiConfig from "./IscsiConfig.ts"
import * as IscsiError from "./IscsiError.ts"
import * as ManagedSession from "./ManagedSession.ts"
import type * as Recovery from "./Recovery.ts"
import type * as Session from "./Session.ts"
import { type CommandPolicy, ScsiTransport, type ScsiTransportService } from "./ScsiTransport.ts"
import type { Platform, Transport } from "./Transport.ts"

/** A target and how to reach it: a session's configuration without the ISID (the pool allocates it). */
export interface Target extends Omit<Session.Config, "isid"> {
  /**
   * 48-bit ISID. Default: allocated per session by `IsidAllocator` (unique in this process, stable
   * while the session is managed). Give one only to keep the same I_T nexus across process restarts;
   * a second session of this process with it to the same target fails with `InvalidArgument`.
   */
  readonly isid?: number | undefined
  /** Session recovery after connection loss (default on). */
  readonly recovery?: Recovery.Options | false | undefined
  /** Command deadline and retries for this target (see `ScsiTransport.CommandPolicy`). */
  readonly policy?: CommandPolicy | undefined
  /** The LUN the target's URL named. */
  readonly lun?: number | undefined
}

/** Backwards-compatible name: a pool's target configuration. */
export type Config = Target

/** What the pool knows about one of its sessions. */
export interface SessionSummary extends ManagedSession.Status {
  readonly key: string
  readonly targetName: string | undefined
  readonly address: string
}

export type PoolEvent = { readonly target: string; readonly event: ManagedSession.Event }

export interface Options {
  /** Keep a session this long after its last user let go (default 30 000 ms). */
  readonly idleTimeoutMs?: number | undefined
  /** Sessions open at once, idle ones included (default 64). */
  readonly maxSessions?: number | undefined
  /** What a target given as a URL gets besides the URL (initiator name, credentials, tuning). */
  readonly defaults?: IscsiConfig.Options | undefined
}

export interface PoolShape {
  /** The managed session of a target, held for the current scope (shared, reference-counted). */
  readonly acquire: (
    target: Target | string
  ) => Effect.Effect<ManagedSession.ManagedSession, IscsiError.IscsiError, Scope.Scope>
  /** A URL completed with the pool's defaults. */
  readonly resolve: (target: Target | string) => Effect.Effect<Target, IscsiError.IscsiError>
  /** Every session of the pool, idle ones included. */
  readonly sessions: Effect.Effect<ReadonlyArray<SessionSummary>>
  /** Every session's events, tagged with its target. */
  readonly events: Stream.Stream<PoolEvent>
  /** Close every session now (also done when the pool's scope closes). */
  readonly shutdown: Effect.Effect<void>
}

export class Pool extends Context.Service<Pool, PoolShape>()("@effect-iscsi/core/Pool") {}

// ---- ISIDs ------------------------------------------------------------------------------------------

/** Hands out ISIDs: one per session, never two sessions of this process with one ISID to one target. */
export interface IsidAllocator {
  /** Claim an ISID for a session of `initiatorName` to `targetName` (`requested` or a fresh one). */
  readonly claim: (
    initiatorName: string,
    targetName: string,
    requested?: number | undefined
  ) => { readonly isid: number; readonly release: () => void } | IscsiError.IscsiError
}

const fnv = (s: string, seed: number): number => {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/**
 * An allocator of "random" format ISIDs (RFC 7143 §11.12.5, T=10b): B+C (24 bits) from a hash of
 * this process's nonce, the initiator and the target; D (16 bits) the lowest qualifier not in use.
 * The nonce keeps two processes with one initiator name apart.
 */
export const makeIsidAllocator = (nonce: number = Math.floor(Math.random() * 2 ** 32)): IsidAllocator => {
  const inUse = new Map<string, Set<number>>()
  return {
    claim: (initiatorName, targetName, requested) => {
      const key = `${initiatorName.toLowerCase()}\u0000${targetName.toLowerCase()}`
      let used = inUse.get(key)
      if (used === undefined) inUse.set(key, (used = new Set()))
      let isid = requested
      if (isid !== undefined) {
        if (used.has(isid)) {
          return IscsiError.make(
            new IscsiError.InvalidArgument({
              message: `ISID 0x${isid.toString(16)} is already used by another session of this process to ${targetName}: two sessions with one ISID replace each other on the target (RFC 7143 §6.3.5); leave isid unset so that each session gets its own`
            })
          )
        }
      } else {
        const bc = fnv(key, nonce) & 0xffffff
        for (let d = 0; d <= 0xffff && isid === undefined; d++) {
          const candidate = 0x80 * 2 ** 40 + bc * 2 ** 16 + d
          if (!used.has(candidate)) isid = candidate
        }
        if (isid === undefined) {
          return IscsiError.make(new IscsiError.InvalidArgument({ message: `no free ISID left for ${targetName}` }))
        }
      }
      const claimed = isid
      used.add(claimed)
      return {
        isid: claimed,
        release: () => {
          used.delete(claimed)
          if (used.size === 0) inUse.delete(key)
        }
      }
    }
  }
}

/** The ISID allocator pools use: one per process unless a program provides its own. */
export const IsidAllocator = Context.Reference<IsidAllocator>("@effect-iscsi/core/Pool/IsidAllocator", {
  defaultValue: () => processAllocator
})
const processAllocator = makeIsidAllocator()

/**
 * A stable 48-bit ISID for (initiator, target) in the "random" format (RFC 7143 §11.12.5: T=0b10),
 * for programs that want the same I_T nexus across restarts (`Target.isid`).
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

// ---- keys ---------------------------------------------------------------------------------------

/** A fingerprint of a secret for the pool's keys (the key never holds the secret itself). */
const fingerprint = (secret: Redacted.Redacted<string> | undefined): string =>
  secret === undefined ? "" : fnv(Redacted.value(secret), 0x9e3779b9).toString(36)

/**
 * What makes two targets the same session: where, who, how authenticated and how negotiated.
 * (The command policy and the URL's LUN are per user of a session, not part of it.)
 */
export const keyOf = (t: Target): string => {
  const auth =
    t.auth._tag === "None"
      ? "none"
      : `chap:${t.auth.user}:${fingerprint(t.auth.secret)}:${t.auth.mutual?.user ?? ""}:${fingerprint(t.auth.mutual?.secret)}:${t.auth.algorithms?.join(",") ?? ""}`
  return JSON.stringify([
    t.address.host.toLowerCase(),
    t.address.port,
    t.targetName ?? "",
    t.initiatorName,
    t.initiatorAlias ?? "",
    t.sessionType ?? "Normal",
    t.isid ?? null,
    auth,
    t.offer,
    t.connections ?? 1,
    t.loginTimeoutMs ?? null,
    t.keepaliveIntervalMs ?? null,
    t.keepaliveTimeoutMs ?? null,
    t.commandTimeoutMs ?? null,
    t.windowPingMs ?? null,
    t.holeTimeoutMs ?? null,
    t.drainTimeoutMs ?? null,
    t.recovery === false ? false : (t.recovery ?? {})
  ])
}

const label = (t: Target) => `${t.targetName ?? "(discovery)"} at ${t.address.host}:${t.address.port}`

// ---- the pool -----------------------------------------------------------------------------------

/** Build a pool in the current scope. */
export const make = Effect.fn("Pool.make")(function* (
  options: Options = {}
): Effect.fn.Return<PoolShape, never, Transport | Platform | Scope.Scope> {
  const events = yield* PubSub.unbounded<PoolEvent>()
  const allocator = yield* IsidAllocator
  const targets = new Map<string, { readonly target: Target; readonly session: ManagedSession.ManagedSession }>()

  const map = yield* RcMap.make({
    lookup: (key: string) =>
      Effect.gen(function* () {
        const target = pending.get(key)!
        const claim = allocator.claim(target.initiatorName, target.targetName ?? "", target.isid)
        if (claim instanceof IscsiError.IscsiError) return yield* Effect.fail(claim)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            claim.release()
            targets.delete(key)
          })
        )
        const { recovery, policy: _policy, lun: _lun, ...config } = target
        const session = yield* ManagedSession.make({ ...config, isid: claim.isid }, { recovery })
        targets.set(key, { target, session })
        yield* Effect.forkScoped(
          Stream.runForEach(session.events, (event) => PubSub.publish(events, { target: label(target), event }))
        )
        return session
      }),
    idleTimeToLive: Duration.millis(options.idleTimeoutMs ?? 30_000),
    capacity: options.maxSessions ?? 64
  })
  /** The target of a key being looked up (RcMap keys are strings; the config travels beside). */
  const pending = new Map<string, Target>()

  const resolve = (target: Target | string): Effect.Effect<Target, IscsiError.IscsiError> =>
    typeof target === "string" ? IscsiConfig.fromUrl(target, options.defaults) : Effect.succeed(target)

  const acquire: PoolShape["acquire"] = (target) =>
    Effect.gen(function* () {
      const t = yield* resolve(target)
      const key = keyOf(t)
      pending.set(key, t)
      const session = yield* RcMap.get(map, key).pipe(
        Effect.catchIf(Cause.isExceededCapacityError, () =>
          Effect.fail(
            IscsiError.make(
              new IscsiError.InvalidArgument({
                message: `the pool already holds ${options.maxSessions ?? 64} sessions (maxSessions, idle ones included for idleTimeoutMs); let go of one or raise maxSessions`
              })
            )
          )
        ),
        Effect.ensuring(Effect.sync(() => pending.delete(key)))
      )
      // the policy and LUN belong to this user of the session
      return t.policy === undefined && t.lun === undefined ? session : { ...session, policy: t.policy, lun: t.lun }
    })

  const shutdown = Effect.suspend(() =>
    Effect.forEach([...targets.values()], (t) => t.session.shutdown, { discard: true })
  )

  return {
    acquire,
    resolve,
    sessions: Effect.suspend(() =>
      Effect.forEach([...targets.entries()], ([key, t]) =>
        Effect.map(t.session.status, (status) => ({
          ...status,
          key,
          targetName: t.target.targetName,
          address: `${t.target.address.host}:${t.target.address.port}`
        }))
      )
    ),
    events: Stream.fromPubSub(events),
    shutdown
  } satisfies PoolShape
})

/** The pool, on the `Transport` and `Platform` of the environment. */
export const layer = (options: Options = {}): Layer.Layer<Pool, never, Transport | Platform> =>
  Layer.effect(Pool, make(options))

/** The `ScsiTransport` a program sees for one target of the pool. */
export const transportOf = (session: ManagedSession.ManagedSession): ScsiTransportService => ({
  execute: session.execute,
  taskManagement: session.taskManagement,
  geometry: session.geometry,
  policy: session.policy,
  lun: session.lun,
  endpoint: session.endpoint,
  telemetry: session.telemetry
})

/**
 * `ScsiTransport` for one target of the pool in context, held while the layer lives. Building it
 * sends nothing: the session logs in when the first command needs it.
 */
export const target = (t: Target | string): Layer.Layer<ScsiTransport, IscsiError.IscsiError, Pool> =>
  Layer.effect(
    ScsiTransport,
    Effect.flatMap(Effect.service(Pool), (pool) => Effect.map(pool.acquire(t), transportOf))
  )

/**
 * Run a program on one target of the pool in context: `Scsi.read10(1, 0, 8).pipe(Pool.on(url))`.
 * The session stays open `idleTimeoutMs` after the program, for the next one.
 */
export const on =
  (t: Target | string) =>
  <A, E, R>(
    self: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | IscsiError.IscsiError, Exclude<R, ScsiTransport> | Pool> =>
    Effect.scoped(
      Effect.flatMap(Effect.service(Pool), (pool) =>
        Effect.flatMap(pool.acquire(t), (session) => Effect.provideService(self, ScsiTransport, transportOf(session)))
      )
    )

/** A pool with one target: `Pool | ScsiTransport` (what `IscsiLive` and `IscsiClient.layer` build). */
export const layerTarget = (
  t: Target | string,
  options: Options = {}
): Layer.Layer<Pool | ScsiTransport, IscsiError.IscsiError, Transport | Platform> =>
  Layer.provideMerge(target(t), layer(options))
