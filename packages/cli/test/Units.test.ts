/**
 * The pure parts of the CLI: output formatting, VPD page names, benchmark statistics, the progress
 * line, the dd plan checks, credential resolution and the failure → exit status table.
 */
import { describe, expect, it } from "@effect/vitest"
import * as IscsiError from "@effect-iscsi/core/IscsiError"
import * as ScsiError from "@effect-iscsi/scsi/ScsiError"
import type * as BlockDevice from "@effect-iscsi/scsi/BlockDevice"
import * as Capabilities from "@effect-iscsi/scsi/Capabilities"
import { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import * as Bench from "../src/Bench.ts"
import * as Connect from "../src/Connect.ts"
import * as Copy from "../src/Copy.ts"
import * as Failure from "../src/Failure.ts"
import * as Format from "../src/Format.ts"
import * as Opcodes from "../src/Opcodes.ts"
import * as Progress from "../src/Progress.ts"
import * as Vpd from "../src/Vpd.ts"

describe("Format", () => {
  it("sizes like iscsi-ls -s", () => {
    expect(Format.size(0)).toBe("0")
    expect(Format.size(512)).toBe("512")
    expect(Format.size(64 * 1024 * 1024)).toBe("64M")
    expect(Format.size(1024 ** 4)).toBe("1T")
    expect(Format.size(1536 * 1024 * 1024)).toBe("1.5G")
  })
  it("byte counts with binary suffixes", () => {
    expect(Format.parseBytes("4096")).toBe(4096)
    expect(Format.parseBytes("64k")).toBe(65536)
    expect(Format.parseBytes("1M")).toBe(1048576)
    expect(Format.parseBytes("2MiB")).toBe(2097152)
    expect(Format.parseBytes("1.5M")).toBeUndefined()
    expect(Format.parseBytes("lots")).toBeUndefined()
  })
  it("parseBytes reads back a plain number (property)", () => {
    fc.assert(fc.property(fc.nat({ max: 2 ** 40 }), (n) => Format.parseBytes(String(n)) === n))
  })
  it("JSON writes byte arrays as hex and safe bigints as numbers", () => {
    expect(JSON.parse(Format.json({ a: new Uint8Array([0, 255]), b: 5n, c: 2n ** 70n }))).toEqual({
      a: "00ff",
      b: 5,
      c: (2n ** 70n).toString()
    })
  })
  it("device type names", () => {
    expect(Format.deviceTypeName(0)).toBe("DIRECT_ACCESS")
    expect(Format.deviceTypeName(0x0c)).toBe("STORAGE_ARRAY_CONTROLLER")
    expect(Format.deviceTypeName(0x1a)).toBe("TYPE_0x1a")
  })
})

describe("Vpd.parsePage", () => {
  it("numbers in every spelling and names", () => {
    for (const [text, page] of [
      ["0x83", 0x83],
      ["83h", 0x83],
      ["131", 131],
      ["serial", 0x80],
      ["devid", 0x83],
      ["block-limits", 0xb0],
      ["LBP", 0xb2],
      ["mna", 0x85],
      ["ei", 0x86],
      ["mode-page-policy", 0x87],
      ["ports", 0x88]
    ] as const) {
      const r = Vpd.parsePage(text)
      expect(r._tag === "Success" && r.success).toBe(page)
    }
  })
  it("rejects junk and out-of-range pages", () => {
    for (const text of ["", "0x100", "256", "nonsense", "-1"]) expect(Vpd.parsePage(text)._tag).toBe("Failure")
  })
})

describe("Vpd.fetch decodes every page it prints", () => {
  // canned pages (the layouts of scsi's CommandData.test.ts), served by a one-page transport
  const ascii = (t: string) => Array.from(new TextEncoder().encode(t))
  const pages: Record<number, ReadonlyArray<number>> = {
    0x85: [0x01, 0, 0, 16, ...ascii("http://fake/cfg"), 0],
    0x86: [0, 0x07, 0x03, 0x01, 0, 0, 0, 5, 0, 252, ...new Array<number>(50).fill(0)],
    0x87: [0x3f, 0xff, 0, 0, 0x08, 0, 0x81, 0],
    0x88: [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8, 0x51, 0x94, 0, 4, 0, 0, 0, 1]
  }
  const transport = Layer.succeed(ScsiTransport)(
    ScsiTransport.of({
      execute: (req) =>
        Effect.sync(() => {
          const page = req.cdb[2]!
          const body = pages[page] ?? []
          const data = Uint8Array.from([0, page, body.length >> 8, body.length & 0xff, ...body])
          return {
            status: 0,
            data,
            response: 0,
            underflow: true,
            overflow: false,
            residualCount: (req.readLength ?? 0) - data.length,
            bidiUnderflow: false,
            bidiOverflow: false,
            bidiResidualCount: 0
          }
        })
    })
  )
  it.effect("85h–88h: decoded data and text, not hex", () =>
    Effect.gen(function* () {
      const mna = yield* Vpd.fetch(1, 0x85)
      expect([mna.name, mna.text]).toEqual([
        "Management Network Addresses",
        "logical unit storage configuration service: http://fake/cfg"
      ])
      const ei = yield* Vpd.fetch(1, 0x86)
      expect(ei.data).toMatchObject({ headSup: true, ordSup: true, simpSup: true, luiclr: true })
      expect(ei.text).toContain("extendedSelfTestCompletionMinutes")
      const mpp = yield* Vpd.fetch(1, 0x87)
      expect(mpp.text).toBe("page 0x3f subpage 0xff: shared\npage 0x08 subpage 0x00: per target port (MLUS)")
      const ports = yield* Vpd.fetch(1, 0x88)
      expect(ports.text).toBe("relative port 1\n  target port relative target port: 00000001")
      expect(JSON.parse(Format.json(ports.data))).toMatchObject({ ports: [{ relativePortIdentifier: 1 }] })
    }).pipe(Effect.provide(transport))
  )
})

describe("Opcodes (iscsi inq --opcodes)", () => {
  const listed = Capabilities.make({
    commands: [
      { opcode: 0x28, serviceAction: undefined, cdbLength: 10, cdlp: 0, timeouts: undefined },
      { opcode: 0x42, serviceAction: undefined, cdbLength: 10, cdlp: 0, timeouts: undefined },
      {
        opcode: 0x9e,
        serviceAction: 0x12,
        cdbLength: 16,
        cdlp: 0,
        timeouts: { commandSpecific: 0, nominal: 1, recommended: 30 }
      }
    ],
    lbpme: true
  })
  it("text: source, features, one line per command with its name", () => {
    const t = Opcodes.text(listed)
    expect(t).toContain("Source: REPORT SUPPORTED OPERATION CODES (3 commands)")
    expect(t).toMatch(/ {2}unmap: +supported/)
    expect(t).toMatch(/ {2}writeSame16Unmap: +unsupported/)
    expect(t).toContain("0x9e/0x12  GET LBA STATUS (16-byte CDB)")
    expect(t).toContain("0x28       READ (10) (10-byte CDB)")
    expect(Opcodes.text(Capabilities.make({}))).toContain("does not answer REPORT SUPPORTED OPERATION CODES")
    expect(Opcodes.text(Capabilities.make({}))).not.toContain("Commands:")
  })
  it("JSON: features and named commands", () => {
    const doc = JSON.parse(Format.json(Opcodes.toJson(listed)))
    expect(doc.source).toBe("rsoc")
    expect(doc.features.getLbaStatus).toBe("supported")
    expect(doc.commands[2]).toEqual({
      opcode: 0x9e,
      serviceAction: 0x12,
      name: "GET LBA STATUS",
      cdbLength: 16,
      timeouts: { commandSpecific: 0, nominal: 1, recommended: 30 }
    })
    expect(doc.commands[0]).toEqual({ opcode: 0x28, name: "READ (10)", cdbLength: 10 })
  })
})

describe("Bench statistics", () => {
  it("nearest-rank percentiles", () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1)
    expect(Bench.percentile(sorted, 50)).toBe(50)
    expect(Bench.percentile(sorted, 99)).toBe(99)
    expect(Bench.percentile(sorted, 100)).toBe(100)
    expect(Bench.percentile([], 50)).toBe(0)
  })
  it("summarize computes IOPS, MB/s and ordered percentiles", () => {
    const r = Bench.summarize([300, 100, 200, 400], 4 * 4096, 2)
    expect(r).toEqual({ iops: 2, mbPerSec: 0.01, p50Us: 200, p99Us: 400, ios: 4, bytes: 16384, seconds: 2 })
  })
  it("p50 ≤ p99, and the count is the number of latencies (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 1, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }), (lat) => {
        const r = Bench.summarize(lat, lat.length * 512, 1)
        return r.p50Us <= r.p99Us && r.ios === lat.length
      })
    )
  })
})

