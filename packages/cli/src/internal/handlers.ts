/**
 * What the `iscsi` subcommands do, one function per subcommand taking its parsed flags
 * (`flags.ts`). `Cli.ts` loads this module only when a subcommand runs: help, version and parse
 * errors never load the iSCSI library.
 */
import * as IscsiUrl from "@effect-iscsi/core/IscsiUrl"
import type * as SendTargets from "@effect-iscsi/core/SendTargets"
import * as BlockDevice from "@effect-iscsi/scsi/BlockDevice"
import * as Capabilities from "@effect-iscsi/scsi/Capabilities"
import * as Scsi from "@effect-iscsi/scsi/Scsi"
import type * as Command from "effect/cli/Command"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Bench from "../Bench.ts"
import * as Connect from "../Connect.ts"
import * as Copy from "../Copy.ts"
import * as Failure from "../Failure.ts"
import * as Format from "../Format.ts"
import * as Observability from "../Observability.ts"
import * as Opcodes from "../Opcodes.ts"
import * as Progress from "../Progress.ts"
import * as Vpd from "../Vpd.ts"
import * as Files from "./files.ts"
import type * as Flags from "./flags.ts"
type Input<C extends Command.Command.Config> = Command.Command.Config.Infer<C>

const env: Connect.Env = process.env

// ---------------------------------------------------------------------------------------------
// shared helpers
// ---------------------------------------------------------------------------------------------

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
const openLun = (text: string, sessions?: Connect.SessionCache, options?: BlockDevice.MakeOptions) =>
  Effect.gen(function* () {
    const t = yield* Connect.parseTargetUrl(text, env, { needLun: true })
    const device = yield* Connect.openDevice(t, sessions ?? Connect.makeSessionCache(env), options)
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

export const discover = ({ portal, isns, json }: Input<typeof Flags.discover>) =>
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

export const ls = ({ portal, json }: Input<typeof Flags.ls>) =>
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

// ---------------------------------------------------------------------------------------------
// inq
// ---------------------------------------------------------------------------------------------

export const inq = ({ url, vpd, opcodes, json }: Input<typeof Flags.inq>) =>
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

// ---------------------------------------------------------------------------------------------
// readcap
// ---------------------------------------------------------------------------------------------

export const readcap = ({ url, json }: Input<typeof Flags.readcap>) =>
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

// ---------------------------------------------------------------------------------------------
// read / write
// ---------------------------------------------------------------------------------------------

export const read = ({ url, lba, blocks, output }: Input<typeof Flags.read>) =>
  Effect.gen(function* () {
    yield* nonNegative("lba", lba)
    yield* nonNegative("blocks", blocks)
    const { device } = yield* openLun(url)
    const write = yield* Files.outputSink(optionalNumber(output))
    if (blocks === 0) return
    yield* device.readStream({ from: lba, blocks }).pipe(Stream.runForEach(write))
  }).pipe(Effect.scoped)

export const write = ({ url, lba, input, json }: Input<typeof Flags.write>) =>
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
      : Files.writeStderr(`wrote ${bytes} bytes (${doc.blocks} blocks) at LBA ${lba} in ${Format.duration(seconds)}\n`)
  }).pipe(Effect.scoped)

// ---------------------------------------------------------------------------------------------
// dd
// ---------------------------------------------------------------------------------------------

const isUrl = (s: string) => s.toLowerCase().startsWith("iscsi://")

const endpoint = (text: string, role: "source" | "destination", sessions: Connect.SessionCache, bs: number) =>
  Effect.gen(function* () {
    if (isUrl(text)) {
      // one command per piece (the copy splits a piece where the LUN's Block Limits say less)
      const { target, device } = yield* openLun(text, sessions, { maxTransferBytes: bs })
      return {
        _tag: "Lun" as const,
        label: IscsiUrl.format(target.url),
        device
      } satisfies Copy.Endpoint
    }
    // the destination is emptied only once the copy has been checked (see dd)
    const file = yield* Files.open(text, role === "source" ? "r" : "create")
    return { _tag: "File" as const, label: text, file } satisfies Copy.Endpoint
  })

export const dd = ({
  src,
  dst,
  bs,
  count,
  skip,
  seek,
  qd,
  sparse,
  progress: showProgress,
  json,
  ...observed
}: Input<typeof Flags.dd>) =>
  Effect.gen(function* () {
    const bsBytes = yield* parseBytesOption("bs", bs)
    if (!isUrl(src) && !isUrl(dst)) {
      return yield* new Failure.UsageError({ message: "dd needs an iscsi:// URL on at least one side" })
    }
    // Check both URLs before logging in anywhere.
    for (const s of [src, dst]) if (isUrl(s)) yield* Connect.parseTargetUrl(s, env, { needLun: true })
    const sessions = Connect.makeSessionCache(env)
    const source = yield* endpoint(src, "source", sessions, bsBytes ?? Copy.DEFAULT_BS)
    const destination = yield* endpoint(dst, "destination", sessions, bsBytes ?? Copy.DEFAULT_BS)
    const p = yield* Copy.plan(source, destination, {
      bs: bsBytes,
      count: optionalNumber(count),
      skip,
      seek,
      queueDepth: optionalNumber(qd),
      sparse
    })
    // everything checked: now a destination file may be emptied (created or truncated, as dd's --of says)
    const target: Copy.Endpoint =
      destination._tag === "File" ? { ...destination, file: yield* Files.truncated(destination.file) } : destination
    const progress = yield* Progress.make(
      p.total,
      Option.isSome(showProgress) ? showProgress.value : Files.stderrIsTty()
    )
    const summary = yield* Copy.run(source, target, p, progress.add)
    yield* progress.finish
    yield* json
      ? printJson({ ...summary, from: source.label, to: destination.label })
      : Files.writeStderr(
          `${summary.bytes} bytes (${Format.size(summary.bytes)}) copied, ${Format.duration(summary.seconds)}, ${Format.rate(
            summary.bytes / Math.max(summary.seconds, 1e-9)
          )}${summary.zeroBytes > 0 ? `; ${Format.size(summary.zeroBytes)} of zeros not sent (${zeroText[summary.zeros]})` : ""}\n`
        )
  }).pipe(Effect.scoped, Observability.observe(observed))

const zeroText: Record<Copy.ZeroWrite, string> = {
  data: "written",
  hole: "holes in the file",
  writeSameUnmap: "deallocated with WRITE SAME (16) UNMAP"
}

// ---------------------------------------------------------------------------------------------
// bench
// ---------------------------------------------------------------------------------------------

export const bench = (o: Input<typeof Flags.bench>) =>
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
