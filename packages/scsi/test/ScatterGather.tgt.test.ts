/**
 * Scatter-gather READ/WRITE (libiscsi's `*_iov`) against tgtd: written from lists of odd-sized
 * buffers, read back into a different split, checked against the backing file — on the default
 * target (InitialR2T=Yes, 8 KiB PDUs: Data-Out PDUs cut across buffer boundaries) and on the tuned
 * one (InitialR2T=No, immediate and unsolicited data, 256 KiB PDUs, several R2Ts, CRC32C header and
 * data digests: digests computed over the pieces). LBA ranges: disk LUN 1 7100..7999, tuned LUN 1
 * 100000..101999 (the session tests use up to ~70000).
 */
import type * as IscsiError from "@effect-iscsi/core/IscsiError"
import type * as Negotiation from "@effect-iscsi/core/Negotiation"
import * as Pool from "@effect-iscsi/core/Pool"
import type { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import { tgt } from "@effect-iscsi/testing/Provided"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import { Scsi } from "../src/index.ts"

interface ClientModule {
  readonly IscsiClient: {
    readonly layer: (options: {
      readonly url: string
      readonly offer?: Partial<Negotiation.Offer>
    }) => Layer.Layer<Pool.Pool | ScsiTransport, IscsiError.IscsiError>
  }
}
const specifier = "@effect-iscsi/node-transport"
const client = await import(/* @vite-ignore */ specifier).then(
  (m: Partial<ClientModule>) => ("IscsiClient" in m ? (m as ClientModule) : undefined),
  () => undefined
)

const fileBytes = (path: string, offset: number, length: number): Uint8Array => {
  const fd = Fs.openSync(path, "r")
  try {
    const b = new Uint8Array(length)
    Fs.readSync(fd, b, 0, length, offset)
    return b
  } finally {
    Fs.closeSync(fd)
  }
}
const pattern = (n: number, seed: number) => {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i * 37 + seed + (i >> 10)) & 0xff
  return b
}
/** `data` cut into buffers of these sizes (each its own allocation), the last taking the rest. */
const cut = (data: Uint8Array, sizes: ReadonlyArray<number>) => {
  const out: Array<Uint8Array> = []
  let o = 0
  for (const n of sizes) {
    out.push(data.slice(o, o + n))
    o += n
  }
  out.push(data.slice(o))
  return out
}
const joined = (buffers: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(buffers.reduce((n, b) => n + b.length, 0))
  let o = 0
  for (const b of buffers) {
    out.set(b, o)
    o += b.length
  }
  return out
}
/** Empty buffers of these sizes, the last taking the rest of `total`. */
const blanks = (total: number, sizes: ReadonlyArray<number>) =>
  cut(new Uint8Array(total), sizes).map((b) => new Uint8Array(b.length).fill(0xee))

describe.skipIf(client === undefined)("scatter-gather against tgtd", () => {
  const layer = (target: "disk" | "tuned", offer?: Partial<Negotiation.Offer>) =>
    client!.IscsiClient.layer({
      url: `iscsi://${tgt().portal}/${tgt().targets[target].iqn}`,
      ...(offer ? { offer } : {})
    })
  const run = <A, E>(
    l: Layer.Layer<Pool.Pool | ScsiTransport, IscsiError.IscsiError>,
    eff: Effect.Effect<A, E, Pool.Pool | ScsiTransport>
  ) => eff.pipe(Scsi.withPolicy({ retries: 5, backoff: () => 0 }), Effect.provide(l))

  const roundTrip = (target: "disk" | "tuned", lba: number, offer?: Partial<Negotiation.Offer>) =>
    run(
      layer(target, offer),
      Effect.gen(function* () {
        yield* Scsi.testUnitReady(1).pipe(Effect.ignore)
        const [session] = yield* (yield* Pool.Pool).sessions
        const params = session!.info!.params
        const tuned = target === "tuned"
        expect([params.initialR2T, params.headerDigest, params.dataDigest]).toEqual([!tuned, tuned, tuned])
        expect(params.immediateData).toBe(true)
        expect(params.maxXmitDataSegmentLength).toBe(tuned ? 262144 : 8192)
        const path = tgt().targets[target].luns.find((l) => l.lun === 1)!.path!
        // 7 buffers of 512·k bytes
        const a = pattern(28 * 512, lba)
        const aBuffers = cut(a, [512, 1024, 2048, 4096, 1536, 2560])
        expect(aBuffers.map((b) => b.length / 512)).toEqual([1, 2, 4, 8, 3, 5, 5])
        yield* Scsi.write10Iov(1, lba, aBuffers)
        expect(fileBytes(path, lba * 512, a.length)).toEqual(a)
        const aBack = blanks(a.length, [4000, 7, 9000, 1])
        yield* Scsi.read10Iov(1, lba, aBack)
        expect(joined(aBack)).toEqual(a)
        // sizes that are not block multiples on their own, a large middle buffer, empty ones
        const b = pattern(600 * 512, lba + 1)
        const bBuffers = cut(b, [1, 0, 8191, 3, 250_000, 1021])
        yield* Scsi.write16Iov(1, lba + 28, bBuffers)
        expect(fileBytes(path, (lba + 28) * 512, b.length)).toEqual(b)
        const bBack = blanks(b.length, [65_537, 100, 0, 130_000, 7])
        yield* Scsi.read16Iov(1, lba + 28, bBack)
        expect(joined(bBack)).toEqual(b)
        // and the plain reads agree
        expect(yield* Scsi.read10(1, lba, 28)).toEqual(a)
      })
    )

  it.live("default target: odd splits both ways, checked against the backing file", () => roundTrip("disk", 7100))

  it.live("tuned target: InitialR2T=No, immediate data, 256 KiB PDUs, CRC32C digests", () =>
    roundTrip("tuned", 100_000, { headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] })
  )
})
