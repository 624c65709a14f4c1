/**
 * The seam between SCSI and iSCSI: one SCSI task (a CDB, its direction and its data) executed on a
 * logical unit, returning the raw SCSI outcome (status, sense, data, residuals).
 *
 * `@effect-iscsi/scsi` builds CDBs and interprets status/sense; the session engine (`Session`,
 * `Pool`) runs the task over iSCSI. This module holds only the request/result types and the service
 * key; it knows nothing of CDB contents or of sessions.
 *
 * A non-GOOD SCSI status is NOT an error here: it comes back in `ScsiResult.status` (with sense);
 * only transport-level failures (connection lost, timeout, protocol violation, reject) fail with
 * `IscsiError`.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { IscsiError } from "./IscsiError.ts"
import type { TaskAttribute } from "./PduTypes.ts"

export type Direction = "none" | "read" | "write" | "bidirectional"

export interface ScsiRequest {
  /** LUN number (0..16383, SAM peripheral/flat addressing is chosen by the engine) or a raw 8-byte LUN field as bigint. */
  readonly lun: number | bigint
  readonly cdb: Uint8Array
  readonly direction: Direction
  /**
   * Data to send (write, bidirectional). Sent as views of this buffer: do not mutate it until the
   * task completes. A write that was interrupted or timed out reads it until its abort completes
   * (the engine still answers the target's R2Ts meanwhile, bounded by the session's abort timeout):
   * do not reuse such a buffer for other data at once.
   */
  readonly dataOut?: Uint8Array | undefined
  /** Bytes expected from the target (read, bidirectional). */
  readonly readLength?: number | undefined
  /**
   * Optional caller buffer that Data-In is placed into (length ≥ readLength); otherwise one is
   * allocated. The data lands there as it arrives (the socket may read straight into it), so do not
   * use it until the task completes. Once the task has ended (success, failure, interruption,
   * timeout), nothing more is written into it. After a failure its content is unspecified.
   */
  readonly readInto?: Uint8Array | undefined
  /**
   * Scatter-gather data to send (write, bidirectional), instead of `dataOut`: the buffers in order,
   * of any sizes. Never concatenated: a Data-Out PDU (or the immediate data) that spans buffers is
   * sent as views of each. Do not mutate them until the task completes. Wins over `dataOut`.
   */
  readonly dataOutIov?: ReadonlyArray<Uint8Array> | undefined
  /**
   * Scatter-gather buffers Data-In is placed into, in order (their total length ≥ readLength),
   * instead of `readInto`: each segment lands at its offset across them (read straight into a
   * buffer by the socket when the segment lies inside one, copied when it straddles two). The same
   * rules as `readInto`: do not use them until the task completes, nothing is written into them
   * once it has ended. The result's `data` is then empty (its residual says how much arrived).
   */
  readonly readIntoIov?: ReadonlyArray<Uint8Array> | undefined
  /** Task attribute (default Simple). */
  readonly attribute?: TaskAttribute | undefined
  /**
   * May the engine re-issue this task after a connection loss (session recovery)? Default true.
   * COMPARE AND WRITE and PERSISTENT RESERVE OUT must say false.
   */
  readonly idempotent?: boolean | undefined
  /**
   * Deadline of this attempt in ms (default: the session's `commandTimeoutMs`). When it passes the
   * task is aborted (ABORT TASK) and fails with a `Timeout` reason.
   */
  readonly timeoutMs?: number | undefined
}

