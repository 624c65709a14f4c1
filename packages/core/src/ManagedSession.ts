/**
 * One target's session as a program sees it, across logins and losses: the `Pool` keeps one per
 * target and ISID. It logs in on demand (the first command that needs the session opens it; a failed
 * login fails that command and leaves nothing behind, so the next command tries again), reinstates
 * the session after a loss (ERL 0 session recovery, RFC 7143 §6.3.5; the rules are in `Recovery`),
 * re-issues idempotent commands across the reinstatement, and keeps what the session learned about
 * its LUNs (block size and capacity) until the session is reinstated or the LUN reports a change.
 *
 * States (`Phase`): `Idle` (no session; `lastError` says why, `holdOffUntil` is set after a flapping
 * session) → `Connecting` → `Ready` → (loss) `Recovering` → `Ready`, or back to `Idle` when the
 * budget is spent or the failure cannot heal; `Closed` after shutdown. Every wait a command makes
 * here (for a login, for a recovery) is bounded by the command's own deadline (`timeoutMs`).
 *
 * Observability: the target's `Telemetry` (unless `Telemetry.Enabled` is false in the context the
 * managed session is made in) counts its sessions, logins and their failures, recoveries and
 * re-issued commands, and its commands (through `ScsiTransportService.telemetry`); log lines say
 * when a login fails (Warn), when a session is lost and reinstated or given up (Warn, with the
 * outcome), and every reinstatement attempt and re-issued command (Debug), annotated with the
 * target, portal and ISID.
 *
 * Not here: the protocol (`Session`), keys and sharing (`Pool`), SCSI semantics (@effect-iscsi/scsi).
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as IscsiError from "./IscsiError.ts"
import * as Lun from "./Lun.ts"
import * as Recovery from "./Recovery.ts"
import * as Recurrence from "./Recurrence.ts"
import * as Session from "./Session.ts"
import * as Telemetry from "./Telemetry.ts"
import {
  type CommandPolicy,
  type GeometryCache,
  type LunGeometry,
  request as makeRequest,
  type ScsiRequest,
  type ScsiResult,
  type ScsiTransportService,
  unitAttention
} from "./ScsiTransport.ts"
import type { Platform, Transport } from "./Transport.ts"

export interface Options {
  /** ERL 0 session recovery after a loss (default on); `false`: in-flight commands fail, the next one logs in anew. */
  readonly recovery?: Recovery.Options | false | undefined
  /** The target's command deadline and retries, handed to the commands through `ScsiTransport.policy`. */
  readonly policy?: CommandPolicy | undefined
  /** The LUN the target's URL named. */
  readonly lun?: number | undefined
}

export type Event =
  | Session.SessionEvent
  | Recovery.RecoveryEvent
  | { readonly _tag: "LoggedIn"; readonly generation: number; readonly info: Session.Info }
  | { readonly _tag: "LoginFailed"; readonly error: IscsiError.IscsiError }

export type Phase =
  | {
      readonly _tag: "Idle"
      readonly lastError: IscsiError.IscsiError | undefined
      readonly holdOffUntil: number
    }
  | { readonly _tag: "Connecting"; readonly done: Deferred.Deferred<Current, IscsiError.IscsiError> }
  | { readonly _tag: "Ready"; readonly current: Current }
  | {
      readonly _tag: "Recovering"
      readonly from: Current
      readonly done: Deferred.Deferred<Current, IscsiError.IscsiError>
    }
  | { readonly _tag: "Closed" }

/** A logged-in session of this target and the scope it lives in. */
export interface Current {
  readonly generation: number
  readonly session: Session.Session
  readonly scope: Scope.Closeable
}

/** What `status` reports. */
export interface Status {
  readonly phase: Phase["_tag"]
  readonly isid: number
  /** Logins so far (the first one and every reinstatement). */
  readonly generation: number
  readonly info: Session.Info | undefined
  /** The CIDs of the session's live connections. */
  readonly connections: ReadonlyArray<number>
  readonly lastError: IscsiError.IscsiError | undefined
}

