import { defineConfig } from "vitest/config"
import { projects } from "./vitest.workspace.ts"

export default defineConfig({
  // The global setup is evaluated in vitest's own `__vitest__` environment: resolve the workspace
  // packages there to their sources (the "source" export condition), as every package project does,
  // so `npm test` on a fresh clone needs no build.
  environments: { __vitest__: { resolve: { conditions: ["source"] } } },
  test: {
    projects,
    // One real tgtd for the whole run: started here, torn down (by pid) when the run ends.
    globalSetup: ["./scripts/vitest-global-setup.ts"],
    // The library logs every login at Info with its negotiated keys (Effect's default logger: ~25
    // lines each, hundreds per run); the tests of logs capture them with their own logger.
    onConsoleLog: (log) => (/^\[[\d:.]+\] INFO \(#\d+\): logged in /.test(log) ? false : undefined)
  }
})
