/**
 * A consumer program, as someone who installed the packed tarballs writes it (the consumer test,
 * scripts/consumer.ts, type-checks it and runs its compiled JavaScript with plain `node`).
 * It reads the environment: ISCSI_URL (a target), CONSUMER_LUN (a 512-byte file LUN of it).
 * Prints one JSON line with what it saw; the driver checks it against the target's backing file.
 */
import { BlockDevice, Scsi } from "@effect-iscsi/scsi"
import { IscsiClient, IscsiLive } from "@effect-iscsi/node-transport"
import { Effect } from "effect"

const lun = Number(process.env.CONSUMER_LUN ?? "1")
const lba = 0
const n = 8
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")

// 1. The used-by line, verbatim.
const blocks = await Effect.runPromise(Scsi.read10(lun, lba, n).pipe(Effect.provide(IscsiLive)))

// 2. IscsiClient.layer and a BlockDevice; errors matched by their reason tag.
const url = process.env.ISCSI_URL!
const viaDevice = await Effect.runPromise(
  Effect.gen(function* () {
    const device = yield* BlockDevice.make(lun)
    const data = yield* device.read(8, 8)
    // past the end of the LUN: the device refuses it before anything is sent
    const outOfRange = yield* device.read(device.blockCount, 1).pipe(
      Effect.map(() => "no error"),
      Effect.catchTag("ScsiError", (e) => Effect.succeed(e.reason._tag))
    )
    // the same on the wire: the target answers CHECK CONDITION, ILLEGAL REQUEST
    const onTheWire = yield* Scsi.read16(lun, device.blockCount + 10, 1).pipe(
      Effect.map(() => "no error"),
      Effect.catchTag("ScsiError", (e) =>
        Effect.succeed(e.reason._tag === "CheckCondition" ? `CheckCondition/${e.reason.senseKeyName}` : e.reason._tag)
      )
    )
    return { blockSize: device.blockSize, blockCount: device.blockCount, data: hex(data), outOfRange, onTheWire }
  }).pipe(Effect.provide(IscsiClient.layer({ url })))
)

// 3. A target that does not exist: a typed login failure.
const badTarget = await Effect.runPromise(
  Scsi.testUnitReady(lun).pipe(
    Effect.provide(IscsiClient.layer({ url: `${url.replace(/\/[^/]*$/, "")}/iqn.2026-11.io.example:missing` })),
    Effect.map(() => "no error"),
    Effect.catchTag("IscsiError", (e) => Effect.succeed(e.reason._tag))
  )
)

console.log(JSON.stringify({ usedBy: hex(blocks), viaDevice, badTarget }))
