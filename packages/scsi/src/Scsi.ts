/**
 * The SCSI command set as Effect programs: every command of `packages/scsi` built from its CDB
 * module, run through one shared command runner on the `ScsiTransport` service, and decoded.
 *
 * ```ts
 * Effect.runPromise(Scsi.read10(lun, lba, n).pipe(Effect.provide(IscsiLive)))
 * ```
 *
 * - READ/WRITE programs take the transfer length in blocks (READ) or the data (WRITE). The block
 *   size is the LUN's: learned with READ CAPACITY on first use and kept by the session (forgotten
 *   when the session is reinstated or the LUN reports a capacity change); `options.blockSize`
 *   still wins when given.
 * - Status and sense become `ScsiError` (see `ScsiError.ts`); transport failures are `IscsiError`.
 * - Deadline and retries (core's `CommandPolicy`): one deadline per call covers every attempt,
 *   backoff and wait for session recovery (default 60 s); errors whose reason `isRetryable` are
 *   retried up to 5 times with a 10 ms doubling backoff, transport errors only for idempotent
 *   commands (not COMPARE AND WRITE, PERSISTENT RESERVE OUT, `raw` unless told), a `Timeout` never
 *   unless the policy says so. Each retry is logged at Debug level; the final error says how many
 *   attempts were made (`error.attempts`). Per call: `Scsi.withPolicy({ timeoutMs, retries })`; per
 *   target: the layer's `commandTimeoutMs` / `commandRetries`.
 * - Cancellation is interruption: interrupting the fiber aborts the task (ABORT TASK).
 * - Tracing: every program is a span named after it (`Scsi.inquiry`, …) and every command it sends
 *   a child span `SCSI <NAME>` with its target, LUN, opcode, LBA and blocks, attempts and outcome
 *   (see the runner); READ and WRITE, the data path, are traced only under `TraceDataPath`.
 * - Metrics: every command call is counted and timed in the target's `Telemetry` (core).
 * - Hot loops: pass `options.into` to read into your own buffer (no allocation per command).
 * - Scatter-gather (libiscsi's `*_iov`): `read10Iov`/`read16Iov` read into a list of buffers,
 *   `write10Iov`/`write16Iov` write from one, without concatenating them.
 *
 * Not here: byte layouts (the CDB modules), capacity bookkeeping and bounds (`BlockDevice`).
 */
import type * as IscsiError from "@effect-iscsi/core/IscsiError"
import {
  CommandPolicy,
  type Direction,
  type LunGeometry,
  type ScsiResult,
  type ScsiTransport,
  type ScsiTransportService
} from "@effect-iscsi/core/ScsiTransport"
import { TaskManagementFunction } from "@effect-iscsi/core/PduTypes"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as CompareAndWrite from "./CompareAndWrite.ts"
import * as DefectData from "./DefectData.ts"
import * as ExtendedCopy from "./ExtendedCopy.ts"
import * as GetLbaStatus from "./GetLbaStatus.ts"
import * as Inquiry from "./Inquiry.ts"
import * as Runner from "./internal/runner.ts"
import * as ModePages from "./ModePages.ts"
import * as OperationCodes from "./OperationCodes.ts"
import * as PersistentReservation from "./PersistentReservation.ts"
import * as ReadCapacity from "./ReadCapacity.ts"
import * as ReadToc from "./ReadToc.ts"
import * as ReadWrite from "./ReadWrite.ts"
import * as ReportLuns from "./ReportLuns.ts"
import * as ReservationLegacy from "./ReservationLegacy.ts"
import * as Sanitize from "./Sanitize.ts"
import * as ScsiError from "./ScsiError.ts"
import * as Sense from "./Sense.ts"
import * as TargetPortGroups from "./TargetPortGroups.ts"
import * as UnitControl from "./UnitControl.ts"
import * as Unmap from "./Unmap.ts"
import * as WriteSame from "./WriteSame.ts"

export { CommandPolicy, defaultCommandPolicy } from "@effect-iscsi/core/ScsiTransport"
export { commandName, shouldRetry, TraceDataPath } from "./internal/runner.ts"

/**
 * Run `self` (any command or program of commands) under this deadline and retry policy:
 * `Scsi.read10(1, 0, 8).pipe(Scsi.withPolicy({ timeoutMs: 2000, retries: 0 }))`.
 */
export const withPolicy =
  (policy: CommandPolicy) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provideService(self, CommandPolicy, policy)

/** What every command can fail with. */
export type CommandError = ScsiError.ScsiError | IscsiError.IscsiError

/** A command program. */
export type Command<A> = Effect.Effect<A, CommandError, ScsiTransport>

export interface ReadOptions extends ReadWrite.TransferOptions {
  /** Bytes per logical block (default: the LUN's, learned with READ CAPACITY and kept by the session). */
  readonly blockSize?: number | undefined
  /** Place the data here (length ≥ blocks × blockSize) instead of a new buffer. */
  readonly into?: Uint8Array | undefined
}

export interface WriteOptions extends ReadWrite.TransferOptions {
  /** Bytes per logical block (default: the LUN's); the data length must be a multiple of it. */
  readonly blockSize?: number | undefined
}

const checkBlockSize = (bs: number): ScsiError.ScsiError | undefined =>
  Number.isInteger(bs) && bs > 0 ? undefined : ScsiError.invalidArgument(`block size ${bs} is not a positive integer`)

const blocksOf = (data: Uint8Array, bs: number): Result.Result<number, ScsiError.ScsiError> => {
  const bad = checkBlockSize(bs)
  if (bad !== undefined) return Result.fail(bad)
  if (data.length % bs !== 0) {
    return Result.fail(
      ScsiError.invalidArgument(`data length ${data.length} is not a multiple of the block size ${bs}`)
    )
  }
  return Result.succeed(data.length / bs)
}

const readLength = (blocks: number, bs: number): Result.Result<number, ScsiError.ScsiError> => {
  const bad = checkBlockSize(bs)
  if (bad !== undefined) return Result.fail(bad)
  if (!Number.isSafeInteger(blocks) || blocks < 0)
    return Result.fail(ScsiError.invalidArgument(`block count ${blocks} is invalid`))
  return Result.succeed(blocks * bs)
}

