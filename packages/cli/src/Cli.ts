/**
 * The `iscsi` command tree, built with Effect's own CLI module (`effect/cli`): discover, ls, inq,
 * readcap, read, write, dd, bench. Each subcommand parses its URL (libiscsi form), logs in through
 * the library's public API, runs SCSI commands and prints either text or, with `--json`, exactly
 * one JSON document on stdout. Progress and summaries go to stderr.
 *
 * ```text
 * iscsi discover HOST[:PORT] [--json]
 * iscsi discover --isns HOST[:PORT] [--json]          (an iSNS server, port 3205 by default)
 * iscsi ls iscsi://HOST[:PORT]/ [--json]      (exit 0 when discovery worked; unopened targets carry an error)
 * iscsi inq URL [--vpd PAGE | --opcodes] [--json]
 * iscsi readcap URL [--json]
 * iscsi read URL --lba N --blocks M [-o FILE]
 * iscsi write URL --lba N [-i FILE] [--json]
 * iscsi dd --if SRC --of DST [--bs BYTES] [--count N] [--skip N] [--seek N] [--qd N] [--no-sparse] [--progress] [--json]
 * iscsi bench URL [--qd N] [--bs BYTES] [--random] [--write] [--duration SECONDS] [--json]
 *   (dd, bench: [--metrics-port [HOST:]PORT] [--metrics-linger SECONDS] [--spans])
 * iscsi … --log-level LEVEL          (the library's log lines on stderr; see `Observability`)
 * ```
 *
 * `run(argv)` returns the exit status (see `Failure.ts`) after printing any error as one line.
 *
 * Not here: the protocol (the library), the copy and benchmark loops (`Copy`, `Bench`).
 */
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as References from "effect/References"
import * as Failure from "./Failure.ts"
import * as Files from "./internal/files.ts"
import * as Flags from "./internal/flags.ts"
import * as Observability from "./Observability.ts"

export const VERSION = "0.1.0"

const env: Observability.Env = process.env

/**
 * What the subcommands do, loaded when one runs: help, version and parse errors load only Effect
 * and its CLI module, not the iSCSI library (`npm run bench`, startup rows).
 */
const handlers = Effect.promise(() => import("./internal/handlers.ts"))

const discover = Command.make("discover", Flags.discover, (input) =>
  Effect.flatMap(handlers, (h) => h.discover(input))
).pipe(
  Command.withDescription(
    "discovery: the targets behind a portal (SendTargets), or every target an iSNS server lists, with their portals"
  )
)

const ls = Command.make("ls", Flags.ls, (input) => Effect.flatMap(handlers, (h) => h.ls(input))).pipe(
  Command.withDescription(
    "every target behind a portal with its LUNs, device types and sizes (like iscsi-ls -s); targets that cannot be opened are listed with the reason, and exit status 0 means discovery worked"
  )
)

const inq = Command.make("inq", Flags.inq, (input) => Effect.flatMap(handlers, (h) => h.inq(input))).pipe(
  Command.withDescription(
    "standard INQUIRY data, a decoded VPD page with --vpd, or what the LUN supports with --opcodes"
  )
)

const readcap = Command.make("readcap", Flags.readcap, (input) =>
  Effect.flatMap(handlers, (h) => h.readcap(input))
).pipe(Command.withDescription("capacity and block size (READ CAPACITY (16), falling back to (10))"))

const read = Command.make("read", Flags.read, (input) => Effect.flatMap(handlers, (h) => h.read(input))).pipe(
  Command.withDescription("read blocks to stdout or a file")
)

const write = Command.make("write", Flags.write, (input) => Effect.flatMap(handlers, (h) => h.write(input))).pipe(
  Command.withDescription("write stdin or a file to blocks starting at --lba")
)

const dd = Command.make("dd", Flags.dd, (input) => Effect.flatMap(handlers, (h) => h.dd(input))).pipe(
  Command.withDescription(
    "copy LUN → file, file → LUN or LUN → LUN, leaving zero runs out where the destination allows, with a progress line on a terminal"
  )
)

const bench = Command.make("bench", Flags.bench, (input) => Effect.flatMap(handlers, (h) => h.bench(input))).pipe(
  Command.withDescription("measure IOPS, MB/s and latency (like iscsi-perf, and it can write)")
)

// ---------------------------------------------------------------------------------------------
// the root command and running it
// ---------------------------------------------------------------------------------------------

export const command = Command.make("iscsi").pipe(
  Command.withDescription("iSCSI initiator tools: discover targets, inspect LUNs, read, write, copy, benchmark"),
  Command.withSubcommands([discover, ls, inq, readcap, read, write, dd, bench])
)

/** Help and version on stdout; a usage error as short lines on stderr (never the whole help). */
const presenter = CliOutput.layerPresenter({
  present: (event) =>
    Effect.gen(function* () {
      const formatter = yield* CliOutput.Formatter
      switch (event._tag) {
        case "Help":
          // asked for (--help): stdout; implied by a missing subcommand (a usage error): stderr
          return yield* event.reason === "Requested"
            ? Files.writeStdout(`${formatter.formatHelpDoc(event.helpDoc)}\n`).pipe(Effect.ignore)
            : Files.writeStderr(`${formatter.formatHelpDoc(event.helpDoc)}\n`)
        case "Version":
          return yield* Files.writeStdout(`${formatter.formatVersion(event.name, event.version)}\n`).pipe(Effect.ignore)
        case "InvalidInvocation":
          yield* Files.writeStderr(`${formatter.formatErrors(event.errors).trim()}\n`)
          return yield* Files.writeStderr(`Try '${event.commandPath.join(" ")} --help'.\n`)
      }
    })
})

const plainFormatter = CliOutput.layer(CliOutput.defaultFormatter({ colors: false }))

/** Parse `argv` (without node and the script), run the subcommand, print any failure; the exit status. */
export const run = (argv: ReadonlyArray<string>) =>
  Command.runWith(command, { version: VERSION })(argv).pipe(
    // the library's logs on stderr; `--log-level` (effect/cli's global flag) overrides the level
    Effect.provideService(References.MinimumLogLevel, Observability.DEFAULT_LOG_LEVEL),
    Observability.withOtlp(env, VERSION),
    Effect.provide([presenter, plainFormatter, Observability.logging]),
    Effect.exit,
    Effect.flatMap((exit) => {
      if (Exit.isSuccess(exit)) return Effect.succeed<number>(Failure.ExitCode.Ok)
      const r = Failure.reportCause(exit.cause)
      const debug = process.env.ISCSI_DEBUG
      if (debug !== undefined && debug !== "") process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
      // Effect's CLI already printed its parse errors (through the presenter above).
      if (r.alreadyShown) return Effect.succeed(r.exitCode)
      return Effect.as(Files.writeStderr(`iscsi: ${r.message}\n`), r.exitCode)
    })
  )
