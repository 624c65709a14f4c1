import { describe, expect, it } from "@effect/vitest"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as TextKeys from "../src/TextKeys.ts"

const bytes = (s: string) => new TextEncoder().encode(s)
const reasonTag = <A>(r: Result.Result<A, { reason: { _tag: string } }>) =>
  Result.isFailure(r) ? r.failure.reason._tag : "Success"

const keyArb = fc.stringMatching(/^[A-Za-z0-9.\-+@_]{1,63}$/)
const valueArb = fc
  .string({ unit: "grapheme", maxLength: 60 })
  .filter((s) => !s.includes("\0") && new TextEncoder().encode(s).length <= 255)
const pairsArb = fc.array(fc.tuple(keyArb, valueArb), { maxLength: 12 })

describe("TextKeys.decode", () => {
  it("decodes pairs in order, keeping repeated keys and '=' inside values", () => {
    const r = TextKeys.decode(
      bytes("TargetName=iqn.a\0TargetAddress=1.2.3.4:3260,1\0TargetAddress=[::1]:3260,1\0X=a=b\0")
    )
    expect(r).toEqual(
      Result.succeed([
        ["TargetName", "iqn.a"],
        ["TargetAddress", "1.2.3.4:3260,1"],
        ["TargetAddress", "[::1]:3260,1"],
        ["X", "a=b"]
      ])
    )
  })

  it("accepts empty values, padding NULs and a last pair without NUL", () => {
    expect(TextKeys.decode(bytes("A=\0\0\0B=1"))).toEqual(
      Result.succeed([
        ["A", ""],
        ["B", "1"]
      ])
    )
    expect(TextKeys.decode(new Uint8Array(0))).toEqual(Result.succeed([]))
  })

  it.each([
    ["missing '='", "NoEquals\0"],
    ["empty key", "=value\0"],
    ["illegal key character", "Bad Key=1\0"],
    ["key longer than 63 bytes", `${"K".repeat(64)}=1\0`],
    ["value longer than 255 bytes", `A=${"v".repeat(256)}\0`],
    ["CHAP_C longer than 2050 bytes", `CHAP_C=0x${"a".repeat(2050)}\0`]
  ])("rejects %s with ProtocolError", (_name, text) => {
    expect(reasonTag(TextKeys.decode(bytes(text)))).toBe("ProtocolError")
  })

  it("allows long CHAP values up to 1024 bytes of hex", () => {
    const value = `0x${"ab".repeat(1024)}`
    expect(TextKeys.decode(bytes(`CHAP_C=${value}\0`))).toEqual(Result.succeed([["CHAP_C", value]]))
  })

  it("rejects invalid UTF-8", () => {
    expect(reasonTag(TextKeys.decode(new Uint8Array([0x41, 0x3d, 0xff, 0xfe, 0])))).toBe("ProtocolError")
  })

  it("decode(encode(pairs)) === pairs (property)", () => {
    fc.assert(
      fc.property(pairsArb, (pairs) => {
        expect(TextKeys.decode(TextKeys.encode(pairs))).toEqual(Result.succeed(pairs))
      })
    )
  })

  it("encodes key=value NUL-terminated UTF-8", () => {
    expect(TextKeys.encode([["A", "é"]])).toEqual(new Uint8Array([0x41, 0x3d, 0xc3, 0xa9, 0]))
  })
})

describe("TextKeys.makeReassembler", () => {
  it("a text split at any byte reassembles to the same pairs (property)", () => {
    fc.assert(
      fc.property(
        pairsArb.filter((p) => p.length > 0),
        fc.nat(),
        (pairs, seed) => {
          const data = TextKeys.encode(pairs)
          const cut = seed % (data.length + 1)
          const r = TextKeys.makeReassembler()
          expect(r.push(data.subarray(0, cut), true)).toEqual(Result.succeed(Option.none()))
          expect(r.push(data.subarray(cut), false)).toEqual(Result.succeed(Option.some(pairs)))
          expect(r.pending()).toBe(0)
        }
      )
    )
  })

  it("reassembles a 1-byte drip of every split", () => {
    const pairs: ReadonlyArray<TextKeys.Pair> = [
      ["TargetName", "iqn.2026-11.test:disk"],
      ["TargetAddress", "127.0.0.1:3260,1"]
    ]
    const data = TextKeys.encode(pairs)
    const r = TextKeys.makeReassembler()
    for (let i = 0; i < data.length - 1; i++) {
      expect(r.push(data.subarray(i, i + 1), true)).toEqual(Result.succeed(Option.none()))
    }
    expect(r.push(data.subarray(data.length - 1), false)).toEqual(Result.succeed(Option.some(pairs)))
  })

  it("does not keep views of the pushed buffers", () => {
    const buf = bytes("A=1\0B=")
    const r = TextKeys.makeReassembler()
    r.push(buf, true)
    buf.fill(0x5a)
    expect(r.push(bytes("2\0"), false)).toEqual(
      Result.succeed(
        Option.some([
          ["A", "1"],
          ["B", "2"]
        ])
      )
    )
  })

  it("fails with ProtocolError beyond its bound and can be reused", () => {
    const r = TextKeys.makeReassembler({ maxBytes: 8 })
    expect(r.push(bytes("A=12345"), true)._tag).toBe("Success")
    expect(reasonTag(r.push(bytes("67\0"), false))).toBe("ProtocolError")
    expect(r.pending()).toBe(0)
    expect(r.push(bytes("B=1\0"), false)).toEqual(Result.succeed(Option.some([["B", "1"]])))
  })
})
