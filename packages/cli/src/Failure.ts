/**
 * How the `iscsi` command fails: the CLI's own error values (`UsageError`, `IoError`) and the one
 * function that turns any failure of a run into what a tool prints: one line on stderr naming what
 * failed, and an exit status.
 *
 * | exit | meaning                                                                              |
 * |------|--------------------------------------------------------------------------------------|
 * | 0    | success                                                                              |
 * | 1    | runtime failure: connection refused, login failed (with the target's status), CHECK   |
 * |      | CONDITION (with decoded sense), I/O error on a local file, protocol or digest error   |
 * | 2    | usage error: bad flags or arguments, bad URL, a range outside the LUN, data that is   |
 * |      | not a whole number of blocks (all found before anything was written)                  |
 * | 130  | interrupted (Ctrl-C)                                                                 |
 *
 * Not here: parsing (Effect's CLI reports its own parse errors through the presenter in
 * `Cli.ts`), the protocol (errors come typed from `@effect-iscsi/core` and `@effect-iscsi/scsi`).
 */
import type * as IscsiError from "@effect-iscsi/core/IscsiError"
import type * as ScsiError from "@effect-iscsi/scsi/ScsiError"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"

/** The user asked for something impossible (bad argument, missing credential, bad block size). Exit 2. */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly message: string
}> {}

/** A local file or stream failed (open, read, write). Exit 1. */
export class IoError extends Data.TaggedError("IoError")<{
  readonly path: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** Data read back did not match what was written (`iscsi write --verify`). Exit 1. */
export class VerifyFailed extends Data.TaggedError("VerifyFailed")<{
  readonly message: string
}> {}

/** Every failure a subcommand can end with. */
export type Failure = UsageError | IoError | VerifyFailed | IscsiError.IscsiError | ScsiError.ScsiError

export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 2,
  Interrupted: 130
} as const

/** What to print and which status to exit with. */
export interface Report {
  readonly message: string
  readonly exitCode: number
  /** Effect's CLI already printed it (parse errors, help): print nothing more. */
  readonly alreadyShown?: boolean | undefined
}

const hex2 = (n: number) => `0x${n.toString(16).padStart(2, "0")}`

const iscsiReport = (e: IscsiError.IscsiError): Report => {
  const r = e.reason
  switch (r._tag) {
    case "InvalidArgument":
      return { message: r.message, exitCode: ExitCode.Usage }
    case "ConnectFailed":
      return {
        message: r.message.includes(`${r.host}:${r.port}`)
          ? r.message
          : `cannot connect to ${r.host}:${r.port}: ${r.message}`,
        exitCode: ExitCode.Failure
      }
    case "LoginFailed":
      return {
        message: `login failed: ${r.status} (status class ${hex2(r.statusClass)}, detail ${hex2(r.statusDetail)})${
          r.hint !== undefined ? `: ${r.hint}` : ""
        }`,
        exitCode: ExitCode.Failure
      }
    case "AuthenticationFailed":
      return { message: `authentication failed: ${r.message}`, exitCode: ExitCode.Failure }
    case "NegotiationFailed":
      return { message: `negotiation failed (${r.key}): ${r.message}`, exitCode: ExitCode.Failure }
    case "Timeout":
      return { message: `timed out (${r.operation}): ${r.message}`, exitCode: ExitCode.Failure }
    case "IsnsRejected":
      return { message: r.message, exitCode: ExitCode.Failure }
    default:
      return { message: `iSCSI ${r._tag}: ${r.message}`, exitCode: ExitCode.Failure }
  }
}

const scsiReport = (e: ScsiError.ScsiError): Report => {
  const r = e.reason
  switch (r._tag) {
    case "CheckCondition":
      return {
        message: `CHECK CONDITION: ${r.senseKeyName} (sense key ${hex2(r.senseKey)}, ASC/ASCQ ${hex2(r.asc)}/${hex2(r.ascq)}): ${r.description}`,
        exitCode: ExitCode.Failure
      }
    case "Miscompare":
      return { message: `MISCOMPARE: ${r.message}`, exitCode: ExitCode.Failure }
    case "InvalidArgument":
    case "OutOfRange":
      return { message: r.message, exitCode: ExitCode.Usage }
    default:
      return { message: `SCSI ${r._tag}: ${r.message}`, exitCode: ExitCode.Failure }
  }
}

const tagOf = (u: unknown): string | undefined =>
  typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string"
    ? (u as { _tag: string })._tag
    : undefined

/** The report for one typed failure (anything else is an internal error, exit 1). */
export const report = (error: unknown): Report => {
  switch (tagOf(error)) {
    case "UsageError":
      return { message: (error as UsageError).message, exitCode: ExitCode.Usage }
    case "IoError": {
      const e = error as IoError
      return { message: `${e.path}: ${e.message}`, exitCode: ExitCode.Failure }
    }
    case "VerifyFailed":
      return { message: (error as VerifyFailed).message, exitCode: ExitCode.Failure }
    case "ShowHelp":
      // a parse error, or no subcommand given: the usage was printed already
      return { message: "usage", exitCode: ExitCode.Usage, alreadyShown: true }
    case "IscsiError":
      return iscsiReport(error as IscsiError.IscsiError)
    case "ScsiError":
      return scsiReport(error as ScsiError.ScsiError)
    default:
      return {
        message: `internal error: ${error instanceof Error ? error.message : String(error)}`,
        exitCode: ExitCode.Failure
      }
  }
}

/** The report for the cause a run ended with: interrupts → 130, failures and defects → `report`. */
export const reportCause = (cause: Cause.Cause<unknown>): Report => {
  if (Cause.hasInterruptsOnly(cause)) return { message: "interrupted", exitCode: ExitCode.Interrupted }
  return report(Cause.squash(cause))
}
