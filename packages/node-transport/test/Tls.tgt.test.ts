/**
 * TLS as a transport option: a TLS-terminating proxy (node:tls, a self-signed test certificate made
 * for this test only, fixtures/tls-*.pem) in front of the real tgtd; the session logs in and runs
 * verified I/O through it, and a certificate we do not trust is a typed connect failure.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Tls from "node:tls"
import { fileURLToPath } from "node:url"
import { Negotiation, Session } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { tgt } from "@effect-iscsi/testing/Provided"

const dir = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "fixtures")
const cert = Fs.readFileSync(Path.join(dir, "tls-cert.pem"))
const key = Fs.readFileSync(Path.join(dir, "tls-key.pem"))

let server: Tls.Server
let port = 0

beforeAll(async () => {
  server = Tls.createServer({ cert, key }, (client) => {
    const upstream = Net.connect({ host: tgt().host, port: tgt().port })
    client.pipe(upstream).pipe(client)
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on("error", end)
    upstream.on("error", end)
    client.on("close", end)
    upstream.on("close", end)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))
  port = (server.address() as Net.AddressInfo).port
})
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

const config = (): Session.Config => ({
  address: { host: "127.0.0.1", port },
  initiatorName: "iqn.2026-11.io.effect-iscsi:tls-test",
  targetName: tgt().targets.disk.iqn,
  isid: 0x800000000c01,
  auth: { _tag: "None" },
  offer: Negotiation.defaultOffer
})

describe("TLS transport (NodeSocket.makeTls)", () => {
  it.live("logs in through TLS and reads back what it wrote", () =>
    Effect.gen(function* () {
      const session = yield* Session.make(config())
      for (let i = 0; i < 3; i++) {
        const r = yield* session.execute({ lun: 1, cdb: new Uint8Array(6), direction: "none" })
        if (r.status === 0) break
      }
      const data = new Uint8Array(4096).map((_, i) => (i * 13) & 0xff)
      const lba = 120_000
      const w = new Uint8Array([0x2a, 0, lba >>> 24, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, 0, 8, 0])
      expect((yield* session.execute({ lun: 1, cdb: w, direction: "write", dataOut: data })).status).toBe(0)
      const rd = w.slice()
      rd[0] = 0x28
      const back = yield* session.execute({ lun: 1, cdb: rd, direction: "read", readLength: 4096 })
      expect(Buffer.from(back.data).equals(Buffer.from(data))).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(IscsiClient.nodeLayer({ tls: { ca: cert, servername: "localhost" } })))
  )

  it.live("an untrusted certificate is a typed connect failure", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(Session.make(config()))
      expect(e.reason._tag).toBe("ConnectFailed")
    }).pipe(Effect.scoped, Effect.provide(IscsiClient.nodeLayer({ tls: true })))
  )
})
