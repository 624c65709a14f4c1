import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import type { TextResponse } from "../src/PduTypes.ts"
import * as SendTargets from "../src/SendTargets.ts"
import * as TextExchange from "../src/TextExchange.ts"
import * as TextKeys from "../src/TextKeys.ts"

const textResponse = (fields: Partial<TextResponse>): TextResponse => ({
  _tag: "TextResponse",
  final: true,
  continue: false,
  lun: 0n,
  itt: 5,
  ttt: 0xffffffff,
  statSN: 1,
  expCmdSN: 1,
  maxCmdSN: 1,
  data: new Uint8Array(0),
  ...fields
})

const answer: ReadonlyArray<TextKeys.Pair> = [
  ["TargetName", "iqn.2026-11.test:disk"],
  ["TargetAddress", "127.0.0.1:3260,1"],
  ["TargetName", "iqn.2026-11.test:chap"],
  ["TargetAddress", "127.0.0.1:3260,1"]
]

describe("TextExchange", () => {
  it("a single final response is Done", () => {
    const x = TextExchange.make()
    expect(x.push(textResponse({ data: TextKeys.encode(answer) }))).toEqual(
      Result.succeed({ _tag: "Done", pairs: answer })
    )
  })

  it("follows F=0 responses with their TTT, reassembling pairs split anywhere", () => {
    const data = TextKeys.encode(answer)
    for (const cuts of [[10], [1, 30, 31], [data.length - 1]]) {
      const x = TextExchange.make()
      const bounds = [0, ...cuts, data.length]
      for (let i = 0; i < bounds.length - 1; i++) {
        const last = i === bounds.length - 2
        const piece = data.subarray(bounds[i], bounds[i + 1])
        const r = x.push(
          textResponse({ final: last, continue: !last, ttt: last ? 0xffffffff : 0x100 + i, data: piece })
        )
        expect(r).toEqual(Result.succeed(last ? { _tag: "Done", pairs: answer } : { _tag: "Continue", ttt: 0x100 + i }))
      }
    }
  })

  it("the result parses as SendTargets", () => {
    const x = TextExchange.make()
    const r = Result.flatMap(x.push(textResponse({ data: TextKeys.encode(answer) })), (o) =>
      o._tag === "Done" ? SendTargets.parse(o.pairs) : Result.succeed([])
    )
    expect(Result.map(r, (t) => t.map((x) => x.name))).toEqual(
      Result.succeed(["iqn.2026-11.test:disk", "iqn.2026-11.test:chap"])
    )
  })

  it.each([
    ["F and C both set", [textResponse({ final: true, continue: true })]],
    ["non-final without TTT", [textResponse({ final: false, ttt: 0xffffffff })]],
    ["a response after Done", [textResponse({}), textResponse({})]],
    ["malformed text", [textResponse({ data: new TextEncoder().encode("nokey\0") })]]
  ])("%s is a ProtocolError", (_n, responses) => {
    const x = TextExchange.make()
    let r: Result.Result<TextExchange.Outcome, { reason: { _tag: string } }> = Result.succeed({
      _tag: "Continue",
      ttt: 0
    })
    for (const resp of responses) r = x.push(resp)
    expect(Result.isFailure(r) && r.failure.reason._tag).toBe("ProtocolError")
  })

  it("bounds the total size", () => {
    const x = TextExchange.make({ maxBytes: 16 })
    expect(x.push(textResponse({ final: false, ttt: 1, data: new TextEncoder().encode("A=0123456789") }))._tag).toBe(
      "Success"
    )
    const r = x.push(textResponse({ final: true, data: new TextEncoder().encode("0123456789\0") }))
    expect(Result.isFailure(r) && r.failure.reason._tag).toBe("ProtocolError")
  })
})
