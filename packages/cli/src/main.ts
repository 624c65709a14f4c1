/**
 * The `iscsi` executable: runs the command tree of `Cli.ts` on Node with the standard platform
 * services, Ctrl-C / SIGTERM interrupting the run (so sessions log out), and exits with the status
 * `Cli.run` decided once stdout has been flushed.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cli from "./Cli.ts"
import { ExitCode } from "./Failure.ts"

NodeRuntime.runMain(Cli.run(process.argv.slice(2)).pipe(Effect.provide(NodeServices.layer)), {
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