/** For transports that keep no geometry (test doubles): what this module learned, per transport. */
const localGeometry = new WeakMap<ScsiTransportService, Map<number, LunGeometry>>()

const cachedGeometry = (t: ScsiTransportService, lun: number): LunGeometry | undefined =>
  t.geometry !== undefined ? t.geometry.get(lun) : localGeometry.get(t)?.get(lun)

/** READ CAPACITY (16), or (10) where the LUN does not support it: block size and block count. */
const learnGeometry = (t: ScsiTransportService, call: CommandPolicy | undefined, lun: number) =>
  Effect.gen(function* () {
    const r16 = yield* Effect.result(
      Runner.runOn(t, call, { lun, cdb: ReadCapacity.cdb16(32), direction: "read", readLength: 32 })
    )
    let g: LunGeometry
    if (Result.isSuccess(r16)) {
      const c = yield* Effect.fromResult(ReadCapacity.decode16(r16.success.data))
      g = { blockSize: c.blockSize, blocks: c.lastLba + 1 }
    } else {
      const e = r16.failure
      if (!(e._tag === "ScsiError" && e.reason._tag === "CheckCondition" && e.reason.senseKey === 0x05)) {
        return yield* Effect.fail(e)
      }
      const r10 = yield* Runner.runOn(t, call, { lun, cdb: ReadCapacity.cdb10(), direction: "read", readLength: 8 })
      const c = yield* Effect.fromResult(ReadCapacity.decode10(r10.data))
      g = { blockSize: c.blockSize, blocks: c.lastLba + 1 }
    }
    if (g.blockSize <= 0) return yield* ScsiError.malformed("capacity", `block size ${g.blockSize}`)
    if (t.geometry !== undefined) t.geometry.set(lun, g)
    else {
      let m = localGeometry.get(t)
      if (m === undefined) localGeometry.set(t, (m = new Map()))
      m.set(lun, g)
    }
    return g
  })

/**
 * The LUN's block size and block count: what the session learned, or READ CAPACITY now (kept until
 * the session is reinstated or the LUN reports CAPACITY DATA HAS CHANGED).
 */
export const geometry = (lun: number): Command<LunGeometry> =>
  Runner.withTransport((t, call) => {
    const g = cachedGeometry(t, lun)
    return g !== undefined ? Effect.succeed(g) : learnGeometry(t, call, lun)
  })

/** `f` with the block size of `lun`: the caller's, the cached one (no extra step), or learned now. */
const withBlockSize = <A>(
  lun: number,
  given: number | undefined,
  f: (
    t: ScsiTransportService,
    call: CommandPolicy | undefined,
    blockSize: number,
    context: Context.Context<never>
  ) => Effect.Effect<A, CommandError>
): Command<A> =>
  Runner.withTransport((t, call, context) => {
    const bs = given ?? cachedGeometry(t, lun)?.blockSize
    if (bs !== undefined) return f(t, call, bs, context)
    return Effect.flatMap(learnGeometry(t, call, lun), (g) => f(t, call, g.blockSize, context))
  })

// READ and WRITE are the data path: plain functions over the runner, without the span and the
// call-site stack trace `Effect.fn` adds to every call (`iscsi bench --qd 32 --bs 4k --random` on
// tgt's null LUN: 29k → 59k IOPS; the session alone does 70k). Their commands carry a span only
// under `TraceDataPath` (the runner's); every other command keeps its spans.

const toData = (result: ScsiResult): Uint8Array => result.data

const readProgram =
  (
    cdb: (lba: number, blocks: number, o?: ReadWrite.TransferOptions) => Result.Result<Uint8Array, ScsiError.ScsiError>
  ) =>
  (lun: number, lba: number, blocks: number, options?: ReadOptions): Command<Uint8Array> =>
    withBlockSize(lun, options?.blockSize, (t, call, bs, context) => {
      const length = readLength(blocks, bs)
      if (Result.isFailure(length)) return Effect.fail(length.failure)
      return Effect.map(
        Runner.runOn(
          t,
          call,
          {
            lun,
            cdb: cdb(lba, blocks, options),
            direction: "read",
            readLength: length.success,
            readInto: options?.into,
            exactTransfer: true,
            dataPath: true
          },
          context
        ),
        toData
      )
    })

const writeProgram =
  (
    cdb: (lba: number, blocks: number, o?: ReadWrite.TransferOptions) => Result.Result<Uint8Array, ScsiError.ScsiError>
  ) =>
  (lun: number, lba: number, data: Uint8Array, options?: WriteOptions): Command<void> =>
    withBlockSize(lun, options?.blockSize, (t, call, bs, context) => {
      const blocks = blocksOf(data, bs)
      if (Result.isFailure(blocks)) return Effect.fail(blocks.failure)
      return Effect.asVoid(
        Runner.runOn(
          t,
          call,
          {
            lun,
            cdb: cdb(lba, blocks.success, options),
            direction: "write",
            dataOut: data,
            exactTransfer: true,
            dataPath: true
          },
          context
        )
      )
    })

/** TEST UNIT READY (SPC-5 §6.47): succeeds when the LUN is ready. */
export const testUnitReady = Effect.fn("Scsi.testUnitReady")(function* (lun: number) {
  yield* Runner.run({ lun, cdb: UnitControl.cdbTestUnitReady(), direction: "none" })
})

/** INQUIRY standard data. */
export const inquiry = Effect.fn("Scsi.inquiry")(function* (lun: number) {
  const r = yield* Runner.run({ lun, cdb: Inquiry.cdb({ allocationLength: 255 }), direction: "read", readLength: 255 })
  return yield* Effect.fromResult(Inquiry.decodeStandard(r.data))
})

/** INQUIRY with EVPD: the raw page (header checked against `page`). */
export const inquiryVpd = Effect.fn("Scsi.inquiryVpd")(function* (lun: number, page: number) {
  const r = yield* Runner.run({
    lun,
    cdb: Inquiry.cdb({ evpd: true, page, allocationLength: 4096 }),
    direction: "read",
    readLength: 4096
  })
  yield* Effect.fromResult(Inquiry.decodeVpdHeader(r.data, page))
  return r.data
})

