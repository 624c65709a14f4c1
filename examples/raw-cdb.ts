/**
 * A raw CDB: any command the library has no program for, with status and sense mapped to typed
 * errors like every command. Here READ CAPACITY (10) by hand, and a CDB the target refuses.
 *
 *   npm run example -- examples/raw-cdb.ts iscsi://host/iqn.…:disk/1
 *
 * `Scsi.raw` is sent once unless you say it is idempotent (it may then be re-sent after a
 * connection loss or a retryable error).
 */
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Scsi } from "@effect-iscsi/scsi"
import { Effect } from "effect"

const url = process.argv[2]
if (url === undefined) {
  console.error("usage: raw-cdb.ts URL")
  process.exit(2)
}

const program = Effect.gen(function* () {
  const lun = 1
  // READ CAPACITY (10): opcode 25h, 10 bytes; 8 bytes come back: last LBA, block length
  const cdb = Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0)
  const r = yield* Scsi.raw(lun, cdb, { direction: "read", readLength: 8, idempotent: true })
  const view = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength)
  const capacity = { lastLba: view.getUint32(0), blockSize: view.getUint32(4) }
  // opcode FFh is no command: the target answers CHECK CONDITION, ILLEGAL REQUEST
  const refused = yield* Scsi.raw(lun, Uint8Array.of(0xff, 0, 0, 0, 0, 0), { direction: "none" }).pipe(
    Effect.map(() => "accepted"),
    Effect.catchTag("ScsiError", (e) =>
      Effect.succeed(
        e.reason._tag === "CheckCondition" ? `${e.reason.senseKeyName} ${e.reason.description}` : e.reason._tag
      )
    )
  )
  console.log(JSON.stringify({ capacity, refused }))
})

await Effect.runPromise(program.pipe(Effect.provide(IscsiClient.layer({ url }))))