export interface ManagedSession extends ScsiTransportService {
  readonly config: Session.Config
  readonly geometry: GeometryCache
  readonly taskManagement: NonNullable<ScsiTransportService["taskManagement"]>
  /** The current session, logging in first when there is none. */
  readonly session: Effect.Effect<Session.Session, IscsiError.IscsiError>
  /** Log in now when not logged in (to fail fast on a bad target or bad credentials). */
  readonly connect: Effect.Effect<Session.Info, IscsiError.IscsiError>
  readonly status: Effect.Effect<Status>
  readonly events: Stream.Stream<Event>
  /** Drain, log out and close now (also done when the scope closes). */
  readonly shutdown: Effect.Effect<void>
}

/** CHECK CONDITION, UNIT ATTENTION, ASC 0x29 (power on, reset or I_T nexus loss). */
const isResetUnitAttention = (r: ScsiResult): boolean => r.status === 2 && unitAttention(r.sense)?.asc === 0x29

const lunKey = (lun: number | bigint): number | undefined => {
  if (typeof lun === "number") return lun
  const r = Lun.decode(lun)
  return r._tag === "Success" ? r.success : undefined
}

/** The same reason with another message (a reason's constructor takes its fields). */
const withMessage = (e: IscsiError.IscsiError, message: string): IscsiError.IscsiError => {
  const Reason = e.reason.constructor as new (fields: object) => IscsiError.IscsiErrorReason
  return IscsiError.make(new Reason({ ...e.reason, message }))
}

const closedError = () => IscsiError.make(new IscsiError.SessionClosed({ message: "the session was shut down" }))

const timeoutError = (ms: number, what: string) =>
  IscsiError.make(
    new IscsiError.Timeout({ operation: "SCSI command", message: `${what}: the command's ${ms} ms deadline passed` })
  )

