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
 *
 * Observability: every command call is recorded in the target's `Telemetry` (when the transport has
 * one: by LUN, operation code and outcome, with its latency over all attempts and the bytes it
 * moved) by plain code in the callbacks the call runs anyway, with no Effect step of its own; and it
 * is a span (`SCSI <OPCODE NAME>`: target, portal, LUN, opcode, LBA and blocks where the CDB has
 * them, attempts, outcome), except the data path (READ, WRITE and their scatter-gather forms),
 * which is traced only when `TraceDataPath` is on. A call that is interrupted is neither counted nor
 * given an outcome (its span ends as interrupted; the engine counts the ABORT TASK).
 */
import * as IscsiError from "@effect-iscsi/core/IscsiError"
import {
  CommandPolicy,
  type CommandRecorder,
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
import * as Tracer from "effect/Tracer"
import * as OperationCodes from "../OperationCodes.ts"
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
  /** READ or WRITE (the data path): a span only when `TraceDataPath` is on. */
  readonly dataPath?: boolean | undefined
}

/**
 * Trace every READ and WRITE too (default false: the data path carries no span; every other
 * command does). `Effect.provideService(Scsi.TraceDataPath, true)` around a program turns it on
 * for the commands it runs; it costs about one span per block I/O (see README "Observability").
 */
export const TraceDataPath = Context.Reference<boolean>("@effect-iscsi/scsi/TraceDataPath", {
  defaultValue: () => false
})

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
 * context (one Effect step, not one per service: this is on the data path of every command); the
 * context itself goes along for what is read only sometimes (`TraceDataPath`).
 */
