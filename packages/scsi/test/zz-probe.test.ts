import { tgt } from "@effect-iscsi/testing/Provided"
import { it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Scsi } from "../src/index.ts"
const specifier = "@effect-iscsi/node-transport"
it.live("probe", () =>
  Effect.gen(function*() {
    const m: any = yield* Effect.promise(() => import(/* @vite-ignore */ specifier))
    const L = m.IscsiClient.layer({ url: `iscsi://${tgt().portal}/${tgt().targets.disk.iqn}` })
    for (const lun of [1, 2, 4]) {
      const bs = lun === 2 ? 4096 : 512
      const r = yield* Effect.exit(Scsi.compareAndWrite(lun, 10, new Uint8Array(bs), new Uint8Array(bs), { blockSize: bs }).pipe(Effect.provide(L)))
      console.log("CAW", lun, String(r._tag === "Failure" ? (r.cause as any).reasons[0]?.error?.message : "ok"))
    }
    const ops = yield* Effect.exit(Scsi.raw(1, Uint8Array.from([0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]), { direction: "read", readLength: 4096 }).pipe(Effect.provide(L)))
    console.log("RSOC", ops._tag === "Success" ? Buffer.from(ops.value.data).toString("hex").slice(0, 600) : String((ops.cause as any).reasons[0]?.error?.message))
    const b0 = yield* Scsi.blockLimits(1).pipe(Effect.provide(L))
    console.log("B0", JSON.stringify(b0))
    const raw = yield* Scsi.inquiryVpd(1, 0x83).pipe(Effect.provide(L))
    console.log("83", Buffer.from(raw).toString("hex"))
    for (const p of [0, 0x80, 0xb0, 0xb2]) console.log(p.toString(16), Buffer.from(yield* Scsi.inquiryVpd(4, p).pipe(Effect.provide(L))).toString("hex"))
    const std = yield* Scsi.raw(1, Uint8Array.from([0x12, 0, 0, 0, 255, 0]), { direction: "read", readLength: 255 }).pipe(Effect.provide(L))
    console.log("std", Buffer.from(std.data).toString("hex"))
    const rc = yield* Scsi.raw(4, Uint8Array.from([0x9e, 0x10, 0,0,0,0,0,0,0,0, 0,0,0,32, 0,0]), { direction: "read", readLength: 32 }).pipe(Effect.provide(L))
    console.log("rc16", Buffer.from(rc.data).toString("hex"))
    const ms = yield* Scsi.raw(1, Uint8Array.from([0x1a, 0, 0x3f, 0, 255, 0]), { direction: "read", readLength: 255 }).pipe(Effect.provide(L))
    console.log("ms6", Buffer.from(ms.data).toString("hex"))
    console.log("url", `iscsi://${tgt().portal}/${tgt().targets.disk.iqn}/1`)
  }))