const vpd = <A>(name: string, page: number, decode: (data: Uint8Array) => Result.Result<A, ScsiError.ScsiError>) =>
  Effect.fn(name)(function* (lun: number) {
    const data = yield* inquiryVpd(lun, page)
    return yield* Effect.fromResult(decode(data))
  })

/** VPD 00h: supported VPD pages. */
export const supportedVpdPages = vpd(
  "Scsi.supportedVpdPages",
  Inquiry.VpdPage.SupportedPages,
  Inquiry.decodeSupportedPages
)
/** VPD 80h: unit serial number. */
export const unitSerialNumber = vpd(
  "Scsi.unitSerialNumber",
  Inquiry.VpdPage.UnitSerialNumber,
  Inquiry.decodeUnitSerialNumber
)
/** VPD 83h: device identification designators. */
export const deviceIdentification = vpd(
  "Scsi.deviceIdentification",
  Inquiry.VpdPage.DeviceIdentification,
  Inquiry.decodeDeviceIdentification
)
/** VPD 85h: management network addresses. */
export const managementNetworkAddresses = vpd(
  "Scsi.managementNetworkAddresses",
  Inquiry.VpdPage.ManagementNetworkAddresses,
  Inquiry.decodeManagementNetworkAddresses
)
/** VPD 86h: extended INQUIRY data. */
export const extendedInquiryData = vpd(
  "Scsi.extendedInquiryData",
  Inquiry.VpdPage.ExtendedInquiryData,
  Inquiry.decodeExtendedInquiryData
)
/** VPD 87h: mode page policy. */
export const modePagePolicy = vpd("Scsi.modePagePolicy", Inquiry.VpdPage.ModePagePolicy, Inquiry.decodeModePagePolicy)
/** VPD 88h: SCSI ports. */
export const scsiPorts = vpd("Scsi.scsiPorts", Inquiry.VpdPage.ScsiPorts, Inquiry.decodeScsiPorts)
/** VPD B0h: block limits. */
export const blockLimits = vpd("Scsi.blockLimits", Inquiry.VpdPage.BlockLimits, Inquiry.decodeBlockLimits)
/** VPD B1h: block device characteristics. */
export const blockDeviceCharacteristics = vpd(
  "Scsi.blockDeviceCharacteristics",
  Inquiry.VpdPage.BlockDeviceCharacteristics,
  Inquiry.decodeBlockDeviceCharacteristics
)
/** VPD B2h: logical block provisioning. */
export const logicalBlockProvisioning = vpd(
  "Scsi.logicalBlockProvisioning",
  Inquiry.VpdPage.LogicalBlockProvisioning,
  Inquiry.decodeLogicalBlockProvisioning
)

export const readCapacity10 = Effect.fn("Scsi.readCapacity10")(function* (lun: number) {
  const r = yield* Runner.run({ lun, cdb: ReadCapacity.cdb10(), direction: "read", readLength: 8 })
  return yield* Effect.fromResult(ReadCapacity.decode10(r.data))
})

export const readCapacity16 = Effect.fn("Scsi.readCapacity16")(function* (lun: number) {
  const r = yield* Runner.run({ lun, cdb: ReadCapacity.cdb16(32), direction: "read", readLength: 32 })
  return yield* Effect.fromResult(ReadCapacity.decode16(r.data))
})

/** READ (6): 1..256 blocks below LBA 2^21 (no DPO/FUA in this CDB). */
export const read6 = readProgram((lba, blocks) => ReadWrite.cdbRead6(lba, blocks))
export const read10 = readProgram(ReadWrite.cdbRead10)
export const read12 = readProgram(ReadWrite.cdbRead12)
export const read16 = readProgram(ReadWrite.cdbRead16)

/** The total length of scatter-gather buffers as whole blocks (InvalidArgument otherwise). */
const blocksOfIov = (buffers: ReadonlyArray<Uint8Array>, bs: number): Result.Result<number, ScsiError.ScsiError> => {
  let total = 0
  for (const b of buffers) total += b.length
  const bad = checkBlockSize(bs)
  if (bad !== undefined) return Result.fail(bad)
  if (total % bs !== 0) {
    return Result.fail(
      ScsiError.invalidArgument(`the buffers hold ${total} bytes, not a multiple of the block size ${bs}`)
    )
  }
  return Result.succeed(total / bs)
}

/** READ into scatter-gather buffers: as many blocks as the buffers hold together (any split). */
const readIovProgram =
  (
    cdb: (lba: number, blocks: number, o?: ReadWrite.TransferOptions) => Result.Result<Uint8Array, ScsiError.ScsiError>
  ) =>
  (lun: number, lba: number, buffers: ReadonlyArray<Uint8Array>, options?: WriteOptions): Command<void> =>
    withBlockSize(lun, options?.blockSize, (t, call, bs, context) => {
      const blocks = blocksOfIov(buffers, bs)
      if (Result.isFailure(blocks)) return Effect.fail(blocks.failure)
      return Effect.asVoid(
        Runner.runOn(
          t,
          call,
          {
            lun,
            cdb: cdb(lba, blocks.success, options),
            direction: "read",
            readLength: blocks.success * bs,
            readIntoIov: buffers,
            exactTransfer: true,
            dataPath: true
          },
          context
        )
      )
    })

/** WRITE from scatter-gather buffers, sent as views of them. */
const writeIovProgram =
  (
    cdb: (lba: number, blocks: number, o?: ReadWrite.TransferOptions) => Result.Result<Uint8Array, ScsiError.ScsiError>
  ) =>
  (lun: number, lba: number, buffers: ReadonlyArray<Uint8Array>, options?: WriteOptions): Command<void> =>
    withBlockSize(lun, options?.blockSize, (t, call, bs, context) => {
      const blocks = blocksOfIov(buffers, bs)
      if (Result.isFailure(blocks)) return Effect.fail(blocks.failure)
      return Effect.asVoid(
        Runner.runOn(
          t,
          call,
          {
            lun,
            cdb: cdb(lba, blocks.success, options),
            direction: "write",
            dataOutIov: buffers,
            exactTransfer: true,
            dataPath: true
          },
          context
        )
      )
    })

