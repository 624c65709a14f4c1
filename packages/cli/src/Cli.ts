/**
 * The `iscsi` command tree, built with Effect's own CLI module (`effect/cli`): discover, ls, inq,
 * readcap, read, write, dd, bench. Each subcommand parses its URL (libiscsi form), logs in through
 * the library's public API, runs SCSI commands and prints either text or, with `--json`, exactly
 * one JSON document on stdout. Progress and summaries go to stderr.
 *
 * ```text
 * iscsi discover HOST[:PORT] [--json]
 * iscsi discover --isns HOST[:PORT] [--json]          (an iSNS server, port 3205 by default)
 * iscsi ls iscsi://HOST[:PORT]/ [--json]      (exit 0 when discovery worked; unopened targets carry an error)
 * iscsi inq URL [--vpd PAGE | --opcodes] [--json]
 * iscsi readcap URL [--json]
 * iscsi read URL --lba N --blocks M [-o FILE]
 * iscsi write URL --lba N [-i FILE] [--json]
 * iscsi dd --if SRC --of DST [--bs BYTES] [--count N] [--skip N] [--seek N] [--qd N] [--json]
 * iscsi bench URL [--qd N] [--bs BYTES] [--random] [--write] [--duration SECONDS] [--json]
 *   (dd, bench: [--metrics-port [HOST:]PORT] [--metrics-linger SECONDS] [--spans])
 * iscsi … --log-level LEVEL          (the library's log lines on stderr; see `Observability`)
 * ```
 *
 * `run(argv)` returns the exit status (see `Failure.ts`) after printing any error as one line.
 *
 * Not here: the protocol (the library), the copy and benchmark loops (`Copy`, `Bench`).
 */
import * as IscsiUrl from "@effect-iscsi/core/IscsiUrl"
import type * as SendTargets from "@effect-iscsi/core/SendTargets"
import * as BlockDevice from "@effect-iscsi/scsi/BlockDevice"
import * as Capabilities from "@effect-iscsi/scsi/Capabilities"
import * as Scsi from "@effect-iscsi/scsi/Scsi"
import * as Argument from "effect/cli/Argument"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Stream from "effect/Stream"
import * as Bench from "./Bench.ts"
import * as Connect from "./Connect.ts"
import * as Copy from "./Copy.ts"
import * as Failure from "./Failure.ts"
import * as Format from "./Format.ts"
import * as Files from "./internal/files.ts"
import * as Observability from "./Observability.ts"
import * as Opcodes from "./Opcodes.ts"
import * as Progress from "./Progress.ts"
import * as Vpd from "./Vpd.ts"

export const VERSION = "0.1.0"

const env: Connect.Env = process.env

// ---------------------------------------------------------------------------------------------
// shared flags and helpers
// ---------------------------------------------------------------------------------------------

const jsonFlag = Flag.Boolean("json").pipe(
  Flag.withDescription("print one JSON document on stdout and nothing else"),
  Flag.withDefault(false)
)

const urlArg = Argument.String("url").pipe(
  Argument.withDescription("iscsi://[user[%secret]@]host[:port]/target-iqn/lun")
)

const bytesFlag = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

const out = (text: string) => Files.writeStdout(text.endsWith("\n") ? text : `${text}\n`)
const printJson = (value: unknown) => out(Format.json(value))

const parseBytesOption = (
  name: string,
  o: Option.Option<string>
): Effect.Effect<number | undefined, Failure.UsageError> => {
  if (Option.isNone(o)) return Effect.succeed(undefined)
  const n = Format.parseBytes(o.value)
  return n === undefined || n === 0
    ? Effect.fail(new Failure.UsageError({ message: `--${name} ${o.value}: give a byte count like 4096, 64k or 1M` }))
    : Effect.succeed(n)
}

const nonNegative = (name: string, n: number): Effect.Effect<number, Failure.UsageError> =>
  Number.isSafeInteger(n) && n >= 0
    ? Effect.succeed(n)
    : Effect.fail(new Failure.UsageError({ message: `--${name} ${n} must be a non-negative integer` }))

