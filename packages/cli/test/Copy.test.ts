/**
 * The dd copy engine against in-memory files and LUNs: what reaches the destination is the source,
 * byte for byte, for every kind of destination (a fresh file, an existing file, a thin LUN that
 * deallocates with WRITE SAME (16) UNMAP and reads back zeros, a LUN without provisioning); zero
 * runs are left out only where the destination reads them back as zeros; a thin source's
 * deallocated ranges (GET LBA STATUS) are never read; a worker's buffer never carries one piece's
 * bytes into another. Zero-run detection is checked against a byte-by-byte scan.
 *
 * The fake LUN is a `BlockDevice` over a Uint8Array with a per-block "mapped" map; its `run` answers
 * WRITE SAME (16) and GET LBA STATUS through a `ScsiTransport` that parses the CDBs the scsi package
 * builds (at most `descriptorsPerCall` descriptors per GET LBA STATUS, as a target may).
 */
import { describe, expect, it } from "@effect/vitest"
import { type ScsiRequest, type ScsiResult, ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import type * as BlockDevice from "@effect-iscsi/scsi/BlockDevice"
import * as Capabilities from "@effect-iscsi/scsi/Capabilities"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Copy from "../src/Copy.ts"
import type * as Files from "../src/internal/files.ts"
import * as Zeros from "../src/internal/zeros.ts"

// ---- fakes ----------------------------------------------------------------------------------------

interface MemFile extends Files.OpenFile {
  readonly bytes: () => Uint8Array
  readonly writes: Array<readonly [number, number]>
}

/** A regular file in memory; `fresh` as if just created with "w". */
const memFile = (initial: Uint8Array, fresh: boolean, allocated = initial.length): MemFile => {
  let data = initial.slice()
  const writes: Array<readonly [number, number]> = []
  const grow = (n: number) => {
    if (n > data.length) {
      const d = new Uint8Array(n)
      d.set(data)
      data = d
    }
  }
  return {
    path: "mem",
    size: data.length,
    allocated,
    regular: true,
    fresh,
    bytes: () => data,
    writes,
    read: (offset, length) => Effect.sync(() => data.slice(offset, Math.min(data.length, offset + length))),
    readInto: (offset, into) =>
      Effect.sync(() => {
        const part = data.subarray(offset, Math.min(data.length, offset + into.length))
        into.set(part)
        return part.length
      }),
    write: (offset, chunk) =>
      Effect.sync(() => {
        grow(offset + chunk.length)
        data.set(chunk, offset)
        writes.push([offset, chunk.length])
      }),
    truncate: (size) =>
      Effect.sync(() => {
        if (size < data.length) data = data.slice(0, size)
        else grow(size)
      })
  }
}

interface MemLunOptions {
  readonly blockSize?: number
  /** Thin: LBPME, WRITE SAME (16) with UNMAP (LBPWS), LBPRZ, GET LBA STATUS. */
  readonly thin?: boolean
  /** Descriptors per GET LBA STATUS answer (default: all that fit). */
  readonly descriptorsPerCall?: number
}

interface MemLun {
  readonly device: BlockDevice.BlockDevice
  readonly data: Uint8Array
  /** 1 = mapped, per block. */
  readonly mapped: Uint8Array
  /** What was sent: ["read" | "write" | "same" | "status", lba, blocks]. */
  readonly log: Array<readonly [string, number, number]>
}

const be = (b: Uint8Array, o: number, n: number): number => {
  let v = 0
  for (let i = 0; i < n; i++) v = v * 256 + b[o + i]!
  return v
}
const put = (b: Uint8Array, o: number, n: number, v: number) => {
  let x = v
  for (let i = n - 1; i >= 0; i--) {
    b[o + i] = x % 256
    x = Math.floor(x / 256)
  }
}
const good = (data = new Uint8Array(0)): ScsiResult => ({
  status: 0,
  data,
  response: 0,
  underflow: false,
  overflow: false,
  residualCount: 0,
  bidiUnderflow: false,
  bidiOverflow: false,
  bidiResidualCount: 0
})

const memLun = (content: Uint8Array, mapped: Uint8Array | undefined, o: MemLunOptions = {}): MemLun => {
  const blockSize = o.blockSize ?? 512
  const data = content.slice()
  const blockCount = data.length / blockSize
  const map = mapped?.slice() ?? new Uint8Array(blockCount).fill(1)
  const log: Array<readonly [string, number, number]> = []
  const thin = o.thin === true
  const check = (lba: number, blocks: number) => {
    if (lba < 0 || blocks < 0 || lba + blocks > blockCount) throw new Error(`out of range ${lba}+${blocks}`)
  }
  const answer = (req: ScsiRequest): ScsiResult => {
    const c = req.cdb
    if (c[0] === 0x93) {
      const lba = be(c, 2, 8)
      const n = be(c, 10, 4)
      check(lba, n)
      const unmap = (c[1]! & 0x08) !== 0
      if (unmap && !thin) throw new Error("WRITE SAME with UNMAP on a LUN without provisioning")
      const block = req.dataOut!
      for (let i = 0; i < n; i++) {
        data.set(block.subarray(0, blockSize), (lba + i) * blockSize)
        map[lba + i] = unmap && block.every((x) => x === 0) ? 0 : 1
      }
      log.push(["same", lba, n])
      return good()
    }
    if (c[0] === 0x9e && (c[1]! & 0x1f) === 0x12) {
      if (!thin) throw new Error("GET LBA STATUS on a LUN without provisioning")
      const lba = be(c, 2, 8)
      const room = Math.floor((be(c, 10, 4) - 8) / 16)
      const most = Math.min(room, o.descriptorsPerCall ?? room)
      const ds: Array<[number, number, number]> = []
      for (let at = lba; at < blockCount && ds.length < most; ) {
        let end = at
        while (end < blockCount && map[end] === map[at]) end++
        ds.push([at, end - at, map[at] === 1 ? 0 : 1])
        at = end
      }
      const d = new Uint8Array(8 + 16 * ds.length)
      put(d, 0, 4, 4 + 16 * ds.length)
      ds.forEach(([l, n, s], i) => {
        put(d, 8 + 16 * i, 8, l)
        put(d, 16 + 16 * i, 4, n)
        d[20 + 16 * i] = s
      })
      log.push(["status", lba, ds.length])
      return good(d)
    }
    throw new Error(`unexpected CDB ${c[0]!.toString(16)}`)
  }
  const transport = ScsiTransport.of({ execute: (req) => Effect.sync(() => answer(req)) })
  const lbp = {
    thresholdExponent: 0,
    lbpu: thin,
    lbpws: thin,
    lbpws10: thin,
    lbprz: thin ? 1 : 0,
    ancSup: false,
    dp: false,
    minimumPercentage: 0,
    provisioningType: thin ? 2 : 0,
    thresholdPercentage: 0
  }
  const device: BlockDevice.BlockDevice = {
    lun: 1,
    blockSize,
    blockCount,
    lastLba: blockCount - 1,
    size: data.length,
    thinProvisioned: thin,
    maxTransferBlocks: 1 << 20,
    read: (lba, blocks) =>
      Effect.sync(() => {
        check(lba, blocks)
        log.push(["read", lba, blocks])
        return data.slice(lba * blockSize, (lba + blocks) * blockSize)
      }),
    readInto: (lba, into) =>
      Effect.sync(() => {
        const blocks = into.length / blockSize
        check(lba, blocks)
        log.push(["read", lba, blocks])
        into.set(data.subarray(lba * blockSize, (lba + blocks) * blockSize))
      }),
    write: (lba, chunk) =>
      Effect.sync(() => {
        const blocks = chunk.length / blockSize
        check(lba, blocks)
        log.push(["write", lba, blocks])
        data.set(chunk, lba * blockSize)
        map.fill(1, lba, lba + blocks)
      }),
    readStream: () => {
      throw new Error("unused")
    },
    writeSink: () => {
      throw new Error("unused")
    },
    capabilities: Effect.succeed(Capabilities.make({ lbpme: thin, provisioning: lbp })),
    supports: () => Effect.succeed("unknown"),
    run: (program) => Effect.provideService(program, ScsiTransport, transport)
  }
  return { device, data, mapped: map, log }
}

const lunEndpoint = (l: MemLun): Copy.Endpoint => ({ _tag: "Lun", label: "lun", device: l.device })
const fileEndpoint = (f: MemFile): Copy.Endpoint => ({ _tag: "File", label: "file", file: f })

/** Random bytes, with the given 512-byte blocks zero. */
const image = (blocks: number, zero: (i: number) => boolean, seed = 1): Uint8Array => {
  const d = new Uint8Array(blocks * 512)
  let x = seed
  for (let i = 0; i < d.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    d[i] = zero(i >> 9) ? 0 : (x >>> 16) | 1
  }
  return d
}

const junk = (n: number) => image(n / 512, () => false, 77)

// ---- zero runs ------------------------------------------------------------------------------------

describe("Zeros.dataRuns", () => {
  it("the runs cover exactly the granules with a non-zero byte", () =>
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 40_000 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.constantFrom(512, 4096),
        (bytes, zeroSpans, granule) => {
          const d = new Uint8Array(bytes)
          // carve zero stretches so that whole granules are zero often
          for (const z of zeroSpans) {
            const at = d.length === 0 ? 0 : z % d.length
            d.fill(0, at, Math.min(d.length, at + ((z >> 3) % 9000)))
          }
          const expected: Array<readonly [number, number]> = []
          for (let at = 0; at < d.length; at += granule) {
            const end = Math.min(d.length, at + granule)
            if (!d.subarray(at, end).some((x) => x !== 0)) continue
            const last = expected[expected.length - 1]
            if (last !== undefined && last[1] === at) expected[expected.length - 1] = [last[0], end]
            else expected.push([at, end])
          }
          expect(Zeros.dataRuns(d, granule)).toEqual(expected)
          expect(Zeros.isZero(d)).toBe(d.every((x) => x === 0))
        }
      ),
      { numRuns: 200 }
    ))
})