/**
 * READ (10) into `buffers` (libiscsi's `read10_iov`): the blocks land across them in order, each
 * buffer any size, together a whole number of blocks. Nothing is written into them after the
 * command ends; do not use them before.
 */
export const read10Iov = readIovProgram(ReadWrite.cdbRead10)
/** READ (16) into scatter-gather buffers; see `read10Iov`. */
export const read16Iov = readIovProgram(ReadWrite.cdbRead16)
/**
 * WRITE (10) from `buffers` (libiscsi's `write10_iov`): each buffer any size, together a whole
 * number of blocks; sent as views of them (do not change them until the command ends).
 */
export const write10Iov = writeIovProgram(ReadWrite.cdbWrite10)
/** WRITE (16) from scatter-gather buffers; see `write10Iov`. */
export const write16Iov = writeIovProgram(ReadWrite.cdbWrite16)

/** WRITE (6): 1..256 blocks below LBA 2^21 (no DPO/FUA in this CDB). */
export const write6 = writeProgram((lba, blocks) => ReadWrite.cdbWrite6(lba, blocks))
export const write10 = writeProgram(ReadWrite.cdbWrite10)
export const write12 = writeProgram(ReadWrite.cdbWrite12)
export const write16 = writeProgram(ReadWrite.cdbWrite16)

export interface WriteAndVerifyOptions {
  readonly blockSize?: number | undefined
  readonly dpo?: boolean | undefined
  readonly protect?: number | undefined
  readonly group?: number | undefined
}

const writeAndVerifyProgram = (
  cdb: (lba: number, blocks: number, o?: ReadWrite.VerifyOptions) => Result.Result<Uint8Array, ScsiError.ScsiError>
) =>
  function* (lun: number, lba: number, data: Uint8Array, options?: WriteAndVerifyOptions) {
    const blocks = yield* Effect.fromResult(blocksOf(data, options?.blockSize ?? (yield* geometry(lun)).blockSize))
    yield* Runner.run({
      lun,
      cdb: cdb(lba, blocks, { dpo: options?.dpo, protect: options?.protect, group: options?.group }),
      direction: "write",
      dataOut: data,
      exactTransfer: true
    })
  }

/** WRITE AND VERIFY (10), BYTCHK 0: write, then the target verifies the medium. */
export const writeAndVerify10 = Effect.fn("Scsi.writeAndVerify10")(writeAndVerifyProgram(ReadWrite.cdbWriteAndVerify10))
/** WRITE AND VERIFY (16), BYTCHK 0. */
export const writeAndVerify16 = Effect.fn("Scsi.writeAndVerify16")(writeAndVerifyProgram(ReadWrite.cdbWriteAndVerify16))
/** WRITE AND VERIFY (12), BYTCHK 0. */
export const writeAndVerify12 = Effect.fn("Scsi.writeAndVerify12")(writeAndVerifyProgram(ReadWrite.cdbWriteAndVerify12))

export interface VerifyOptions {
  readonly dpo?: boolean | undefined
  readonly protect?: number | undefined
  readonly group?: number | undefined
  /** Compare this data (BYTCHK 01b) with the medium; mismatch fails with a Miscompare reason. */
  readonly data?: Uint8Array | undefined
  readonly blockSize?: number | undefined
}

const verifyProgram = (
  cdb: (lba: number, blocks: number, o?: ReadWrite.VerifyOptions) => Result.Result<Uint8Array, ScsiError.ScsiError>
) =>
  function* (lun: number, lba: number, blocks: number, options?: VerifyOptions) {
    const data = options?.data
    if (data !== undefined) {
      const n = yield* Effect.fromResult(blocksOf(data, options?.blockSize ?? (yield* geometry(lun)).blockSize))
      if (n !== blocks) return yield* ScsiError.invalidArgument(`verify data holds ${n} blocks, not ${blocks}`)
    }
    yield* Runner.run({
      lun,
      cdb: cdb(lba, blocks, {
        dpo: options?.dpo,
        protect: options?.protect,
        group: options?.group,
        byteCheck: data === undefined ? 0 : 1
      }),
      direction: data === undefined ? "none" : "write",
      dataOut: data
    })
  }

/** VERIFY (10): medium check (no data), or byte-by-byte compare with `options.data`. */
export const verify10 = Effect.fn("Scsi.verify10")(verifyProgram(ReadWrite.cdbVerify10), Effect.asVoid)
export const verify16 = Effect.fn("Scsi.verify16")(verifyProgram(ReadWrite.cdbVerify16), Effect.asVoid)
/** VERIFY (12): medium check, or byte-by-byte compare with `options.data`. */
export const verify12 = Effect.fn("Scsi.verify12")(verifyProgram(ReadWrite.cdbVerify12), Effect.asVoid)

export interface SynchronizeCacheOptions {
  readonly lba?: number | undefined
  /** 0 (default): to the end of the medium. */
  readonly blocks?: number | undefined
  readonly immediate?: boolean | undefined
  readonly group?: number | undefined
}

export const synchronizeCache10 = Effect.fn("Scsi.synchronizeCache10")(function* (
  lun: number,
  options?: SynchronizeCacheOptions
) {
  yield* Runner.run({
    lun,
    cdb: ReadWrite.cdbSynchronizeCache10(options?.lba ?? 0, options?.blocks ?? 0, options),
    direction: "none"
  })
})

export const synchronizeCache16 = Effect.fn("Scsi.synchronizeCache16")(function* (
  lun: number,
  options?: SynchronizeCacheOptions
) {
  yield* Runner.run({
    lun,
    cdb: ReadWrite.cdbSynchronizeCache16(options?.lba ?? 0, options?.blocks ?? 0, options),
    direction: "none"
  })
})