export const withTransport = <A, E, R>(
  f: (
    transport: ScsiTransportService,
    call: CommandPolicy | undefined,
    context: Context.Context<never>
  ) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | ScsiTransport> =>
  Effect.contextWith((ctx: Context.Context<ScsiTransport>) =>
    f(Context.get(ctx, ScsiTransport), Context.get(ctx, CommandPolicy), ctx as Context.Context<never>)
  )

/** Operation codes whose name depends on the service action in CDB byte 1 (bits 4-0). */
const SERVICE_ACTION_OPCODES = new Set([0x5e, 0x5f, 0x83, 0x84, 0x9e, 0xa3, 0xa4])

const serviceActionOf = (cdb: Uint8Array): number | undefined =>
  SERVICE_ACTION_OPCODES.has(cdb[0]!) && cdb.length > 1 ? cdb[1]! & 0x1f : undefined

/** The SPC/SBC name of a CDB's command (`READ (10)`, `READ CAPACITY (16)`, …). */
export const commandName = (cdb: Uint8Array): string => OperationCodes.name(cdb[0]!, serviceActionOf(cdb))

const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!

/** LBA and block count of the block commands that have them (READ, WRITE, VERIFY, …), for spans. */
export const lbaAndBlocks = (cdb: Uint8Array): { readonly lba: number; readonly blocks: number } | undefined => {
  switch (cdb[0]) {
    case 0x08:
    case 0x0a:
      return cdb.length < 6
        ? undefined
        : { lba: ((cdb[1]! & 0x1f) << 16) | (cdb[2]! << 8) | cdb[3]!, blocks: cdb[4] === 0 ? 256 : cdb[4]! }
    case 0x28:
    case 0x2a:
    case 0x2e:
    case 0x2f:
    case 0x34:
    case 0x35:
    case 0x41:
      return cdb.length < 10 ? undefined : { lba: u32(cdb, 2), blocks: u16(cdb, 7) }
    case 0xa8:
    case 0xaa:
    case 0xae:
    case 0xaf:
      return cdb.length < 12 ? undefined : { lba: u32(cdb, 2), blocks: u32(cdb, 6) }
    case 0x88:
    case 0x8a:
    case 0x8b:
    case 0x8e:
    case 0x8f:
    case 0x90:
    case 0x91:
    case 0x93:
      return cdb.length < 16 ? undefined : { lba: u32(cdb, 2) * 2 ** 32 + u32(cdb, 6), blocks: u32(cdb, 10) }
    case 0x89:
      return cdb.length < 16 ? undefined : { lba: u32(cdb, 2) * 2 ** 32 + u32(cdb, 6), blocks: cdb[13]! }
    default:
      return undefined
  }
}

/** A failed call's outcome label: the reason, with the sense key for a CHECK CONDITION. */
export const outcomeOf = (e: CommandError): string =>
  e._tag === "ScsiError" && e.reason._tag === "CheckCondition"
    ? `CheckCondition(${e.reason.senseKeyName})`
    : e.reason._tag

/** The recorder of this command's LUN and opcode (registered by the first such command). */
const recorderOf = (transport: ScsiTransportService, lun: number, cdb: Uint8Array): CommandRecorder | undefined => {
  const t = transport.telemetry
  if (t === undefined) return undefined
  const sa = serviceActionOf(cdb) ?? 0
  const key = cdb[0]! + sa * 0x100 + lun * 0x10000
  return t.recorder(key) ?? t.register(key, lun, commandName(cdb))
}

/** Data bytes a successful call moved: [read, written]. */
const readBytesOf = (command: Command, result: ScsiResult): number =>
  command.direction === "read" || command.direction === "bidirectional"
    ? Math.max(0, (command.readLength ?? 0) - (result.underflow ? result.residualCount : 0))
    : 0

const writtenBytesOf = (command: Command): number =>
  command.direction === "write" || command.direction === "bidirectional"
    ? (command.dataOut?.length ?? totalLength(command.dataOutIov))
    : 0

/** Send `command` once with this deadline (ms; 0 = none) and interpret the outcome. */
const attempt = (
  transport: ScsiTransportService,
  command: CommandImpl,
  cdb: Uint8Array,
  timeoutMs: number,
  first: boolean
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
    (result) => {
      const r = interpret(command, result)
      // the common case, recorded here: no Effect step of its own
      if (first && Result.isSuccess(r)) command.succeeded(r.success, 1)
      return Effect.fromResult(r)
    }
  )

/**
 * Run one command on `transport` under its policy. The first attempt runs bare (npm run bench: no
 * retry machinery per command on the data path); the retries start after a retryable failure.
 */
export const runOn = (
  transport: ScsiTransportService,
  call: CommandPolicy | undefined,
  fields: Command,
  context?: Context.Context<never>
): Effect.Effect<ScsiResult, CommandError> => {
  // a class instance lives through the retries, not the caller's literal (see ScsiTransport.request)
  const command = new CommandImpl(fields)
  const cdb = command.cdb
  if (Result.isFailure(cdb)) return Effect.fail(cdb.failure)
  const bytes = cdb.success
  const timeoutMs = call?.timeoutMs ?? transport.policy?.timeoutMs ?? defaultCommandPolicy.timeoutMs
  command.started = performance.now()
  command.recorder = recorderOf(transport, command.lun, bytes)
  const run = Effect.catch(attempt(transport, command, bytes, timeoutMs, true), (first: CommandError) =>
    retrying(transport, call, command, bytes, first)
  )
  if (command.dataPath === true && (context === undefined || !Context.get(context, TraceDataPath))) return run
  return Effect.useSpan(
    `SCSI ${commandName(bytes)}`,
    { kind: "client", attributes: spanAttributes(transport, command, bytes) },
    (span) => {
      command.span = span
      return Effect.provideService(run, Tracer.ParentSpan, span)
    }
  )
}

const spanAttributes = (
  transport: ScsiTransportService,
  command: Command,
  cdb: Uint8Array
): Record<string, unknown> => {
  const e = transport.endpoint
  const where = lbaAndBlocks(cdb)
  return {
    ...(e !== undefined ? { "iscsi.target": e.target, "iscsi.portal": e.portal } : {}),
    "scsi.lun": command.lun,
    "scsi.opcode": `0x${cdb[0]!.toString(16).padStart(2, "0")}`,
    "scsi.command": commandName(cdb),
    ...(where !== undefined ? { "scsi.lba": where.lba, "scsi.blocks": where.blocks } : {})
  }
}

/** Run one command with the environment's transport and policy (see `runOn`). */
export const run = (fields: Command): Effect.Effect<ScsiResult, CommandError, ScsiTransport> =>
  withTransport((transport, call, context) => runOn(transport, call, fields, context))

/** Run one command exactly once (no retry) with the environment's transport. */
export const runOnce = (fields: Command): Effect.Effect<ScsiResult, CommandError, ScsiTransport> =>
  withTransport((transport, call, context) => runOn(transport, { ...call, retries: 0 }, fields, context))

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
  command: CommandImpl,
  cdb: Uint8Array,
  first: CommandError
) =>
  Effect.gen(function* () {
    const policy = policyOf(transport, call)
    const idempotent = command.idempotent ?? true
    const deadline = policy.timeoutMs > 0 ? command.started + policy.timeoutMs : Number.POSITIVE_INFINITY
    let attempts = 1
    let last = first
    yield* absorb(command, first)
    for (;;) {
      if (attempts > policy.retries || !shouldRetry(last, idempotent, policy.retryTimeouts)) {
        command.failed(last, attempts)
        return yield* Effect.fail(withAttempts(last, attempts))
      }
      const delay = Math.max(0, policy.backoff(attempts))
      if (performance.now() + delay >= deadline) {
        command.failed(last, attempts)
        return yield* Effect.fail(withAttempts(last, attempts))
      }
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
      const remaining = deadline === Number.POSITIVE_INFINITY ? 0 : Math.max(1, deadline - performance.now())
      const r = yield* Effect.result(attempt(transport, command, cdb, remaining, false))
      if (Result.isSuccess(r)) {
        command.succeeded(r.success, attempts)
        return r.success
      }
      last = r.failure
      yield* absorb(command, last)
    }
  })

