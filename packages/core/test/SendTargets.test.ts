import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as SendTargets from "../src/SendTargets.ts"
import type { Pair } from "../src/TextKeys.ts"

describe("SendTargets.parseAddress", () => {
  it.each([
    ["127.0.0.1:3260,1", { host: "127.0.0.1", port: 3260, tpgt: 1 }],
    ["10.1.2.3:3299,7", { host: "10.1.2.3", port: 3299, tpgt: 7 }],
    ["[2001:db8::1]:3261,2", { host: "2001:db8::1", port: 3261, tpgt: 2 }],
    ["[::1],1", { host: "::1", port: 3260, tpgt: 1 }],
    ["fe80::1%eth0,1", { host: "fe80::1%eth0", port: 3260, tpgt: 1 }],
    ["storage.example.com,3", { host: "storage.example.com", port: 3260, tpgt: 3 }],
    ["storage.example.com:3262", { host: "storage.example.com", port: 3262, tpgt: 1 }]
  ])("%s", (value, portal) => {
    expect(SendTargets.parseAddress(value)).toEqual(Result.succeed(portal))
  })

  it.each([
    ["host:port,1"],
    ["host:70000,1"],
    ["host:0,1"],
    ["[::1,1"],
    ["[::1]x,1"],
    ["[::1]:3260,tag"],
    ["host,70000"],
    [",1"],
    ["bad host,1"]
  ])("%s is a ProtocolError", (value) => {
    const r = SendTargets.parseAddress(value)
    expect(Result.isFailure(r) && r.failure.reason._tag).toBe("ProtocolError")
  })
})

describe("SendTargets.parse", () => {
  it("groups addresses under the TargetName before them", () => {
    const pairs: ReadonlyArray<Pair> = [
      ["TargetName", "iqn.2026-11.test:disk"],
      ["TargetAddress", "127.0.0.1:3260,1"],
      ["TargetAddress", "[::1]:3260,1"],
      ["TargetName", "iqn.2026-11.test:chap"],
      ["TargetAlias", "ignored"],
      ["TargetName", "iqn.2026-11.test:tuned"],
      ["TargetAddress", "192.0.2.9,2"]
    ]
    expect(SendTargets.parse(pairs)).toEqual(
      Result.succeed([
        {
          name: "iqn.2026-11.test:disk",
          portals: [
            { host: "127.0.0.1", port: 3260, tpgt: 1 },
            { host: "::1", port: 3260, tpgt: 1 }
          ]
        },
        { name: "iqn.2026-11.test:chap", portals: [] },
        { name: "iqn.2026-11.test:tuned", portals: [{ host: "192.0.2.9", port: 3260, tpgt: 2 }] }
      ])
    )
  })

  it("an empty answer is no targets", () => {
    expect(SendTargets.parse([])).toEqual(Result.succeed([]))
  })

  it.each([
    [[["TargetAddress", "1.2.3.4:3260,1"]]],
    [[["TargetName", ""]]],
    [
      [
        ["TargetName", "iqn.x"],
        ["TargetAddress", "1.2.3.4:x,1"]
      ]
    ]
  ] as ReadonlyArray<[ReadonlyArray<Pair>]>)("malformed answers are ProtocolErrors", (pairs) => {
    const r = SendTargets.parse(pairs)
    expect(Result.isFailure(r) && r.failure.reason._tag).toBe("ProtocolError")
  })
})
