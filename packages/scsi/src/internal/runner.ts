/**
 * The one command runner every `Scsi` program goes through: executes a task on `ScsiTransport`,
 * maps status and sense to `ScsiError`, checks residuals where the whole transfer is needed, and
 * retries with the configured schedule while the error says `isRetryable` (transport errors only
 * when the command is idempotent). Every UNIT ATTENTION seen on a command it retries goes to
 * `UnitAttention.OnUnitAttention` (looked up only after a failure).
 */
import type * as IscsiError from "@effect-iscsi/core/IscsiError"
import {
  type Direction,
  request as makeRequest,
  type ScsiResult,
  ScsiTransport
} from "@effect-iscsi/core/ScsiTransport"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as ScsiError from "../ScsiError.ts"
import * as Sense from "../Sense.ts"
import * as UnitAttention from "../UnitAttention.ts"

export type CommandError = ScsiError.ScsiError | IscsiError.IscsiError

/** The default: up to 5 retries, exponential from 10 ms (×2), jittered. */
export const defaultRetrySchedule: Schedule.Schedule<unknown, CommandError> = Schedule.max([
  Schedule.exponential("10 millis", 2).pipe(Schedule.jittered),
  Schedule.recurs(5)
])

/** The retry schedule all commands use; override with `Effect.provideService(RetrySchedule, …)`. */
export const RetrySchedule = Context.Reference<Schedule.Schedule<unknown, CommandError>>(
  "@effect-iscsi/scsi/RetrySchedule",
  { defaultValue: () => defaultRetrySchedule }
)

export interface Command {
  readonly lun: number
  readonly cdb: Result.Result<Uint8Array, ScsiError.ScsiError>
  readonly direction: Direction
  readonly dataOut?: Uint8Array | undefined
  readonly readLength?: number | undefined
  readonly readInto?: Uint8Array | undefined
  /** Scatter-gather data-out / read buffers (see `ScsiRequest.dataOutIov` / `readIntoIov`). */
  readonly dataOutIov?: ReadonlyArray<Uint8Array> | undefined
  readonly readIntoIov?: ReadonlyArray<Uint8Array> | undefined
  /** Default true. */
  readonly idempotent?: boolean | undefined
  /** Fail with a Residual reason unless exactly the expected bytes moved (READ/WRITE). */
  readonly exactTransfer?: boolean | undefined
}

/** Map a completed task's outcome to success or a `ScsiError`. */
export const interpret = (command: Command, result: ScsiResult): Result.Result<ScsiResult, ScsiError.ScsiError> => {
  if (result.response !== 0) {
    return Result.fail(
      ScsiError.make(
        new ScsiError.UnexpectedStatus({
          status: result.status,
          response: result.response,
          message: "iSCSI response: target failure"
        })
      )
    )
  }
  switch (result.status) {
    case ScsiError.Status.Good:
    case ScsiError.Status.ConditionMet: {
      if (command.exactTransfer === true && (result.underflow || result.overflow) && result.residualCount > 0) {
        const expected =
          command.direction === "write"
            ? (command.dataOut?.length ?? totalLength(command.dataOutIov))
            : (command.readLength ?? 0)
        return Result.fail(
          ScsiError.make(
            new ScsiError.Residual({
              kind: result.underflow ? "underflow" : "overflow",
              expected,
              residualCount: result.residualCount,
              message: `${result.underflow ? "underflow" : "overflow"} of ${result.residualCount} of ${expected} bytes`
            })
          )
        )
      }
      return Result.succeed(result)
    }
    case ScsiError.Status.CheckCondition: {
      if (result.sense === undefined || result.sense.length === 0) {
        return Result.fail(ScsiError.make(new ScsiError.NoSense({ message: "CHECK CONDITION without sense data" })))
      }
      const decoded = Sense.decode(result.sense)
      if (Result.isFailure(decoded)) {
        return Result.fail(
          ScsiError.make(new ScsiError.NoSense({ message: "CHECK CONDITION with undecodable sense data" }))
        )
      }
      const sense = decoded.success
      if (sense.senseKey === Sense.SenseKey.Miscompare) {
        return Result.fail(
          ScsiError.make(
            new ScsiError.Miscompare({
              sense,
              offset: sense.information === undefined ? undefined : Number(sense.information),
              message: sense.description
            })
          )
        )
      }
      return Result.fail(
        ScsiError.make(
          new ScsiError.CheckCondition({
            sense,
            senseKey: sense.senseKey,
            senseKeyName: sense.senseKeyName,
            asc: sense.asc,
            ascq: sense.ascq,
            description: sense.description,
            message: `${sense.senseKeyName}: ${sense.description}`,
            senseBytes: result.sense
          })
        )
      )
    }
    case ScsiError.Status.Busy:
      return Result.fail(ScsiError.make(new ScsiError.Busy({ message: "BUSY" })))
    case ScsiError.Status.TaskSetFull:
      return Result.fail(ScsiError.make(new ScsiError.TaskSetFull({ message: "TASK SET FULL" })))
    case ScsiError.Status.ReservationConflict:
      return Result.fail(ScsiError.make(new ScsiError.ReservationConflict({ message: "RESERVATION CONFLICT" })))
    case ScsiError.Status.TaskAborted:
      return Result.fail(ScsiError.make(new ScsiError.TaskAborted({ message: "TASK ABORTED" })))
    default:
      return Result.fail(
        ScsiError.make(
          new ScsiError.UnexpectedStatus({
            status: result.status,
            response: result.response,
            message: `unexpected SCSI status 0x${result.status.toString(16)}`
          })
        )
      )
  }
}

