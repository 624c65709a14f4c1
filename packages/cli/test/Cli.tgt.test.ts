/**
 * The `iscsi` command as users run it: the bin (`bin/iscsi.js`) as a child process against the run's
 * private tgtd, checking stdout JSON, stderr lines and exit statuses, and every written byte in the
 * LUN's backing file.
 *
 * Writes stay in the last 2 MiB of disk LUN 1 (512 B blocks) and disk LUN 2 (4 KiB blocks), so
 * other test files sharing the tgtd are not disturbed.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FakeTarget from "@effect-iscsi/testing/FakeTarget"
import { tgt } from "@effect-iscsi/testing/Provided"
import { spawn, spawnSync } from "node:child_process"
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
  ISCSI_HEADER_DIGEST: "",
  ISCSI_DATA_DIGEST: "",
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

/**
 * The same, without blocking this process: for targets that run in it (the fake target). Resolves
 * with the run and how long it took.
 */
const iscsiAsync = (args: ReadonlyArray<string>, options: { env?: Record<string, string> } = {}) =>
  new Promise<Run & { readonly ms: number }>((resolve, reject) => {
    const started = Date.now()
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...clean, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.stdout.on("data", (b: Buffer) => out.push(b))
    child.stderr.on("data", (b: Buffer) => err.push(b))
    child.on("error", reject)
    child.on("close", (status) => {
      clearTimeout(timer)
      const stdout = Buffer.concat(out)
      resolve({
        status,
        stdout,
        stderr: Buffer.concat(err).toString("utf8"),
        json: () => JSON.parse(stdout.toString("utf8")),
        ms: Date.now() - started
      })
    })
  })

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

  it("ls without credentials lists every target, marks the CHAP ones with why, and exits 0", () => {
    const started = Date.now()
    const r = iscsi(["ls", portal()])
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(r.status).toBe(0)
    const text = r.stdout.toString()
    for (const t of ["disk", "chap", "mutual", "tuned"] as const)
      expect(text).toContain(`Target:${tgt().targets[t].iqn}`)
    expect(text).toContain("Type:DIRECT_ACCESS")
    // each CHAP target: its header, then why it could not be opened and how to pass credentials
    for (const t of ["chap", "mutual"] as const) {
      const block = text.split(`Target:${tgt().targets[t].iqn}`)[1]!.split("\nTarget:")[0]!
      expect(block).toContain("error: login failed: AuthenticationFailure")
      expect(block).toContain("ISCSI_CHAP_USER")
      expect(block).not.toContain("Lun:")
    }
    expect(r.stderr).toContain(tgt().targets.chap.iqn)

    const j = iscsi(["ls", portal(), "--json"])
    expect(j.status).toBe(0)
    const doc = j.json() as Array<{ name: string; error?: string; reason?: string; luns: Array<unknown> }>
    expect(doc.map((t) => t.name).sort()).toEqual(
      (["disk", "chap", "mutual", "tuned"] as const).map((t) => tgt().targets[t].iqn).sort()
    )
    for (const t of doc) {
      const chap = t.name === tgt().targets.chap.iqn || t.name === tgt().targets.mutual.iqn
      expect(t.reason).toBe(chap ? "LoginFailed" : undefined)
      expect(t.error !== undefined).toBe(chap)
      expect(t.luns.length > 0).toBe(!chap)
    }
  })

  it("a CHAP target without credentials: the error says the target requires CHAP and how to pass them", () => {
    const r = iscsi(["readcap", `iscsi://${portal()}/${tgt().targets.chap.iqn}/1`])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("AuthenticationFailure")
    expect(r.stderr).toContain("requires CHAP")
    expect(r.stderr).toContain("user%secret@")
    expect(r.stderr).toContain("ISCSI_CHAP_USER")
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
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

  it("dd zero runs: WRITE SAME (16) UNMAP on the thin LUN, every zero written on LUN 1, holes in a new file, a thin source's deallocated ranges not read", () => {
    // 2 MiB, data in a few 4 KiB blocks, zeros elsewhere; written over random data in the LUNs' last 2 MiB
    const size = 2 * 1024 * 1024
    const image = Buffer.alloc(size)
    for (const block of [0, 7, 8, 100, 311, 511]) randomBytes(4096).copy(image, block * 4096)
    const src = tmp("mostly-zero.img")
    Fs.writeFileSync(src, image)
    const fill = (path: string, offset: number) => {
      const fd = Fs.openSync(path, "r+")
      Fs.writeSync(fd, randomBytes(size), 0, size, offset)
      Fs.closeSync(fd)
    }
    const zeroBytes = size - 6 * 4096
    for (const lun of [4, 1]) {
      const l = lunOf("disk", lun)
      const seek = (l.size - size) / (256 * 1024)
      fill(l.path!, l.size - size)
      const r = iscsi(["dd", "--if", src, "--of", diskUrl(lun), "--bs", "256k", "--seek", String(seek), "--json"])
      expect(r.status).toBe(0)
      expect(fileBytes(l.path!, l.size - size, size).equals(image)).toBe(true)
      // the thin LUN deallocates the zero runs (LBPWS, LBPRZ); LUN 1 cannot, so they are written
      expect(r.json()).toMatchObject(
        lun === 4 ? { zeros: "writeSameUnmap", zeroBytes } : { zeros: "data", zeroBytes: 0 }
      )
    }
    // the thin LUN back to a new file: GET LBA STATUS says which ranges are deallocated, those are
    // not read, and the file gets holes there
    const thin = lunOf("disk", 4)
    const out = tmp("back.img")
    const b = iscsi([
      "dd",
      "--if",
      diskUrl(4),
      "--of",
      out,
      "--bs",
      "256k",
      "--skip",
      String((thin.size - size) / (256 * 1024)),
      "--json"
    ])
    expect(b.status).toBe(0)
    expect(Fs.readFileSync(out).equals(image)).toBe(true)
    expect(b.json().zeros).toBe("hole")
    expect(b.json().unreadBytes).toBe(zeroBytes)
    expect(Fs.statSync(out).blocks * 512).toBeLessThan(size)
    // --no-sparse: every byte goes as data
    fill(thin.path!, thin.size - size)
    const n = iscsi([
      "dd",
      "--if",
      src,
      "--of",
      diskUrl(4),
      "--bs",
      "256k",
      "--seek",
      String((thin.size - size) / (256 * 1024)),
      "--no-sparse",
      "--json"
    ])
    expect(n.status).toBe(0)
    expect(n.json()).toMatchObject({ zeros: "data", zeroBytes: 0, unreadBytes: 0 })
    expect(fileBytes(thin.path!, thin.size - size, size).equals(image)).toBe(true)
    // a sparse image: the range is deallocated first, then only the data written
    const sparse = tmp("sparse.img")
    const fd = Fs.openSync(sparse, "w")
    Fs.ftruncateSync(fd, size)
    for (const block of [0, 7, 8, 100, 311, 511]) Fs.writeSync(fd, image, block * 4096, 4096, block * 4096)
    Fs.closeSync(fd)
    fill(thin.path!, thin.size - size)
    const sp = iscsi([
      "dd",
      "--if",
      sparse,
      "--of",
      diskUrl(4),
      "--bs",
      "256k",
      "--seek",
      String((thin.size - size) / (256 * 1024)),
      "--json"
    ])
    expect(sp.status).toBe(0)
    expect(sp.json()).toMatchObject({ zeros: "writeSameUnmap", zeroBytes })
    expect(fileBytes(thin.path!, thin.size - size, size).equals(image)).toBe(true)
  })

  it("dd refuses a --bs that is not a multiple of the block size, and a missing file (exit 2, exit 1)", () => {
    // an existing destination file is left as it was: it is emptied only once everything checked out
    const kept = tmp("x.bin")
    const before = randomBytes(5000)
    Fs.writeFileSync(kept, before)
    expect(iscsi(["dd", "--if", diskUrl(2), "--of", kept, "--bs", "1000", "--count", "1"]).status).toBe(2)
    expect(Fs.readFileSync(kept).equals(before)).toBe(true)
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

describe("iscsi against a target that behaves differently from tgt (fake target in this process)", () => {
  it("a target that answers AuthMethod=CHAP to an initiator without credentials: it says so and how", async () => {
    const t = await FakeTarget.start({ chap: { user: "u", secret: "secret-secret", whenNotOffered: "answer-chap" } })
    try {
      const r = await iscsiAsync(["readcap", `iscsi://127.0.0.1:${t.port}/${t.targetName}/1`])
      expect(r.status).toBe(1)
      expect(r.stderr).toContain("authentication failed")
      expect(r.stderr).toContain("requires CHAP")
      expect(r.stderr).toContain("ISCSI_CHAP_SECRET")
      expect(r.stderr).toContain("AuthMethod=CHAP")
      const ok = await iscsiAsync(["readcap", `iscsi://u@127.0.0.1:${t.port}/${t.targetName}/1`, "--json"], {
        env: { ISCSI_CHAP_SECRET: "secret-secret" }
      })
      expect(ok.status).toBe(0)
    } finally {
      await t.close()
    }
  }, 60_000)

  it("a target that rejects HeaderDigest=None / DataDigest=None and digests anyway", async () => {
    const t = await FakeTarget.start({ insistOnDigests: true })
    try {
      const url = `iscsi://127.0.0.1:${t.port}/${t.targetName}/1`
      // the default offer (None,CRC32C) gets CRC32C from it
      const ok = await iscsiAsync(["readcap", url, "--json"])
      expect(ok.status).toBe(0)
      expect(ok.json().blockSize).toBe(512)
      // header_digest=none: one typed failure at once, naming the key and the fix (no loop)
      const none = await iscsiAsync(["readcap", `${url}?header_digest=none`])
      expect(none.status).toBe(1)
      expect(none.stderr).toContain("HeaderDigest")
      expect(none.stderr).toContain("header_digest=crc32c")
      expect(none.stderr.trim().split("\n")).toHaveLength(1)
      // data_digest=none with CRC32C headers: the data digest is caught the same way
      const data = await iscsiAsync(["readcap", `${url}?header_digest=crc32c&data_digest=none`])
      expect(data.status).toBe(1)
      expect(data.stderr).toContain("DataDigest")
      expect(data.stderr).toContain("data_digest=crc32c")
      expect((await iscsiAsync(["readcap", `${url}?header_digest=crc32c&data_digest=crc32c`])).status).toBe(0)
      // ISCSI_HEADER_DIGEST / ISCSI_DATA_DIGEST are honoured when the URL says nothing, and the URL wins
      const env = await iscsiAsync(["readcap", `${url}?header_digest=crc32c`], { env: { ISCSI_DATA_DIGEST: "None" } })
      expect(env.status).toBe(1)
      expect(env.stderr).toContain("DataDigest")
      const envHeader = await iscsiAsync(["readcap", url], { env: { ISCSI_HEADER_DIGEST: "none" } })
      expect(envHeader.status).toBe(1)
      expect(envHeader.stderr).toContain("HeaderDigest")
      const urlWins = await iscsiAsync(["readcap", `${url}?data_digest=crc32c`, "--json"], {
        env: { ISCSI_DATA_DIGEST: "None" }
      })
      expect(urlWins.status).toBe(0)
      expect((await iscsiAsync(["readcap", url], { env: { ISCSI_DATA_DIGEST: "md5" } })).status).toBe(2)
      // every failure came from one login each: nothing retried in a loop
      expect(none.ms).toBeLessThan(10_000)
    } finally {
      await t.close()
    }
  }, 120_000)
})
