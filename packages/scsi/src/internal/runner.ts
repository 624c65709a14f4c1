/**
 * The one command runner every `Scsi` program goes through: executes a task on `ScsiTransport`,
 * maps status and sense to `ScsiError`, checks residuals where the whole transfer is needed, and
 * retries while the error says `isRetryable` (transport errors only when the command is
 * idempotent; a `Timeout` only when the policy says so), all within one deadline per call.
 *
 * The policy (core's `CommandPolicy`): the call's own (`CommandPolicy` reference) over the target's
 * (`ScsiTransport.policy`, from the layer options) over `defaultCommandPolicy` (60 s, 5 retries,
 * 10 ms doubling backoff). Every retry is logged at Debug level (and noted on the current span);
 * the final error carries the number of attempts. Every UNIT ATTENTION seen on a command it retries
 * goes to `UnitAttention.OnUnitAttention` (looked up only after a failure).
 */
import * as IscsiError from "@effect-iscsi/core/IscsiError"
import {
  CommandPolicy,
  defaultCommandPolicy,
  type Direction,
  request as makeRequest,
  type ScsiResult,
  ScsiTransport,
  type ScsiTransportService
} from "@effect-iscsi/core/ScsiTransport"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as ScsiError from "../ScsiError.ts"
import * as Sense from "../Sense.ts"
import * as UnitAttention from "../UnitAttention.ts"

export type CommandError = ScsiError.ScsiError | IscsiError.IscsiError

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

/** Should this error be retried for a command with this idempotency (and this policy)? */
export const shouldRetry = (error: CommandError, idempotent: boolean, retryTimeouts = false): boolean =>
  error._tag === "ScsiError"
    ? error.isRetryable
    : idempotent && error.isRetryable && (retryTimeouts || error.reason._tag !== "Timeout")

/** The policy in force: the call's over the target's over the defaults. */
export const policyOf = (transport: ScsiTransportService, call: CommandPolicy | undefined) => {
  const t = transport.policy
  return {
    timeoutMs: call?.timeoutMs ?? t?.timeoutMs ?? defaultCommandPolicy.timeoutMs,
    retries: call?.retries ?? t?.retries ?? defaultCommandPolicy.retries,
    retryTimeouts: call?.retryTimeouts ?? t?.retryTimeouts ?? defaultCommandPolicy.retryTimeouts,
    backoff: call?.backoff ?? t?.backoff ?? defaultCommandPolicy.backoff
  }
}

/**
 * Run `f` with the environment's transport and the call's policy, read synchronously from the
 * context (one Effect step, not one per service: this is on the data path of every command).
 */
export const withTransport = <A, E, R>(
  f: (transport: ScsiTransportService, call: CommandPolicy | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | ScsiTransport> =>
  Effect.contextWith((ctx: Context.Context<ScsiTransport>) =>
    f(Context.get(ctx, ScsiTransport), Context.get(ctx, CommandPolicy))
  )

/** Send `command` once with this deadline (ms; 0 = none) and interpret the outcome. */
const attempt = (
  transport: ScsiTransportService,
  command: Command,
  cdb: Uint8Array,
  timeoutMs: number
): Effect.Effect<ScsiResult, CommandError> =>
  Effect.flatMap(
    transport.execute(
      makeRequest({
        lun: command.lun,
        cdb,
        direction: command.direction,
        dataOut: command.dataOut,
        readLength: command.readLength,
        readInto: command.readInto,
        dataOutIov: command.dataOutIov,
        readIntoIov: command.readIntoIov,
        idempotent: command.idempotent ?? true,
        timeoutMs
      })
    ),
    (result) => Effect.fromResult(interpret(command, result))
  )

/**
 * Run one command on `transport` under its policy. The first attempt runs bare (npm run bench: no
 * retry machinery per command on the data path); the retries start after a retryable failure.
 */
export const runOn = (
  transport: ScsiTransportService,
  call: CommandPolicy | undefined,
  fields: Command
): Effect.Effect<ScsiResult, CommandError> => {
  // a class instance lives through the retries, not the caller's literal (see ScsiTransport.request)
  const command = new CommandImpl(fields)
  const cdb = command.cdb
  if (Result.isFailure(cdb)) return Effect.fail(cdb.failure)
  const timeoutMs = call?.timeoutMs ?? transport.policy?.timeoutMs ?? defaultCommandPolicy.timeoutMs
  const started = Date.now()
  return Effect.catch(attempt(transport, command, cdb.success, timeoutMs), (first: CommandError) =>
    retrying(transport, call, command, cdb.success, first, started)
  )
}

/** Run one command with the environment's transport and policy (see `runOn`). */
export const run = (fields: Command): Effect.Effect<ScsiResult, CommandError, ScsiTransport> =>
  withTransport((transport, call) => runOn(transport, call, fields))

/** Run one command exactly once (no retry) with the environment's transport. */
export const runOnce = (fields: Command): Effect.Effect<ScsiResult, CommandError, ScsiTransport> =>
  withTransport((transport, call) => runOn(transport, { ...call, retries: 0 }, fields))

const withAttempts = (e: CommandError, attempts: number): CommandError =>
  attempts <= 1
    ? e
    : e._tag === "ScsiError"
      ? new ScsiError.ScsiError({ reason: e.reason, attempts })
      : new IscsiError.IscsiError({ reason: e.reason, attempts })

/** Hand a UNIT ATTENTION the retry absorbs to `UnitAttention.OnUnitAttention` (after failures only). */
const absorb = (command: Command, error: CommandError): Effect.Effect<void> => {
  const event = UnitAttention.fromError(error, command.lun)
  return event === undefined ? Effect.void : Effect.flatMap(UnitAttention.OnUnitAttention, (on) => on(event))
}

/** The retries after a first failure, within the call's deadline. */
const retrying = (
  transport: ScsiTransportService,
  call: CommandPolicy | undefined,
  command: Command,
  cdb: Uint8Array,
  first: CommandError,
  started: number
) =>
  Effect.gen(function* () {
    const policy = policyOf(transport, call)
    const idempotent = command.idempotent ?? true
    const deadline = policy.timeoutMs > 0 ? started + policy.timeoutMs : Number.POSITIVE_INFINITY
    let attempts = 1
    let last = first
    yield* absorb(command, first)
    for (;;) {
      if (attempts > policy.retries || !shouldRetry(last, idempotent, policy.retryTimeouts)) {
        return yield* Effect.fail(withAttempts(last, attempts))
      }
      const delay = Math.max(0, policy.backoff(attempts))
      if (Date.now() + delay >= deadline) return yield* Effect.fail(withAttempts(last, attempts))
      yield* Effect.logDebug("retrying a SCSI command").pipe(
        Effect.annotateLogs({
          opcode: `0x${cdb[0]!.toString(16).padStart(2, "0")}`,
          lun: command.lun,
          attempt: attempts + 1,
          after: last.message,
          delayMs: Math.round(delay)
        })
      )
      yield* Effect.currentSpan.pipe(
        Effect.tap((span) =>
          Effect.sync(() =>
            span.event("retry", BigInt(Date.now()) * 1_000_000n, { attempt: attempts + 1, error: last.message })
          )
        ),
        Effect.ignore
      )
      if (delay > 0) yield* Effect.sleep(Duration.millis(delay))
      attempts++
      const remaining = deadline === Number.POSITIVE_INFINITY ? 0 : Math.max(1, deadline - Date.now())
      const r = yield* Effect.result(attempt(transport, command, cdb, remaining))
      if (Result.isSuccess(r)) return r.success
      last = r.failure
      yield* absorb(command, last)
    }
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