const optionalNumber = <A>(o: Option.Option<A>): A | undefined => (Option.isSome(o) ? o.value : undefined)

/** Open the LUN of a URL as a block device for the rest of the scope. */
const openLun = (text: string, sessions?: Connect.SessionCache) =>
  Effect.gen(function* () {
    const t = yield* Connect.parseTargetUrl(text, env, { needLun: true })
    const device = yield* Connect.openDevice(t, sessions ?? Connect.makeSessionCache(env))
    return { target: t, device }
  })

/** A session on the target of a URL (no LUN needed) and the LUN of the URL. */
const openTarget = (text: string) =>
  Effect.gen(function* () {
    const t = yield* Connect.parseTargetUrl(text, env, { needLun: true })
    const context = yield* Connect.openSession(t, env)
    return { target: t, lun: t.lun ?? 0, context }
  })

// ---------------------------------------------------------------------------------------------
// discover
// ---------------------------------------------------------------------------------------------

const targetsText = (targets: ReadonlyArray<SendTargets.Target>) =>
  targets
    .flatMap((t) =>
      t.portals.length === 0
        ? [t.name]
        : t.portals.map((p) => `${p.host.includes(":") ? `[${p.host}]` : p.host}:${p.port},${p.tpgt} ${t.name}`)
    )
    .join("\n")

const discover = Command.make(
  "discover",
  {
    portal: Argument.String("portal").pipe(
      Argument.withDescription("HOST[:PORT] (or iscsi://HOST[:PORT]/)"),
      Argument.optional
    ),
    isns: Flag.String("isns").pipe(
      Flag.withDescription("ask an iSNS server HOST[:PORT] (port 3205 by default) instead of a portal"),
      Flag.optional
    ),
    json: jsonFlag
  },
  ({ portal, isns, json }) =>
    Effect.gen(function* () {
      let targets: ReadonlyArray<SendTargets.Target>
      if (Option.isSome(isns)) {
        if (Option.isSome(portal)) {
          return yield* new Failure.UsageError({ message: "give a portal or --isns HOST[:PORT], not both" })
        }
        targets = yield* Connect.discoverIsns(yield* Connect.parseIsnsServer(isns.value), env)
      } else if (Option.isSome(portal)) {
        targets = yield* Connect.discover(yield* Connect.parsePortal(portal.value), env)
      } else {
        return yield* new Failure.UsageError({ message: "give a portal HOST[:PORT] or --isns HOST[:PORT]" })
      }
      const doc = targets.map((t) => ({
        name: t.name,
        portals: t.portals.map((p) => ({ host: p.host, port: p.port, tpgt: p.tpgt }))
      }))
      yield* json ? printJson(doc) : targets.length === 0 ? Effect.void : out(targetsText(targets))
    })
).pipe(
  Command.withDescription(
    "discovery: the targets behind a portal (SendTargets), or every target an iSNS server lists, with their portals"
  )
)

// ---------------------------------------------------------------------------------------------
// ls
// ---------------------------------------------------------------------------------------------

interface LunInfo {
  readonly lun: number
  readonly type: number
  readonly typeName: string
  readonly vendor: string
  readonly product: string
  readonly revision: string
  readonly blockSize?: number | undefined
  readonly blocks?: number | undefined
  readonly bytes: number
}

interface TargetListing {
  readonly name: string
  readonly portals: ReadonlyArray<SendTargets.Portal>
  readonly luns: ReadonlyArray<LunInfo>
  /** Why the target could not be opened (the one-line report, with what to do when known). */
  readonly error?: string | undefined
  /** The typed reason of that failure (`LoginFailed`, `AuthenticationFailed`, `ConnectFailed`, …). */
  readonly reason?: string | undefined
}

