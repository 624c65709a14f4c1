/**
 * vitest global setup: one private tgtd for the whole run (started once, stopped by pid when the run
 * ends, pass or fail), handed to the tests with `inject("tgt")` (see packages/testing/src/Provided.ts).
 * Also makes sure libiscsi's tools are installed for the cross-checks.
 */
import type { TestProject } from "vitest/node"
import { Libiscsi, Tgt } from "@effect-iscsi/testing"
import "@effect-iscsi/testing/Provided"

export default async function setup(project: TestProject) {
  Libiscsi.ensure()
  const instance = await Tgt.start()
  project.provide("tgt", instance.info)
  return async () => {
    await instance.stop()
  }
}
