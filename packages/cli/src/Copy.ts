/**
 * The copy engine of `iscsi dd`: LUN → file, file → LUN, LUN → LUN (or file → file), in pieces of
 * `bs` bytes with `queueDepth` pieces in flight (each piece is one read then one write, so reads
 * of later pieces overlap writes of earlier ones). LUN sides go through `BlockDevice` (READ/WRITE
 * (10)/(16), SBC-4 §5.14-§5.40); file sides use positional I/O.
 *
 * Everything that can be checked is checked before the first byte moves: `bs` a multiple of every
 * LUN's block size, the source long enough for `count` pieces, the destination LUN large enough,
 * the total a whole number of blocks. Those are `UsageError`s.
 *
 * Not here: opening sessions and files (`Connect`, the CLI), drawing progress (`Progress`).
 */
import type * as BlockDevice from "@effect-iscsi/scsi/BlockDevice"
import type * as Scsi from "@effect-iscsi/scsi/Scsi"
import * as Effect from "effect/Effect"
import { IoError, UsageError } from "./Failure.ts"
import type * as Files from "./internal/files.ts"

/** One side of a copy. */
export type Endpoint =
  | { readonly _tag: "Lun"; readonly label: string; readonly device: BlockDevice.BlockDevice }
  | { readonly _tag: "File"; readonly label: string; readonly file: Files.OpenFile }

export interface Options {
  /** Bytes per piece (default 1 MiB). */
  readonly bs?: number | undefined
  /** Pieces to copy (default: the whole source). */
  readonly count?: number | undefined
  /** Pieces in flight (default 8). */
  readonly queueDepth?: number | undefined
  /** Pieces of `bs` to skip at the start of the source (default 0), like dd's `skip=`. */
  readonly skip?: number | undefined
  /** Pieces of `bs` to skip at the start of the destination (default 0), like dd's `seek=`. */
  readonly seek?: number | undefined
  /** Called with the byte count of every piece written. */
  readonly onProgress?: ((bytes: number) => void) | undefined
}

/** What a copy moves, decided before it starts. */
export interface Plan {
  readonly bs: number
  /** Byte offsets of the first byte in the source and in the destination. */
  readonly srcOffset: number
  readonly dstOffset: number
  readonly total: number
  readonly pieces: number
  readonly queueDepth: number
}

export interface Summary {
  readonly bytes: number
  readonly seconds: number
  /** Decimal megabytes per second. */
  readonly mbPerSec: number
}

export const DEFAULT_BS = 1024 * 1024

const sizeOf = (e: Endpoint): number => (e._tag === "Lun" ? e.device.size : e.file.size)

/** Check the request against both sides (pure). */
export const plan = (src: Endpoint, dst: Endpoint, options: Options = {}): Effect.Effect<Plan, UsageError> => {
  const bs = options.bs ?? DEFAULT_BS
  const qd = options.queueDepth ?? 8
  const fail = (message: string) => Effect.fail(new UsageError({ message }))
  if (!Number.isSafeInteger(bs) || bs <= 0) return fail(`--bs ${bs} must be a positive number of bytes`)
  if (!Number.isInteger(qd) || qd < 1 || qd > 256) return fail(`--qd ${qd} must be 1..256`)
  for (const e of [src, dst]) {
    if (e._tag === "Lun" && bs % e.device.blockSize !== 0) {
      return fail(`--bs ${bs} is not a multiple of the block size ${e.device.blockSize} of ${e.label}`)
    }
  }
  for (const [name, n] of [
    ["skip", options.skip],
    ["seek", options.seek]
  ] as const) {
    if (n !== undefined && (!Number.isSafeInteger(n) || n < 0)) return fail(`--${name} ${n} is invalid`)
  }
  const srcOffset = (options.skip ?? 0) * bs
  const dstOffset = (options.seek ?? 0) * bs
  const srcSize = sizeOf(src)
  if (srcOffset > srcSize) return fail(`--skip ${options.skip} is past the end of ${src.label} (${srcSize} bytes)`)
  let total: number
  if (options.count !== undefined) {
    if (!Number.isSafeInteger(options.count) || options.count < 0) return fail(`--count ${options.count} is invalid`)
    total = options.count * bs
    if (srcOffset + total > srcSize) {
      return fail(
        `${src.label} holds ${srcSize} bytes, fewer than the ${srcOffset + total} that --skip/--count/--bs ask for`
      )
    }
  } else {
    total = srcSize - srcOffset
  }
  for (const e of [src, dst]) {
    if (e._tag === "Lun" && total % e.device.blockSize !== 0) {
      return fail(`${total} bytes is not a whole number of ${e.device.blockSize}-byte blocks of ${e.label}`)
    }
  }
  if (dst._tag === "Lun" && dstOffset + total > dst.device.size) {
    return fail(
      `${dst.label} holds ${dst.device.size} bytes, fewer than the ${dstOffset + total} that --seek and the copy need`
    )
  }
  return Effect.succeed({ bs, srcOffset, dstOffset, total, pieces: Math.ceil(total / bs), queueDepth: qd })
}

const readAt = (
  e: Endpoint,
  offset: number,
  length: number
): Effect.Effect<Uint8Array, Scsi.CommandError | IoError> => {
  if (e._tag === "Lun") return e.device.read(offset / e.device.blockSize, length / e.device.blockSize)
  return Effect.flatMap(e.file.read(offset, length), (data) =>
    data.length === length
      ? Effect.succeed(data)
      : Effect.fail(
          new IoError({ path: e.label, message: `ended at ${offset + data.length} bytes (it shrank while copying)` })
        )
  )
}

const writeAt = (e: Endpoint, offset: number, data: Uint8Array): Effect.Effect<void, Scsi.CommandError | IoError> =>
  e._tag === "Lun" ? e.device.write(offset / e.device.blockSize, data) : e.file.write(offset, data)

/** Run a planned copy. */
export const run = (
  src: Endpoint,
  dst: Endpoint,
  p: Plan,
  onProgress?: (bytes: number) => void
): Effect.Effect<Summary, Scsi.CommandError | IoError | UsageError> =>
  Effect.gen(function* () {
    const start = performance.now()
    yield* Effect.forEach(
      Array.from({ length: p.pieces }, (_, i) => i),
      (i) => {
        const offset = i * p.bs
        const length = Math.min(p.bs, p.total - offset)
        return readAt(src, p.srcOffset + offset, length).pipe(
          Effect.flatMap((data) => writeAt(dst, p.dstOffset + offset, data)),
          Effect.tap(() => Effect.sync(() => onProgress?.(length)))
        )
      },
      { concurrency: p.queueDepth, discard: true }
    )
    const seconds = (performance.now() - start) / 1000
    return {
      bytes: p.total,
      seconds: Math.round(seconds * 1000) / 1000,
      mbPerSec: seconds > 0 ? Math.round((p.total / seconds / 1e6) * 100) / 100 : 0
    }
  })

/** Plan and run. */
export const copy = (
  src: Endpoint,
  dst: Endpoint,
  options: Options = {}
): Effect.Effect<Summary, Scsi.CommandError | IoError | UsageError> =>
  Effect.flatMap(plan(src, dst, options), (p) => run(src, dst, p, options.onProgress))
