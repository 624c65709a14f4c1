/**
 * The `iscsi` command as users run it: the bin (`bin/iscsi.js`) as a child process against the run's
 * private tgtd, checking stdout JSON, stderr lines and exit statuses, and every written byte in the
 * LUN's backing file.
 *
 * Writes stay in the last 2 MiB of disk LUN 1 (512 B blocks) and disk LUN 2 (4 KiB blocks), so
 * other test files sharing the tgtd are not disturbed.
 */
import { describe, expect, it } from "@effect/vitest"
import { tgt } from "@effect-iscsi/testing/Provided"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const BIN = fileURLToPath(new URL("../bin/iscsi.js", import.meta.url))

interface Run {
  readonly status: number | null
  readonly stdout: Buffer
  readonly stderr: string
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked field by field in the assertions
  readonly json: () => any
}

const clean = {
  ISCSI_CHAP_USER: "",
  ISCSI_CHAP_SECRET: "",
  LIBISCSI_CHAP_PASSWORD: "",
  ISCSI_TARGET_CHAP_USER: "",
  ISCSI_TARGET_CHAP_SECRET: "",
  ISCSI_CLI_DIST: ""
}

const iscsi = (
  args: ReadonlyArray<string>,
  options: { env?: Record<string, string>; input?: Uint8Array } = {}
): Run => {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...clean, ...options.env },
    input: options.input,
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024
  })
  const stdout = r.stdout
  return {
    status: r.status,
    stdout,
    stderr: r.stderr.toString("utf8"),
    json: () => JSON.parse(stdout.toString("utf8"))
  }
}

const portal = () => `127.0.0.1:${tgt().port}`
const diskUrl = (lun: number) => `iscsi://${portal()}/${tgt().targets.disk.iqn}/${lun}`
const lunOf = (target: "disk" | "chap", lun: number) => tgt().targets[target].luns.find((l) => l.lun === lun)!
const fileBytes = (path: string, offset: number, length: number) => {
  const fd = Fs.openSync(path, "r")
  try {
    const b = Buffer.alloc(length)
    Fs.readSync(fd, b, 0, length, offset)
    return b
  } finally {
    Fs.closeSync(fd)
  }
}
const tmp = (name: string) => Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "iscsi-cli-")), name)

/** First LBA of the last 2 MiB of a LUN. */
const tailLba = (target: "disk", lun: number) => {
  const l = lunOf(target, lun)
  return (l.size - 2 * 1024 * 1024) / l.blockSize
}