/** REPORT LUNS, sent to `lun` (default 0, the well-known addressed LUN of most targets). */
export const reportLuns = Effect.fn("Scsi.reportLuns")(function* (lun?: number) {
  const len = 16 + 8 * 512
  const r = yield* Runner.run({
    lun: lun ?? 0,
    cdb: ReportLuns.cdb({ allocationLength: len }),
    direction: "read",
    readLength: len
  })
  return yield* Effect.fromResult(ReportLuns.decode(r.data))
})

/** REQUEST SENSE: the LUN's current sense data (NO SENSE when nothing is pending). */
export const requestSense = Effect.fn("Scsi.requestSense")(function* (
  lun: number,
  options?: { readonly descriptorFormat?: boolean }
) {
  const r = yield* Runner.run({
    lun,
    cdb: Sense.cdbRequestSense({ descriptorFormat: options?.descriptorFormat, allocationLength: 252 }),
    direction: "read",
    readLength: 252
  })
  return yield* Effect.fromResult(Sense.decode(r.data))
})

/** MODE SENSE (6): header, block descriptors and pages (caching/control decoded when present). */
export const modeSense6 = Effect.fn("Scsi.modeSense6")(function* (lun: number, options?: ModePages.ModeSenseOptions) {
  const len = options?.allocationLength ?? 255
  const r = yield* Runner.run({
    lun,
    cdb: ModePages.cdbModeSense6({ ...options, allocationLength: len }),
    direction: "read",
    readLength: len
  })
  return yield* Effect.fromResult(ModePages.decodeModeSense6(r.data))
})

export const modeSense10 = Effect.fn("Scsi.modeSense10")(function* (lun: number, options?: ModePages.ModeSenseOptions) {
  const len = options?.allocationLength ?? 4096
  const r = yield* Runner.run({
    lun,
    cdb: ModePages.cdbModeSense10({ ...options, allocationLength: len }),
    direction: "read",
    readLength: len
  })
  return yield* Effect.fromResult(ModePages.decodeModeSense10(r.data))
})

/** MODE SELECT (6) with these pages (e.g. `ModePages.encodeCaching(...)`). */
export const modeSelect6 = Effect.fn("Scsi.modeSelect6")(function* (
  lun: number,
  pages: ReadonlyArray<Uint8Array>,
  options?: ModePages.ModeSelectOptions
) {
  const data = ModePages.encodeModeSelect6(pages)
  yield* Runner.run({ lun, cdb: ModePages.cdbModeSelect6(data.length, options), direction: "write", dataOut: data })
})

export const modeSelect10 = Effect.fn("Scsi.modeSelect10")(function* (
  lun: number,
  pages: ReadonlyArray<Uint8Array>,
  options?: ModePages.ModeSelectOptions
) {
  const data = ModePages.encodeModeSelect10(pages)
  yield* Runner.run({ lun, cdb: ModePages.cdbModeSelect10(data.length, options), direction: "write", dataOut: data })
})

/** UNMAP these ranges (thin-provisioned LUNs). */
export const unmap = Effect.fn("Scsi.unmap")(function* (
  lun: number,
  ranges: ReadonlyArray<Unmap.Range>,
  options?: { readonly anchor?: boolean | undefined; readonly group?: number | undefined }
) {
  const data = yield* Effect.fromResult(Unmap.encodeParameterList(ranges))
  yield* Runner.run({ lun, cdb: Unmap.cdb(data.length, options), direction: "write", dataOut: data })
})

/** WRITE SAME (10): `block` (one logical block) written to `blocks` blocks; `unmap: true` deallocates. */
export const writeSame10 = Effect.fn("Scsi.writeSame10")(function* (
  lun: number,
  lba: number,
  blocks: number,
  block: Uint8Array,
  options?: WriteSame.WriteSameOptions
) {
  yield* Runner.run({ lun, cdb: WriteSame.cdb10(lba, blocks, options), direction: "write", dataOut: block })
})

/** WRITE SAME (16); with `ndob: true` pass `undefined` as the block. */
export const writeSame16 = Effect.fn("Scsi.writeSame16")(function* (
  lun: number,
  lba: number,
  blocks: number,
  block: Uint8Array | undefined,
  options?: WriteSame.WriteSameOptions
) {
  yield* Runner.run({
    lun,
    cdb: WriteSame.cdb16(lba, blocks, options),
    direction: block === undefined ? "none" : "write",
    dataOut: block
  })
})

/**
 * COMPARE AND WRITE: atomically compare `compare` with the medium at `lba` and, if equal, write
 * `write`. A mismatch fails with the (non-retryable) Miscompare reason. Not idempotent.
 */
export const compareAndWrite = Effect.fn("Scsi.compareAndWrite")(function* (
  lun: number,
  lba: number,
  compare: Uint8Array,
  write: Uint8Array,
  options?: CompareAndWrite.CompareAndWriteOptions & { readonly blockSize?: number | undefined }
) {
  if (compare.length !== write.length) {
    return yield* ScsiError.invalidArgument(
      `compare (${compare.length} bytes) and write (${write.length} bytes) differ in length`
    )
  }
  const blocks = yield* Effect.fromResult(blocksOf(compare, options?.blockSize ?? (yield* geometry(lun)).blockSize))
  yield* Runner.run({
    lun,
    cdb: CompareAndWrite.cdb(lba, blocks, options),
    direction: "write",
    dataOut: CompareAndWrite.encodeDataOut(compare, write),
    idempotent: false
  })
})

/** PERSISTENT RESERVE IN: raw parameter data for a service action (see `readKeys`, `readReservation`). */
export const persistentReserveIn = Effect.fn("Scsi.persistentReserveIn")(function* (
  lun: number,
  serviceAction: number,
  allocationLength?: number
) {
  const len = allocationLength ?? 4096
  const r = yield* Runner.run({
    lun,
    cdb: PersistentReservation.cdbIn(serviceAction, len),
    direction: "read",
    readLength: len
  })
  return r.data
})

export const readKeys = Effect.fn("Scsi.readKeys")(function* (lun: number) {
  const data = yield* persistentReserveIn(lun, PersistentReservation.InAction.ReadKeys)
  return yield* Effect.fromResult(PersistentReservation.decodeReadKeys(data))
})

