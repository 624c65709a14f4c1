/**
 * Cancellation from Promise land: an `AbortSignal` interrupts the program, the command in flight is
 * aborted on the target (ABORT TASK) and its buffer is the caller's again at once; the runtime goes
 * on serving other calls.
 *
 *   npm run example -- examples/abort-signal.ts iscsi://host/iqn.…:disk/1
 */
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Scsi } from "@effect-iscsi/scsi"
import { Effect, ManagedRuntime } from "effect"

const url = process.argv[2]
if (url === undefined) {
  console.error("usage: abort-signal.ts URL")
  process.exit(2)
}

const rt = ManagedRuntime.make(IscsiClient.layer({ url }))

// a long job: read the first 64 MiB, 1 MiB at a time, until the signal fires (after 20 ms)
const job = Effect.gen(function* () {
  let read = 0
  for (let lba = 0; lba < 131072; lba += 2048) {
    const data = yield* Scsi.read10(1, lba, 2048)
    read += data.length
  }
  return read
})
const started = Date.now()
const outcome = await rt.runPromise(job, { signal: AbortSignal.timeout(20) }).then(
  (read) => `finished: ${read} bytes`,
  (e: unknown) => `cancelled after ${Date.now() - started} ms (${e instanceof Error ? e.name : String(e)})`
)
// the session is still there for the next call
const next = await rt.runPromise(Scsi.read10(1, 0, 8))
console.log(JSON.stringify({ outcome, nextRead: next.length }))
await rt.dispose()
