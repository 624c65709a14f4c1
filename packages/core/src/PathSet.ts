/**
 * Several paths to one target used as one `ScsiTransport`: the path bookkeeping of multipath I/O.
 * A path is one portal of the target (an address, with its portal group tag) and one session
 * through it: a `ManagedSession` from the `Pool` (its own ISID, so its own I_T nexus), opened with
 * session recovery off, because a path that fails is not waited for: it is taken out at once.
 *
 * - Selection (`Policy`): `"failover"` sends everything on one path (the first usable one in the
 *   order given, or the one the target marks preferred) and keeps the others logged in as standby;
 *   with `failback` (default) I/O moves back to it when it returns. `"round-robin"` rotates over the
 *   usable paths, one command each. `"least-outstanding"` picks the usable path with the fewest
 *   commands in flight. Usable means ready and, among the ready paths, of the best access the
 *   target reports (`Access`: optimized over non-optimized; standby and unavailable paths carry no
 *   I/O). A target without ALUA reports nothing: every ready path is optimized.
 * - A failed path is taken out at once: the first command that fails on it with a path failure
 *   (connection lost, digest or protocol error, a login that fails, keepalive timeout, the session
 *   closed) marks it failed, as does the session's own `SessionClosed` event (an idle path dies
 *   too). Every command in flight on it fails there and, if idempotent, is re-issued on another
 *   usable path at once, as a new task within the command's own deadline; one that is not
 *   idempotent fails with `ConnectionLost` saying it was not repeated (as session recovery does).
 *   A command that never left because the path's login failed is re-issued whatever it is.
 * - A failed path is probed every `probeIntervalMs` (default 500 ms): log in again, clear the reset
 *   Unit Attentions of the new nexus (TEST UNIT READY on every LUN the device has used), and pass
 *   the `admit` check of the layer above (the SCSI identity and ALUA state: `Multipath` in
 *   @effect-iscsi/scsi). Then it rejoins, and carries I/O again as its access allows: within one
 *   probe interval plus a login and the check after it comes back.
 * - When no path is usable a command waits, within its deadline, for one to become usable (a probe
 *   that succeeds, an access change), then fails with `ConnectionLost` naming every path's state.
 * - Results the layer above must see first (`inspect`: ALUA Unit Attentions, NOT READY "target port
 *   in standby state") may send a command to another path; the first power-on/reset Unit Attention
 *   of a path's fresh nexus on each LUN is cleared here and the command sent again, as
 *   `ManagedSession` does after a reinstatement.
 *
 * Path states (`State`): `connecting` (not yet admitted), `active` (carries I/O), `standby` (ready,
 * not selected: failover's other paths, or a worse access than the best), `failed`, `probing`,
 * `refused` (the `admit` check said this path leads elsewhere; probed again like a failed one).
 * `paths` reports them with counters; `events` streams every change.
 *
 * A re-issued write may meet its first copy: the target can still run a command received on the
 * failed path's connection until it notices that connection is gone. Repeating a write is harmless,
 * but a later write of the same blocks sent on another path could be overtaken by that late copy
 * on a target that keeps running a dead connection's commands. tgt drops them when the connection
 * resets (the fault-proxy test sees no lost byte); kernel initiators avoid the window by waiting
 * out a replacement timeout, which is what this module exists not to do.
 *
 * Not here: SCSI (identity, ALUA; `Multipath` in @effect-iscsi/scsi), where the portals come from
 * (SendTargets, iSNS), the session protocol (`Session`, `ManagedSession`).
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as IscsiError from "./IscsiError.ts"
import type * as ManagedSession from "./ManagedSession.ts"
import type * as Pool from "./Pool.ts"
import * as Telemetry from "./Telemetry.ts"
import {
  request as makeRequest,
  type ScsiRequest,
  type ScsiResult,
  type ScsiTransportService,
  unitAttention
} from "./ScsiTransport.ts"
import type { Address } from "./Transport.ts"

/** How commands are spread over the usable paths. */
export type Policy = "failover" | "round-robin" | "least-outstanding"