export const readReservation = Effect.fn("Scsi.readReservation")(function* (lun: number) {
  const data = yield* persistentReserveIn(lun, PersistentReservation.InAction.ReadReservation)
  return yield* Effect.fromResult(PersistentReservation.decodeReadReservation(data))
})

export const reportCapabilities = Effect.fn("Scsi.reportCapabilities")(function* (lun: number) {
  const data = yield* persistentReserveIn(lun, PersistentReservation.InAction.ReportCapabilities)
  return yield* Effect.fromResult(PersistentReservation.decodeReportCapabilities(data))
})

/** PERSISTENT RESERVE OUT (REGISTER, RESERVE, RELEASE, …). Not idempotent. */
export const persistentReserveOut = Effect.fn("Scsi.persistentReserveOut")(function* (
  lun: number,
  serviceAction: number,
  parameters: PersistentReservation.OutParameters,
  options?: { readonly type?: number | undefined; readonly scope?: number | undefined }
) {
  const data = yield* Effect.fromResult(PersistentReservation.encodeOutParameters(parameters))
  yield* Runner.run({
    lun,
    cdb: PersistentReservation.cdbOut(serviceAction, { ...options, parameterListLength: data.length }),
    direction: "write",
    dataOut: data,
    idempotent: false
  })
})

export const startStopUnit = Effect.fn("Scsi.startStopUnit")(function* (
  lun: number,
  options?: UnitControl.StartStopOptions
) {
  yield* Runner.run({ lun, cdb: UnitControl.cdbStartStopUnit(options), direction: "none" })
})

/**
 * GET LBA STATUS from `lba`: provisioning status descriptors, as many as `allocationLength` bytes
 * hold (default 1032: 64 descriptors). A target may take long per command whatever it returns
 * (tgt: ~20 ms on a 2 GiB thin LUN), so ask for many when mapping a whole LUN: 64 KiB is 4095.
 */
export const getLbaStatus = Effect.fn("Scsi.getLbaStatus")(function* (
  lun: number,
  lba: number,
  options?: { readonly allocationLength?: number | undefined }
) {
  const len = options?.allocationLength ?? 8 + 16 * 64
  const r = yield* Runner.run({
    lun,
    cdb: GetLbaStatus.cdb(lba, { allocationLength: len }),
    direction: "read",
    readLength: len
  })
  return yield* Effect.fromResult(GetLbaStatus.decode(r.data))
})

export interface RawOptions {
  readonly direction: Direction
  readonly dataOut?: Uint8Array | undefined
  readonly readLength?: number | undefined
  /**
   * May the command be sent again after a connection loss or a retryable failure? Default false:
   * nothing is known of a raw CDB, so it is sent once unless you say it is safe to repeat.
   */
  readonly idempotent?: boolean | undefined
}

/** Any CDB: status/sense mapped to `ScsiError` like every command; the transport result on GOOD. */
export const raw = Effect.fn("Scsi.raw")(function* (lun: number, cdb: Uint8Array, options: RawOptions) {
  const result: ScsiResult = yield* Runner.run({
    lun,
    cdb: Result.succeed(cdb),
    direction: options.direction,
    dataOut: options.dataOut,
    readLength: options.readLength,
    idempotent: options.idempotent ?? false
  })
  return result
})

// ---- task management (SAM-5 §7.11: a service of the SCSI transport protocol) ----------------------

const tmf = (name: string, fn: number) =>
  Effect.fn(name)(function* (lun?: number) {
    const transport = yield* Runner.withTransport((t) => Effect.succeed(t))
    if (transport.taskManagement === undefined) {
      return yield* ScsiError.invalidArgument("this transport offers no task management functions")
    }
    yield* transport.taskManagement(fn, { lun: lun ?? transport.lun ?? 0 })
  })

/** ABORT TASK SET: abort every task of this initiator (I_T nexus) on the LUN. */
export const abortTaskSet = tmf("Scsi.abortTaskSet", TaskManagementFunction.AbortTaskSet)
/** CLEAR TASK SET: abort every task on the LUN, of every initiator. */
export const clearTaskSet = tmf("Scsi.clearTaskSet", TaskManagementFunction.ClearTaskSet)
/** CLEAR ACA: clear an auto contingent allegiance on the LUN. */
export const clearAca = tmf("Scsi.clearAca", TaskManagementFunction.ClearAca)
/** LOGICAL UNIT RESET: reset the LUN (its tasks end; others see a Unit Attention). */
export const lunReset = tmf("Scsi.lunReset", TaskManagementFunction.LogicalUnitReset)
/** TARGET WARM RESET: reset every LUN of the target (the LUN argument is ignored). */
export const targetWarmReset = Effect.fn("Scsi.targetWarmReset")(function* () {
  yield* tmf("Scsi.targetWarmReset.tmf", TaskManagementFunction.TargetWarmReset)(0)
})
/** TARGET COLD RESET: as a warm reset, and the target drops every session (ours is reinstated). */
export const targetColdReset = Effect.fn("Scsi.targetColdReset")(function* () {
  yield* tmf("Scsi.targetColdReset.tmf", TaskManagementFunction.TargetColdReset)(0)
})

// ---------------------------------------------------------------------------------------------
// block commands beyond READ/WRITE: ORWRITE, WRITE ATOMIC, PRE-FETCH, PREVENT ALLOW MEDIUM REMOVAL
// ---------------------------------------------------------------------------------------------

/** ORWRITE (16): `data` is ORed into the blocks at `lba` (SBC-4 ORWRITE; idempotent). */
export const orWrite16 = Effect.fn("Scsi.orWrite16")(function* (
  lun: number,
  lba: number,
  data: Uint8Array,
  options?: WriteOptions
) {
  const blocks = yield* Effect.fromResult(blocksOf(data, options?.blockSize ?? (yield* geometry(lun)).blockSize))
  yield* Runner.run({
    lun,
    cdb: ReadWrite.cdbOrWrite16(lba, blocks, options),
    direction: "write",
    dataOut: data,
    exactTransfer: true
  })
})

/**
 * WRITE ATOMIC (16): all of `data` is written or none of it. The device bounds the length
 * (VPD B0h MAXIMUM ATOMIC TRANSFER LENGTH; 0 there means it has no atomic writes).
 */
