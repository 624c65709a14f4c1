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
  /** Data to send (write, bidirectional). Sent as views of this buffer: do not mutate until the task completes. */
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
  }
}

/** Executes SCSI tasks on one target (a session, or a pool of sessions). Provided by `IscsiLive`. */
export class ScsiTransport extends Context.Service<
  ScsiTransport,
  {
    readonly execute: (request: ScsiRequest) => Effect.Effect<ScsiResult, IscsiError>
  }
>()("@effect-iscsi/core/ScsiTransport") {}