/**
 * How the target wants a path used (its ALUA access state, simplified): optimized paths are used
 * before non-optimized ones; standby and unavailable paths carry no I/O.
 */
export type Access = "optimized" | "non-optimized" | "standby" | "unavailable"

export type State = "connecting" | "active" | "standby" | "failed" | "probing" | "refused"

/** What the layer above learned of a path's ALUA state (kept for `paths`; not read here). */
export interface Alua {
  /** The ASYMMETRIC ACCESS STATE's name, e.g. "active/optimized". */
  readonly state: string
  /** Its target port group. */
  readonly group: number | undefined
  /** The group's PREF bit. */
  readonly preferred: boolean
}

/** One portal of the target. */
export interface Portal extends Address {
  /** Its portal group tag, when discovery said. */
  readonly tpgt?: number | undefined
}

/** What `paths` reports about one path. */
export interface PathStatus {
  readonly index: number
  /** `host:port` */
  readonly portal: string
  readonly address: Portal
  readonly state: State
  readonly access: Access
  readonly alua: Alua | undefined
  /** Commands in flight on it now. */
  readonly outstanding: number
  /** Commands sent on it so far. */
  readonly commands: number
  /** Commands that failed on it and were sent again on another path. */
  readonly reissued: number
  /** Times it was taken out (failed or refused). */
  readonly failures: number
  /** Why it failed or was refused last (an `IscsiError`, or the `admit` check's error). */
  readonly lastError: unknown
  /** When its state last changed (epoch ms). */
  readonly since: number
  /** The ISID of its session. */
  readonly isid: number
}

/** The outcome of the `admit` check on a path that logged in. */
export type Admission<E> =
  | {
      readonly _tag: "Admitted"
      /** Default optimized. */
      readonly access?: Access | undefined
      readonly alua?: Alua | undefined
    }
  /** The path leads somewhere else (another logical unit): keep it out. */
  | { readonly _tag: "Refused"; readonly error: E }

export type Event<E = unknown> =
  | {
      readonly _tag: "PathStateChanged"
      readonly path: PathStatus
      readonly from: State
      /** What failed or refused it. */
      readonly error?: IscsiError.IscsiError | E | undefined
    }
  | { readonly _tag: "AccessChanged"; readonly path: PathStatus; readonly from: Access }
  | {
      readonly _tag: "Reissued"
      /** The path the command failed on (or was turned away from). */
      readonly from: string
      readonly reason: "path failed" | "target redirected"
    }
  /** A Unit Attention (or AsyncEvent 0) reported on a path's session. */
  | {
      readonly _tag: "UnitAttention"
      readonly portal: string
      readonly index: number
      readonly lun: bigint
      readonly asc: number
      readonly ascq: number
      readonly sense: Uint8Array
    }

export interface Options<E> {
  /** The target: name, initiator, credentials, negotiation, timeouts (`address` is replaced per path). */
  readonly target: Pool.Target
  /** The portals to reach it through, one path each (duplicates are dropped). */
  readonly portals: ReadonlyArray<Portal>
  /** Default `"round-robin"`. */
  readonly policy?: Policy | undefined
  /** Failover: move I/O back to the first (or preferred) path when it returns (default true). */
  readonly failback?: boolean | undefined
  /** How often a failed path is probed (default 500 ms). */
  readonly probeIntervalMs?: number | undefined
  /** Bound on one probe: login, Unit Attentions, `admit` (default 10 000 ms). */
  readonly probeTimeoutMs?: number | undefined
  /**
   * The check a path passes before it carries I/O, after every login (at open and after a
   * failure), run on that path alone (`transport`). Succeed with `Admitted` (and its access),
   * `Refused` for a path that must stay out, or fail for one that is not usable yet.
   */
  readonly admit?:
    | ((path: PathStatus, transport: ScsiTransportService) => Effect.Effect<Admission<E>, IscsiError.IscsiError | E>)
    | undefined
  /**
   * Called with every result whose status is not GOOD (after the reset Unit Attentions handled
   * here): undefined to hand it to the caller; an Effect (which may update access states first)
   * that answers true to send the command again on the path then chosen, false to hand it over.
   * Only for results that say the command was not performed (it is sent again whatever it is).
   */
  readonly inspect?:
    | ((path: PathStatus, request: ScsiRequest, result: ScsiResult) => Effect.Effect<boolean> | undefined)
    | undefined
}

