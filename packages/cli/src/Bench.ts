/**
 * The benchmark loop of `iscsi bench` (and of the project's benchmark scripts): `queueDepth`
 * workers keep one READ or WRITE each in flight on a `BlockDevice` for `durationSeconds`,
 * sequential (one shared cursor that wraps) or random (uniform, aligned to the I/O size), and every
 * completion's latency is recorded. The result: IOPS, MB/s (decimal), latency p50/p99 in µs.
 *
 * Like libiscsi's `iscsi-perf` but it also writes (`write: true`), and then only to the LUN it was
 * given: the caller opens the device, this module never chooses one.
 *
 * Each I/O is one READ (10)/WRITE (10) (the (16) forms past LBA 2^32) sent straight through the
 * `ScsiTransport` of the environment into a per-worker buffer: the device only supplies the geometry,
 * so its splitting and bounds bookkeeping stay out of the measurement.
 *
 * Not here: opening sessions or devices (`Connect`), printing (`Cli`).
 */
import type { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import type * as BlockDevice from "@effect-iscsi/scsi/BlockDevice"
import * as Scsi from "@effect-iscsi/scsi/Scsi"
import * as Effect from "effect/Effect"
import { UsageError } from "./Failure.ts"

export interface Options {
  /** Commands in flight (default 16). */
  readonly queueDepth?: number | undefined
  /** Bytes per command, a multiple of the block size (default 4096, or one block if larger). */
  readonly blockBytes?: number | undefined
  /** Random offsets instead of sequential (default false). */
  readonly random?: boolean | undefined
  /** WRITE instead of READ (default false). Overwrites the region. */
  readonly write?: boolean | undefined
  /** How long to run (default 5 s). */
  readonly durationSeconds?: number | undefined
  /** Blocks to use, from `fromLba` (default: the whole LUN). */
  readonly fromLba?: number | undefined
  readonly blocks?: number | undefined
  /** Called after every completion (for a live display); keep it cheap. */
  readonly onComplete?: ((ios: number, bytes: number) => void) | undefined
}

export interface Result {
  readonly iops: number
  /** Decimal megabytes per second. */
  readonly mbPerSec: number
  /** Median latency, µs. */
  readonly p50Us: number
  /** 99th percentile latency, µs. */
  readonly p99Us: number
  readonly ios: number
  readonly bytes: number
  readonly seconds: number
}

/** Nearest-rank percentile of ascending `sorted` (0 when empty). */
export const percentile = (sorted: ArrayLike<number>, p: number): number => {
  if (sorted.length === 0) return 0
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** The figures from per-I/O latencies (µs), the bytes moved and the wall time. */
export const summarize = (latenciesUs: ArrayLike<number>, bytes: number, seconds: number): Result => {
  const sorted = Float64Array.from(latenciesUs).sort()
  const ios = sorted.length
  const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits
  return {
    iops: seconds > 0 ? Math.round(ios / seconds) : 0,
    mbPerSec: seconds > 0 ? round(bytes / seconds / 1e6, 2) : 0,
    p50Us: round(percentile(sorted, 50), 1),
    p99Us: round(percentile(sorted, 99), 1),
    ios,
    bytes,
    seconds: round(seconds, 3)
  }
}

/** A fixed, non-trivial write pattern (so thin LUNs and compressing targets store real data). */
const pattern = (length: number): Uint8Array => {
  const b = new Uint8Array(length)
  let x = 0x9e3779b9
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    b[i] = x >>> 24
  }
  return b
}

/** Run the benchmark on `device` (its LUN, through the session of the environment). */
export const run = (
  device: BlockDevice.BlockDevice,
  options: Options = {}
): Effect.Effect<Result, Scsi.CommandError | UsageError, ScsiTransport> =>
  Effect.gen(function* () {
    const qd = options.queueDepth ?? 16
    const bs = options.blockBytes ?? Math.max(4096, device.blockSize)
    const seconds = options.durationSeconds ?? 5
    const from = options.fromLba ?? 0
    const regionBlocks = options.blocks ?? device.blockCount - from
    if (!Number.isInteger(qd) || qd < 1 || qd > 1024) {
      return yield* new UsageError({ message: `queue depth ${qd} must be 1..1024` })
    }
    if (!Number.isInteger(bs) || bs <= 0 || bs % device.blockSize !== 0) {
      return yield* new UsageError({
        message: `I/O size ${bs} bytes is not a multiple of the LUN's block size ${device.blockSize}`
      })
    }
    if (!(seconds > 0)) return yield* new UsageError({ message: `duration ${seconds} s must be positive` })
    const per = bs / device.blockSize
    if (from < 0 || regionBlocks < per || from + regionBlocks > device.blockCount) {
      return yield* new UsageError({
        message: `the region (${regionBlocks} blocks from LBA ${from}) does not fit one ${bs}-byte I/O on this LUN (${device.blockCount} blocks)`
      })
    }
    const slots = Math.floor(regionBlocks / per)
    const data = options.write === true ? pattern(bs) : undefined
    let latencies = new Float64Array(1 << 16)
    let ios = 0
    let cursor = 0
    const record = (us: number) => {
      if (ios === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2)
        bigger.set(latencies)
        latencies = bigger
      }
      latencies[ios++] = us
      options.onComplete?.(ios, ios * bs)
    }
    const nextLba = () => from + (options.random === true ? Math.floor(Math.random() * slots) : cursor++ % slots) * per

    const start = performance.now()
    const deadline = start + seconds * 1000
    let last = start
    const lun = device.lun
    const blockSize = device.blockSize
    const fits10 = (lba: number) => lba + per <= 0xffff_ffff && per <= 0xffff
    const worker = Effect.gen(function* () {
      const into = new Uint8Array(bs)
      while (performance.now() < deadline) {
        const lba = nextLba()
        const t0 = performance.now()
        if (data !== undefined) {
          yield* fits10(lba) ? Scsi.write10(lun, lba, data, { blockSize }) : Scsi.write16(lun, lba, data, { blockSize })
        } else {
          yield* fits10(lba)
            ? Scsi.read10(lun, lba, per, { blockSize, into })
            : Scsi.read16(lun, lba, per, { blockSize, into })
        }
        last = performance.now()
        record((last - t0) * 1000)
      }
    })
    yield* Effect.forEach(
      Array.from({ length: qd }, () => worker),
      (w) => w,
      { concurrency: qd, discard: true }
    )
    return summarize(latencies.subarray(0, ios), ios * bs, (last - start) / 1000)
  })
