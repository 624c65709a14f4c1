/**
 * Two pools in one process, on the same target, at the same time: two `ManagedRuntime`s (as two
 * parts of an app, or two libraries, would build). Each session gets its own ISID, so a target that
 * reinstates sessions by ISID (RFC 7143 §6.3.5) never lets one replace the other.
 *
 *   npm run example -- examples/two-pools.ts iscsi://host/iqn.…:disk/1
 */
import { Pool } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Scsi } from "@effect-iscsi/scsi"
import { Effect, ManagedRuntime } from "effect"

const url = process.argv[2]
if (url === undefined) {
  console.error("usage: two-pools.ts URL")
  process.exit(2)
}

const a = ManagedRuntime.make(IscsiClient.layer({ url }))
const b = ManagedRuntime.make(IscsiClient.layer({ url }))

/** Read the first 64 blocks `rounds` times; report the session the pool holds. */
const work = (rounds: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < rounds; i++) yield* Scsi.read10(1, (i * 8) % 64, 8)
    const [session] = yield* (yield* Pool.Pool).sessions
    return { isid: session!.isid.toString(16), logins: session!.generation }
  })

const [ra, rb] = await Promise.all([a.runPromise(work(500)), b.runPromise(work(500))])
console.log(JSON.stringify({ a: ra, b: rb, distinctIsids: ra.isid !== rb.isid }))
await Promise.all([a.dispose(), b.dispose()])
