import type { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { BlockDevice, Scsi } from "../src/index.ts"
import * as Fake from "./support/FakeDisk.ts"

const run = <A, E>(disk: Fake.FakeDisk, eff: Effect.Effect<A, E, ScsiTransport>, latency = false) =>
  eff.pipe(Scsi.withPolicy({ retries: 3, backoff: () => 0 }), Effect.provide(Fake.layer(disk, { latency })))

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed + (i >> 9)) & 0xff)

const failure = <A, E extends { _tag: string }>(eff: Effect.Effect<A, E>) =>
  Effect.map(Effect.flip(eff), (e) => `${e._tag}/${(e as unknown as { reason: { _tag: string } }).reason._tag}`)

describe("BlockDevice on a fake disk", () => {
  it.effect("discovers capacity once and reads/writes within it", () => {
    const disk = Fake.make({ blockSize: 4096, blocks: 300 })
    return run(
      disk,
      Effect.gen(function* () {
        const dev = yield* BlockDevice.make(1)
        expect([dev.blockSize, dev.blockCount, dev.lastLba, dev.size, dev.thinProvisioned]).toEqual([
          4096,
          300,
          299,
          300 * 4096,
          true
        ])
        const data = pattern(10 * 4096, 1)
        yield* dev.write(290, data)
        expect(yield* dev.read(290, 10)).toEqual(data)
        expect(disk.data.subarray(290 * 4096)).toEqual(data)
        expect(disk.log.filter((r) => r.cdb[0] === 0x9e).length).toBe(1)
      })
    )
  })

  it.effect("large reads and writes are split at maxTransferBytes and reassembled in order", () => {
    const disk = Fake.make({ blocks: 4096 })
    return run(
      disk,
      Effect.gen(function* () {
        const dev = yield* BlockDevice.make(1, { maxTransferBytes: 64 * 1024 })
        expect(dev.maxTransferBlocks).toBe(128)
        const data = pattern(1000 * 512, 3)
        yield* dev.write(5, data)
        expect(yield* dev.read(5, 1000)).toEqual(data)
        const writes = disk.log.filter((r) => r.cdb[0] === 0x2a)
        expect(writes.length).toBe(8)
        expect(writes.every((r) => (r.dataOut?.length ?? 0) <= 64 * 1024)).toBe(true)
      }),
      true
    )
  })

  it.effect("bounds and block-size checks fail typed, before anything is sent", () => {
    const disk = Fake.make({ blocks: 100 })
    return run(
      disk,
      Effect.gen(function* () {
        const dev = yield* BlockDevice.make(1)
        const sent = disk.log.length
        expect(yield* failure(dev.read(99, 2))).toBe("ScsiError/OutOfRange")
        expect(yield* failure(dev.read(100, 1))).toBe("ScsiError/OutOfRange")
        expect(yield* failure(dev.read(-1, 1))).toBe("ScsiError/InvalidArgument")
        expect(yield* failure(dev.write(99, new Uint8Array(1024)))).toBe("ScsiError/OutOfRange")
        expect(yield* failure(dev.write(0, new Uint8Array(100)))).toBe("ScsiError/InvalidArgument")
        expect(yield* failure(Stream.runDrain(dev.readStream({ from: 50, blocks: 51 })))).toBe("ScsiError/OutOfRange")
        expect(disk.log.length).toBe(sent)
        expect((yield* dev.read(99, 1)).length).toBe(512)
      })
    )
  })

  it.effect("readStream: chunks in order, up to queueDepth in flight", () => {
    const disk = Fake.make({ blocks: 1024 })
    disk.data.set(pattern(disk.data.length, 9))
    return run(
      disk,
      Effect.gen(function* () {
        const dev = yield* BlockDevice.make(1)
        const chunks = yield* Stream.runCollect(dev.readStream({ from: 24, chunkBlocks: 100, queueDepth: 3 }))
        expect(chunks.map((c) => c.length / 512)).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 100, 100])
        const all = new Uint8Array(1000 * 512)
        for (const [i, c] of chunks.entries()) all.set(c, i * 100 * 512)
        expect(all).toEqual(disk.data.subarray(24 * 512))
        expect(disk.maxInFlight).toBe(3)
      }),
      true
    )
  })

  it.effect("writeSink: rechunks arbitrary input, pipelines, and writes everything in place", () => {
    const disk = Fake.make({ blocks: 2048 })
    const data = pattern(700 * 512, 5)
    const pieces: Array<Uint8Array> = []
    for (let o = 0, i = 0; o < data.length; i++) {
      const n = Math.min(data.length - o, 1 + ((i * 7919) % 70000))
      pieces.push(data.subarray(o, o + n))
      o += n
    }
    return run(
      disk,
      Effect.gen(function* () {
        const dev = yield* BlockDevice.make(1)
        yield* Stream.run(Stream.fromIterable(pieces), dev.writeSink({ from: 10, chunkBlocks: 64, queueDepth: 4 }))
        expect(disk.data.subarray(10 * 512, 710 * 512)).toEqual(data)
        expect(disk.maxInFlight).toBe(4)
        expect(disk.log.filter((r) => r.cdb[0] === 0x2a).length).toBe(11)
      }),
      true
    )
  })

  it.effect("writeSink: partial trailing block, overflow past the LUN, and write errors fail typed", () => {
    const disk = Fake.make({ blocks: 64 })
    return run(
      disk,
      Effect.gen(function* () {
        const dev = yield* BlockDevice.make(1)
        expect(yield* failure(Stream.run(Stream.make(new Uint8Array(700)), dev.writeSink()))).toBe(
          "ScsiError/InvalidArgument"
        )
        expect(
          yield* failure(Stream.run(Stream.make(new Uint8Array(65 * 512)), dev.writeSink({ chunkBlocks: 16 })))
        ).toBe("ScsiError/OutOfRange")
        expect(
          yield* failure(Stream.run(Stream.make(new Uint8Array(8 * 512)), dev.writeSink({ from: 60, blocks: 4 })))
        ).toBe("ScsiError/OutOfRange")
        disk.faults.push({ _tag: "Status", status: 0x18 })
        expect(
          yield* failure(Stream.run(Stream.make(new Uint8Array(32 * 512)), dev.writeSink({ chunkBlocks: 8 })))
        ).toBe("ScsiError/ReservationConflict")
      })
    )
  })

  it.effect("falls back to READ CAPACITY (10) when (16) is rejected", () => {
    const disk = Fake.make({ blocks: 77 })
    disk.faults.push({
      _tag: "Status",
      status: 2,
      sense: new Uint8Array([0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0])
    })
    return run(
      disk,
      Effect.gen(function* () {
        const dev = yield* BlockDevice.make(1)
        expect([dev.blockCount, dev.thinProvisioned]).toEqual([77, false])
        expect(disk.log.map((r) => r.cdb[0])).toEqual([0x9e, 0x25])
      })
    )
  })
})