export interface ScsiResult {
  /** SCSI status byte: 0x00 GOOD, 0x02 CHECK CONDITION, 0x08 BUSY, 0x18 RESERVATION CONFLICT, 0x28 TASK SET FULL, 0x40 TASK ABORTED. */
  readonly status: number
  /**
   * Read data actually transferred (a view of `readInto` or of an engine buffer), length = bytes
   * received; empty with `readIntoIov` (the data is in those buffers).
   */
  readonly data: Uint8Array
  /** Sense data (without the 2-byte SenseLength), when the target sent some. */
  readonly sense?: Uint8Array | undefined
  /** iSCSI response code: 0 command completed at target, 1 target failure. */
  readonly response: number
  readonly underflow: boolean
  readonly overflow: boolean
  readonly residualCount: number
  readonly bidiUnderflow: boolean
  readonly bidiOverflow: boolean
  readonly bidiResidualCount: number
}

/**
 * A request as a class instance, copied from `fields`. Use it for requests built in a hot loop:
 * V8 pretenures an object literal whose first instances outlive a young-generation GC (at queue
 * depth 32+ the requests in flight do), and pretenured requests then drag their young CDBs and
 * buffers into the old generation. A literal passed here dies at once instead. Measured by
 * `npm run bench` (queue depth 128: peak RSS 290 → 186 MB, +8% MB/s; benchmark/RESULTS.md).
 */
export const request = (fields: ScsiRequest): ScsiRequest => new Request(fields)

class Request implements ScsiRequest {
  readonly lun: number | bigint
  readonly cdb: Uint8Array
  readonly direction: Direction
  readonly dataOut: Uint8Array | undefined
  readonly readLength: number | undefined
  readonly readInto: Uint8Array | undefined
  readonly dataOutIov: ReadonlyArray<Uint8Array> | undefined
  readonly readIntoIov: ReadonlyArray<Uint8Array> | undefined
  readonly attribute: TaskAttribute | undefined
  readonly idempotent: boolean | undefined
  readonly timeoutMs: number | undefined
  constructor(fields: ScsiRequest) {
    this.lun = fields.lun
    this.cdb = fields.cdb
    this.direction = fields.direction
    this.dataOut = fields.dataOut
    this.readLength = fields.readLength
    this.readInto = fields.readInto
    this.dataOutIov = fields.dataOutIov
    this.readIntoIov = fields.readIntoIov
    this.attribute = fields.attribute
    this.idempotent = fields.idempotent
    this.timeoutMs = fields.timeoutMs
  }
}

/** What a session learned about a LUN (READ CAPACITY): the block size and the number of blocks. */
export interface LunGeometry {
  readonly blockSize: number
  readonly blocks: number
}

/**
 * The LUN geometry a session has learned, kept per LUN by whoever owns the session (the `Pool`):
 * forgotten when the session is reinstated and when the LUN reports CAPACITY DATA HAS CHANGED.
 */
export interface GeometryCache {
  readonly get: (lun: number) => LunGeometry | undefined
  readonly set: (lun: number, geometry: LunGeometry) => void
}

/**
 * How a command call is bounded and retried. Every field is optional; a call's own policy
 * (`CommandPolicy` reference, e.g. `Scsi.withPolicy`) wins over the target's (`ScsiTransport.policy`,
 * from the layer options), which wins over the defaults.
 */
export interface CommandPolicy {
  /**
   * Total time one command call may take, every attempt, backoff and wait for session recovery
   * included (default 60 000 ms; 0 = no deadline). When it passes the task is aborted and the call
   * fails with a `Timeout` reason that says how many attempts were made.
   */
  readonly timeoutMs?: number | undefined
  /** Attempts after the first, for errors whose reason `isRetryable` (default 5). */
  readonly retries?: number | undefined
  /** Retry a `Timeout` too (default false: a command that timed out is not sent again). */
  readonly retryTimeouts?: boolean | undefined
  /**
   * Delay between attempts: `(attempt) => ms` for attempt 1, 2, … (default: 10 ms doubling, ±50%
   * jitter, at most 1 s). The deadline bounds it.
   */
  readonly backoff?: ((attempt: number) => number) | undefined
}

