/**
 * Copy a LUN from one target to another, with a progress line.
 *
 *   npm run example -- examples/copy-lun.ts iscsi://host-a/iqn.…:src/1 iscsi://host-b/iqn.…:dst/1
 *
 * One pool holds both sessions; each URL's LUN opens as a `BlockDevice` (capacity learned), and the
 * source's pipelined read stream runs into the destination's pipelined write sink.
 */
import { IscsiClient } from "@effect-iscsi/node-transport"
import { BlockDevice } from "@effect-iscsi/scsi"
import { Effect, Stream } from "effect"

const [from, to] = process.argv.slice(2)
if (from === undefined || to === undefined) {
  console.error("usage: copy-lun.ts SOURCE-URL DESTINATION-URL")
  process.exit(2)
}

const program = Effect.gen(function* () {
  const source = yield* BlockDevice.open(from)
  const destination = yield* BlockDevice.open(to)
  if (source.blockSize !== destination.blockSize || source.size > destination.size) {
    return yield* Effect.fail(
      new Error(
        `cannot copy ${source.size} bytes of ${source.blockSize}-byte blocks to ${destination.size} bytes of ${destination.blockSize}-byte blocks`
      )
    )
  }
  const started = Date.now()
  let done = 0
  yield* source.readStream({ queueDepth: 8 }).pipe(
    Stream.tap((chunk) =>
      Effect.sync(() => {
        done += chunk.length
        const mb = done / 1e6
        const rate = mb / Math.max((Date.now() - started) / 1000, 1e-3)
        process.stderr.write(
          `\rcopied ${mb.toFixed(1)} of ${(source.size / 1e6).toFixed(1)} MB (${rate.toFixed(0)} MB/s)`
        )
      })
    ),
    Stream.run(destination.writeSink({ queueDepth: 8 }))
  )
  process.stderr.write("\n")
  console.log(JSON.stringify({ bytes: done, seconds: (Date.now() - started) / 1000 }))
})

await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(IscsiClient.pool())))
