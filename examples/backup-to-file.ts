/**
 * Back up a LUN to a file.
 *
 *   npm run example -- examples/backup-to-file.ts iscsi://host/iqn.…:disk/1 disk.img
 *
 * `IscsiClient.layer({ url })` gives this program one target; `BlockDevice.make()` opens the LUN
 * the URL names; its read stream is written to the file in order, chunk by chunk.
 */
import { IscsiClient } from "@effect-iscsi/node-transport"
import { BlockDevice } from "@effect-iscsi/scsi"
import { Effect, Stream } from "effect"
import * as Fs from "node:fs/promises"

const [url, path] = process.argv.slice(2)
if (url === undefined || path === undefined) {
  console.error("usage: backup-to-file.ts URL FILE")
  process.exit(2)
}

const program = Effect.gen(function* () {
  const device = yield* BlockDevice.make()
  const file = yield* Effect.acquireRelease(
    Effect.promise(() => Fs.open(path, "w")),
    (f) => Effect.promise(() => f.close())
  )
  let written = 0
  yield* device.readStream({ queueDepth: 8 }).pipe(
    Stream.runForEach((chunk) =>
      Effect.promise(async () => {
        await file.write(chunk, 0, chunk.length, written)
        written += chunk.length
      })
    )
  )
  console.log(JSON.stringify({ bytes: written, blockSize: device.blockSize, file: path }))
})

await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(IscsiClient.layer({ url }))))
