/**
 * CHAP known-answer tests per algorithm. Expected values were computed independently with Python's
 * hashlib, e.g.:
 *   python3 -c "import hashlib; m=bytes([0x2a])+b'initiator-secret-1'+bytes.fromhex('00112233445566778899aabbccddeeff'); print(hashlib.new('sha3_256', m).hexdigest())"
 */
import { Chap } from "@effect-iscsi/core"
import { describe, expect, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as NodeCrypto from "../src/NodeCrypto.ts"

const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => Number.parseInt(b, 16)))

const ID = 0x2a
const SECRET = Redacted.make("initiator-secret-1")
const CHALLENGE = hex("00112233445566778899aabbccddeeff")

describe("NodeCrypto: CHAP known answers", () => {
  it.each([
    ["MD5", "495302bf408ae498529e03fd48197529"],
    ["SHA1", "eec956800506284a17fc9fbb85eba1b53f7c945d"],
    ["SHA256", "2c3c51f6adaef0ef8ce71c95bfcec09ced42554cee34433143d1de03e802b3b6"],
    ["SHA3-256", "95b765ad91928f3debaea683d276cccbcb74e1b35e18262aa49c790620d819bb"]
  ] as const)("%s", (algorithm, expected) => {
    const r = Chap.response(NodeCrypto.hash, algorithm, ID, Chap.secretBytes(SECRET), CHALLENGE)
    expect(r).toEqual(hex(expected))
    expect(r.length).toBe(Chap.digestLength[algorithm])
    expect(Chap.encodeHex(r)).toBe(`0x${expected}`)
  })

  it("MD5 with id 1, secret 'secret', challenge 00..0f (base64 challenge)", () => {
    const challenge = Result.getOrThrow(Chap.decodeBinary("0bAAECAwQFBgcICQoLDA0ODw=="))
    const r = Chap.response(NodeCrypto.hash, "MD5", 1, new TextEncoder().encode("secret"), challenge)
    expect(r).toEqual(hex("740e86463bda3a4d7017d6e0fba0699d"))
  })
})

describe("NodeCrypto.randomBytes", () => {
  it("returns n fresh bytes", () => {
    const a = NodeCrypto.randomBytes(16)
    const b = NodeCrypto.randomBytes(16)
    expect(a.length).toBe(16)
    expect(a).toBeInstanceOf(Uint8Array)
    expect(Chap.equalBytes(a, b)).toBe(false)
    expect(NodeCrypto.randomBytes(0).length).toBe(0)
  })
})
