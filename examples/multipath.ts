/**
 * One LUN through several portals of its target, as one block device: a session per path,
 * round-robin over them, the same logical unit checked on each (VPD 83h) before it carries I/O.
 * Writes 4 MiB through the device, reads it back, and prints how the commands went over the paths.
 *
 *   npm run example -- examples/multipath.ts iscsi://10.0.0.1:3260/iqn.…:disk/1 10.0.0.2:3260
 */
import { IscsiClient } from "@effect-iscsi/node-transport"
import { BlockDevice, Multipath } from "@effect-iscsi/scsi"
import { Effect, Layer } from "effect"

const [url, ...portals] = process.argv.slice(2)
if (url === undefined) {
  console.error("usage: multipath.ts URL [HOST:PORT …]")
  process.exit(2)
}

// the pool holds the path sessions; the Node transport also serves discovery (discovery: "sendtargets" | { isns })
const device = Multipath.layer({ target: url, portals, policy: "round-robin" }).pipe(
  Layer.provide(Layer.merge(IscsiClient.pool(), IscsiClient.nodeLayer()))
)

const program = Effect.gen(function* () {
  const disk = yield* BlockDevice.make()
  const data = new Uint8Array(4 * 1024 * 1024)
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 12)) & 0xff
  // 64 writes of 64 KiB, 8 at a time: spread over the paths
  const chunk = 65536 / disk.blockSize
  yield* Effect.forEach(
    Array.from({ length: 64 }, (_, i) => i),
    (i) => disk.write(i * chunk, data.subarray(i * 65536, (i + 1) * 65536)),
    { concurrency: 8, discard: true }
  )
  const back = yield* disk.read(0, data.length / disk.blockSize)
  const paths = yield* Multipath.paths
  return {
    bytes: data.length,
    same: back.every((b, i) => b === data[i]),
    paths: paths.map((p) => ({ portal: p.portal, state: p.state, commands: p.commands }))
  }
})

const result = await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(device)))
console.log(JSON.stringify(result))