describe("Progress.render", () => {
  it("shows percent, bytes, rate and ETA within the width", () => {
    const line = Progress.render({ done: 32 * 1024 * 1024, total: 64 * 1024 * 1024, elapsedSeconds: 2, columns: 100 })
    expect(line).toContain("50%")
    expect(line).toContain("32M / 64M")
    expect(line).toContain("16.8 MB/s")
    expect(line).toContain("ETA 2.0s")
    expect(line.length).toBeLessThanOrEqual(100)
  })
  it("never wider than the terminal (property)", () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.nat(),
        fc.double({ min: 0, max: 1e5, noNaN: true }),
        fc.integer({ min: 10, max: 300 }),
        (a, b, t, columns) =>
          Progress.render({ done: Math.min(a, b), total: Math.max(a, b), elapsedSeconds: t, columns }).length <= columns
      )
    )
  })
})

const fakeDevice = (blockSize: number, blockCount: number): BlockDevice.BlockDevice => ({
  lun: 1,
  blockSize,
  blockCount,
  lastLba: blockCount - 1,
  size: blockSize * blockCount,
  thinProvisioned: false,
  maxTransferBlocks: 2048,
  read: (_lba, blocks) => Effect.succeed(new Uint8Array(blocks * blockSize)),
  readInto: () => Effect.void,
  write: () => Effect.void,
  readStream: () => {
    throw new Error("unused")
  },
  writeSink: () => {
    throw new Error("unused")
  },
  capabilities: Effect.succeed(Capabilities.make({})),
  supports: () => Effect.succeed("unknown"),
  run: () => Effect.die("unused")
})
const lun = (blockSize: number, blockCount: number): Copy.Endpoint => ({
  _tag: "Lun",
  label: `lun${blockSize}`,
  device: fakeDevice(blockSize, blockCount)
})
const file = (size: number): Copy.Endpoint => ({
  _tag: "File",
  label: "file",
  file: {
    path: "file",
    size,
    allocated: size,
    regular: true,
    fresh: false,
    read: () => Effect.die("unused"),
    readInto: () => Effect.die("unused"),
    write: () => Effect.die("unused"),
    truncate: () => Effect.die("unused")
  }
})