export const writeAtomic16 = Effect.fn("Scsi.writeAtomic16")(function* (
  lun: number,
  lba: number,
  data: Uint8Array,
  options?: WriteOptions & { readonly boundary?: number | undefined }
) {
  const blocks = yield* Effect.fromResult(blocksOf(data, options?.blockSize ?? (yield* geometry(lun)).blockSize))
  yield* Runner.run({
    lun,
    cdb: ReadWrite.cdbWriteAtomic16(lba, blocks, options),
    direction: "write",
    dataOut: data,
    exactTransfer: true
  })
})

const preFetchProgram = (
  cdb: (lba: number, blocks: number, o?: ReadWrite.PreFetchOptions) => Result.Result<Uint8Array, ScsiError.ScsiError>
) =>
  function* (lun: number, lba: number, blocks: number, options?: ReadWrite.PreFetchOptions) {
    const r = yield* Runner.run({ lun, cdb: cdb(lba, blocks, options), direction: "none" })
    return r.status === ScsiError.Status.ConditionMet
  }

/**
 * PRE-FETCH (10): ask the device to cache `blocks` blocks at `lba` (0 = to the end). True when it
 * answered CONDITION MET (the blocks fit, or will fit, in its cache), false for GOOD.
 */
export const preFetch10 = Effect.fn("Scsi.preFetch10")(preFetchProgram(ReadWrite.cdbPreFetch10))
/** PRE-FETCH (16); see `preFetch10`. */
export const preFetch16 = Effect.fn("Scsi.preFetch16")(preFetchProgram(ReadWrite.cdbPreFetch16))

/** PREVENT ALLOW MEDIUM REMOVAL: `prevent` true locks the medium in, false allows removal. */
export const preventAllowMediumRemoval = Effect.fn("Scsi.preventAllowMediumRemoval")(function* (
  lun: number,
  prevent: boolean
) {
  yield* Runner.run({ lun, cdb: UnitControl.cdbPreventAllowMediumRemoval(prevent), direction: "none" })
})

// ---------------------------------------------------------------------------------------------
// SANITIZE, RESERVE/RELEASE (6)
// ---------------------------------------------------------------------------------------------

/**
 * SANITIZE with `action` (overwrite with a pattern, block erase, cryptographic erase, exit failure
 * mode). Destroys every block of the logical unit. Not idempotent (not replayed after a
 * connection loss). With `immediate` it returns at once: poll `requestSense` for the progress.
 */
export const sanitize = Effect.fn("Scsi.sanitize")(function* (
  lun: number,
  action: Sanitize.Action,
  options?: Sanitize.Options
) {
  const built = yield* Effect.fromResult(Sanitize.build(action, options))
  yield* Runner.run({
    lun,
    cdb: Result.succeed(built.cdb),
    direction: built.parameters.length > 0 ? "write" : "none",
    dataOut: built.parameters.length > 0 ? built.parameters : undefined,
    idempotent: false
  })
})

/** RESERVE (6): reserve the logical unit for this I_T nexus (others get RESERVATION CONFLICT). */
export const reserve6 = Effect.fn("Scsi.reserve6")(function* (lun: number) {
  yield* Runner.run({ lun, cdb: ReservationLegacy.cdbReserve6(), direction: "none" })
})

/** RELEASE (6): release this I_T nexus' RESERVE (6). */
export const release6 = Effect.fn("Scsi.release6")(function* (lun: number) {
  yield* Runner.run({ lun, cdb: ReservationLegacy.cdbRelease6(), direction: "none" })
})

// ---------------------------------------------------------------------------------------------
// EXTENDED COPY and RECEIVE COPY RESULTS
// ---------------------------------------------------------------------------------------------

/**
 * EXTENDED COPY with a parameter list built by `ExtendedCopy.encodeLid1/encodeLid4/encodeBlockCopy`
 * (the LID4 list is recognised by its LIST FORMAT byte when `options.lid4` is not given). Not
 * idempotent: a replay could collide with the first attempt's list identifier.
 */
export const extendedCopy = Effect.fn("Scsi.extendedCopy")(function* (
  lun: number,
  parameterList: Uint8Array,
  options?: { readonly lid4?: boolean | undefined }
) {
  yield* Runner.run({
    lun,
    cdb: ExtendedCopy.cdb(parameterList.length, options),
    direction: "write",
    dataOut: parameterList,
    idempotent: false
  })
})

const receiveCopyResults = (lun: number, serviceAction: number, listId: number, allocationLength: number) =>
  Effect.map(
    Runner.run({
      lun,
      cdb: ExtendedCopy.cdbReceiveCopyResults(serviceAction, listId, allocationLength),
      direction: "read",
      readLength: allocationLength
    }),
    (r) => r.data
  )

/** RECEIVE COPY RESULTS, OPERATING PARAMETERS: the copy manager's limits and descriptor types. */
export const receiveCopyOperatingParameters = Effect.fn("Scsi.receiveCopyOperatingParameters")(function* (lun: number) {
  const data = yield* receiveCopyResults(lun, ExtendedCopy.ReceiveAction.OperatingParameters, 0, 1024)
  return yield* Effect.fromResult(ExtendedCopy.decodeOperatingParameters(data))
})

/** RECEIVE COPY RESULTS, COPY STATUS (LID1) of list `listId`. */
export const receiveCopyStatus = Effect.fn("Scsi.receiveCopyStatus")(function* (lun: number, listId: number) {
  const data = yield* receiveCopyResults(lun, ExtendedCopy.ReceiveAction.CopyStatus, listId, 64)
  return yield* Effect.fromResult(ExtendedCopy.decodeCopyStatus(data))
})

/** RECEIVE COPY RESULTS, COPY STATUS (LID4) of list `listId`. */
export const receiveCopyStatusLid4 = Effect.fn("Scsi.receiveCopyStatusLid4")(function* (lun: number, listId: number) {
  const data = yield* receiveCopyResults(lun, ExtendedCopy.ReceiveAction.CopyStatusLid4, listId, 32 + 252)
  return yield* Effect.fromResult(ExtendedCopy.decodeCopyStatusLid4(data))
})

