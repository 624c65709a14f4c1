/**
 * What vitest's global setup (scripts/vitest-global-setup.ts) hands to every test file:
 * `inject("tgt")` is the running private tgtd with its targets, IQNs, credentials and backing files.
 */
import { inject } from "vitest"
import type { TgtInfo } from "./Tgt.ts"

declare module "vitest" {
  export interface ProvidedContext {
    tgt: TgtInfo
  }
}

/** The private tgtd of this test run. */
export const tgt = (): TgtInfo => inject("tgt")