/** The default command policy. */
export const defaultCommandPolicy = {
  timeoutMs: 60_000,
  retries: 5,
  retryTimeouts: false,
  backoff: (attempt: number): number => Math.min(1000, 10 * 2 ** (attempt - 1)) * (0.5 + Math.random())
} as const satisfies CommandPolicy

/** A per-call (or per-program) command policy; see `CommandPolicy`. */
export const CommandPolicy = Context.Reference<CommandPolicy | undefined>("@effect-iscsi/core/CommandPolicy", {
  defaultValue: () => undefined
})

/**
 * The SCSI transport protocol services (SAM-5 §5.2, §7.11) on one target: execute a task, run a
 * task management function. Provided by the `Pool` (`Pool.target`, `IscsiLive`); only `execute`
 * is required of other implementations (test doubles, in-memory disks).
 */
export interface ScsiTransportService {
  readonly execute: (request: ScsiRequest) => Effect.Effect<ScsiResult, IscsiError>
  /** A task management function (`TaskManagementFunction`) on `lun` (default 0) or the whole target. */
  readonly taskManagement?:
    | ((fn: number, options?: { readonly lun?: number | undefined }) => Effect.Effect<void, IscsiError>)
    | undefined
  /** What the session learned about its LUNs; commands use it so callers need not pass block sizes. */
  readonly geometry?: GeometryCache | undefined
  /** This target's command deadline and retries (from the layer's options). */
  readonly policy?: CommandPolicy | undefined
  /** The LUN the target's URL named, if any (`BlockDevice.make()` opens it). */
  readonly lun?: number | undefined
  /** Which target this is (span attributes, log annotations): its IQN and portal (`host:port`). */
  readonly endpoint?: { readonly target: string; readonly portal: string } | undefined
  /** Where commands are counted and timed (`Telemetry`); absent when metrics are off. */
  readonly telemetry?: CommandTelemetry | undefined
}

/**
 * The command metrics of one target (implemented by `Telemetry.Target`): a recorder per LUN and
 * operation code, found by a number so that the command runner allocates nothing per command.
 */
export interface CommandTelemetry {
  /** The recorder of `key` (`opcode | serviceAction << 8 | lun << 16`), if registered. */
  readonly recorder: (key: number) => CommandRecorder | undefined
  /** Register the recorder of `key` (once per key: the first command of that kind on that LUN). */
  readonly register: (key: number, lun: number, opcodeName: string) => CommandRecorder
}

/** Counts and times the commands of one LUN and operation code. */
export interface CommandRecorder {
  /**
   * One command call ended: `outcome` is `"ok"` or the failure's reason (`Timeout`,
   * `CheckCondition(ILLEGAL REQUEST)`, …), `seconds` its latency over every attempt, the data bytes
   * it moved, and how many attempts it took.
   */
  readonly record: (outcome: string, seconds: number, readBytes: number, writtenBytes: number, attempts: number) => void
}

/** Executes SCSI tasks on one target (a session, or a pool of sessions). Provided by `IscsiLive`. */
export class ScsiTransport extends Context.Service<ScsiTransport, ScsiTransportService>()(
  "@effect-iscsi/core/ScsiTransport"
) {}

/**
 * The UNIT ATTENTION a CHECK CONDITION carries, from fixed (70h/71h) or descriptor (72h/73h) sense
 * data (SPC-5 §4.4): its ASC and ASCQ; undefined for any other sense key.
 */
export const unitAttention = (
  sense: Uint8Array | undefined
): { readonly asc: number; readonly ascq: number } | undefined => {
  if (sense === undefined || sense.length < 3) return undefined
  const descriptor = (sense[0]! & 0x7f) >= 0x72
  const key = descriptor ? sense[1]! & 0x0f : sense[2]! & 0x0f
  if (key !== 6) return undefined
  const asc = descriptor ? sense[2] : sense[12]
  const ascq = descriptor ? sense[3] : sense[13]
  return asc === undefined ? undefined : { asc, ascq: ascq ?? 0 }
}