/** RECEIVE COPY RESULTS, FAILURE DETAILS (LID1) of list `listId`. */
export const receiveCopyFailureDetails = Effect.fn("Scsi.receiveCopyFailureDetails")(function* (
  lun: number,
  listId: number
) {
  const data = yield* receiveCopyResults(lun, ExtendedCopy.ReceiveAction.FailureDetails, listId, 60 + 252)
  return yield* Effect.fromResult(ExtendedCopy.decodeFailureDetails(data))
})

// ---------------------------------------------------------------------------------------------
// REPORT SUPPORTED OPERATION CODES, REPORT TARGET PORT GROUPS
// ---------------------------------------------------------------------------------------------

/**
 * A read whose answer says how long it is (`length`): asked with `initial` bytes, and once more
 * with the length the device said it needs when the first answer was cut off.
 */
const readSized = <A extends { readonly length: number }>(
  lun: number,
  initial: number,
  cdb: (allocationLength: number) => Result.Result<Uint8Array, ScsiError.ScsiError>,
  decode: (data: Uint8Array) => Result.Result<A, ScsiError.ScsiError>
): Command<A> => {
  const ask = (allocationLength: number) =>
    Effect.flatMap(
      Runner.run({ lun, cdb: cdb(allocationLength), direction: "read", readLength: allocationLength }),
      (r) => Effect.fromResult(decode(r.data))
    )
  return Effect.flatMap(ask(initial), (first) => (first.length > initial ? ask(first.length) : Effect.succeed(first)))
}

/**
 * REPORT SUPPORTED OPERATION CODES, all commands (with their timeouts when `timeouts`). Asks again
 * with the length the device said it needs when the first answer was cut off.
 */
export const reportSupportedOperationCodes = Effect.fn("Scsi.reportSupportedOperationCodes")(function* (
  lun: number,
  options?: { readonly timeouts?: boolean | undefined }
) {
  return yield* readSized(
    lun,
    8192,
    (allocationLength) => OperationCodes.cdb({ timeouts: options?.timeouts, allocationLength }),
    OperationCodes.decodeAll
  )
})

/**
 * REPORT SUPPORTED OPERATION CODES for one operation code (and service action): its SUPPORT value,
 * CDB usage data and timeouts. Reporting option 010b with `serviceAction`, else 001b (an opcode
 * without service actions); pass `reportingOptions: 3` for SPC-5's "service action if it has
 * them". SPC-5 answers SUPPORT 001b for an opcode the device does not have; tgt fails the command
 * with ILLEGAL REQUEST instead.
 */
export const reportSupportedOperationCode = Effect.fn("Scsi.reportSupportedOperationCode")(function* (
  lun: number,
  opcode: number,
  options?: {
    readonly serviceAction?: number | undefined
    readonly timeouts?: boolean | undefined
    readonly reportingOptions?: number | undefined
  }
) {
  const reportingOptions =
    options?.reportingOptions ??
    (options?.serviceAction !== undefined
      ? OperationCodes.ReportingOptions.OpcodeAndServiceAction
      : OperationCodes.ReportingOptions.OpcodeOnly)
  const r = yield* Runner.run({
    lun,
    cdb: OperationCodes.cdb({
      reportingOptions,
      opcode,
      serviceAction: options?.serviceAction,
      timeouts: options?.timeouts,
      allocationLength: 512
    }),
    direction: "read",
    readLength: 512
  })
  return yield* Effect.fromResult(OperationCodes.decodeOne(r.data))
})

/** REPORT TARGET PORT GROUPS: the logical unit's ALUA target port groups and their access states. */
export const reportTargetPortGroups = Effect.fn("Scsi.reportTargetPortGroups")(function* (
  lun: number,
  options?: { readonly extended?: boolean | undefined }
) {
  return yield* readSized(
    lun,
    4096,
    (allocationLength) => TargetPortGroups.cdb({ extended: options?.extended, allocationLength }),
    TargetPortGroups.decode
  )
})

// ---------------------------------------------------------------------------------------------
// READ DEFECT DATA, READ TOC
// ---------------------------------------------------------------------------------------------

/** READ DEFECT DATA (10): the primary and/or grown defect list in `format` (default long block). */
export const readDefectData10 = Effect.fn("Scsi.readDefectData10")(function* (
  lun: number,
  options?: DefectData.CdbOptions
) {
  const len = options?.allocationLength ?? 0xffff
  const r = yield* Runner.run({
    lun,
    cdb: DefectData.cdb10({ ...options, allocationLength: len }),
    direction: "read",
    readLength: len
  })
  return yield* Effect.fromResult(DefectData.decode10(r.data))
})

/** READ DEFECT DATA (12). */
export const readDefectData12 = Effect.fn("Scsi.readDefectData12")(function* (
  lun: number,
  options?: DefectData.CdbOptions & { readonly addressDescriptorIndex?: number | undefined }
) {
  const len = options?.allocationLength ?? 0x1_0000
  const r = yield* Runner.run({
    lun,
    cdb: DefectData.cdb12({ ...options, allocationLength: len }),
    direction: "read",
    readLength: len
  })
  return yield* Effect.fromResult(DefectData.decode12(r.data))
})

/** READ TOC/PMA/ATIP, format 0 (TOC) or 1 (session information), of an optical logical unit. */
export const readToc = Effect.fn("Scsi.readToc")(function* (lun: number, options?: ReadToc.CdbOptions) {
  const format = options?.format ?? ReadToc.Format.Toc
  if (format !== ReadToc.Format.Toc && format !== ReadToc.Format.SessionInfo) {
    return yield* ScsiError.invalidArgument(`READ TOC format ${format} is not decoded (0 and 1 are)`)
  }
  const len = options?.allocationLength ?? 804
  const r = yield* Runner.run({
    lun,
    cdb: ReadToc.cdb({ ...options, allocationLength: len }),
    direction: "read",
    readLength: len
  })
  return yield* Effect.fromResult(ReadToc.decode(r.data, { msf: options?.msf }))
})
