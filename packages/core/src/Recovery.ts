/**
 * Session recovery at ErrorRecoveryLevel 0 (RFC 7143 §6.3.5, §7.1): when every connection of the
 * session is lost, wait DefaultTime2Wait, reinstate the session with the same ISID (TSIH 0: the
 * target implicitly logs out the old one) with a backoff schedule inside a replacement budget,
 * re-issue the idempotent tasks that were in flight as new tasks (new ITT and CmdSN), and clear the
 * Unit Attentions the target reports after the nexus loss. Tasks that must not be repeated
 * (`idempotent: false`: COMPARE AND WRITE, PERSISTENT RESERVE OUT) fail with `ConnectionLost`.
 * Callers see success or a typed error, never a hang: every wait is bounded by the budget.
 *
 * Emits `RecoveryEvent`s; `recovery: false` in the pool config switches it off (then a lost
 * session fails everything with `ConnectionLost`, and the pool stays closed).
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as IscsiError from "./IscsiError.ts"
import type { PoolShape } from "./Pool.ts"
import * as Session from "./Session.ts"
import type { ScsiRequest, ScsiResult } from "./ScsiTransport.ts"
import type { Platform, Transport } from "./Transport.ts"

export interface Options {
  /** Total time allowed to reinstate the session after a loss (default 60 s). */
  readonly replacementTimeoutMs?: number | undefined
  /** First retry delay after Time2Wait (default 250 ms), doubled up to `maxDelayMs`. */
  readonly initialDelayMs?: number | undefined
  readonly maxDelayMs?: number | undefined
  /** Upper bound on the DefaultTime2Wait we honour (default 5 s; tgt answers 2). */
  readonly maxTime2WaitMs?: number | undefined
}

export type RecoveryEvent =
  | { readonly _tag: "RecoveryStarted"; readonly generation: number; readonly error: IscsiError.IscsiError }
  | {
      readonly _tag: "RecoveryAttemptFailed"
      readonly generation: number
      readonly attempt: number
      readonly error: IscsiError.IscsiError
    }
  | { readonly _tag: "Recovered"; readonly generation: number; readonly attempts: number; readonly tsih: number }
  | { readonly _tag: "RecoveryFailed"; readonly generation: number; readonly error: IscsiError.IscsiError }

interface Current {
  readonly generation: number
  readonly session: Session.Session
  readonly scope: Scope.Closeable
}

const isLoss = (e: IscsiError.IscsiError): boolean =>
  e.reason._tag === "ConnectionLost" ||
  e.reason._tag === "DigestError" ||
  e.reason._tag === "ProtocolError" ||
  (e.reason._tag === "Timeout" && e.reason.operation === "keepalive")

/** CHECK CONDITION, UNIT ATTENTION, ASC 0x29 (power on, reset or I_T nexus loss), fixed or descriptor sense. */
const isResetUnitAttention = (r: ScsiResult): boolean => {
  const s = r.sense
  if (r.status !== 2 || s === undefined || s.length < 3) return false
  const descriptor = (s[0]! & 0x7f) >= 0x72
  const key = descriptor ? s[1]! & 0x0f : s[2]! & 0x0f
  const asc = descriptor ? s[2] : s[12]
  return key === 6 && asc === 0x29
}