/** The outcome label of a call that succeeded (core's `Telemetry.OK`). */
const OK = "ok"

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
  readonly dataPath: boolean | undefined
  /** When the call started (`performance.now()`): its deadline and latency count from here. */
  started = 0
  recorder: CommandRecorder | undefined = undefined
  span: Tracer.Span | undefined = undefined
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
    this.dataPath = fields.dataPath
  }

  /** The call succeeded after `attempts`: count it, finish the span's attributes. */
  succeeded(result: ScsiResult, attempts: number): void {
    const recorder = this.recorder
    const span = this.span
    if (recorder === undefined && span === undefined) return
    const read = readBytesOf(this, result)
    const written = writtenBytesOf(this)
    recorder?.record(OK, (performance.now() - this.started) / 1000, read, written, attempts)
    if (span !== undefined) {
      span.attribute("scsi.outcome", OK)
      span.attribute("scsi.attempts", attempts)
      span.attribute("scsi.status", result.status)
      if (read > 0) span.attribute("scsi.read_bytes", read)
      if (written > 0) span.attribute("scsi.written_bytes", written)
    }
  }

  /** The call failed with `error` after `attempts`. */
  failed(error: CommandError, attempts: number): void {
    const recorder = this.recorder
    const span = this.span
    if (recorder === undefined && span === undefined) return
    const outcome = outcomeOf(error)
    recorder?.record(outcome, (performance.now() - this.started) / 1000, 0, 0, attempts)
    if (span !== undefined) {
      span.attribute("scsi.outcome", outcome)
      span.attribute("scsi.attempts", attempts)
    }
  }
}

/** Decode the data of a finished command. */
export const decodeWith =
  <A>(decode: (data: Uint8Array) => Result.Result<A, ScsiError.ScsiError>) =>
  (result: ScsiResult): Effect.Effect<A, ScsiError.ScsiError> =>
    Effect.fromResult(decode(result.data))
