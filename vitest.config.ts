import { defineConfig } from "vitest/config"
import { projects } from "./vitest.workspace.ts"

export default defineConfig({
  test: {
    projects,
    // One real tgtd for the whole run: started here, torn down (by pid) when the run ends.
    globalSetup: ["./scripts/vitest-global-setup.ts"]
  }
})