/** The `_tag` of a failure's typed reason (IscsiError, ScsiError), or of the failure itself. */
const reasonTag = (cause: Cause.Cause<unknown>): string => {
  if (Cause.hasInterruptsOnly(cause)) return "Interrupted"
  const e = Cause.squash(cause) as { readonly _tag?: unknown; readonly reason?: { readonly _tag?: unknown } }
  const inner = e?.reason?._tag
  return typeof inner === "string" ? inner : typeof e?._tag === "string" ? e._tag : "Defect"
}

/** Targets listed at once by `ls` (each is its own login; the order of the output is kept). */
const LS_CONCURRENCY = 4

const listTarget = (portal: IscsiUrl.IscsiUrl, t: SendTargets.Target) =>
  Effect.gen(function* () {
    const creds = yield* Connect.credentials(portal, env)
    const target: Connect.TargetUrl = {
      url: { host: portal.host, port: portal.port, target: t.name },
      target: t.name,
      lun: undefined,
      credentials: creds,
      digests: yield* Connect.digests(portal, env)
    }
    const context = yield* Connect.openSession(target, env)
    const program = Effect.gen(function* () {
      const list = yield* Scsi.reportLuns()
      const luns: Array<LunInfo> = []
      for (const l of [...list.luns].sort((a, b) => a.lun - b.lun)) {
        const inq = yield* Scsi.inquiry(l.lun)
        const base = {
          lun: l.lun,
          type: inq.peripheralDeviceType,
          typeName: Format.deviceTypeName(inq.peripheralDeviceType),
          vendor: inq.vendorId,
          product: inq.productId,
          revision: inq.productRevision
        }
        if (inq.peripheralDeviceType === 0x00 || inq.peripheralDeviceType === 0x0e) {
          const dev = yield* BlockDevice.make(l.lun)
          luns.push({ ...base, blockSize: dev.blockSize, blocks: dev.blockCount, bytes: dev.size })
        } else {
          luns.push({ ...base, bytes: 0 })
        }
      }
      return luns
    })
    return yield* Effect.provideContext(program, context)
  }).pipe(Effect.scoped)

const lsText = (listing: ReadonlyArray<TargetListing>) =>
  listing
    .map((t) => {
      const portal = t.portals[0]
      const head = `Target:${t.name}${portal !== undefined ? ` Portal:${portal.host}:${portal.port},${portal.tpgt}` : ""}`
      if (t.error !== undefined) return `${head}\n  error: ${t.error}`
      const rows = t.luns.map(
        (l) =>
          `Lun:${String(l.lun).padEnd(4)} Type:${l.typeName} (Size:${Format.size(l.bytes)})${
            l.vendor.length > 0 ? `  ${l.vendor} ${l.product} ${l.revision}` : ""
          }`
      )
      return [head, ...rows].join("\n")
    })
    .join("\n")

const ls = Command.make(
  "ls",
  {
    portal: Argument.String("portal").pipe(Argument.withDescription("iscsi://HOST[:PORT]/ (or HOST[:PORT])")),
    json: jsonFlag
  },
  ({ portal, json }) =>
    Effect.gen(function* () {
      const url = yield* Connect.parsePortal(portal)
      // check credentials and digests once, before any login (a usage error ends the run)
      yield* Connect.credentials(url, env)
      yield* Connect.digests(url, env)
      const targets = yield* Connect.discover(url, env)
      // every target is listed; one that cannot be opened (CHAP without credentials, …) is marked
      // with why, and the others are listed all the same: discovery worked, so the run did
      const listing = yield* Effect.forEach(
        targets,
        (t) =>
          Effect.map(
            Effect.exit(listTarget(url, t)),
            (exit): TargetListing =>
              Exit.isSuccess(exit)
                ? { name: t.name, portals: t.portals, luns: exit.value }
                : {
                    name: t.name,
                    portals: t.portals,
                    luns: [],
                    error: Failure.reportCause(exit.cause).message,
                    reason: reasonTag(exit.cause)
                  }
          ),
        { concurrency: LS_CONCURRENCY }
      )
      yield* json ? printJson(listing) : out(lsText(listing))
      const failed = listing.filter((t) => t.error !== undefined)
      if (failed.length > 0) {
        yield* Files.writeStderr(
          `iscsi: ${failed.length} of ${listing.length} targets could not be opened (${failed.map((t) => t.name).join(", ")}): see their error\n`
        )
      }
    })
).pipe(
  Command.withDescription(
    "every target behind a portal with its LUNs, device types and sizes (like iscsi-ls -s); targets that cannot be opened are listed with the reason, and exit status 0 means discovery worked"
  )
)

