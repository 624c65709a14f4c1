/**
 * Byte-exact iSNS goldens recorded from a real isnsd (see fixtures/isns-goldens.ts for provenance
 * and scripts/capture-isns-goldens.ts to re-capture): every message decodes and re-encodes to the
 * same bytes, each stream gives the same messages whether pushed whole, split at every byte
 * boundary or in 1-byte drips, and the answers mean what isnsd was told (two portals per target,
 * IPv4 sent as `::a.b.c.d`, the end of a DevGetNext walk, an error status).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Isns from "../src/Isns.ts"
import * as IsnsClient from "../src/IsnsClient.ts"
import { type IsnsGolden, isnsGoldens } from "./fixtures/isns-goldens.ts"

const fromHex = (s: string): Uint8Array => {
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16)
  return out
}

const toHex = (parts: ReadonlyArray<Uint8Array>): string =>
  parts.map((p) => Array.from(p, (x) => x.toString(16).padStart(2, "0")).join("")).join("")

const decodeAll = (bytes: Uint8Array) => Result.getOrThrow(Isns.decodeStream(bytes))

const push = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Isns.Message> => {
  const reader = Isns.makeReader()
  const out: Array<Isns.Message> = []
  let prev = 0
  for (const c of [...cuts, bytes.length]) {
    out.push(...Result.getOrThrow(reader.push(bytes.subarray(prev, c))))
    prev = c
  }
  expect(reader.buffered).toBe(0)
  return out
}

const golden = (name: string): IsnsGolden => isnsGoldens.find((g) => g.name === name)!

const NAME = {
  disk: "iqn.2026-11.io.effect-iscsi:disk",
  tuned: "iqn.2026-11.io.effect-iscsi:tuned",
  capture: "iqn.2026-11.io.effect-iscsi:capture"
}

describe("iSNS goldens from isnsd", () => {
  for (const g of isnsGoldens) {
    for (const side of ["toServer", "fromServer"] as const) {
      describe(`${g.name} ${side}`, () => {
        const bytes = fromHex(g[side])
        it("every message re-encodes to the recorded bytes", () => {
          const messages = decodeAll(bytes)
          expect(messages.length).toBeGreaterThan(0)
          for (const m of messages) expect(m._tag).toBe(side === "toServer" ? "Request" : "Response")
          expect(toHex(messages.flatMap((m) => Isns.encode(m)))).toBe(g[side])
        })
        it("gives the same messages split at every byte boundary and in 1-byte drips", () => {
          const whole = push(bytes, [])
          for (let cut = 1; cut < bytes.length; cut++) expect(push(bytes, [cut])).toEqual(whole)
          expect(
            push(
              bytes,
              Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)
            )
          ).toEqual(whole)
        })
      })
    }
  }

  it("isnsd answers IPv4 portals as ::a.b.c.d, and IsnsClient reads both portals of each target", () => {
    const answers = decodeAll(fromHex(golden("client-targets").fromServer)).filter(
      (m): m is Isns.Response => m._tag === "Response" && m.functionId === (Isns.FunctionId.DevAttrQry | Isns.RESPONSE)
    )
    expect(answers.length).toBe(2)
    const pg = answers[0]!.attributes.find((a) => a._tag === "Address" && a.tag === Isns.Tag.PgPortalIpAddress)
    expect(pg?._tag === "Address" && Array.from(pg.bytes)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 127, 0, 0, 1])
    const targets = answers.map((a, i) =>
      IsnsClient.targetFromAnswer(i === 0 ? NAME.disk : NAME.tuned, Isns.sections(a).operating)
    )
    expect(targets).toEqual([
      {
        name: NAME.disk,
        alias: undefined,
        nodeType: 1,
        portals: [
          { host: "127.0.0.1", port: 3260, tpgt: 1 },
          { host: "127.0.0.2", port: 3260, tpgt: 1 }
        ]
      },
      {
        name: NAME.tuned,
        alias: "tuned",
        nodeType: 1,
        portals: [
          { host: "127.0.0.1", port: 3260, tpgt: 1 },
          { host: "127.0.0.2", port: 3260, tpgt: 1 }
        ]
      }
    ])
  })

  it("a DevGetNext walk names every node in turn and ends with No Such Entry", () => {
    const answers = decodeAll(fromHex(golden("isnsadm-list-nodes").fromServer)) as Array<Isns.Response>
    expect(answers.map((a) => Isns.stringOf(Isns.sections(a).keys, Isns.Tag.IscsiName) ?? a.status)).toEqual([
      NAME.capture,
      NAME.disk,
      NAME.tuned,
      Isns.Status.NoSuchEntry
    ])
    const requests = decodeAll(fromHex(golden("isnsadm-list-nodes").toServer)) as Array<Isns.Request>
    expect(requests.map((r) => r.transactionId)).toEqual(answers.map((a) => a.transactionId))
  })

  it("a query answer groups into entity, node, portal and portal group objects", () => {
    const [answer] = decodeAll(fromHex(golden("isnsadm-query").fromServer)) as Array<Isns.Response>
    const types = Isns.objects(Isns.sections(answer!).operating).map((o) => o.type)
    expect(types.slice(0, 6)).toEqual(["Entity", "Node", "Portal", "PortalGroup", "Portal", "PortalGroup"])
    expect(types.filter((t) => t === "Node").length).toBe(3)
  })

  it("an error status becomes a typed IsnsRejected", () => {
    const [getNext, query] = decodeAll(fromHex(golden("client-errors").fromServer)) as Array<Isns.Response>
    const e = IsnsClient.rejected(getNext!)
    expect(e.reason._tag).toBe("IsnsRejected")
    expect(e.reason._tag === "IsnsRejected" && [e.reason.function, e.reason.status, e.reason.statusName]).toEqual([
      "DevGetNext",
      Isns.Status.InvalidQuery,
      "Invalid Query"
    ])
    expect(e.isRetryable).toBe(false)
    // a name nobody registered: Successful, and nothing listed
    expect(query!.status).toBe(Isns.Status.Successful)
    expect(IsnsClient.targetFromAnswer("iqn.2026-11.io.effect-iscsi:nobody", Isns.sections(query!).operating)).toBe(
      undefined
    )
  })
})
