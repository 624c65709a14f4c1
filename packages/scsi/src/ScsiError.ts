/**
 * The one error of the SCSI layer: `ScsiError`, whose `reason` is a tagged union of SCSI outcomes
 * (SAM-5 §5.3 status codes, SPC-5 §4.4 sense data) and caller errors. Every reason carries an
 * `isRetryable` flag that the default retry schedule of `Scsi` reads.
 *
 * Retryable: UNIT ATTENTION, NOT READY "becoming ready" (ASC/ASCQ 04/01), ABORTED COMMAND, BUSY,
 * TASK SET FULL, TASK ABORTED. Not retryable: ILLEGAL REQUEST, MEDIUM ERROR, MISCOMPARE, RESERVATION
 * CONFLICT, residuals, caller errors. Transport loss is an `IscsiError` (core) and is retried only
 * for idempotent commands (decided by the command runner, not here).
 *
 * Not here: transport failures (`IscsiError` in @effect-iscsi/core), sense decoding (`Sense`).
 */
import * as Data from "effect/Data"
import type { SenseData } from "./Sense.ts"

/** SAM-5 status byte values. */
export const Status = {
  Good: 0x00,
  CheckCondition: 0x02,
  ConditionMet: 0x04,
  Busy: 0x08,
  ReservationConflict: 0x18,
  TaskSetFull: 0x28,
  AcaActive: 0x30,
  TaskAborted: 0x40
} as const

/** CHECK CONDITION with decoded sense data (any sense key except MISCOMPARE). */
export class CheckCondition extends Data.TaggedError("CheckCondition")<{
  readonly sense: SenseData
  readonly senseKey: number
  readonly senseKeyName: string
  readonly asc: number
  readonly ascq: number
  /** ASC/ASCQ description from the SPC table ("LOGICAL BLOCK ADDRESS OUT OF RANGE"). */
  readonly description: string
  readonly message: string
  /** The sense bytes as the target sent them, when known. */
  readonly senseBytes?: Uint8Array | undefined
}> {
  /** UNIT ATTENTION, NOT READY becoming ready (04/01), ABORTED COMMAND. */
  get isRetryable(): boolean {
    return (
      this.senseKey === 0x06 ||
      this.senseKey === 0x0b ||
      (this.senseKey === 0x02 && this.asc === 0x04 && this.ascq === 0x01)
    )
  }
}

/** CHECK CONDITION with sense key MISCOMPARE (COMPARE AND WRITE, VERIFY with BYTCHK). Never retried. */
export class Miscompare extends Data.TaggedError("Miscompare")<{
  readonly sense: SenseData
  /** Offset of the first miscompared byte (the INFORMATION field), when the target reports it. */
  readonly offset: number | undefined
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** CHECK CONDITION without (or with undecodable) sense data. */
export class NoSense extends Data.TaggedError("NoSense")<{ readonly message: string }> {
  get isRetryable(): boolean {
    return false
  }
}

export class Busy extends Data.TaggedError("Busy")<{ readonly message: string }> {
  get isRetryable(): boolean {
    return true
  }
}

export class TaskSetFull extends Data.TaggedError("TaskSetFull")<{ readonly message: string }> {
  get isRetryable(): boolean {
    return true
  }
}

export class ReservationConflict extends Data.TaggedError("ReservationConflict")<{ readonly message: string }> {
  get isRetryable(): boolean {
    return false
  }
}

/** TASK ABORTED status: another I_T nexus (or a task management function) aborted the task. */
export class TaskAborted extends Data.TaggedError("TaskAborted")<{ readonly message: string }> {
  get isRetryable(): boolean {
    return true
  }
}

/** Any other status (ACA ACTIVE, reserved values), or iSCSI response "target failure". */
export class UnexpectedStatus extends Data.TaggedError("UnexpectedStatus")<{
  readonly status: number
  readonly response: number
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** GOOD status but fewer (underflow) or more (overflow) bytes than a command that needs the whole transfer. */
export class Residual extends Data.TaggedError("Residual")<{
  readonly kind: "underflow" | "overflow"
  readonly expected: number
  readonly residualCount: number
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** The target returned data that cannot be decoded (too short, bad lengths). */
export class MalformedResponse extends Data.TaggedError("MalformedResponse")<{
  readonly what: string
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** A block range outside the logical unit, found before anything was sent. */
export class OutOfRange extends Data.TaggedError("OutOfRange")<{
  readonly lba: number
  readonly blocks: number
  readonly blockCount: number
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

/** A caller error found before anything was sent (field too large, data not a multiple of the block size). */
export class InvalidArgument extends Data.TaggedError("InvalidArgument")<{ readonly message: string }> {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Two paths that should reach one logical unit reach different ones: the logical unit (and target
 * device) designators of VPD 83h differ between them, so the second is kept out of the multipath
 * device (`Multipath`). Both portals and both designator lists are named.
 */
export class PathIdentityMismatch extends Data.TaggedError("PathIdentityMismatch")<{
  readonly lun: number
  /** The path kept out, `host:port`. */
  readonly portal: string
  /** Its designators, as `association type: value` lines. */
  readonly designators: ReadonlyArray<string>
  /** The path the device was opened through first. */
  readonly referencePortal: string
  readonly referenceDesignators: ReadonlyArray<string>
  readonly message: string
}> {
  get isRetryable(): boolean {
    return false
  }
}

export type ScsiErrorReason =
  | CheckCondition
  | Miscompare
  | NoSense
  | Busy
  | TaskSetFull
  | ReservationConflict
  | TaskAborted
  | UnexpectedStatus
  | Residual
  | MalformedResponse
  | OutOfRange
  | InvalidArgument
  | PathIdentityMismatch

/** The error of every SCSI-layer operation. Match on `error.reason._tag`. */
export class ScsiError extends Data.TaggedError("ScsiError")<{
  readonly reason: ScsiErrorReason
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
export const make = (reason: ScsiErrorReason): ScsiError => new ScsiError({ reason })

export const invalidArgument = (message: string): ScsiError => make(new InvalidArgument({ message }))

export const malformed = (what: string, message: string): ScsiError => make(new MalformedResponse({ what, message }))

export const outOfRange = (lba: number, blocks: number, blockCount: number): ScsiError =>
  make(
    new OutOfRange({
      lba,
      blocks,
      blockCount,
      message: `blocks ${lba}..${lba + blocks - 1} are outside the LUN (${blockCount} blocks)`
    })
  )

export const isScsiError = (u: unknown): u is ScsiError =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "ScsiError"

/** True for a CHECK CONDITION with this sense key (and ASC/ASCQ when given). */
export const isCheckCondition = (u: unknown, senseKey?: number, asc?: number, ascq?: number): boolean =>
  isScsiError(u) &&
  u.reason._tag === "CheckCondition" &&
  (senseKey === undefined || u.reason.senseKey === senseKey) &&
  (asc === undefined || u.reason.asc === asc) &&
  (ascq === undefined || u.reason.ascq === ascq)
