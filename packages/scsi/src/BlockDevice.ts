/**
 * A block device on one LUN: capacity and block size discovered once (READ CAPACITY (16), falling
 * back to (10)), then `read`, `write`, a pipelined `readStream` and a pipelined `writeSink` for bulk
 * transfers. Every range is checked against the capacity, and every buffer against the block size,
 * with a typed `ScsiError` (OutOfRange / InvalidArgument) before anything is sent.
 *
 * Commands: READ (10)/(16) and WRITE (10)/(16) (SBC-4 §5.14, §5.16, §5.38, §5.40), the (16) forms
 * only when the range leaves the (10) limits. Large requests are split into `maxTransferBlocks`
 * pieces; the stream and sink keep up to `queueDepth` commands in flight and deliver in order.
 *
 * `capabilities` asks the LUN once, on first use, what it supports (`Capabilities.discover`: REPORT
 * SUPPORTED OPERATION CODES, VPD B0h/B2h) and keeps the answer: "may I use UNMAP / WRITE SAME (16)
 * with UNMAP / GET LBA STATUS here?" is `(yield* device.capabilities).features.unmap === "supported"`.
 *
 * The methods capture the `ScsiTransport` of `make`, so they need no environment.
 * Not here: caching, partial-block I/O, alignment to physical blocks.
 */
import { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import * as Pool from "@effect-iscsi/core/Pool"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Pull from "effect/Pull"
import * as Semaphore from "effect/Semaphore"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as Capabilities from "./Capabilities.ts"
import type { CommandError } from "./internal/runner.ts"
import type * as ReadWrite from "./ReadWrite.ts"
import * as Scsi from "./Scsi.ts"
import * as ScsiError from "./ScsiError.ts"

export interface StreamOptions {
  /** First LBA (default 0). */
  readonly from?: number | undefined
  /** Blocks in total (default: to the end of the LUN for readStream; unbounded for writeSink). */
  readonly blocks?: number | undefined
  /** Blocks per command (default: 256 KiB worth, at most maxTransferBlocks). */
  readonly chunkBlocks?: number | undefined
  /** Commands in flight (default 4). */
  readonly queueDepth?: number | undefined
  readonly fua?: boolean | undefined
}

export interface BlockDevice {
  readonly lun: number
  readonly blockSize: number
  readonly blockCount: number
  readonly lastLba: number
  /** Bytes. */
  readonly size: number
  /** Logical block provisioning enabled (from READ CAPACITY (16); false when only (10) answered). */
  readonly thinProvisioned: boolean
  /** Largest number of blocks one command carries (larger reads/writes are split). */
  readonly maxTransferBlocks: number
  readonly read: (lba: number, blocks: number) => Effect.Effect<Uint8Array, CommandError>
  /**
   * Read `into.length / blockSize` blocks from `lba` into the caller's buffer (a whole number of
   * blocks): the socket reads large Data-In segments straight into it, no buffer is allocated.
   */
  readonly readInto: (lba: number, into: Uint8Array) => Effect.Effect<void, CommandError>
  readonly write: (
    lba: number,
    data: Uint8Array,
    options?: { readonly fua?: boolean | undefined }
  ) => Effect.Effect<void, CommandError>
  readonly readStream: (options?: StreamOptions) => Stream.Stream<Uint8Array, CommandError>
  /** Consumes chunks of any size; the total must be a multiple of the block size. */
  readonly writeSink: (options?: StreamOptions) => Sink.Sink<void, Uint8Array, never, CommandError>
  /** What the LUN supports, asked on first use and then kept (a failed discovery is asked again). */
  readonly capabilities: Effect.Effect<Capabilities.Capabilities, CommandError>
  /** `Capabilities.support` for one operation code (and service action) of this LUN. */
  readonly supports: (opcode: number, serviceAction?: number) => Effect.Effect<Capabilities.Support, CommandError>
  /**
   * Run any SCSI program on this device's session (`device.run(Scsi.getLbaStatus(device.lun, lba))`):
   * the commands a block device does not wrap, with no `ScsiTransport` in the environment.
   */
  readonly run: <A>(program: Effect.Effect<A, CommandError, ScsiTransport>) => Effect.Effect<A, CommandError>
}

export interface MakeOptions {
  /** Cap on blocks per command (default: 1 MiB worth). */
  readonly maxTransferBytes?: number | undefined
}

const DEFAULT_MAX_TRANSFER_BYTES = 1024 * 1024
const DEFAULT_CHUNK_BYTES = 256 * 1024
const DEFAULT_QUEUE_DEPTH = 4

/**
 * Discover the capacity of `lun` and return its block device. Without `lun`, the LUN the target's
 * URL named (`iscsi://host/iqn…/1`); a URL without one is an `InvalidArgument`.
 */
export const make = Effect.fn("BlockDevice.make")(function* (lunArg?: number, options?: MakeOptions) {
  const transport = yield* ScsiTransport
  const lun = lunArg ?? transport.lun
  if (lun === undefined) {
    return yield* ScsiError.invalidArgument(
      "no LUN: pass one to BlockDevice.make(lun), or name it in the target's URL (iscsi://host/iqn…/LUN)"
    )
  }
  const cap = yield* Scsi.readCapacity16(lun).pipe(
    Effect.map((c) => ({
      lastLba: c.lastLba,
      blockSize: c.blockSize,
      thin: c.lbpme,
      lbpme: c.lbpme as boolean | undefined
    })),
    Effect.catchIf(
      (e) => e._tag === "ScsiError" && e.reason._tag === "CheckCondition" && e.reason.senseKey === 0x05,
      () =>
        Scsi.readCapacity10(lun).pipe(
          Effect.map((c) => ({ lastLba: c.lastLba, blockSize: c.blockSize, thin: false, lbpme: undefined }))
        )
    )
  )
  if (cap.blockSize <= 0) return yield* ScsiError.malformed("capacity", `block size ${cap.blockSize}`)
  transport.geometry?.set(lun, { blockSize: cap.blockSize, blocks: cap.lastLba + 1 })
  const context = yield* Effect.context<ScsiTransport>()
  const provide = <A>(eff: Effect.Effect<A, CommandError, ScsiTransport>): Effect.Effect<A, CommandError> =>
    Effect.provideContext(eff, context)

  const blockSize = cap.blockSize
  const blockCount = cap.lastLba + 1
  const maxTransferBlocks = Math.max(
    1,
    Math.floor((options?.maxTransferBytes ?? DEFAULT_MAX_TRANSFER_BYTES) / blockSize)
  )

  const checkRange = (lba: number, blocks: number): Effect.Effect<void, ScsiError.ScsiError> => {
    if (!Number.isSafeInteger(lba) || lba < 0 || !Number.isSafeInteger(blocks) || blocks < 0) {
      return Effect.fail(ScsiError.invalidArgument(`invalid range lba=${lba} blocks=${blocks}`))
    }
    return lba + blocks > blockCount ? Effect.fail(ScsiError.outOfRange(lba, blocks, blockCount)) : Effect.void
  }

  const fits10 = (lba: number, blocks: number) => lba + blocks <= 0xffff_ffff && blocks <= 0xffff

  /** One command, no checks. */
  const readOne = (lba: number, blocks: number, into: Uint8Array) =>
    fits10(lba, blocks)
      ? Scsi.read10(lun, lba, blocks, { blockSize, into })
      : Scsi.read16(lun, lba, blocks, { blockSize, into })
  const writeOne = (lba: number, data: Uint8Array, fua: boolean | undefined) => {
    const blocks = data.length / blockSize
    const o: ReadWrite.TransferOptions & { blockSize: number } = { blockSize, fua }
    return fits10(lba, blocks) ? Scsi.write10(lun, lba, data, o) : Scsi.write16(lun, lba, data, o)
  }

  const pieces = (lba: number, blocks: number, per: number): Array<readonly [number, number]> => {
    const out: Array<readonly [number, number]> = []
    for (let done = 0; done < blocks; done += per) out.push([lba + done, Math.min(per, blocks - done)])
    return out
  }

  /** The engine places data in `into`; copy only if it handed back another buffer. */
  const discardRead = (eff: Effect.Effect<Uint8Array, CommandError, ScsiTransport>, into: Uint8Array) =>
    Effect.map(eff, (data) => {
      if (data.buffer !== into.buffer || data.byteOffset !== into.byteOffset) into.set(data)
    })

  const read = (lba: number, blocks: number): Effect.Effect<Uint8Array, CommandError> =>
    Effect.gen(function* () {
      yield* checkRange(lba, blocks)
      const out = new Uint8Array(blocks * blockSize)
      yield* Effect.all(
        pieces(lba, blocks, maxTransferBlocks).map(([l, n]) => {
          const into = out.subarray((l - lba) * blockSize, (l - lba + n) * blockSize)
          return discardRead(readOne(l, n, into), into)
        }),
        { concurrency: DEFAULT_QUEUE_DEPTH, discard: true }
      )
      return out
    }).pipe(provide)

  const readInto = (lba: number, into: Uint8Array): Effect.Effect<void, CommandError> =>
    Effect.gen(function* () {
      const blocks = yield* checkData(into)
      yield* checkRange(lba, blocks)
      if (blocks <= maxTransferBlocks) return yield* discardRead(readOne(lba, blocks, into), into)
      yield* Effect.all(
        pieces(lba, blocks, maxTransferBlocks).map(([l, n]) => {
          const part = into.subarray((l - lba) * blockSize, (l - lba + n) * blockSize)
          return discardRead(readOne(l, n, part), part)
        }),
        { concurrency: DEFAULT_QUEUE_DEPTH, discard: true }
      )
    }).pipe(provide)

  const checkData = (data: Uint8Array): Effect.Effect<number, ScsiError.ScsiError> =>
    data.length % blockSize === 0
      ? Effect.succeed(data.length / blockSize)
      : Effect.fail(
          ScsiError.invalidArgument(`data length ${data.length} is not a multiple of the block size ${blockSize}`)
        )

  const write = (
    lba: number,
    data: Uint8Array,
    o?: { readonly fua?: boolean | undefined }
  ): Effect.Effect<void, CommandError> =>
    Effect.gen(function* () {
      const blocks = yield* checkData(data)
      yield* checkRange(lba, blocks)
      yield* Effect.all(
        pieces(lba, blocks, maxTransferBlocks).map(([l, n]) =>
          writeOne(l, data.subarray((l - lba) * blockSize, (l - lba + n) * blockSize), o?.fua)
        ),
        { concurrency: DEFAULT_QUEUE_DEPTH, discard: true }
      )
    }).pipe(provide)

  const chunkBlocksOf = (o: StreamOptions | undefined) =>
    Math.max(1, Math.min(maxTransferBlocks, o?.chunkBlocks ?? Math.floor(DEFAULT_CHUNK_BYTES / blockSize)))
  const depthOf = (o: StreamOptions | undefined) => Math.max(1, o?.queueDepth ?? DEFAULT_QUEUE_DEPTH)

  const readStream = (o?: StreamOptions): Stream.Stream<Uint8Array, CommandError> => {
    const from = o?.from ?? 0
    const blocks = o?.blocks ?? Math.max(0, blockCount - from)
    const per = chunkBlocksOf(o)
    return Stream.unwrap(
      Effect.as(checkRange(from, blocks), Stream.fromIterable(pieces(from, blocks, per))).pipe(
        Effect.map((s) =>
          Stream.mapEffect(s, ([l, n]) => provide(readOne(l, n, new Uint8Array(n * blockSize))), {
            concurrency: depthOf(o)
          })
        )
      )
    )
  }

  const writeSink = (o?: StreamOptions): Sink.Sink<void, Uint8Array, never, CommandError> =>
    Sink.fromTransform((upstream, scope) =>
      Effect.gen(function* () {
        const from = o?.from ?? 0
        const limit = o?.blocks === undefined ? blockCount - from : o.blocks
        yield* checkRange(from, Math.max(0, Math.min(limit, blockCount - from)))
        const chunkBytes = chunkBlocksOf(o) * blockSize
        const slots = yield* Semaphore.make(depthOf(o))
        const failed = yield* Deferred.make<never, CommandError>()
        const fibers: Array<Fiber.Fiber<void, CommandError>> = []
        let lba = from
        let pending = new Uint8Array(chunkBytes)
        let filled = 0

        const submit = (buf: Uint8Array) =>
          Effect.gen(function* () {
            const blocks = buf.length / blockSize
            if (lba + blocks > from + limit || lba + blocks > blockCount) {
              return yield* ScsiError.outOfRange(lba, blocks, Math.min(blockCount, from + limit))
            }
            if (yield* Deferred.isDone(failed)) return yield* Deferred.await(failed)
            yield* slots.take(1)
            const at = lba
            lba += blocks
            const fiber = yield* writeOne(at, buf, o?.fua).pipe(
              provide,
              Effect.tapError((e) => Deferred.fail(failed, e)),
              Effect.ensuring(slots.release(1)),
              Effect.forkIn(scope)
            )
            fibers.push(fiber)
          })

        const consume = (chunks: ReadonlyArray<Uint8Array>) =>
          Effect.gen(function* () {
            for (const chunk of chunks) {
              let off = 0
              while (off < chunk.length) {
                const n = Math.min(chunkBytes - filled, chunk.length - off)
                pending.set(chunk.subarray(off, off + n), filled)
                filled += n
                off += n
                if (filled === chunkBytes) {
                  const full = pending
                  pending = new Uint8Array(chunkBytes)
                  filled = 0
                  yield* submit(full)
                }
              }
            }
          })

        const finish = Effect.gen(function* () {
          if (filled % blockSize !== 0) {
            return yield* ScsiError.invalidArgument(`stream ended with ${filled % blockSize} bytes of a partial block`)
          }
          if (filled > 0) yield* submit(pending.subarray(0, filled))
          for (const f of fibers) yield* Fiber.join(f)
          return [undefined] as Sink.End<void>
        })

        return yield* upstream.pipe(
          Effect.flatMap(consume),
          Effect.forever({ disableYield: true }),
          Pull.catchDone(() => finish)
        )
      })
    )

  let known: Capabilities.Capabilities | undefined
  const capabilities: Effect.Effect<Capabilities.Capabilities, CommandError> = Effect.suspend(() =>
    known !== undefined
      ? Effect.succeed(known)
      : Effect.tap(provide(Capabilities.discover(lun, { lbpme: cap.lbpme })), (c) =>
          Effect.sync(() => {
            known = c
          })
        )
  )
  const supports = (opcode: number, serviceAction?: number) =>
    Effect.map(capabilities, (c) => Capabilities.support(c, opcode, serviceAction))

  const device: BlockDevice = {
    lun,
    blockSize,
    blockCount,
    lastLba: cap.lastLba,
    size: blockCount * blockSize,
    thinProvisioned: cap.thin,
    maxTransferBlocks,
    read,
    readInto,
    write,
    readStream,
    writeSink,
    capabilities,
    supports,
    run: provide
  }
  return device
})

/**
 * The block device of a target's LUN named by an iSCSI URL (`iscsi://host/iqn…/LUN`) on the `Pool`
 * in context, held for the current scope: the pool logs in (or shares its session) and the device
 * captures it.
 */
export const open = (url: string, options?: MakeOptions) =>
  Effect.flatMap(Effect.service(Pool.Pool), (pool) =>
    Effect.flatMap(pool.acquire(url), (session) =>
      Effect.provideService(make(undefined, options), ScsiTransport, Pool.transportOf(session))
    )
  )