/** The pool body, with or without recovery. */
export const make = (
  config: Session.Config,
  options: Options | undefined
): Effect.Effect<PoolShape, IscsiError.IscsiError, Transport | Platform | Scope.Scope> =>
  Effect.gen(function* () {
    const parent = yield* Effect.scope
    const services = yield* Effect.context<Transport | Platform>()
    const events = yield* PubSub.unbounded<Session.SessionEvent | RecoveryEvent>()
    const budget = options?.replacementTimeoutMs ?? 60_000
    const initialDelay = options?.initialDelayMs ?? 250
    const maxDelay = options?.maxDelayMs ?? 5000
    const maxTime2Wait = options?.maxTime2WaitMs ?? 5000
    let shuttingDown = false
    const usedLuns = new Set<string>()

    const open = (generation: number) =>
      Effect.gen(function* () {
        const scope = yield* Scope.fork(parent)
        const session = yield* Session.make(config).pipe(
          Scope.provide(scope),
          Effect.provideContext(services),
          Effect.tapError(() => Scope.close(scope, Exit.void))
        )
        yield* Effect.forkIn(
          Stream.runForEach(session.events, (e) => PubSub.publish(events, e)),
          scope
        )
        return { generation, session, scope } satisfies Current
      })

    const first = yield* open(0)
    const current = yield* Ref.make<Current>(first)
    /** One recovery at a time: the Deferred of the generation being replaced. */
    let recovering:
      | { readonly from: number; readonly done: Deferred.Deferred<Current, IscsiError.IscsiError> }
      | undefined
    let failedForGood: IscsiError.IscsiError | undefined

    const clearUnitAttentions = (session: Session.Session) =>
      Effect.forEach(
        [...usedLuns],
        (lun) =>
          Effect.gen(function* () {
            for (let i = 0; i < 4; i++) {
              const r = yield* session.execute({ lun: BigInt(lun), cdb: new Uint8Array(6), direction: "none" })
              if (r.status === 0) return
            }
          }).pipe(Effect.ignore),
        { discard: true }
      )

    const recover = (from: Current, error: IscsiError.IscsiError): Effect.Effect<Current, IscsiError.IscsiError> =>
      Effect.suspend(() => {
        if (failedForGood) return Effect.fail(failedForGood)
        if (recovering !== undefined && recovering.from === from.generation) return Deferred.await(recovering.done)
        return Effect.flatMap(Ref.get(current), (cur) => {
          if (cur.generation !== from.generation) return Effect.succeed(cur) // already replaced
          const done = Deferred.makeUnsafe<Current, IscsiError.IscsiError>()
          recovering = { from: from.generation, done }
          const generation = from.generation + 1
          const attempt = Effect.gen(function* () {
            yield* PubSub.publish(events, { _tag: "RecoveryStarted", generation, error })
            yield* Scope.close(from.scope, Exit.void).pipe(Effect.timeout(Duration.seconds(2)), Effect.ignore)
            const time2Wait = Math.min(from.session.info.params.defaultTime2Wait * 1000, maxTime2Wait)
            yield* Effect.sleep(Duration.millis(time2Wait))
            const deadline = Date.now() + budget
            let delay = initialDelay
            for (let n = 1; ; n++) {
              const r = yield* Effect.exit(open(generation))
              if (Exit.isSuccess(r)) {
                const next = r.value
                // clear the Unit Attentions of the new nexus before anyone else can see them
                yield* clearUnitAttentions(next.session)
                yield* Ref.set(current, next)
                yield* PubSub.publish(events, {
                  _tag: "Recovered",
                  generation,
                  attempts: n,
                  tsih: next.session.info.tsih
                })
                return next
              }
              const found = Cause.findError(r.cause)
              const failure =
                found._tag === "Success"
                  ? found.success
                  : IscsiError.make(new IscsiError.ConnectionLost({ message: "session reinstatement failed" }))
              yield* PubSub.publish(events, { _tag: "RecoveryAttemptFailed", generation, attempt: n, error: failure })
              if (!failure.isRetryable && failure.reason._tag !== "ProtocolError") return yield* Effect.fail(failure)
              if (Date.now() + delay > deadline || shuttingDown) {
                return yield* Effect.fail(
                  IscsiError.make(
                    new IscsiError.ConnectionLost({
                      message: `session recovery gave up after ${n} attempts (${budget} ms budget): ${failure.message}`
                    })
                  )
                )
              }
              yield* Effect.sleep(Duration.millis(delay))
              delay = Math.min(delay * 2, maxDelay)
            }
          }).pipe(
            Effect.tapError((e) =>
              Effect.sync(() => {
                failedForGood = e
              }).pipe(Effect.andThen(PubSub.publish(events, { _tag: "RecoveryFailed", generation, error: e })))
            ),
            Effect.exit,
            Effect.flatMap((exit) => Deferred.done(done, exit)),
            Effect.ensuring(Effect.sync(() => (recovering = undefined)))
          )
          return Effect.forkIn(attempt, parent).pipe(Effect.andThen(Deferred.await(done)))
        })
      })

    // watch every session: when it closes with a loss, start recovery even if nobody is waiting
    const watch = (cur: Current): Effect.Effect<void> =>
      Effect.gen(function* () {
        const error = yield* cur.session.closed
        if (shuttingDown || options === undefined || !isLoss(error)) return
        const next = yield* Effect.exit(recover(cur, error))
        if (Exit.isSuccess(next)) yield* Effect.forkIn(watch(next.value), parent)
      })
    if (options !== undefined) yield* Effect.forkIn(watch(first), parent)

    const lunNumbers = new Set<number>()
    /**
     * Run `request` on the current session. The common case costs one session command and no
     * more (npm run bench: this wrapper is on the data path of every `Scsi` command); a failure, or
     * the reset Unit Attention of a reinstated nexus, goes on in `executeSlow`.
     */
    const execute = (request: ScsiRequest): Effect.Effect<ScsiResult, IscsiError.IscsiError> =>
      Effect.suspend(() => {
        if (failedForGood) return Effect.fail(failedForGood)
        if (typeof request.lun === "number" && !lunNumbers.has(request.lun)) {
          lunNumbers.add(request.lun)
          usedLuns.add(String(request.lun))
        }
        // read synchronously: no Effect step per command for the Ref
        const cur = Ref.getUnsafe(current)
        if (options === undefined) return cur.session.execute(request)
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
      })

    /** After the first outcome `first` on `cur`: re-issue across recoveries within the budget. */
    const executeSlow = (
      request: ScsiRequest,
      cur0: Current,
      first: Exit.Exit<ScsiResult, IscsiError.IscsiError>
    ): Effect.Effect<ScsiResult, IscsiError.IscsiError> =>
      Effect.gen(function* () {
        // the replacement budget runs from the first loss this command saw
        const started = Date.now()
        let uaRetries = 0
        let cur = cur0
        let r = first
        for (;;) {
          if (Exit.isSuccess(r)) {
            // the reset Unit Attention of a reinstated nexus is ours to clear, not the caller's
            if (!(cur.generation > 0 && uaRetries < 4 && isResetUnitAttention(r.value))) return r.value
            uaRetries++
          } else {
            const found = Cause.findError(r.cause)
            if (found._tag === "Failure") return yield* Effect.failCause(r.cause)
            const error = found.success
            if (options === undefined || shuttingDown || !isLoss(error) || Date.now() - started > budget) {
              return yield* Effect.fail(error)
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
            yield* recover(cur, error)
          }
          if (failedForGood) return yield* Effect.fail(failedForGood)
          cur = yield* Ref.get(current)
          r = yield* Effect.exit(cur.session.execute(request))
        }
      })

    const shutdown = Effect.gen(function* () {
      shuttingDown = true
      const cur = yield* Ref.get(current)
      yield* Scope.close(cur.scope, Exit.void)
    })
    yield* Scope.addFinalizer(
      parent,
      Effect.suspend(() => (shuttingDown ? Effect.void : shutdown))
    )

    return {
      session: Effect.suspend(() =>
        failedForGood ? Effect.fail(failedForGood) : Effect.map(Ref.get(current), (c) => c.session)
      ),
      execute,
      events: Stream.fromPubSub(events),
      shutdown
    } satisfies PoolShape
  })