// ---------------------------------------------------------------------------------------------
// inq
// ---------------------------------------------------------------------------------------------

const inq = Command.make(
  "inq",
  {
    url: urlArg,
    vpd: Flag.String("vpd").pipe(
      Flag.withDescription(
        "a VPD page: 0x80, 83h, 176, or serial, devid, mna, ei, mpp, ports, block-limits, bdc, lbp, supported"
      ),
      Flag.optional
    ),
    opcodes: Flag.Boolean("opcodes").pipe(
      Flag.withDescription(
        "what the LUN supports: REPORT SUPPORTED OPERATION CODES and the UNMAP / WRITE SAME / GET LBA STATUS features"
      ),
      Flag.withDefault(false)
    ),
    json: jsonFlag
  },
  ({ url, vpd, opcodes, json }) =>
    Effect.gen(function* () {
      const page = Option.isSome(vpd) ? Vpd.parsePage(vpd.value) : undefined
      if (page !== undefined && page._tag === "Failure") return yield* new Failure.UsageError({ message: page.failure })
      if (page !== undefined && opcodes) {
        return yield* new Failure.UsageError({ message: "--vpd and --opcodes: give one of them" })
      }
      const { lun, context } = yield* openTarget(url)
      if (opcodes) {
        const capabilities = yield* Effect.provideContext(Capabilities.discover(lun), context)
        yield* json ? printJson(Opcodes.toJson(capabilities)) : out(Opcodes.text(capabilities))
        return
      }
      if (page !== undefined && page._tag === "Success") {
        const decoded = yield* Effect.provideContext(Vpd.fetch(lun, page.success), context)
        yield* json
          ? printJson({ page: decoded.page, name: decoded.name, ...(decoded.data as object) })
          : out(`${decoded.name} (${Format.hexByte(decoded.page)})\n${decoded.text}`)
        return
      }
      const data = yield* Effect.provideContext(Scsi.inquiry(lun), context)
      const doc = { ...data, peripheralDeviceTypeName: Format.deviceTypeName(data.peripheralDeviceType) }
      yield* json
        ? printJson(doc)
        : out(
            Format.fields([
              ["Vendor", data.vendorId],
              ["Product", data.productId],
              ["Revision", data.productRevision],
              ["Device type", `${doc.peripheralDeviceTypeName} (${Format.hexByte(data.peripheralDeviceType)})`],
              ["Peripheral qualifier", data.peripheralQualifier],
              ["Removable", data.removable],
              ["Version", Format.hexByte(data.version)],
              ["Response data format", data.responseDataFormat],
              ["HiSup", data.hisup],
              ["TPGS", data.tpgs],
              ["3PC", data.threePc],
              ["Protect", data.protect],
              ["CmdQue", data.cmdque],
              [
                "Version descriptors",
                data.versionDescriptors.map((v) => `0x${v.toString(16).padStart(4, "0")}`).join(" ")
              ]
            ])
          )
    }).pipe(Effect.scoped)
).pipe(
  Command.withDescription(
    "standard INQUIRY data, a decoded VPD page with --vpd, or what the LUN supports with --opcodes"
  )
)

// ---------------------------------------------------------------------------------------------
// readcap
// ---------------------------------------------------------------------------------------------