export interface PathSet<E = unknown> extends ScsiTransportService {
  readonly taskManagement: NonNullable<ScsiTransportService["taskManagement"]>
  /** Every path, in the order given. */
  readonly paths: Effect.Effect<ReadonlyArray<PathStatus>>
  /** Path states, access changes, re-issued commands, Unit Attentions. */
  readonly events: Stream.Stream<Event<E>>
  /** Set paths' access (what the target reported); paths not named keep theirs. */
  readonly setAccess: (
    updates: ReadonlyArray<{ readonly index: number; readonly access: Access; readonly alua?: Alua | undefined }>
  ) => Effect.Effect<void>
  /** One path's own transport (commands on that path only, not counted, never re-issued). */
  readonly transportOf: (index: number) => ScsiTransportService
  readonly policyName: Policy
}

/** Does this error make the path it happened on unusable? */
export const isPathFailure = (e: IscsiError.IscsiError): boolean => {
  switch (e.reason._tag) {
    case "ConnectionLost":
    case "DigestError":
    case "ProtocolError":
    case "ConnectFailed":
    case "LoginFailed":
    case "AuthenticationFailed":
    case "NegotiationFailed":
    case "SessionClosed":
      return true
    case "Timeout":
      // keepalive and login are the path's; a command's own deadline is the command's
      return e.reason.operation !== "SCSI command"
    default:
      return false
  }
}

/** Did the command reach the wire before this error? Not when the path's login failed. */
export const wasSent = (e: IscsiError.IscsiError): boolean => {
  switch (e.reason._tag) {
    case "ConnectFailed":
    case "LoginFailed":
    case "AuthenticationFailed":
    case "NegotiationFailed":
      return false
    case "Timeout":
      return e.reason.operation !== "login"
    default:
      return true
  }
}

const portalKey = (a: Address): string => (a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)

/** CHECK CONDITION, UNIT ATTENTION, ASC 29h (power on, reset or I_T nexus loss). */
const isResetUnitAttention = (r: ScsiResult): boolean => r.status === 2 && unitAttention(r.sense)?.asc === 0x29

const rank: Record<Access, number> = { optimized: 0, "non-optimized": 1, standby: 2, unavailable: 3 }

interface PathRecord {
  readonly index: number
  readonly portal: string
  readonly address: Portal
  readonly session: ManagedSession.ManagedSession
  readonly transport: ScsiTransportService
  health: "connecting" | "ready" | "failed" | "probing" | "refused"
  state: State
  access: Access
  alua: Alua | undefined
  outstanding: number
  commands: number
  reissued: number
  failures: number
  lastError: unknown
  since: number
  /** LUNs whose reset Unit Attention this path's current nexus has reported (no longer news). */
  absorbed: Set<number | bigint>
  prober: boolean
  /** A command on it ended: one fewer in flight. */
  readonly settle: () => undefined
}

/**
 * Open the paths in the current scope: a session through every portal from the pool, each
 * admitted (login, Unit Attentions, `admit`) before it carries I/O. Fails when no path could be
 * admitted (with the refusal when every path was refused, else the first path's error naming all).
 */
