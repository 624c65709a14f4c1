/**
 * Session recovery at ErrorRecoveryLevel 0 (RFC 7143 §6.3.5, §7.1): the rules `ManagedSession`
 * follows when a session is lost. When every connection of the session is lost (or the session is
 * closed because of a CmdSN hole), wait DefaultTime2Wait, reinstate the session with the same ISID
 * (TSIH 0: the target implicitly logs out the old one) with a backoff schedule inside a replacement
 * budget, re-issue the idempotent tasks that were in flight as new tasks (new ITT and CmdSN), and
 * clear the Unit Attentions the target reports after the nexus loss. Tasks that must not be repeated
 * (`idempotent: false`: COMPARE AND WRITE, PERSISTENT RESERVE OUT, raw CDBs) fail with
 * `ConnectionLost`. Callers see success or a typed error, never a hang: every wait is bounded.
 *
 * What a failed reinstatement attempt means (`verdict`): a target that restarts can accept
 * connections before its targets exist again, and a target can be removed and re-created, so
 * within the budget "target not found" (02/03), "target removed" (02/04), "too many connections"
 * (02/06), "session does not exist" (02/0a), target errors (03/xx), redirects, refused connections,
 * timeouts and lost connections are tried again; authentication (02/01), authorization (02/02),
 * an unsupported version (02/05), a missing parameter (02/07), an unsupported session type
 * (02/09), failed CHAP on our side, failed negotiation and invalid configuration end recovery at
 * once: waiting cannot heal them.
 *
 * A session that dies before the target answered a single command, after each of several fresh
 * logins, with the same failure (a target that insists on digests it rejected, a broken middlebox)
 * is a loop, not a loss: `ManagedSession` stops after `maxFlaps` such sessions (`Recurrence`) and
 * reports that error.
 */
import type * as IscsiError from "./IscsiError.ts"

export interface Options {
  /** Total time allowed to reinstate the session after a loss (default 60 s). */
  readonly replacementTimeoutMs?: number | undefined
  /** First retry delay after Time2Wait (default 250 ms), doubled up to `maxDelayMs`. */
  readonly initialDelayMs?: number | undefined
  readonly maxDelayMs?: number | undefined
  /** Upper bound on the DefaultTime2Wait we honour (default 5 s; tgt answers 2). */
  readonly maxTime2WaitMs?: number | undefined
  /**
   * A session that fails right after its login (no command answered; see `Recurrence`) with the
   * same failure as the session before counts as a flap; after `maxFlaps` (default 3) in a row
   * recovery stops with that error and the target is not logged in to again for `holdOffMs`
   * (default 30 s): commands fail at once meanwhile.
   */
  readonly maxFlaps?: number | undefined
  readonly holdOffMs?: number | undefined
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

/** Does this end of a session call for recovery (a loss, as opposed to a logout or a shutdown)? */
export const isLoss = (e: IscsiError.IscsiError): boolean =>
  e.reason._tag === "ConnectionLost" ||
  e.reason._tag === "DigestError" ||
  e.reason._tag === "ProtocolError" ||
  (e.reason._tag === "Timeout" && e.reason.operation === "keepalive")

/** Login statuses (class << 8 | detail) that waiting cannot heal. */
const PERMANENT_LOGIN_STATUSES = new Set([0x0201, 0x0202, 0x0205, 0x0207, 0x0209])

/**
 * What a failed reinstatement attempt calls for: `"retry"` within the budget, or `"stop"` now
 * (see the module doc for the list).
 */
export const verdict = (e: IscsiError.IscsiError): "retry" | "stop" => {
  const r = e.reason
  switch (r._tag) {
    case "ConnectFailed":
    case "ConnectionLost":
    case "Timeout":
    case "DigestError":
    case "ProtocolError":
    case "PduRejected":
      return "retry"
    case "LoginFailed":
      if (r.statusClass === 0x02) {
        return PERMANENT_LOGIN_STATUSES.has((r.statusClass << 8) | r.statusDetail) || r.statusDetail === 0x00
          ? "stop"
          : "retry"
      }
      return "retry"
    default:
      return "stop"
  }
}

/** Defaults applied. */
export const resolve = (options: Options) => ({
  budget: options.replacementTimeoutMs ?? 60_000,
  initialDelay: options.initialDelayMs ?? 250,
  maxDelay: options.maxDelayMs ?? 5000,
  maxTime2Wait: options.maxTime2WaitMs ?? 5000,
  maxFlaps: options.maxFlaps ?? 3,
  holdOff: options.holdOffMs ?? 30_000
})