// ---- copies ---------------------------------------------------------------------------------------

describe("Copy.run", () => {
  const BLOCKS = 96
  // data in a few places, the rest zeros: blocks 0, 9..10, 40, 95
  const dataAt = new Set([0, 9, 10, 40, 95])
  const src = image(BLOCKS, (i) => !dataAt.has(i))
  // with --bs 8192 the granule is 4 KiB (8 blocks): those holding a data block are written whole
  const dataGranule = (i: number) => [...dataAt].some((d) => d >> 3 === i >> 3)
  const zeroBytes = Array.from({ length: BLOCKS }, (_, i) => i).filter((i) => !dataGranule(i)).length * 512

  it.effect("LUN → new file: zero runs become holes, the file gets its length", () =>
    Effect.gen(function* () {
      const lun = memLun(src, undefined)
      const out = memFile(new Uint8Array(0), true)
      const s = yield* Copy.copy(lunEndpoint(lun), fileEndpoint(out), { bs: 8192, queueDepth: 3 })
      expect(out.bytes()).toEqual(src)
      expect(s).toMatchObject({ zeros: "hole", zeroBytes, unreadBytes: 0 })
      // only the 512-byte granules with data were written (bs 8192 allows 4 KiB granules: 8 blocks)
      for (const [at, n] of out.writes) expect(src.subarray(at, at + n).some((x) => x !== 0)).toBe(true)
    })
  )

  it.effect("LUN → existing file: every byte written over the old content", () =>
    Effect.gen(function* () {
      const lun = memLun(src, undefined)
      const out = memFile(junk(src.length), false)
      const s = yield* Copy.copy(lunEndpoint(lun), fileEndpoint(out), { bs: 4096, queueDepth: 2 })
      expect(out.bytes()).toEqual(src)
      expect(s).toMatchObject({ zeros: "data", zeroBytes: 0 })
    })
  )

  it.effect("file → thin LUN: zero runs deallocated with WRITE SAME (16) UNMAP, data written, old data gone", () =>
    Effect.gen(function* () {
      const lun = memLun(junk(src.length), undefined, { thin: true })
      const s = yield* Copy.copy(fileEndpoint(memFile(src, false)), lunEndpoint(lun), { bs: 8192, queueDepth: 4 })
      expect(lun.data).toEqual(src)
      expect(s).toMatchObject({ zeros: "writeSameUnmap", zeroBytes })
      const same = lun.log.filter(([op]) => op === "same").reduce((n, [, , b]) => n + b, 0)
      const written = lun.log.filter(([op]) => op === "write").reduce((n, [, , b]) => n + b, 0)
      expect(same * 512).toBe(zeroBytes)
      expect(written).toBe(BLOCKS - same)
      for (let i = 0; i < BLOCKS; i++) expect(lun.mapped[i]).toBe(dataGranule(i) ? 1 : 0)
    })
  )

  it.effect("sparse file → thin LUN: the whole range deallocated first, then only the data runs written", () =>
    Effect.gen(function* () {
      const lun = memLun(junk(2 * src.length), undefined, { thin: true })
      // a file the file system holds 5 blocks of: sparse
      const from = memFile(src, false, dataAt.size * 512)
      const s = yield* Copy.copy(fileEndpoint(from), lunEndpoint(lun), { bs: 8192, seek: 2, queueDepth: 4 })
      expect(lun.data.subarray(2 * 8192, 2 * 8192 + src.length)).toEqual(src)
      expect(s).toMatchObject({ zeros: "writeSameUnmap", zeroBytes })
      const same = lun.log.filter(([op]) => op === "same")
      expect(same).toEqual([["same", 32, BLOCKS]])
      expect(lun.log.findIndex(([op]) => op === "write")).toBeGreaterThan(lun.log.indexOf(same[0]!))
    })
  )

  it.effect("file → LUN without provisioning: the zeros are written (nothing old survives), no WRITE SAME", () =>
    Effect.gen(function* () {
      const lun = memLun(junk(src.length), undefined)
      const s = yield* Copy.copy(fileEndpoint(memFile(src, false)), lunEndpoint(lun), { bs: 8192 })
      expect(lun.data).toEqual(src)
      expect(s).toMatchObject({ zeros: "data", zeroBytes: 0 })
      expect(lun.log.some(([op]) => op === "same")).toBe(false)
    })
  )

  it.effect("--no-sparse: a thin LUN gets every zero written", () =>
    Effect.gen(function* () {
      const lun = memLun(junk(src.length), undefined, { thin: true })
      const s = yield* Copy.copy(fileEndpoint(memFile(src, false)), lunEndpoint(lun), { bs: 8192, sparse: false })
      expect(lun.data).toEqual(src)
      expect(s).toMatchObject({ zeros: "data", zeroBytes: 0 })
      expect(lun.log.some(([op]) => op === "same" || op === "status")).toBe(false)
    })
  )

  it.effect("thin LUN → file: deallocated ranges are not read (GET LBA STATUS, 2 descriptors per answer)", () =>
    Effect.gen(function* () {
      const mapped = new Uint8Array(BLOCKS).map((_, i) => (dataAt.has(i) ? 1 : 0))
      const lun = memLun(src, mapped, { thin: true, descriptorsPerCall: 2 })
      const out = memFile(new Uint8Array(0), true)
      const s = yield* Copy.copy(lunEndpoint(lun), fileEndpoint(out), { bs: 4096, queueDepth: 3 })
      expect(out.bytes()).toEqual(src)
      expect(s.unreadBytes).toBe((BLOCKS - dataAt.size) * 512)
      for (const [op, lba, n] of lun.log)
        if (op === "read") for (let i = lba; i < lba + n; i++) expect(dataAt.has(i)).toBe(true)
    })
  )

  it.effect("thin LUN → LUN without provisioning: deallocated ranges arrive as zeros, never as a previous piece", () =>
    Effect.gen(function* () {
      const mapped = new Uint8Array(BLOCKS).map((_, i) => (dataAt.has(i) ? 1 : 0))
      const from = memLun(src, mapped, { thin: true })
      const to = memLun(junk(src.length), undefined)
      // one worker: its buffer carries every piece, each read only in part
      const s = yield* Copy.copy(lunEndpoint(from), lunEndpoint(to), { bs: 2048, queueDepth: 1 })
      expect(to.data).toEqual(src)
      expect(s).toMatchObject({ zeros: "data", unreadBytes: (BLOCKS - dataAt.size) * 512 })
    })
  )

  it.effect("skip and seek with a thin source and a thin destination", () =>
    Effect.gen(function* () {
      const mapped = new Uint8Array(BLOCKS).map((_, i) => (dataAt.has(i) ? 1 : 0))
      const from = memLun(src, mapped, { thin: true, descriptorsPerCall: 1 })
      const before = junk(2 * src.length)
      const to = memLun(before, undefined, { thin: true })
      // pieces of 8 blocks: skip the first two, put the next 8 pieces after the destination's first 3
      yield* Copy.copy(lunEndpoint(from), lunEndpoint(to), { bs: 4096, skip: 2, seek: 3, count: 8 })
      expect(to.data.subarray(3 * 4096, 11 * 4096)).toEqual(src.subarray(2 * 4096, 10 * 4096))
      expect(to.data.subarray(0, 3 * 4096)).toEqual(before.subarray(0, 3 * 4096))
      expect(to.data.subarray(11 * 4096)).toEqual(before.subarray(11 * 4096))
    })
  )

  it("a 512-byte thin source into 4096-byte LUNs: runs and holes cut on the larger blocks", () =>
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(0, 1, 2), { minLength: 8, maxLength: 160 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        (raw, bsUnits, qd, thinDst) => {
          const layout = raw.slice(0, raw.length - (raw.length % 8))
          const data = image(layout.length, (i) => layout[i] !== 2, layout.length)
          const mapped = Uint8Array.from(layout, (x) => (x === 0 ? 0 : 1))
          const source = memLun(data, mapped, { thin: true, descriptorsPerCall: 4 })
          const dst = memLun(junk(data.length), undefined, { thin: thinDst, blockSize: 4096 })
          Effect.runSync(Copy.copy(lunEndpoint(source), lunEndpoint(dst), { bs: bsUnits * 4096, queueDepth: qd }))
          expect(dst.data).toEqual(data)
        }
      ),
      { numRuns: 100 }
    ))

  it("whatever the layout, transfer size and queue depth, the destination ends equal to the source", () =>
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(0, 1, 2), { minLength: 1, maxLength: 160 }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom("fresh", "file", "thin", "plain"),
        fc.boolean(),
        (layout, bsBlocks, qd, kind, thinSource) => {
          // the source: a thin LUN (0 = deallocated), or a file that is sparse when mostly zeros
          // per block: 0 deallocated (zeros), 1 zeros but mapped, 2 data
          const blocks = layout.length
          const data = image(blocks, (i) => layout[i] !== 2, blocks)
          const mapped = Uint8Array.from(layout, (x) => (x === 0 ? 0 : 1))
          const source = thinSource
            ? memLun(data, mapped, { thin: true, descriptorsPerCall: 3 })
            : memFile(data, false, layout.filter((x) => x === 2).length * 512)
          const dst =
            kind === "fresh"
              ? memFile(new Uint8Array(0), true)
              : kind === "file"
                ? memFile(junk(data.length), false)
                : memLun(junk(data.length), undefined, { thin: kind === "thin" })
          Effect.runSync(
            Copy.copy(
              "device" in source ? lunEndpoint(source) : fileEndpoint(source),
              "device" in dst ? lunEndpoint(dst) : fileEndpoint(dst),
              {
                bs: bsBlocks * 512,
                queueDepth: qd
              }
            )
          )
          expect("device" in dst ? dst.data : dst.bytes()).toEqual(data)
        }
      ),
      { numRuns: 100 }
    ))
})