/** Make the managed session of one target in the current scope (nothing is sent until it is used). */
export const make = (
  config: Session.Config,
  options: Options = {}
): Effect.Effect<ManagedSession, never, Transport | Platform | Scope.Scope> =>
  Effect.gen(function* () {
    const parent = yield* Effect.scope
    const services = yield* Effect.context<Transport | Platform>()
    const events = yield* PubSub.unbounded<Event>()
    const endpoint = {
      target: config.targetName ?? "(discovery)",
      portal: `${config.address.host.includes(":") ? `[${config.address.host}]` : config.address.host}:${config.address.port}`
    }
    const telemetry = Context.get(services, Telemetry.Enabled)
      ? Telemetry.forTarget(services, endpoint.target, endpoint.portal)
      : undefined
    const observer = telemetry?.observer(config.isid)
    const logLabels = { ...endpoint, isid: Telemetry.isidLabel(config.isid) }
    const log = (effect: Effect.Effect<void>, fields: Record<string, unknown> = {}) =>
      effect.pipe(Effect.annotateLogs({ ...logLabels, ...fields }))
    const recovery = options.recovery === false ? undefined : Recovery.resolve(options.recovery ?? {})
    const commandTimeout = config.commandTimeoutMs ?? 60_000
    let phase: Phase = { _tag: "Idle", lastError: undefined, holdOffUntil: 0 }
    let generations = 0
    let shuttingDown = false
    let streak = Recurrence.initial
    /** LUNs this session has used: their reset Unit Attentions are cleared after a reinstatement. */
    const usedLuns = new Set<number | bigint>()
    const geometry = new Map<number, LunGeometry>()

    const publish = (e: Event) => PubSub.publishUnsafe(events, e)

    /** What the session tells about its LUNs changes what we know of them. */
    const onSessionEvent = (e: Session.SessionEvent) => {
      if (e._tag === "UnitAttention") {
        if (e.asc === 0x2a && e.ascq === 0x09) {
          const lun = lunKey(e.lun)
          if (lun !== undefined) geometry.delete(lun)
        } else if (e.asc === 0x29 || (e.asc === 0x3f && e.ascq === 0x0e)) {
          // power on / reset, reported LUNs changed: forget everything
          geometry.clear()
        }
      }
      publish(e)
    }

    const open = (generation: number) =>
      Effect.gen(function* () {
        const scope = yield* Scope.fork(parent)
        // runs after the session's own finalizers (logout): its last PDUs are counted too
        let live: Session.Live | undefined
        if (telemetry !== undefined) {
          yield* Scope.addFinalizer(
            scope,
            Effect.sync(() => live !== undefined && telemetry.detach(live))
          )
        }
        const session = yield* Session.make(config, observer).pipe(
          Scope.provide(scope),
          Effect.provideContext(services),
          Effect.tapError((e) => {
            telemetry?.loginFailed(e)
            return Scope.close(scope, Exit.void)
          })
        )
        live = session.live
        telemetry?.attach(live)
        yield* Effect.forkIn(
          Stream.runForEach(session.events, (e) => Effect.sync(() => onSessionEvent(e))),
          scope
        )
        return { generation, session, scope } satisfies Current
      })

    const errorOf = (cause: Cause.Cause<IscsiError.IscsiError>, otherwise: string): IscsiError.IscsiError => {
      const found = Cause.findError(cause)
      return found._tag === "Success"
        ? found.success
        : IscsiError.make(new IscsiError.ConnectionLost({ message: otherwise }))
    }

    const becomeReady = (cur: Current) =>
      Effect.suspend(() => {
        geometry.clear()
        phase = { _tag: "Ready", current: cur }
        publish({ _tag: "LoggedIn", generation: cur.generation, info: cur.session.info })
        return Effect.asVoid(Effect.forkIn(watch(cur), parent))
      })

    /** The current session: succeed at once when ready, wait for a login or recovery, or start a login. */
    const current: Effect.Effect<Current, IscsiError.IscsiError> = Effect.suspend(() => {
      const p = phase
      switch (p._tag) {
        case "Ready":
          return Effect.succeed(p.current)
        case "Connecting":
        case "Recovering":
          return Deferred.await(p.done)
        case "Closed":
          return Effect.fail(closedError())
        case "Idle": {
          if (p.lastError !== undefined && Date.now() < p.holdOffUntil) return Effect.fail(p.lastError)
          const done = Deferred.makeUnsafe<Current, IscsiError.IscsiError>()
          phase = { _tag: "Connecting", done }
          const generation = generations++
          const login = Effect.gen(function* () {
            const exit = yield* Effect.exit(open(generation))
            if (phase._tag !== "Connecting" || phase.done !== done) {
              // shut down meanwhile: nobody may use this session
              if (Exit.isSuccess(exit)) yield* Scope.close(exit.value.scope, Exit.void)
              return yield* Deferred.fail(done, closedError())
            }
            if (Exit.isSuccess(exit)) yield* becomeReady(exit.value)
            else {
              const error = errorOf(exit.cause, "login failed")
              phase = { _tag: "Idle", lastError: error, holdOffUntil: 0 }
              publish({ _tag: "LoginFailed", error })
              yield* log(Effect.logWarning("login failed"), {
                status: Telemetry.loginStatus(error),
                error: error.reason.message
              })
            }
            yield* Deferred.done(done, exit)
          })
          return Effect.forkIn(login, parent).pipe(Effect.andThen(Deferred.await(done)))
        }
      }
    })

    /** Wait for a usable session for at most `ms` (0: no bound). */
    const currentWithin = (ms: number) =>
      ms > 0
        ? current.pipe(
            Effect.timeoutOrElse({
              duration: Duration.millis(ms),
              orElse: () => Effect.fail(timeoutError(ms, "no session became ready in time"))
            })
          )
        : current

    const clearUnitAttentions = (session: Session.Session) =>
      Effect.forEach(
        [...usedLuns],
        (lun) =>
          Effect.gen(function* () {
            for (let i = 0; i < 4; i++) {
              const r = yield* session.execute({ lun, cdb: new Uint8Array(6), direction: "none" })
              if (r.status === 0) return
            }
          }).pipe(Effect.ignore),
        { discard: true }
      )

    /** ERL 0 session recovery after `error` ended `from`. */
    const recover = (from: Current, error: IscsiError.IscsiError, r: ReturnType<typeof Recovery.resolve>) =>
      Effect.gen(function* () {
        const done = Deferred.makeUnsafe<Current, IscsiError.IscsiError>()
        phase = { _tag: "Recovering", from, done }
        const generation = generations++
        const attempt = Effect.gen(function* () {
          publish({ _tag: "RecoveryStarted", generation, error })
          telemetry?.recovery("started")
          yield* log(Effect.logWarning("session lost: reinstating it"), {
            reason: error.reason._tag,
            error: error.reason.message,
            budgetMs: r.budget
          })
          yield* Scope.close(from.scope, Exit.void).pipe(Effect.timeout(Duration.seconds(2)), Effect.ignore)
          const time2Wait = Math.min(from.session.info.params.defaultTime2Wait * 1000, r.maxTime2Wait)
          yield* Effect.sleep(Duration.millis(time2Wait))
          const deadline = Date.now() + r.budget
          let delay = r.initialDelay
          for (let n = 1; ; n++) {
            const exit = yield* Effect.exit(open(generation))
            if (Exit.isSuccess(exit)) {
              const next = exit.value
              // clear the Unit Attentions of the new nexus before anyone else can see them
              yield* clearUnitAttentions(next.session)
              publish({ _tag: "Recovered", generation, attempts: n, tsih: next.session.info.tsih })
              telemetry?.recovery("recovered")
              yield* Effect.annotateCurrentSpan({
                "iscsi.recovery.outcome": "recovered",
                "iscsi.recovery.attempts": n,
                "iscsi.tsih": next.session.info.tsih
              })
              yield* log(Effect.logWarning("session reinstated"), {
                attempts: n,
                tsih: next.session.info.tsih,
                ms: r.budget - Math.max(0, deadline - Date.now())
              })
              return next
            }
            const failure = errorOf(exit.cause, "session reinstatement failed")
            publish({ _tag: "RecoveryAttemptFailed", generation, attempt: n, error: failure })
            yield* Effect.annotateCurrentSpan({ "iscsi.recovery.attempts": n, "iscsi.recovery.outcome": "failed" })
            yield* log(Effect.logDebug("session reinstatement attempt failed"), {
              attempt: n,
              status: Telemetry.loginStatus(failure),
              error: failure.reason.message,
              retryInMs: delay
            })
            if (shuttingDown) return yield* Effect.fail(closedError())
            if (Recovery.verdict(failure) === "stop") return yield* Effect.fail(failure)
            if (Date.now() + delay > deadline) {
              return yield* Effect.fail(
                IscsiError.make(
                  new IscsiError.ConnectionLost({
                    message: `session recovery gave up after ${n} attempts (${r.budget} ms budget): ${failure.message}`
                  })
                )
              )
            }
            yield* Effect.sleep(Duration.millis(delay))
            delay = Math.min(delay * 2, r.maxDelay)
          }
        })
        const finish = (exit: Exit.Exit<Current, IscsiError.IscsiError>) =>
          Effect.suspend(() => {
            if (phase._tag !== "Recovering" || phase.done !== done) {
              return Exit.isSuccess(exit) ? Scope.close(exit.value.scope, Exit.void) : Effect.void
            }
            if (Exit.isSuccess(exit)) return becomeReady(exit.value)
            {
              const e = errorOf(exit.cause, "session recovery failed")
              phase = shuttingDown ? { _tag: "Closed" } : { _tag: "Idle", lastError: e, holdOffUntil: 0 }
              publish({ _tag: "RecoveryFailed", generation, error: e })
              telemetry?.recovery("failed")
              return log(Effect.logWarning("session recovery failed"), {
                reason: e.reason._tag,
                error: e.reason.message
              })
            }
          }).pipe(Effect.andThen(Deferred.done(done, exit)))
        const traced = attempt.pipe(
          Effect.withSpan("ManagedSession.recover", {
            root: true,
            attributes: {
              "iscsi.target": endpoint.target,
              "iscsi.portal": endpoint.portal,
              "iscsi.isid": logLabels.isid,
              "iscsi.recovery.generation": generation,
              "iscsi.recovery.reason": error.reason._tag,
              "iscsi.recovery.error": error.reason.message
            }
          })
        )
        yield* Effect.forkIn(Effect.exit(traced).pipe(Effect.flatMap(finish)), parent)
      })

    /**
     * `cur` ended with `error`: recover (or stop on a flapping target, or go idle without recovery).
     * Called by the session's watcher and by a command that saw the loss first; only the first acts.
     */
    const lost = (cur: Current, error: IscsiError.IscsiError): Effect.Effect<void> =>
      Effect.flatMap(Recurrence.attemptOf(cur.session, error), (attempt) => {
        if (shuttingDown || phase._tag !== "Ready" || phase.current !== cur) return Effect.void
        if (recovery === undefined || !Recovery.isLoss(error)) {
          phase = { _tag: "Idle", lastError: error, holdOffUntil: 0 }
          return Effect.void
        }
        // the same failure right after each of the last logins: a loop, not a loss
        const verdict = Recurrence.record(streak, attempt, { maxRepeats: recovery.maxFlaps })
        streak = verdict._tag === "GiveUp" ? Recurrence.initial : verdict.state
        if (verdict._tag === "GiveUp") {
          const holdOff = recovery.holdOff
          const stopped = withMessage(
            error,
            `${error.reason.message} (each of the last ${verdict.attempts} sessions failed this way before the target answered a command; not logging in again for ${holdOff} ms)`
          )
          phase = { _tag: "Idle", lastError: stopped, holdOffUntil: Date.now() + holdOff }
          publish({ _tag: "RecoveryFailed", generation: cur.generation, error: stopped })
          telemetry?.recovery("failed")
          return log(Effect.logWarning("session keeps failing right after login: not logging in again for a while"), {
            reason: error.reason._tag,
            error: error.reason.message,
            sessions: verdict.attempts,
            holdOffMs: holdOff
          })
        }
        return recover(cur, error, recovery)
      })

    const watch = (cur: Current): Effect.Effect<void> => Effect.flatMap(cur.session.closed, (error) => lost(cur, error))

    const noteLun = (lun: number | bigint) => {
      if (!usedLuns.has(lun)) usedLuns.add(lun)
    }

    /**
     * Run `request` on the current session. The common case costs one session command and no
     * more (npm run bench: this wrapper is on the data path of every `Scsi` command); a failure, no
     * session yet, or the reset Unit Attention of a reinstated nexus, goes on in `executeSlow`.
     */
    const execute = (request: ScsiRequest): Effect.Effect<ScsiResult, IscsiError.IscsiError> => {
      const p = phase
      if (p._tag !== "Ready") return executeSlow(request, undefined, undefined)
      const cur = p.current
      if (!usedLuns.has(request.lun)) noteLun(request.lun)
      if (recovery === undefined) return cur.session.execute(request)
      // a first session has no reset Unit Attention to clear: only failures need a look
      if (cur.generation === 0) {
        return Effect.catchCause(cur.session.execute(request), (cause) =>
          executeSlow(request, cur, Exit.failCause(cause))
        )
      }
      return Effect.matchCauseEffect(cur.session.execute(request), {
        onSuccess: (value) =>
          isResetUnitAttention(value) ? executeSlow(request, cur, Exit.succeed(value)) : Effect.succeed(value),
        onFailure: (cause) => executeSlow(request, cur, Exit.failCause(cause))
      })
    }

    /**
     * After the outcome `first` on `cur0` (or before any, when there was no session): log in, wait
     * for a recovery, re-issue across reinstatements — all within the request's deadline.
     */
    const executeSlow = (
      request: ScsiRequest,
      cur0: Current | undefined,
      first: Exit.Exit<ScsiResult, IscsiError.IscsiError> | undefined
    ): Effect.Effect<ScsiResult, IscsiError.IscsiError> =>
      Effect.gen(function* () {
        const limit = request.timeoutMs ?? commandTimeout
        const started = Date.now()
        const remaining = () => (limit > 0 ? Math.max(1, limit - (Date.now() - started)) : 0)
        noteLun(request.lun)
        let uaRetries = 0
        let cur = cur0
        let r = first
        for (;;) {
          if (r !== undefined && cur !== undefined) {
            if (Exit.isSuccess(r)) {
              // the reset Unit Attention of a reinstated nexus is ours to clear, not the caller's
              if (!(cur.generation > 0 && uaRetries < 4 && isResetUnitAttention(r.value))) return r.value
              uaRetries++
            } else {
              const found = Cause.findError(r.cause)
              if (found._tag === "Failure") return yield* Effect.failCause(r.cause)
              const error = found.success
              if (recovery === undefined || shuttingDown || !Recovery.isLoss(error)) return yield* Effect.fail(error)
              if (limit > 0 && Date.now() - started >= limit) return yield* Effect.fail(error)
              if (phase._tag === "Ready" && phase.current === cur && !cur.session.usable()) {
                // the session is closing: wait until it has, then recover (as its watcher does)
                const closed = yield* cur.session.closed.pipe(
                  Effect.timeoutOrElse({
                    duration: Duration.millis(limit > 0 ? remaining() : 10_000),
                    orElse: () => Effect.fail(error)
                  })
                )
                yield* lost(cur, closed)
              }
              if (request.idempotent === false) {
                return yield* Effect.fail(
                  IscsiError.make(
                    new IscsiError.ConnectionLost({
                      message: `connection lost during a command that is not safe to repeat; not re-issued (${error.reason.message})`
                    })
                  )
                )
              }
            }
          }
          cur = yield* currentWithin(remaining())
          if (r !== undefined && Exit.isFailure(r)) {
            // the command is sent again after a loss
            telemetry?.reissued()
            yield* log(Effect.logDebug("re-issuing a command after a session loss"), {
              lun: String(request.lun),
              opcode: `0x${request.cdb[0]?.toString(16).padStart(2, "0")}`
            })
          }
          const attempt = limit > 0 ? makeRequest({ ...request, timeoutMs: remaining() }) : request
          r = yield* Effect.exit(cur.session.execute(attempt))
        }
      })

    const taskManagement: ManagedSession["taskManagement"] = (fn, o) =>
      Effect.flatMap(current, (cur) =>
        cur.session.taskManagement(fn, o?.lun !== undefined ? { lun: o.lun } : undefined)
      )

    const shutdown = Effect.suspend(() => {
      shuttingDown = true
      const p = phase
      phase = { _tag: "Closed" }
      return p._tag === "Ready" ? Scope.close(p.current.scope, Exit.void) : Effect.void
    })
    yield* Scope.addFinalizer(
      parent,
      Effect.suspend(() => (shuttingDown ? Effect.void : shutdown))
    )

    return {
      config,
      execute,
      taskManagement,
      geometry: {
        get: (lun) => geometry.get(lun),
        set: (lun, g) => {
          geometry.set(lun, g)
        }
      },
      policy: options.policy,
      lun: options.lun,
      endpoint,
      telemetry,
      session: Effect.map(current, (c) => c.session),
      connect: Effect.map(current, (c) => c.session.info),
      status: Effect.suspend(() => {
        const p = phase
        const cur = p._tag === "Ready" ? p.current : p._tag === "Recovering" ? p.from : undefined
        return Effect.map(cur === undefined ? Effect.succeed(undefined) : cur.session.stats, (stats) => ({
          phase: p._tag,
          isid: config.isid,
          generation: generations,
          info: cur?.session.info,
          connections: stats?.connections ?? [],
          lastError: p._tag === "Idle" ? p.lastError : undefined
        }))
      }),
      events: Stream.fromPubSub(events),
      shutdown
    } satisfies ManagedSession
  })
