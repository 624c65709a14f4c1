/**
 * The one error of the iSCSI layer: `IscsiError`, whose `reason` is a tagged union. Every reason
 * carries the protocol facts (login status class/detail, reject reason, which digest, …) and an
 * `isRetryable` flag that retry schedules read.
 *
 * Secrets never appear here: reasons carry no credentials, and URL errors carry the URL with its
 * secret masked.
 *
 * iSNS discovery (RFC 4171) reports through the same error as SendTargets discovery, so callers
 * handle both discovery sources alike: connection failures, timeouts and malformed answers use the
 * reasons below, and a server's non-success status is `IsnsRejected`.
 *
 * Not here: SCSI status and sense (that is `ScsiError` in @effect-iscsi/scsi).
 */
import * as Data from "effect/Data"

/** Could not open a connection (refused, unreachable, TLS failure). Retryable. */
export class ConnectFailed extends Data.TaggedError("ConnectFailed")<{
  readonly host: string
  readonly port: number
  readonly message: string
  readonly cause?: unknown
}> {
  get isRetryable(): boolean {
    return true
  }
}

/** The connection died (socket closed or failed, keepalive timed out) while work was pending or was submitted after. */
export class ConnectionLost extends Data.TaggedError("ConnectionLost")<{
  readonly message: string
  readonly cause?: unknown
}> {
  get isRetryable(): boolean {
    return true
  }
}

/** An operation did not complete within its deadline (login, command, logout, keepalive). */
export class Timeout extends Data.TaggedError("Timeout")<{
  readonly operation: string
  readonly message: string
}> {
  get isRetryable(): boolean {
    return true
  }
}

/** The peer broke the protocol: malformed or oversize frame, unexpected PDU, bad sequence numbers. */
export class ProtocolError extends Data.TaggedError("ProtocolError")<{
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** A CRC32C digest did not match. */
export class DigestError extends Data.TaggedError("DigestError")<{
  readonly which: "header" | "data"
  readonly expected: number
  readonly actual: number
  readonly message: string
}> {
  get isRetryable(): boolean {
    return true
  }
}

/** Login Status-Class/Detail (RFC 7143 §11.13.5) other than success or a followed redirect. */
export class LoginFailed extends Data.TaggedError("LoginFailed")<{
  readonly statusClass: number
  readonly statusDetail: number
  /** Short name of the status, e.g. "AuthenticationFailure", "TargetNotFound", "OutOfResources". */
  readonly status: string
  readonly message: string
  /** What to do about it, when we know (e.g. how to pass CHAP credentials); also in `message`. */
  readonly hint?: string | undefined
}> {
  /** Class 3 (target error) and "too many connections" may succeed later; class 2 initiator errors do not. */
  get isRetryable(): boolean {
    return this.statusClass === 3 || this.statusClass === 1 || (this.statusClass === 2 && this.statusDetail === 0x06)
  }
}

/**
 * Authentication failed on our side: the target's mutual-CHAP response did not verify, a CHAP
 * exchange was malformed, or the target requires authentication we were given no credentials for
 * (it answered `AuthMethod=CHAP` to our `AuthMethod=None`: the message says how to pass them).
 */
export class AuthenticationFailed extends Data.TaggedError("AuthenticationFailed")<{
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** Text/login negotiation produced an error (a value we never offered, a missing mandatory answer, …). */
export class NegotiationFailed extends Data.TaggedError("NegotiationFailed")<{
  readonly key: string
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** The target sent a Reject PDU (RFC 7143 §11.17) for one of our PDUs. */
export class PduRejected extends Data.TaggedError("PduRejected")<{
  readonly reason: number
  readonly description: string
  readonly message: string
}> {
  /** Only "long operation reject" and "waiting for logout" are worth another try. */
  get isRetryable(): boolean {
    return this.reason === 0x0b || this.reason === 0x0c
  }
}

/** A task management function did not complete (RFC 7143 §11.6.1). */
export class TaskManagementFailed extends Data.TaggedError("TaskManagementFailed")<{
  readonly function: number
  readonly response: number
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** A caller or configuration error found before anything was sent (bad URL, bad option). */
export class InvalidArgument extends Data.TaggedError("InvalidArgument")<{
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** The session or pool was closed (logout, shutdown) before or while the operation ran. */
export class SessionClosed extends Data.TaggedError("SessionClosed")<{
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** An iSNS server answered a request with a status other than Successful (RFC 4171 §5.4). */
export class IsnsRejected extends Data.TaggedError("IsnsRejected")<{
  /** The request's function name, e.g. "DevAttrQry". */
  readonly function: string
  /** The status code (RFC 4171 §5.4, Table 5). */
  readonly status: number
  /** Its name, e.g. "Source Unknown", "Busy". */
  readonly statusName: string
  readonly message: string
}> {
  /** Only "Busy" (12) and "Internal Error" (11) may go away by themselves. */
  get isRetryable(): boolean {
    return this.status === 12 || this.status === 11
  }
}

export type IscsiErrorReason =
  | ConnectFailed
  | ConnectionLost
  | Timeout
  | ProtocolError
  | DigestError
  | LoginFailed
  | AuthenticationFailed
  | NegotiationFailed
  | PduRejected
  | TaskManagementFailed
  | InvalidArgument
  | SessionClosed
  | IsnsRejected

/** The error of every iSCSI-layer operation. Match on `error.reason._tag`. */
export class IscsiError extends Data.TaggedError("IscsiError")<{
  readonly reason: IscsiErrorReason
  /** How many times the command was sent before it failed with this (set by the command runner when more than once). */
  readonly attempts?: number | undefined
}> {
  override get message(): string {
    const attempts = this.attempts !== undefined && this.attempts > 1 ? ` (after ${this.attempts} attempts)` : ""
    return `${this.reason._tag}: ${this.reason.message}${attempts}`
  }
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
}

/** Wrap a reason. */
export const make = (reason: IscsiErrorReason): IscsiError => new IscsiError({ reason })

export const isIscsiError = (u: unknown): u is IscsiError =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "IscsiError"
