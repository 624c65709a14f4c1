/**
 * The `iscsi` executable: runs the command tree of `Cli.ts` on Node with the platform services
 * effect/cli asks for, Ctrl-C / SIGTERM interrupting the run (so sessions log out), and exits with
 * the status `Cli.run` decided once stdout has been flushed.
 */
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeStdio from "@effect/platform-node/NodeStdio"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import * as Terminal from "effect/Terminal"
import * as Cli from "./Cli.ts"
import { ExitCode } from "./Failure.ts"

/**
 * What effect/cli requires of its environment. The commands take no file, prompt or process
 * primitives (files go through `internal/files.ts` on `node:fs`), so only Path and Stdio are
 * Node's: the rest would load child_process, readline, crypto and fs/promises into every start
 * (~30 ms of `iscsi --help`). A use of them is a defect, and says so.
 */
const unused = (what: string) => Effect.die(new Error(`iscsi: the CLI does not provide ${what}`))

export const CliServices = Layer.mergeAll(
  NodePath.layer,
  NodeStdio.layer,
  FileSystem.layerNoop({}),
  Layer.succeed(
    Terminal.Terminal,
    Terminal.make({
      columns: Effect.sync(() => process.stdout.columns ?? 80),
      rows: Effect.sync(() => process.stdout.rows ?? 24),
      size: unused("a terminal"),
      readInput: unused("a terminal"),
      readLine: unused("a terminal"),
      display: () => unused("a terminal")
    })
  ),
  Layer.succeed(
    ChildProcessSpawner.ChildProcessSpawner,
    ChildProcessSpawner.make(() => unused("child processes"))
  )
)

NodeRuntime.runMain(Cli.run(process.argv.slice(2)).pipe(Effect.provide(CliServices)), {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    const code = Exit.isSuccess(exit) && typeof exit.value === "number" ? exit.value : ExitCode.Interrupted
    // Exit only once everything written to stdout has been handed to the OS.
    process.stdout.write("", () => {
      onExit(code)
      process.exit(code)
    })
  }
})
