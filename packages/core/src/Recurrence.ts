/**
 * Telling a failure that recurs right after every fresh login from a transient loss, so that session
 * recovery can stop after a few attempts with that typed error instead of spending its whole budget
 * in a loop (issue 15: a target that rejected `HeaderDigest=None` and digested anyway had the client
 * log in, fail, recover and log in again for 394 s).
 *
 * A session "failed early" when the target answered none of its SCSI commands
 * (`Session.stats` → `counters.completed === 0`) and it failed within `windowMs` of its login
 * (`Session.info.loggedInAt`). Two failures are "the same" when their {@link signature}s are equal:
 * the reason's tag and the protocol facts that tell causes apart (login status, digest, key, timed-out
 * operation, reject reason), never the free-text message. {@link record} is a pure fold over the
 * sessions a recovery logged in: `maxRepeats` early failures in a row with the same signature give
 * `GiveUp` with the latest error; anything else is `Retry`.
 *
 * ```ts
 * let streak = Recurrence.initial
 * // each time a recovered session closes with `error`:
 * const attempt = yield* Recurrence.attemptOf(session, error)
 * const verdict = Recurrence.record(streak, attempt)
 * if (verdict._tag === "GiveUp") return yield* Effect.fail(verdict.error)
 * streak = verdict.state
 * ```
 *
 * Login attempts that fail never logged in: they neither extend nor reset a streak (the recovery's
 * own backoff and budget bound those). Errors that are not retryable (e.g. the framer's
 * `NegotiationFailed` for undeclared digests) should stop recovery at once without this.
 *
 * Not here: the recovery loop itself (`Recovery`), timers.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as IscsiError from "./IscsiError.ts"
import type * as Session from "./Session.ts"

/** One session that logged in and then failed. */
export interface Attempt {
  /** How the session ended (`Session.closed`). */
  readonly error: IscsiError.IscsiError
  /** Milliseconds from its login to its failure. */
  readonly aliveMs: number
  /** SCSI commands the target answered on it (with any status) before it failed. */
  readonly completed: number
}

export interface Options {
  /** A failure later than this after login is not "right after login" (default 20000 ms: beyond keepalive's 5 + 10 s). */
  readonly windowMs?: number | undefined
  /** Early failures in a row with the same signature that give up (default 3). */
  readonly maxRepeats?: number | undefined
}

export const DEFAULT_WINDOW_MS = 20_000
export const DEFAULT_MAX_REPEATS = 3

/** The session failed right after its login: no command answered, and soon. */
export const isEarly = (attempt: Attempt, windowMs: number = DEFAULT_WINDOW_MS): boolean =>
  attempt.completed === 0 && attempt.aliveMs <= windowMs

/** What tells one failure from another: the reason's tag and its protocol facts, not its message. */
export const signature = (error: IscsiError.IscsiError): string => {
  const r = error.reason
  switch (r._tag) {
    case "LoginFailed":
      return `LoginFailed/${r.statusClass}/${r.statusDetail}`
    case "DigestError":
      return `DigestError/${r.which}`
    case "NegotiationFailed":
      return `NegotiationFailed/${r.key}`
    case "Timeout":
      return `Timeout/${r.operation}`
    case "PduRejected":
      return `PduRejected/${r.reason}`
    case "TaskManagementFailed":
      return `TaskManagementFailed/${r.function}/${r.response}`
    case "ConnectFailed":
      return `ConnectFailed/${r.host}/${r.port}`
    default:
      return r._tag
  }
}

/** The streak so far. */
export interface State {
  /** Early failures in a row with signature `last`. */
  readonly streak: number
  readonly last: string | undefined
}

export const initial: State = { streak: 0, last: undefined }

export type Verdict =
  | { readonly _tag: "Retry"; readonly state: State }
  | { readonly _tag: "GiveUp"; readonly state: State; readonly error: IscsiError.IscsiError; readonly attempts: number }

/** Fold one failed session into the streak. */
export const record = (state: State, attempt: Attempt, options: Options = {}): Verdict => {
  const maxRepeats = Math.max(1, options.maxRepeats ?? DEFAULT_MAX_REPEATS)
  if (!isEarly(attempt, options.windowMs ?? DEFAULT_WINDOW_MS)) {
    return { _tag: "Retry", state: initial }
  }
  const sig = signature(attempt.error)
  const streak = sig === state.last ? state.streak + 1 : 1
  const next: State = { streak, last: sig }
  return streak >= maxRepeats
    ? { _tag: "GiveUp", state: next, error: attempt.error, attempts: streak }
    : { _tag: "Retry", state: next }
}

/** The attempt of a session that closed with `error`, read now (its counters and `Clock`). */
export const attemptOf = (session: Session.Session, error: IscsiError.IscsiError): Effect.Effect<Attempt> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const stats = yield* session.stats
    return { error, aliveMs: Math.max(0, now - session.info.loggedInAt), completed: stats.counters.completed }
  })
