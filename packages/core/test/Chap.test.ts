import { describe, expect, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Chap from "../src/Chap.ts"

const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => Number.parseInt(b, 16)))
const reasonTag = <A>(r: Result.Result<A, { reason: { _tag: string } }>) =>
  Result.isFailure(r) ? r.failure.reason._tag : "Success"

describe("Chap", () => {
  it("uses the IANA CHAP_A numbers", () => {
    expect(Chap.algorithmNumber).toEqual({ MD5: 5, SHA1: 6, SHA256: 7, "SHA3-256": 8 })
    for (const a of Chap.allAlgorithms) expect(Chap.algorithmFromNumber(Chap.algorithmNumber[a])).toBe(a)
    expect(Chap.algorithmFromNumber(4)).toBeUndefined()
  })

  it("always offers MD5, keeping the configured order", () => {
    expect(Chap.offeredAlgorithms(["SHA256"])).toEqual(["SHA256", "MD5"])
    expect(Chap.offeredAlgorithms(["MD5", "SHA1", "MD5"])).toEqual(["MD5", "SHA1"])
    expect(Chap.offeredAlgorithms()).toEqual(["SHA3-256", "SHA1", "MD5", "SHA256"])
  })

  it("response feeds id ‖ secret ‖ challenge to the hash", () => {
    const seen: Array<Uint8Array> = []
    const hash: Chap.Hash = (_a, data) => {
      seen.push(data)
      return new Uint8Array([1, 2, 3])
    }
    const out = Chap.response(hash, "MD5", 0x12, new Uint8Array([0xaa, 0xbb]), new Uint8Array([0xcc]))
    expect(out).toEqual(new Uint8Array([1, 2, 3]))
    expect(seen).toEqual([new Uint8Array([0x12, 0xaa, 0xbb, 0xcc])])
  })

  it("secretBytes unwraps the Redacted secret as UTF-8", () => {
    expect(Chap.secretBytes(Redacted.make("aé"))).toEqual(new Uint8Array([0x61, 0xc3, 0xa9]))
  })

  it("decodes hex (either case, odd length) and base64 binary values", () => {
    expect(Chap.decodeBinary("0x00ff10")).toEqual(Result.succeed(hex("00ff10")))
    expect(Chap.decodeBinary("0XABcd")).toEqual(Result.succeed(hex("abcd")))
    expect(Chap.decodeBinary("0xabc")).toEqual(Result.succeed(hex("0abc")))
    // base64 vectors computed with Python's base64 module
    expect(Chap.decodeBinary("0bAAECAwQFBgcICQoLDA0ODw==")).toEqual(
      Result.succeed(Uint8Array.from({ length: 16 }, (_, i) => i))
    )
    expect(Chap.decodeBinary("0BYWI=")).toEqual(Result.succeed(new Uint8Array([0x61, 0x62])))
  })

  it.each([["abcd"], ["0x"], ["0xzz"], ["0b@@@@"], ["0bA"], ["1234"], [`0x${"00".repeat(1025)}`]])(
    "rejects %s",
    (value) => {
      expect(reasonTag(Chap.decodeBinary(value))).toBe("ProtocolError")
    }
  )

  it("hex and base64 round-trip (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 1024 }), (b) => {
        expect(Chap.decodeBinary(Chap.encodeHex(b))).toEqual(Result.succeed(b))
        expect(Chap.decodeBinary(Chap.encodeBase64(b))).toEqual(Result.succeed(b))
      })
    )
  })

  it("decodes numbers in decimal and hex", () => {
    expect(Chap.decodeNumber("42")).toEqual(Result.succeed(42))
    expect(Chap.decodeNumber("0x2A")).toEqual(Result.succeed(42))
    expect(reasonTag(Chap.decodeNumber("-1"))).toBe("ProtocolError")
    expect(reasonTag(Chap.decodeNumber("4x"))).toBe("ProtocolError")
  })

  it("equalBytes compares content and length", () => {
    expect(Chap.equalBytes(hex("0102"), hex("0102"))).toBe(true)
    expect(Chap.equalBytes(hex("0102"), hex("0103"))).toBe(false)
    expect(Chap.equalBytes(hex("0102"), hex("010203"))).toBe(false)
  })
})