export const make = <E = never>(
  pool: Pool.PoolShape,
  options: Options<E>
): Effect.Effect<PathSet<E>, IscsiError.IscsiError | E, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const events = yield* PubSub.unbounded<Event<E>>()
    const publish = (e: Event<E>) => PubSub.publishUnsafe(events, e)
    const policy: Policy = options.policy ?? "round-robin"
    const failback = options.failback ?? true
    const probeInterval = options.probeIntervalMs ?? 500
    const probeTimeout = options.probeTimeoutMs ?? 10_000
    const commandTimeout = options.target.commandTimeoutMs ?? 60_000
    let closing = false
    yield* Effect.addFinalizer(() => Effect.sync(() => (closing = true)))

    const seen = new Set<string>()
    const portals = options.portals.filter((p) => {
      const k = portalKey(p)
      if (seen.has(k)) return false
      seen.add(k)
      return true
    })
    if (portals.length === 0) {
      return yield* Effect.fail(
        IscsiError.make(new IscsiError.InvalidArgument({ message: "a path set needs at least one portal" }))
      )
    }

    const paths: Array<PathRecord> = []
    for (const [index, address] of portals.entries()) {
      const session = yield* pool.acquire({
        ...options.target,
        address: { host: address.host, port: address.port },
        // a failed path is taken out and probed here, not waited for
        recovery: false,
        keepaliveIntervalMs: options.target.keepaliveIntervalMs ?? 1000,
        keepaliveTimeoutMs: options.target.keepaliveTimeoutMs ?? 2000
      })
      const record: PathRecord = {
        index,
        portal: portalKey(address),
        address,
        session,
        transport: {
          execute: session.execute,
          taskManagement: session.taskManagement,
          geometry: session.geometry,
          policy: options.target.policy
        },
        health: "connecting",
        state: "connecting",
        access: "optimized",
        alua: undefined,
        outstanding: 0,
        commands: 0,
        reissued: 0,
        failures: 0,
        lastError: undefined,
        since: Date.now(),
        absorbed: new Set(),
        prober: false,
        settle: () => {
          record.outstanding--
          return undefined
        }
      }
      paths.push(record)
    }

    // path states and counts as metrics, next to the sessions' own (Telemetry)
    const context = yield* Effect.context<never>()
    for (const p of paths) {
      const series = Telemetry.registerPath(context, options.target.targetName ?? "", p.portal, () => p)
      yield* Effect.addFinalizer(() => Effect.sync(series.remove))
    }

    const statusOf = (p: PathRecord): PathStatus => ({
      index: p.index,
      portal: p.portal,
      address: p.address,
      state: p.state,
      access: p.access,
      alua: p.alua,
      outstanding: p.outstanding,
      commands: p.commands,
      reissued: p.reissued,
      failures: p.failures,
      lastError: p.lastError,
      since: p.since,
      isid: p.session.config.isid
    })

    // ---- selection ------------------------------------------------------------------------------
    /** The paths commands go to now (one for failover), recomputed on every change. */
    let active: Array<PathRecord> = []
    let primary: PathRecord | undefined
    let turn = 0
    /** Completed (and replaced) whenever the usable paths change: what waiting commands wait on. */
    let changed = Deferred.makeUnsafe<void>()

    const recompute = (error?: { readonly path: PathRecord; readonly error: unknown }) => {
      const ready = paths.filter((p) => p.health === "ready")
      let best = 4
      for (const p of ready) best = Math.min(best, rank[p.access])
      const candidates = best <= rank["non-optimized"] ? ready.filter((p) => rank[p.access] === best) : []
      if (policy === "failover") {
        const ordered = [...candidates].sort(
          (a, b) => Number(b.alua?.preferred ?? false) - Number(a.alua?.preferred ?? false) || a.index - b.index
        )
        primary =
          !failback && primary !== undefined && candidates.includes(primary) ? primary : (ordered[0] ?? undefined)
        active = primary === undefined ? [] : [primary]
      } else {
        active = candidates
      }
      const now = Date.now()
      for (const p of paths) {
        const next: State = p.health === "ready" ? (active.includes(p) ? "active" : "standby") : p.health
        if (next === p.state) continue
        const from = p.state
        p.state = next
        p.since = now
        publish({
          _tag: "PathStateChanged",
          path: statusOf(p),
          from,
          ...(error !== undefined && error.path === p ? { error: error.error as IscsiError.IscsiError | E } : {})
        })
      }
      const d = changed
      changed = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(d, Effect.void)
    }

    const pick = (): PathRecord | undefined => {
      const a = active
      const n = a.length
      if (n === 0) return undefined
      if (n === 1) return a[0]
      if (policy === "least-outstanding") {
        let best = a[turn++ % n]!
        for (let i = 0; i < n; i++) if (a[i]!.outstanding < best.outstanding) best = a[i]!
        return best
      }
      return a[turn++ % n]
    }

    const describe = () =>
      paths
        .map(
          (p) =>
            `${p.portal} ${p.state}${p.state === "standby" && p.access !== "optimized" ? ` (${p.alua?.state ?? p.access})` : ""}${
              (p.state === "failed" || p.state === "refused" || p.state === "probing") && p.lastError !== undefined
                ? ` (${messageOf(p.lastError)})`
                : ""
            }`
        )
        .join(", ")

    const noPathError = (when: string) =>
      IscsiError.make(
        new IscsiError.ConnectionLost({
          message: `no usable path to ${options.target.targetName} ${when}: ${describe()}`
        })
      )

    // ---- failure and probing --------------------------------------------------------------------
    /** LUNs the device has used: a path's new nexus clears their reset Unit Attentions first. */
    const usedLuns = new Set<number | bigint>()

    /** Take `p` out now (when it was ready) and probe it until it can rejoin. */
    const markFailed = (p: PathRecord, error: unknown): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (closing || (p.health !== "ready" && p.health !== "connecting")) return Effect.void
        p.health = "failed"
        p.failures++
        p.lastError = error
        recompute({ path: p, error })
        return startProber(p)
      })

    const startProber = (p: PathRecord): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (p.prober || closing) return Effect.void
        p.prober = true
        return Effect.asVoid(
          Effect.forkIn(probeLoop(p).pipe(Effect.ensuring(Effect.sync(() => (p.prober = false)))), scope)
        )
      })

    /** Run the admission of `p` (log in, clear Unit Attentions, `admit`) and apply the outcome. */
    const admitPath = (p: PathRecord, previous: PathRecord["health"] = p.health): Effect.Effect<boolean> =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(
          Effect.gen(function* () {
            yield* p.session.connect
            // the new nexus reports a reset on every LUN: clear it where the device has been
            p.absorbed = new Set()
            for (const lun of [...usedLuns]) {
              for (let i = 0; i < 4; i++) {
                const r = yield* p.session.execute(makeRequest({ lun, cdb: new Uint8Array(6), direction: "none" }))
                if (isResetUnitAttention(r)) p.absorbed.add(lun)
                if (r.status !== 2 || unitAttention(r.sense) === undefined) break
              }
            }
            return options.admit === undefined
              ? ({ _tag: "Admitted" } as Admission<E>)
              : yield* options.admit(statusOf(p), p.transport)
          }).pipe(
            Effect.timeoutOrElse({
              duration: Duration.millis(probeTimeout),
              orElse: () =>
                Effect.fail(
                  IscsiError.make(
                    new IscsiError.Timeout({
                      operation: "path probe",
                      message: `admitting the path ${p.portal} took longer than ${probeTimeout} ms`
                    })
                  )
                )
            })
          )
        )
        if (closing) return false
        if (Exit.isSuccess(exit)) {
          const a = exit.value
          if (a._tag === "Refused") {
            p.health = "refused"
            p.lastError = a.error
            if (previous !== "refused") p.failures++
            recompute({ path: p, error: a.error })
            return false
          }
          p.health = "ready"
          p.access = a.access ?? "optimized"
          p.alua = a.alua
          p.lastError = undefined
          recompute()
          return true
        }
        const found = Cause.findError(exit.cause)
        const error =
          found._tag === "Success"
            ? found.success
            : IscsiError.make(new IscsiError.ConnectionLost({ message: `probing ${p.portal} failed` }))
        p.health = "failed"
        p.lastError = error
        recompute({ path: p, error })
        return false
      })

    const probeLoop = (p: PathRecord): Effect.Effect<void> =>
      Effect.gen(function* () {
        while (!closing) {
          // a refused path leads elsewhere until someone fixes it: look again less often
          yield* Effect.sleep(Duration.millis(p.health === "refused" ? probeInterval * 10 : probeInterval))
          if (closing) return
          const previous = p.health
          p.health = "probing"
          recompute()
          if (yield* admitPath(p, previous)) return
        }
      })

    // ---- the sessions' own events ---------------------------------------------------------------
    for (const p of paths) {
      yield* Effect.forkScoped(
        Stream.runForEach(p.session.events, (e) =>
          Effect.suspend(() => {
            if (e._tag === "SessionClosed") {
              return p.health === "ready" ? markFailed(p, e.error) : Effect.void
            }
            if (e._tag === "UnitAttention") {
              publish({
                _tag: "UnitAttention",
                portal: p.portal,
                index: p.index,
                lun: e.lun,
                asc: e.asc,
                ascq: e.ascq,
                sense: e.sense
              })
            }
            return Effect.void
          })
        )
      )
    }

    // ---- commands -------------------------------------------------------------------------------
    const maxHops = 8 + 4 * paths.length

    /** The absolute deadline of a command (0: none), fixed when it is first sent. */
    const deadlineOf = (request: ScsiRequest): number => {
      const limit = request.timeoutMs ?? commandTimeout
      return limit > 0 ? Date.now() + limit : 0
    }

    const send = (
      p: PathRecord,
      request: ScsiRequest,
      deadline: number,
      hops: number
    ): Effect.Effect<ScsiResult, IscsiError.IscsiError> => {
      p.outstanding++
      p.commands++
      if (!usedLuns.has(request.lun)) usedLuns.add(request.lun)
      // the count drops however the command ends (interrupted too), with no step of its own
      // (onExitPrimitive, a synchronous finalizer: npm run bench, engine `paths` row)
      return Effect.matchCauseEffect(Effect.onExitPrimitive(p.session.execute(request), p.settle, true), {
        onSuccess: (r) => (r.status === 0 ? Effect.succeed(r) : afterStatus(p, request, r, deadline, hops)),
        onFailure: (cause) => afterFailure(p, request, cause, deadline, hops)
      })
    }

    const afterStatus = (
      p: PathRecord,
      request: ScsiRequest,
      r: ScsiResult,
      deadline: number,
      hops: number
    ): Effect.Effect<ScsiResult, IscsiError.IscsiError> => {
      if (hops >= maxHops) return Effect.succeed(r)
      // the first reset Unit Attention of this path's nexus on a LUN is ours to clear, not news
      if (isResetUnitAttention(r) && !p.absorbed.has(request.lun)) {
        p.absorbed.add(request.lun)
        return send(p, request, deadline, hops + 1)
      }
      const inspected = options.inspect?.(statusOf(p), request, r)
      if (inspected === undefined) return Effect.succeed(r)
      return Effect.flatMap(inspected, (again) => {
        if (!again) return Effect.succeed(r)
        publish({ _tag: "Reissued", from: p.portal, reason: "target redirected" })
        return elsewhere(request, deadline, hops + 1, r)
      })
    }

    const afterFailure = (
      p: PathRecord,
      request: ScsiRequest,
      cause: Cause.Cause<IscsiError.IscsiError>,
      deadline: number,
      hops: number
    ): Effect.Effect<ScsiResult, IscsiError.IscsiError> => {
      const found = Cause.findError(cause)
      if (found._tag === "Failure") return Effect.failCause(cause)
      const e = found.success
      if (closing || !isPathFailure(e)) return Effect.fail(e)
      const failed = markFailed(p, e)
      if (request.idempotent === false && wasSent(e)) {
        return Effect.andThen(
          failed,
          Effect.fail(
            IscsiError.make(
              new IscsiError.ConnectionLost({
                message: `the path ${p.portal} failed during a command that is not safe to repeat; not re-issued on another path (${e.reason.message})`
              })
            )
          )
        )
      }
      if (hops >= maxHops) return Effect.andThen(failed, Effect.fail(e))
      p.reissued++
      publish({ _tag: "Reissued", from: p.portal, reason: "path failed" })
      return Effect.andThen(failed, elsewhere(request, deadline, hops + 1, undefined))
    }

    /** Send `request` on the path chosen now, waiting for one within its deadline. */
    const elsewhere = (
      request: ScsiRequest,
      deadline: number,
      hops: number,
      last: ScsiResult | undefined
    ): Effect.Effect<ScsiResult, IscsiError.IscsiError> =>
      Effect.gen(function* () {
        for (;;) {
          if (closing) {
            return yield* Effect.fail(
              IscsiError.make(new IscsiError.SessionClosed({ message: "the path set was closed" }))
            )
          }
          const remaining = deadline > 0 ? deadline - Date.now() : Number.POSITIVE_INFINITY
          if (remaining <= 0) {
            if (last !== undefined) return last
            return yield* Effect.fail(noPathError("before the command's deadline"))
          }
          const p = pick()
          if (p !== undefined) {
            const attempt = deadline > 0 ? makeRequest({ ...request, timeoutMs: Math.max(1, remaining) }) : request
            return yield* send(p, attempt, deadline, hops)
          }
          const wait = Deferred.await(changed)
          if (remaining === Number.POSITIVE_INFINITY) yield* wait
          else yield* Effect.timeoutOrElse(wait, { duration: Duration.millis(remaining), orElse: () => Effect.void })
        }
      })

    const execute = (request: ScsiRequest): Effect.Effect<ScsiResult, IscsiError.IscsiError> => {
      const p = pick()
      const deadline = deadlineOf(request)
      return p === undefined ? elsewhere(request, deadline, 0, undefined) : send(p, request, deadline, 0)
    }

    const taskManagement: PathSet<E>["taskManagement"] = (fn, o) =>
      Effect.gen(function* () {
        // ABORT TASK SET is per I_T nexus: every path's; the others act on the logical unit or target
        if (fn === 2) {
          const ready = paths.filter((p) => p.health === "ready")
          if (ready.length === 0) return yield* Effect.fail(noPathError("now"))
          yield* Effect.forEach(ready, (p) => p.session.taskManagement(fn, o), { discard: true })
          return
        }
        const p = pick() ?? paths.find((q) => q.health === "ready")
        if (p === undefined) return yield* Effect.fail(noPathError("now"))
        yield* p.session.taskManagement(fn, o)
      })

    // ---- open -----------------------------------------------------------------------------------
    const admitted = yield* Effect.forEach(paths, (p) => admitPath(p), { concurrency: "unbounded" })
    if (!admitted.some((ok) => ok)) {
      const refused = paths.filter((p) => p.health === "refused")
      if (refused.length === paths.length) return yield* Effect.fail(refused[0]!.lastError as E)
      const first = paths.find((p) => p.health !== "refused")!
      const e = first.lastError
      return yield* Effect.fail(
        IscsiError.isIscsiError(e)
          ? withMessage(e, `no path to ${options.target.targetName} could be opened: ${describe()}`)
          : (e as E)
      )
    }
    for (const p of paths) if (p.health === "failed" || p.health === "refused") yield* startProber(p)

    return {
      execute,
      taskManagement,
      policy: options.target.policy,
      lun: options.target.lun,
      policyName: policy,
      paths: Effect.sync(() => paths.map(statusOf)),
      events: Stream.fromPubSub(events),
      setAccess: (updates) =>
        Effect.sync(() => {
          for (const u of updates) {
            const p = paths[u.index]
            if (p === undefined) continue
            const from = p.access
            p.access = u.access
            p.alua = u.alua ?? p.alua
            if (from !== u.access) publish({ _tag: "AccessChanged", path: statusOf(p), from })
          }
          recompute()
        }),
      transportOf: (index) => paths[index]!.transport
    } satisfies PathSet<E>
  })

const messageOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)

/** The same reason with another message. */
const withMessage = (e: IscsiError.IscsiError, message: string): IscsiError.IscsiError => {
  const Reason = e.reason.constructor as new (fields: object) => IscsiError.IscsiErrorReason
  return IscsiError.make(new Reason({ ...e.reason, message }))
}