describe("Copy.plan", () => {
  it.effect("whole source by default, in bs pieces", () =>
    Effect.gen(function* () {
      const p = yield* Copy.plan(lun(512, 4096), file(0), { bs: 65536 })
      expect(p).toEqual({
        bs: 65536,
        srcOffset: 0,
        dstOffset: 0,
        total: 2 * 1024 * 1024,
        pieces: 32,
        queueDepth: 8,
        sparse: true
      })
      const q = yield* Copy.plan(file(3 * 512), lun(512, 16), { bs: 1024, seek: 2 })
      expect(q).toMatchObject({ total: 1536, pieces: 2, dstOffset: 2048 })
    })
  )
  it.effect("usage errors: bs vs block size, count past the source, destination too small, partial blocks", () =>
    Effect.gen(function* () {
      const cases = [
        Copy.plan(lun(4096, 16), file(0), { bs: 512 }),
        Copy.plan(lun(512, 16), file(0), { bs: 1024, count: 9 }),
        Copy.plan(file(1024 * 1024), lun(512, 16), { bs: 4096 }),
        Copy.plan(file(1000), lun(512, 16), { bs: 512 }),
        Copy.plan(lun(512, 16), lun(512, 16), { bs: 512, seek: 1 }),
        Copy.plan(lun(512, 16), file(0), { bs: 512, queueDepth: 0 })
      ]
      for (const c of cases) expect((yield* Effect.flip(c))._tag).toBe("UsageError")
    })
  )
})