const readcap = Command.make("readcap", { url: urlArg, json: jsonFlag }, ({ url, json }) =>
  Effect.gen(function* () {
    const { device } = yield* openLun(url)
    const doc = { blockSize: device.blockSize, blocks: device.blockCount, bytes: device.size }
    yield* json
      ? printJson(doc)
      : out(
          Format.fields([
            ["Block size", device.blockSize],
            ["Blocks", device.blockCount],
            ["Last LBA", device.lastLba],
            ["Size", `${device.size} bytes (${Format.size(device.size)})`],
            ["Thin provisioned", device.thinProvisioned]
          ])
        )
  }).pipe(Effect.scoped)
).pipe(Command.withDescription("capacity and block size (READ CAPACITY (16), falling back to (10))"))

// ---------------------------------------------------------------------------------------------
// read / write
// ---------------------------------------------------------------------------------------------

const read = Command.make(
  "read",
  {
    url: urlArg,
    lba: Flag.Int("lba").pipe(Flag.withDescription("first logical block")),
    blocks: Flag.Int("blocks").pipe(Flag.withDescription("number of blocks")),
    output: Flag.String("output").pipe(
      Flag.withAlias("o"),
      Flag.withDescription("write the data to FILE (default: stdout)"),
      Flag.optional
    )
  },
  ({ url, lba, blocks, output }) =>
    Effect.gen(function* () {
      yield* nonNegative("lba", lba)
      yield* nonNegative("blocks", blocks)
      const { device } = yield* openLun(url)
      const write = yield* Files.outputSink(optionalNumber(output))
      if (blocks === 0) return
      yield* device.readStream({ from: lba, blocks }).pipe(Stream.runForEach(write))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("read blocks to stdout or a file"))

const write = Command.make(
  "write",
  {
    url: urlArg,
    lba: Flag.Int("lba").pipe(Flag.withDescription("first logical block")),
    input: Flag.String("input").pipe(
      Flag.withAlias("i"),
      Flag.withDescription("read the data from FILE (default: stdin); a whole number of blocks"),
      Flag.optional
    ),
    json: jsonFlag
  },
  ({ url, lba, input, json }) =>
    Effect.gen(function* () {
      yield* nonNegative("lba", lba)
      const path = optionalNumber(input)
      const { device } = yield* openLun(url)
      if (path !== undefined && path !== "-") {
        // A file's size is known: check it before anything is written.
        const file = yield* Files.open(path, "r")
        if (file.size % device.blockSize !== 0) {
          return yield* new Failure.UsageError({
            message: `${path} is ${file.size} bytes, not a whole number of ${device.blockSize}-byte blocks`
          })
        }
        if (lba + file.size / device.blockSize > device.blockCount) {
          return yield* new Failure.UsageError({
            message: `${file.size / device.blockSize} blocks at LBA ${lba} do not fit the LUN (${device.blockCount} blocks)`
          })
        }
      }
      let bytes = 0
      const counted = Files.inputStream(path).pipe(
        Stream.tap((chunk) =>
          Effect.sync(() => {
            bytes += chunk.length
          })
        )
      )
      const start = performance.now()
      yield* Stream.run(counted, device.writeSink({ from: lba }))
      const seconds = (performance.now() - start) / 1000
      const doc = { lba, blocks: bytes / device.blockSize, bytes, seconds: Math.round(seconds * 1000) / 1000 }
      yield* json
        ? printJson(doc)
        : Files.writeStderr(
            `wrote ${bytes} bytes (${doc.blocks} blocks) at LBA ${lba} in ${Format.duration(seconds)}\n`
          )
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("write stdin or a file to blocks starting at --lba"))

// ---------------------------------------------------------------------------------------------
// dd
// ---------------------------------------------------------------------------------------------

const isUrl = (s: string) => s.toLowerCase().startsWith("iscsi://")

const endpoint = (text: string, role: "source" | "destination", sessions: Connect.SessionCache) =>
  Effect.gen(function* () {
    if (isUrl(text)) {
      const { target, device } = yield* openLun(text, sessions)
      return {
        _tag: "Lun" as const,
        label: IscsiUrl.format(target.url),
        device
      } satisfies Copy.Endpoint
    }
    const file = yield* Files.open(text, role === "source" ? "r" : "w")
    return { _tag: "File" as const, label: text, file } satisfies Copy.Endpoint
  })

const dd = Command.make(
  "dd",
  {
    src: Flag.String("if").pipe(Flag.withDescription("source: an iSCSI URL or a file")),
    dst: Flag.String("of").pipe(Flag.withDescription("destination: an iSCSI URL or a file (created or truncated)")),
    bs: bytesFlag("bs", "bytes per transfer (default 1M); a multiple of every LUN's block size"),
    count: Flag.Int("count").pipe(Flag.withDescription("transfers to copy (default: the whole source)"), Flag.optional),
    skip: Flag.Int("skip").pipe(
      Flag.withDescription("transfers to skip at the start of the source"),
      Flag.withDefault(0)
    ),
    seek: Flag.Int("seek").pipe(
      Flag.withDescription("transfers to skip at the start of the destination"),
      Flag.withDefault(0)
    ),
    qd: Flag.Int("qd").pipe(Flag.withDescription("transfers in flight (default 8)"), Flag.withDefault(8)),
    json: jsonFlag,
    metricsPort: Observability.metricsPortFlag,
    metricsLinger: Observability.metricsLingerFlag,
    spans: Observability.spansFlag
  },
  ({ src, dst, bs, count, skip, seek, qd, json, ...observed }) =>
    Effect.gen(function* () {
      const bsBytes = yield* parseBytesOption("bs", bs)
      if (!isUrl(src) && !isUrl(dst)) {
        return yield* new Failure.UsageError({ message: "dd needs an iscsi:// URL on at least one side" })
      }
      // Check both URLs before logging in anywhere.
      for (const s of [src, dst]) if (isUrl(s)) yield* Connect.parseTargetUrl(s, env, { needLun: true })
      const sessions = Connect.makeSessionCache(env)
      const source = yield* endpoint(src, "source", sessions)
      const destination = yield* endpoint(dst, "destination", sessions)
      const p = yield* Copy.plan(source, destination, {
        bs: bsBytes,
        count: optionalNumber(count),
        skip,
        seek,
        queueDepth: qd
      })
      const progress = yield* Progress.make(p.total)
      const summary = yield* Copy.run(source, destination, p, progress.add)
      yield* progress.finish
      yield* json
        ? printJson({ ...summary, from: source.label, to: destination.label })
        : Files.writeStderr(
            `${summary.bytes} bytes (${Format.size(summary.bytes)}) copied, ${Format.duration(summary.seconds)}, ${Format.rate(
              summary.bytes / Math.max(summary.seconds, 1e-9)
            )}\n`
          )
    }).pipe(Effect.scoped, Observability.observe(observed))
).pipe(Command.withDescription("copy LUN → file, file → LUN or LUN → LUN, with a progress bar on a terminal"))

// ---------------------------------------------------------------------------------------------
// bench
// ---------------------------------------------------------------------------------------------

const bench = Command.make(
  "bench",
  {
    url: urlArg,
    qd: Flag.Int("qd").pipe(Flag.withDescription("commands in flight (default 16)"), Flag.withDefault(16)),
    bs: bytesFlag("bs", "bytes per command (default 4k)"),
    random: Flag.Boolean("random").pipe(
      Flag.withDescription("random offsets (default sequential)"),
      Flag.withDefault(false)
    ),
    write: Flag.Boolean("write").pipe(
      Flag.withDescription("WRITE instead of READ: overwrites data on this LUN"),
      Flag.withDefault(false)
    ),
    duration: Flag.Finite("duration").pipe(Flag.withDescription("seconds to run (default 5)"), Flag.withDefault(5)),
    json: jsonFlag,
    metricsPort: Observability.metricsPortFlag,
    metricsLinger: Observability.metricsLingerFlag,
    spans: Observability.spansFlag
  },
  (o) =>
    Effect.gen(function* () {
      const bs = yield* parseBytesOption("bs", o.bs)
      const t = yield* Connect.parseTargetUrl(o.url, env, { needLun: true })
      const context = yield* Connect.openSession(t, env)
      const device = yield* Effect.provideContext(BlockDevice.make(t.lun ?? 0), context)
      const result = yield* Effect.provideContext(
        Bench.run(device, {
          queueDepth: o.qd,
          blockBytes: bs,
          random: o.random,
          write: o.write,
          durationSeconds: o.duration
        }),
        context
      )
      if (o.json) return yield* printJson(result)
      const kind = `${o.random ? "random" : "sequential"} ${o.write ? "write" : "read"}`
      yield* out(
        [
          `${kind}, ${Format.size(bs ?? Math.max(4096, device.blockSize))}B per command, queue depth ${o.qd}, ${result.seconds}s`,
          Format.fields([
            ["IOPS", result.iops],
            ["Throughput", `${result.mbPerSec.toFixed(2)} MB/s`],
            ["Latency p50", `${result.p50Us} µs`],
            ["Latency p99", `${result.p99Us} µs`],
            ["I/Os", result.ios],
            ["Bytes", result.bytes]
          ])
        ].join("\n")
      )
    }).pipe(Effect.scoped, Observability.observe(o))
).pipe(Command.withDescription("measure IOPS, MB/s and latency (like iscsi-perf, and it can write)"))

// ---------------------------------------------------------------------------------------------
// the root command and running it
// ---------------------------------------------------------------------------------------------

export const command = Command.make("iscsi").pipe(
  Command.withDescription("iSCSI initiator tools: discover targets, inspect LUNs, read, write, copy, benchmark"),
  Command.withSubcommands([discover, ls, inq, readcap, read, write, dd, bench])
)

/** Help and version on stdout; a usage error as short lines on stderr (never the whole help). */
const presenter = CliOutput.layerPresenter({
  present: (event) =>
    Effect.gen(function* () {
      const formatter = yield* CliOutput.Formatter
      switch (event._tag) {
        case "Help":
          // asked for (--help): stdout; implied by a missing subcommand (a usage error): stderr
          return yield* event.reason === "Requested"
            ? Files.writeStdout(`${formatter.formatHelpDoc(event.helpDoc)}\n`).pipe(Effect.ignore)
            : Files.writeStderr(`${formatter.formatHelpDoc(event.helpDoc)}\n`)
        case "Version":
          return yield* Files.writeStdout(`${formatter.formatVersion(event.name, event.version)}\n`).pipe(Effect.ignore)
        case "InvalidInvocation":
          yield* Files.writeStderr(`${formatter.formatErrors(event.errors).trim()}\n`)
          return yield* Files.writeStderr(`Try '${event.commandPath.join(" ")} --help'.\n`)
      }
    })
})

const plainFormatter = CliOutput.layer(CliOutput.defaultFormatter({ colors: false }))

/** Parse `argv` (without node and the script), run the subcommand, print any failure; the exit status. */
export const run = (argv: ReadonlyArray<string>) =>
  Command.runWith(command, { version: VERSION })(argv).pipe(
    // the library's logs on stderr; `--log-level` (effect/cli's global flag) overrides the level
    Effect.provideService(References.MinimumLogLevel, Observability.DEFAULT_LOG_LEVEL),
    Observability.withOtlp(env, VERSION),
    Effect.provide([presenter, plainFormatter, Observability.logging]),
    Effect.exit,
    Effect.flatMap((exit) => {
      if (Exit.isSuccess(exit)) return Effect.succeed<number>(Failure.ExitCode.Ok)
      const r = Failure.reportCause(exit.cause)
      if (env.ISCSI_DEBUG !== undefined && env.ISCSI_DEBUG !== "") process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
      // Effect's CLI already printed its parse errors (through the presenter above).
      if (r.alreadyShown) return Effect.succeed(r.exitCode)
      return Effect.as(Files.writeStderr(`iscsi: ${r.message}\n`), r.exitCode)
    })
  )