const totalLength = (buffers: ReadonlyArray<Uint8Array> | undefined): number => {
  let n = 0
  if (buffers !== undefined) for (const b of buffers) n += b.length
  return n
}

/** Should this error be retried for a command with this idempotency? */
export const shouldRetry = (error: CommandError, idempotent: boolean): boolean =>
  error._tag === "ScsiError" ? error.isRetryable : idempotent && error.isRetryable

/** The environment's transport, as one reusable Effect (no new Effect per command). */
const transportService = Effect.service(ScsiTransport)

/**
 * Run one command once (no retry). Plain combinators, not a generator: this is on the data path of
 * every READ and WRITE (npm run bench: packages/core/benchmark/engine.ts api).
 */
export const runOnce = (command: Command): Effect.Effect<ScsiResult, CommandError, ScsiTransport> => {
  const cdb = command.cdb
  if (Result.isFailure(cdb)) return Effect.fail(cdb.failure)
  return Effect.flatMap(transportService, (transport) =>
    Effect.flatMap(
      transport.execute(
        makeRequest({
          lun: command.lun,
          cdb: cdb.success,
          direction: command.direction,
          dataOut: command.dataOut,
          readLength: command.readLength,
          readInto: command.readInto,
          dataOutIov: command.dataOutIov,
          readIntoIov: command.readIntoIov,
          idempotent: command.idempotent ?? true
        })
      ),
      (result) => Effect.fromResult(interpret(command, result))
    )
  )
}

/**
 * Run one command with the configured retry schedule. The first attempt runs bare: the schedule is
 * looked up and driven only after a retryable failure (npm run bench: no retry machinery per
 * command on the data path).
 */
export const run = (fields: Command): Effect.Effect<ScsiResult, CommandError, ScsiTransport> => {
  // a class instance lives through the retries, not the caller's literal (see ScsiTransport.request)
  const command = new CommandImpl(fields)
  const idempotent = command.idempotent ?? true
  return Effect.catch(runOnce(command), (first: CommandError) =>
    shouldRetry(first, idempotent) ? retrying(command, idempotent, first) : Effect.fail(first)
  )
}

/** Hand a UNIT ATTENTION the retry absorbs to `UnitAttention.OnUnitAttention` (after failures only). */
const absorb = (command: Command, error: CommandError): Effect.Effect<void> => {
  const event = UnitAttention.fromError(error, command.lun)
  return event === undefined ? Effect.void : Effect.flatMap(UnitAttention.OnUnitAttention, (on) => on(event))
}

/** The retries after a first failure `first`, on the schedule in `RetrySchedule`. */
const retrying = (command: Command, idempotent: boolean, first: CommandError) =>
  Effect.gen(function* () {
    const schedule = yield* RetrySchedule
    yield* absorb(command, first)
    // the schedule sees the first failure again (instantly), then drives the real attempts
    let replay = true
    const attempt = Effect.suspend(() => {
      if (!replay) return Effect.tapError(runOnce(command), (e) => absorb(command, e))
      replay = false
      return Effect.fail(first)
    })
    return yield* attempt.pipe(Effect.retry({ schedule, while: (e: CommandError) => shouldRetry(e, idempotent) }))
  })

class CommandImpl implements Command {
  readonly lun: number
  readonly cdb: Result.Result<Uint8Array, ScsiError.ScsiError>
  readonly direction: Direction
  readonly dataOut: Uint8Array | undefined
  readonly readLength: number | undefined
  readonly readInto: Uint8Array | undefined
  readonly dataOutIov: ReadonlyArray<Uint8Array> | undefined
  readonly readIntoIov: ReadonlyArray<Uint8Array> | undefined
  readonly idempotent: boolean | undefined
  readonly exactTransfer: boolean | undefined
  constructor(fields: Command) {
    this.lun = fields.lun
    this.cdb = fields.cdb
    this.direction = fields.direction
    this.dataOut = fields.dataOut
    this.readLength = fields.readLength
    this.readInto = fields.readInto
    this.dataOutIov = fields.dataOutIov
    this.readIntoIov = fields.readIntoIov
    this.idempotent = fields.idempotent
    this.exactTransfer = fields.exactTransfer
  }
}

/** Decode the data of a finished command. */
export const decodeWith =
  <A>(decode: (data: Uint8Array) => Result.Result<A, ScsiError.ScsiError>) =>
  (result: ScsiResult): Effect.Effect<A, ScsiError.ScsiError> =>
    Effect.fromResult(decode(result.data))
