import * as Net from "node:net"
import * as Fs from "node:fs"
import { describe, expect, it } from "vitest"
import { Isns, Libiscsi, Tgt } from "@effect-iscsi/testing"
import { tgt } from "@effect-iscsi/testing/Provided"

describe("the private tgtd harness", () => {
  it("listens on its loopback portal", async () => {
    const info = tgt()
    const connected = await new Promise<boolean>((resolve) => {
      const s = Net.connect({ host: info.host, port: info.port }, () => {
        s.destroy()
        resolve(true)
      })
      s.on("error", () => resolve(false))
    })
    expect(connected).toBe(true)
    expect(info.pid).toBeGreaterThan(0)
  })

  it("has the backing files it configured", () => {
    const { disk, tuned } = tgt().targets
    for (const lun of [...disk.luns, ...tuned.luns]) {
      if (lun.kind === "null") expect(lun.path).toBeUndefined()
      else expect(Fs.statSync(lun.path!).size).toBe(lun.size)
    }
  })

  it("libiscsi's iscsi-ls -s lists every configured target and LUN", async () => {
    const info = tgt()
    const { user, secret } = info.targets.chap.chap!
    const listed = await Libiscsi.ls(`${user}%${secret}@${info.portal}`)
    const names = listed.map((t) => t.target).sort()
    const all = [info.targets.disk, info.targets.chap, info.targets.mutual, info.targets.tuned]
    expect(names).toEqual(
      [info.targets.disk.iqn, info.targets.chap.iqn, info.targets.mutual.iqn, info.targets.tuned.iqn].sort()
    )
    for (const t of all) {
      const entry = listed.find((l) => l.target === t.iqn)!
      // LUN 0 is tgt's controller, then the configured LUNs
      expect(entry.luns.map((l) => Number(/^Lun:(\d+)/.exec(l)?.[1]))).toEqual([0, ...t.luns.map((l) => l.lun)])
    }
    const disk = listed.find((l) => l.target === info.targets.disk.iqn)!
    expect(disk.luns[1]).toMatch(/Type:DIRECT_ACCESS/)
  })

  it("a CHAP target lists its LUN only with the right credentials", async () => {
    const { chap } = tgt().targets
    const url = `iscsi://${encodeURIComponent(chap.chap!.user)}%${chap.chap!.secret}@${tgt().portal}/${chap.iqn}/1`
    const ok = await Libiscsi.run("iscsi-readcapacity16", [url])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/LOGICAL BLOCK LENGTH IN BYTES:512/)
    const bad = await Libiscsi.run("iscsi-readcapacity16", [
      `iscsi://${chap.chap!.user}%wrong-secret-99@${tgt().portal}/${chap.iqn}/1`
    ])
    expect(bad.code).not.toBe(0)
  })

  it("tgtadm answers on the private control port and shows the tuned parameters", () => {
    const out = Tgt.tgtadm(tgt().controlPort, [
      "--mode",
      "target",
      "--op",
      "show",
      "--tid",
      String(tgt().targets.tuned.tid)
    ])
    expect(out).toMatch(/MaxConnections=4/)
  })
})

describe("the private isnsd harness", () => {
  it("starts isnsd on a free loopback port, registers, and stops exactly its own pid", async () => {
    const isnsd = await Isns.start()
    const { pid, workDir, port } = isnsd.info
    try {
      expect(Fs.readFileSync(`${workDir}/isnsd.conf`, "utf8")).toContain(`BindAddress = 127.0.0.1:${port}`)
      isnsd.register({
        entity: "harness-entity",
        portals: [{ host: "127.0.0.1", port: 3260 }],
        targets: [{ name: "iqn.2026-11.io.effect-iscsi:harness", alias: "h" }]
      })
      const listed = isnsd.isnsadm(["--query", "iscsi-name"])
      expect(listed).toContain("iqn.2026-11.io.effect-iscsi:harness")
      expect(listed).toContain("Portal group tag = 1")
    } finally {
      await isnsd.stop()
    }
    expect(() => process.kill(pid, 0)).toThrow()
    expect(Fs.existsSync(workDir)).toBe(false)
  })
})
