/**
 * `iscsi discover --isns` as users run it: the bin as a child process against a private isnsd
 * (started here) that lists the run's tgtd targets on two portals (127.0.0.1 and 127.0.0.2, the
 * second added to tgtd for this file). Same output shapes as plain `discover`; usage errors exit 2.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Isns, Tgt } from "@effect-iscsi/testing"
import { tgt } from "@effect-iscsi/testing/Provided"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const BIN = fileURLToPath(new URL("../bin/iscsi.js", import.meta.url))
const SECOND = "127.0.0.2"

const iscsi = (args: ReadonlyArray<string>) => {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ISCSI_CLI_DIST: "", ISCSI_INITIATOR_NAME: "iqn.2026-11.io.effect-iscsi:cli-isns" },
    timeout: 60_000
  })
  return { status: r.status, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8") }
}

let isnsd: Isns.IsnsInstance | undefined
const server = () => isnsd!.info.server

beforeAll(async () => {
  const info = tgt()
  Tgt.ensurePortal(info.controlPort, SECOND, info.port)
  isnsd = await Isns.start()
  isnsd.register({
    entity: "effect-iscsi-tgtd",
    portals: [
      { host: info.host, port: info.port },
      { host: SECOND, port: info.port }
    ],
    targets: Object.values(info.targets).map((t) => ({ name: t.iqn }))
  })
})

afterAll(async () => {
  await isnsd?.stop()
})

describe("iscsi discover --isns (child process against isnsd)", () => {
  it("--json: every target with both portals, in plain discover's shape", () => {
    const r = iscsi(["discover", "--isns", server(), "--json"])
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    const doc = JSON.parse(r.stdout) as Array<{ name: string; portals: Array<Record<string, unknown>> }>
    const port = tgt().port
    expect(doc.map((t) => t.name).sort()).toEqual(
      Object.values(tgt().targets)
        .map((t) => t.iqn)
        .sort()
    )
    for (const t of doc) {
      expect(Object.keys(t)).toEqual(["name", "portals"])
      expect(t.portals).toContainEqual({ host: "127.0.0.1", port, tpgt: 1 })
      expect(t.portals).toContainEqual({ host: SECOND, port, tpgt: 1 })
      expect(t.portals.length).toBe(2)
    }
  })

  it("text: one line per portal, as plain discover prints them", () => {
    const r = iscsi(["discover", "--isns", server()])
    expect(r.status).toBe(0)
    const lines = r.stdout.trim().split("\n")
    expect(lines).toContain(`${SECOND}:${tgt().port},1 ${tgt().targets.disk.iqn}`)
    expect(lines).toContain(`127.0.0.1:${tgt().port},1 ${tgt().targets.disk.iqn}`)
    expect(lines.length).toBe(2 * Object.values(tgt().targets).length)
  })

  it("a refused iSNS server exits 1 naming it; neither a portal nor --isns, or both, exit 2", () => {
    const refused = iscsi(["discover", "--isns", "127.0.0.1:1"])
    expect(refused.status).toBe(1)
    expect(refused.stderr).toContain("127.0.0.1:1")
    expect(iscsi(["discover"]).status).toBe(2)
    expect(iscsi(["discover", `127.0.0.1:${tgt().port}`, "--isns", server()]).status).toBe(2)
  })
})