describe("Connect.credentials", () => {
  const url = (text: string) => Effect.runSync(Connect.parseUrl(text))
  it.effect("URL first, then ISCSI_CHAP_SECRET, then LIBISCSI_CHAP_PASSWORD", () =>
    Effect.gen(function* () {
      const a = yield* Connect.credentials(url("iscsi://u%s@h/iqn.x:y/1"), { ISCSI_CHAP_SECRET: "env" })
      expect(a.chap?.user).toBe("u")
      expect(Redacted.value(a.chap!.secret)).toBe("s")
      const b = yield* Connect.credentials(url("iscsi://u@h/iqn.x:y/1"), { LIBISCSI_CHAP_PASSWORD: "lib" })
      expect(Redacted.value(b.chap!.secret)).toBe("lib")
      const c = yield* Connect.credentials(url("iscsi://h/iqn.x:y/1"), { ISCSI_CHAP_USER: "e", ISCSI_CHAP_SECRET: "x" })
      expect(c.chap?.user).toBe("e")
      const none = yield* Connect.credentials(url("iscsi://h/iqn.x:y/1"), {})
      expect(none.chap).toBeUndefined()
    })
  )
  it.effect("a user without a secret, or half of mutual CHAP, is a usage error", () =>
    Effect.gen(function* () {
      expect((yield* Effect.flip(Connect.credentials(url("iscsi://u@h/iqn.x:y/1"), {})))._tag).toBe("UsageError")
      const half = Connect.credentials(url("iscsi://u%s@h/iqn.x:y/1"), { ISCSI_TARGET_CHAP_USER: "t" })
      expect((yield* Effect.flip(half))._tag).toBe("UsageError")
    })
  )
  it.effect("URLs without a target or LUN are refused for LUN commands", () =>
    Effect.gen(function* () {
      for (const text of ["iscsi://h/", "iscsi://h/iqn.x:y", "nope://h/iqn.x:y/1"]) {
        expect((yield* Effect.flip(Connect.parseTargetUrl(text, {}, { needLun: true })))._tag).toBe("UsageError")
      }
      const ok = yield* Connect.parseTargetUrl("iscsi://h:3261/iqn.x:y/7", {}, { needLun: true })
      expect(ok).toMatchObject({ target: "iqn.x:y", lun: 7 })
      expect(ok.url.port).toBe(3261)
    })
  )
  it("portals: host, host:port, [v6]:port, URL", () => {
    expect(Effect.runSync(Connect.parsePortal("10.0.0.1"))).toMatchObject({ host: "10.0.0.1", port: 3260 })
    expect(Effect.runSync(Connect.parsePortal("h:3261"))).toMatchObject({ host: "h", port: 3261 })
    expect(Effect.runSync(Connect.parsePortal("[::1]:3262"))).toMatchObject({ host: "::1", port: 3262 })
    expect(Effect.runSync(Connect.parsePortal("iscsi://h:9/"))).toMatchObject({ host: "h", port: 9 })
  })
  it("iSNS servers: host, host:port, [v6], [v6]:port, bare v6; port 3205 by default", () => {
    const server = (text: string) => Effect.runSync(Connect.parseIsnsServer(text))
    expect(server("isns.example")).toEqual({ host: "isns.example", port: 3205 })
    expect(server("10.0.0.1:3206")).toEqual({ host: "10.0.0.1", port: 3206 })
    expect(server("[2001:db8::1]")).toEqual({ host: "2001:db8::1", port: 3205 })
    expect(server("[::1]:4000")).toEqual({ host: "::1", port: 4000 })
    expect(server("2001:db8::1")).toEqual({ host: "2001:db8::1", port: 3205 })
    for (const bad of ["", "h:0", "h:70000", "h:x", "[::1", "a b", "iscsi://h/"]) {
      expect(Effect.runSync(Effect.flip(Connect.parseIsnsServer(bad)))._tag).toBe("UsageError")
    }
  })
})

describe("Failure.report", () => {
  it("usage errors exit 2, runtime failures exit 1, interrupts 130", () => {
    const rows: ReadonlyArray<readonly [unknown, number]> = [
      [new Failure.UsageError({ message: "x" }), 2],
      [IscsiError.make(new IscsiError.InvalidArgument({ message: "bad" })), 2],
      [ScsiError.outOfRange(10, 5, 12), 2],
      [ScsiError.invalidArgument("odd"), 2],
      [IscsiError.make(new IscsiError.ConnectFailed({ host: "h", port: 1, message: "refused" })), 1],
      [
        IscsiError.make(
          new IscsiError.LoginFailed({ statusClass: 2, statusDetail: 1, status: "AuthenticationFailure", message: "m" })
        ),
        1
      ],
      [
        IscsiError.make(
          new IscsiError.IsnsRejected({ function: "DevGetNext", status: 6, statusName: "Source Unknown", message: "m" })
        ),
        1
      ],
      [new Failure.IoError({ path: "/x", message: "ENOENT" }), 1],
      [new Failure.VerifyFailed({ message: "block 3 differs" }), 1],
      [new Error("boom"), 1]
    ]
    for (const [error, code] of rows) expect(Failure.report(error).exitCode).toBe(code)
    expect(Failure.reportCause(Cause.interrupt()).exitCode).toBe(130)
  })
  it("a login failure names the target's status; a connect failure the address", () => {
    const login = IscsiError.make(
      new IscsiError.LoginFailed({ statusClass: 2, statusDetail: 1, status: "AuthenticationFailure", message: "m" })
    )
    expect(Failure.report(login).message).toContain("AuthenticationFailure")
    // what to do, when the library knows it (no credentials for a CHAP target)
    const hinted = IscsiError.make(
      new IscsiError.LoginFailed({
        statusClass: 2,
        statusDetail: 1,
        status: "AuthenticationFailure",
        message: "m",
        hint: "pass credentials"
      })
    )
    expect(Failure.report(hinted).message).toContain("AuthenticationFailure")
    expect(Failure.report(hinted).message).toContain("pass credentials")
    const refused = IscsiError.make(new IscsiError.ConnectFailed({ host: "h", port: 1, message: "ECONNREFUSED" }))
    expect(Failure.report(refused).message).toContain("h:1")
  })
})