describe("iscsi (child process against tgtd)", () => {
  it("--help prints the subcommands and exits 0", () => {
    const r = iscsi(["--help"])
    expect(r.status).toBe(0)
    const text = r.stdout.toString()
    for (const sub of ["discover", "ls", "inq", "readcap", "read", "write", "dd", "bench"]) expect(text).toContain(sub)
  })

  it("no subcommand, an unknown flag or a missing flag is a usage error (exit 2)", () => {
    expect(iscsi([]).status).toBe(2)
    expect(iscsi(["readcap", diskUrl(1), "--frobnicate"]).status).toBe(2)
    const r = iscsi(["read", diskUrl(1), "--lba", "0"])
    expect(r.status).toBe(2)
    expect(r.stdout.length).toBe(0)
  })

  it("discover --json lists every target with its portal", () => {
    const r = iscsi(["discover", portal(), "--json"])
    expect(r.status).toBe(0)
    const doc = r.json() as Array<{ name: string; portals: Array<{ host: string; port: number; tpgt: number }> }>
    const names = doc.map((t) => t.name)
    for (const t of ["disk", "chap", "mutual", "tuned"] as const) expect(names).toContain(tgt().targets[t].iqn)
    for (const t of doc) {
      expect(t.portals).toContainEqual({ host: "127.0.0.1", port: tgt().port, tpgt: 1 })
    }
  })

  it("ls --json with CHAP from the environment lists every target, LUN, type and size", () => {
    const chap = tgt().targets.chap.chap!
    const r = iscsi(["ls", `iscsi://${portal()}/`, "--json"], {
      env: { ISCSI_CHAP_USER: chap.user, ISCSI_CHAP_SECRET: chap.secret }
    })
    expect(r.status).toBe(0)
    const doc = r.json() as Array<{
      name: string
      error?: string
      luns: Array<{ lun: number; typeName: string; blockSize?: number; bytes: number }>
    }>
    const disk = doc.find((t) => t.name === tgt().targets.disk.iqn)!
    expect(disk.error).toBeUndefined()
    expect(disk.luns.map((l) => l.lun)).toEqual([0, 1, 2, 3, 4])
    expect(disk.luns[0].typeName).toBe("STORAGE_ARRAY_CONTROLLER")
    expect(disk.luns[1]).toMatchObject({ typeName: "DIRECT_ACCESS", blockSize: 512, bytes: lunOf("disk", 1).size })
    expect(disk.luns[2]).toMatchObject({ typeName: "DIRECT_ACCESS", blockSize: 4096, bytes: lunOf("disk", 2).size })
    const chapTarget = doc.find((t) => t.name === tgt().targets.chap.iqn)!
    expect(chapTarget.error).toBeUndefined()
    expect(chapTarget.luns.map((l) => l.lun)).toEqual([0, 1])
  })

  it("ls without credentials lists what it can and exits 1 naming the CHAP targets", () => {
    const r = iscsi(["ls", portal()])
    expect(r.status).toBe(1)
    const text = r.stdout.toString()
    expect(text).toContain(`Target:${tgt().targets.disk.iqn}`)
    expect(text).toContain("Type:DIRECT_ACCESS")
    expect(r.stderr).toContain(tgt().targets.chap.iqn)
  })

  it("inq --json: standard INQUIRY of a disk LUN", () => {
    const r = iscsi(["inq", diskUrl(1), "--json"])
    expect(r.status).toBe(0)
    const doc = r.json()
    expect(doc.peripheralDeviceType).toBe(0)
    expect(doc.peripheralDeviceTypeName).toBe("DIRECT_ACCESS")
    expect(doc.vendorId).toBe("IET")
    expect(doc.cmdque).toBe(true)
  })

  it("inq --vpd decodes the supported pages, the serial number and block limits", () => {
    const supported = iscsi(["inq", diskUrl(1), "--vpd", "0x00", "--json"])
    expect(supported.status).toBe(0)
    const pages = (supported.json().pages as Array<{ page: number }>).map((p) => p.page)
    expect(pages).toEqual(expect.arrayContaining([0x00, 0x80, 0x83, 0xb0]))
    const serial = iscsi(["inq", diskUrl(1), "--vpd", "serial", "--json"])
    expect(serial.status).toBe(0)
    expect(serial.json()).toMatchObject({ page: 0x80 })
    expect(typeof serial.json().serialNumber).toBe("string")
    const devid = iscsi(["inq", diskUrl(1), "--vpd", "83h", "--json"])
    expect(devid.status).toBe(0)
    expect(devid.json().designators.length).toBeGreaterThan(0)
    expect(iscsi(["inq", diskUrl(1), "--vpd", "nonsense"]).status).toBe(2)
    // tgt serves no 85h–88h page (decoded output is checked in Units.test.ts): a typed CHECK CONDITION
    const ei = iscsi(["inq", diskUrl(1), "--vpd", "ei"])
    expect(ei.status).toBe(1)
    expect(ei.stderr).toContain("INVALID FIELD IN CDB")
  })

  it("inq --opcodes: tgt's command list; UNMAP usable on the thin LUN only", () => {
    const thin = iscsi(["inq", diskUrl(4), "--opcodes", "--json"])
    expect(thin.status).toBe(0)
    const doc = thin.json()
    expect(doc.source).toBe("rsoc")
    expect(doc.features).toMatchObject({ unmap: "supported", writeSame16Unmap: "supported", getLbaStatus: "supported" })
    expect(doc.commands).toEqual(expect.arrayContaining([{ opcode: 0x28, name: "READ (10)", cdbLength: 10 }]))
    const plain = iscsi(["inq", diskUrl(1), "--opcodes"])
    expect(plain.status).toBe(0)
    expect(plain.stdout.toString()).toMatch(/unmap: +unsupported/)
    expect(plain.stdout.toString()).toContain("0x9e/0x10  READ CAPACITY (16)")
    expect(iscsi(["inq", diskUrl(1), "--opcodes", "--vpd", "serial"]).status).toBe(2)
  })

  it("readcap --json gives { blockSize, blocks, bytes } for 512 B and 4 KiB LUNs", () => {
    for (const lun of [1, 2]) {
      const r = iscsi(["readcap", diskUrl(lun), "--json"])
      expect(r.status).toBe(0)
      const l = lunOf("disk", lun)
      expect(r.json()).toEqual({ blockSize: l.blockSize, blocks: l.size / l.blockSize, bytes: l.size })
    }
  })

  it("a bad URL is a usage error (exit 2) with one line on stderr and nothing on stdout", () => {
    for (const url of [
      "http://x/y/1",
      "iscsi://",
      `iscsi://${portal()}/`,
      `iscsi://${portal()}/${tgt().targets.disk.iqn}`
    ]) {
      const r = iscsi(["readcap", url, "--json"])
      expect(r.status).toBe(2)
      expect(r.stdout.length).toBe(0)
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
    }
  })

  it("connection refused is a runtime failure (exit 1) naming the address", () => {
    const r = iscsi(["readcap", `iscsi://127.0.0.1:1/${tgt().targets.disk.iqn}/1`])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("127.0.0.1:1")
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
  })

  it("a wrong CHAP secret fails the login (exit 1) with the target's reason", () => {
    const chap = tgt().targets.chap
    const r = iscsi(["readcap", `iscsi://${chap.chap!.user}%wrong-secret@${portal()}/${chap.iqn}/1`])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("AuthenticationFailure")
    expect(r.stderr).not.toContain("wrong-secret")
    const ok = iscsi(["readcap", `iscsi://${chap.chap!.user}@${portal()}/${chap.iqn}/1`, "--json"], {
      env: { LIBISCSI_CHAP_PASSWORD: chap.chap!.secret }
    })
    expect(ok.status).toBe(0)
    expect(ok.json().blockSize).toBe(512)
  })

  it("mutual CHAP from the environment logs in", () => {
    const m = tgt().targets.mutual
    const r = iscsi(["readcap", `iscsi://${portal()}/${m.iqn}/1`, "--json"], {
      env: {
        ISCSI_CHAP_USER: m.chap!.user,
        ISCSI_CHAP_SECRET: m.chap!.secret,
        ISCSI_TARGET_CHAP_USER: m.mutualChap!.user,
        ISCSI_TARGET_CHAP_SECRET: m.mutualChap!.secret
      }
    })
    expect(r.status).toBe(0)
    expect(r.json().bytes).toBe(m.luns[0].size)
  })

  it("a LUN the target does not have is a CHECK CONDITION (exit 1) with decoded sense", () => {
    const r = iscsi(["readcap", diskUrl(9)])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("CHECK CONDITION")
    expect(r.stderr).toContain("ILLEGAL REQUEST")
  })

  it("write from stdin, read back to stdout and to a file: byte-identical, and in the backing file", () => {
    const lba = tailLba("disk", 1)
    const data = randomBytes(64 * 1024)
    const w = iscsi(["write", diskUrl(1), "--lba", String(lba), "--json"], { input: data })
    expect(w.status).toBe(0)
    expect(w.json()).toMatchObject({ lba, blocks: 128, bytes: data.length })
    expect(fileBytes(lunOf("disk", 1).path!, lba * 512, data.length).equals(data)).toBe(true)
    const r = iscsi(["read", diskUrl(1), "--lba", String(lba), "--blocks", "128"])
    expect(r.status).toBe(0)
    expect(r.stdout.equals(data)).toBe(true)
    const out = tmp("read.bin")
    expect(iscsi(["read", diskUrl(1), "--lba", String(lba), "--blocks", "128", "-o", out]).status).toBe(0)
    expect(Fs.readFileSync(out).equals(data)).toBe(true)
  })

  it("write -i FILE that is not a whole number of blocks, or past the end, is refused before writing (exit 2)", () => {
    const odd = tmp("odd.bin")
    Fs.writeFileSync(odd, randomBytes(1000))
    expect(iscsi(["write", diskUrl(1), "--lba", String(tailLba("disk", 1)), "-i", odd]).status).toBe(2)
    const block = tmp("block.bin")
    Fs.writeFileSync(block, randomBytes(1024))
    const last = lunOf("disk", 1).size / 512 - 1
    const r = iscsi(["write", diskUrl(1), "--lba", String(last), "-i", block])
    expect(r.status).toBe(2)
    expect(iscsi(["read", diskUrl(1), "--lba", String(last), "--blocks", "2"]).status).toBe(2)
  })

  it("dd file → LUN → LUN → file round trip, verified against the backing files", () => {
    const bs = 256 * 1024
    const src = tmp("src.bin")
    const data = randomBytes(2 * 1024 * 1024)
    Fs.writeFileSync(src, data)
    const lun1 = lunOf("disk", 1)
    const lun2 = lunOf("disk", 2)
    const seek1 = (lun1.size - data.length) / bs
    const seek2 = (lun2.size - data.length) / bs

    const a = iscsi(["dd", "--if", src, "--of", diskUrl(1), "--bs", "256k", "--seek", String(seek1), "--json"])
    expect(a.status).toBe(0)
    expect(a.json()).toMatchObject({ bytes: data.length })
    expect(fileBytes(lun1.path!, seek1 * bs, data.length).equals(data)).toBe(true)

    const b = iscsi([
      "dd",
      "--if",
      diskUrl(1),
      "--of",
      diskUrl(2),
      "--bs",
      "256k",
      "--skip",
      String(seek1),
      "--seek",
      String(seek2),
      "--count",
      "8",
      "--qd",
      "4"
    ])
    expect(b.status).toBe(0)
    expect(b.stderr).toContain(`${data.length} bytes`)
    expect(fileBytes(lun2.path!, seek2 * bs, data.length).equals(data)).toBe(true)

    const dst = tmp("dst.bin")
    const c = iscsi([
      "dd",
      "--if",
      diskUrl(2),
      "--of",
      dst,
      "--bs",
      "256k",
      "--skip",
      String(seek2),
      "--count",
      "8",
      "--json"
    ])
    expect(c.status).toBe(0)
    expect(Fs.readFileSync(dst).equals(data)).toBe(true)
  })

  it("dd refuses a --bs that is not a multiple of the block size, and a missing file (exit 2, exit 1)", () => {
    expect(iscsi(["dd", "--if", diskUrl(2), "--of", tmp("x.bin"), "--bs", "1000", "--count", "1"]).status).toBe(2)
    const r = iscsi(["dd", "--if", "/nonexistent/iscsi-cli-test", "--of", diskUrl(1)])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("ENOENT")
  })

  it("bench --json reports the figures (read, then random write on the null LUN)", () => {
    const r = iscsi(["bench", diskUrl(1), "--duration", "1", "--qd", "4", "--json"])
    expect(r.status).toBe(0)
    const doc = r.json()
    expect(Object.keys(doc).sort()).toEqual(["bytes", "iops", "ios", "mbPerSec", "p50Us", "p99Us", "seconds"])
    expect(doc.ios).toBeGreaterThan(0)
    expect(doc.bytes).toBe(doc.ios * 4096)
    expect(doc.p99Us).toBeGreaterThanOrEqual(doc.p50Us)
    const w = iscsi([
      "bench",
      diskUrl(3),
      "--duration",
      "1",
      "--qd",
      "8",
      "--random",
      "--write",
      "--bs",
      "8k",
      "--json"
    ])
    expect(w.status).toBe(0)
    expect(w.json().bytes).toBe(w.json().ios * 8192)
  })
})
