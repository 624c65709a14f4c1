/**
 * CHAP math and encodings for iSCSI login (RFC 1994, RFC 7143 §12.1.3, §6.1 binary values).
 *
 * - Algorithms (`CHAP_A`, IANA "PPP Authentication Algorithms"): 5 MD5 (RFC 1994, mandatory),
 *   6 SHA-1, 7 SHA-256, 8 SHA3-256 (the numbers Linux LIO and libiscsi use; the same IANA registry).
 * - Response: `CHAP_R = H(CHAP_I as one byte ‖ secret ‖ CHAP_C)` (RFC 1994 §4.1).
 * - Binary values (`CHAP_C`, `CHAP_R`): `0x`/`0X` + hex digits, or `0b`/`0B` + base64; at most 1024
 *   bytes once decoded (§12.1.3). We always send lower-case hex.
 * - Numbers (`CHAP_I`, `CHAP_A`): decimal or `0x` hex (§6.1 numerical values).
 *
 * Hashing is not done here: a {@link Hash} function is passed in (node-transport's `NodeCrypto.hash`
 * uses the platform's `createHash`), so this module stays platform-free and never hand-rolls crypto.
 *
 * Secrets are `Redacted.Redacted<string>` in every configuration; they are turned into bytes only at
 * the moment a response is computed and never appear in errors.
 *
 * Not here: the CHAP message exchange (see `LoginMachine`).
 */
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as IscsiError from "./IscsiError.ts"
import { failProtocol } from "./internal/textErrors.ts"

/** The CHAP hash algorithms we support. */
export type Algorithm = "MD5" | "SHA1" | "SHA256" | "SHA3-256"

/** `CHAP_A` numbers (IANA PPP Authentication Algorithms). */
export const algorithmNumber: { readonly [A in Algorithm]: number } = {
  MD5: 5,
  SHA1: 6,
  SHA256: 7,
  "SHA3-256": 8
}

/** The algorithm for a `CHAP_A` number, if we support it. */
export const algorithmFromNumber = (n: number): Algorithm | undefined => {
  switch (n) {
    case 5:
      return "MD5"
    case 6:
      return "SHA1"
    case 7:
      return "SHA256"
    case 8:
      return "SHA3-256"
    default:
      return undefined
  }
}

/** Digest sizes in bytes. */
export const digestLength: { readonly [A in Algorithm]: number } = {
  MD5: 16,
  SHA1: 20,
  SHA256: 32,
  "SHA3-256": 32
}

/**
 * Our default preference: SHA3-256, SHA-1, MD5, SHA-256 (MD5 is always offered).
 *
 * SHA-256 comes after MD5 on purpose: tgt (1.0.85, `usr/iscsi/chap.c`) accepts `CHAP_A=7` but
 * treats it as SHA-1 and then rejects a SHA-256 response with "initiator error" (verified against
 * the real tgtd in the tests). A target picks the first value of our list it supports, so with this
 * order LIO-style targets still get SHA3-256 or SHA-1, and tgt gets MD5 instead of a broken 7.
 * Ask for SHA-256 explicitly (`algorithms`) for targets that implement it correctly.
 */
export const allAlgorithms: ReadonlyArray<Algorithm> = ["SHA3-256", "SHA1", "MD5", "SHA256"]

/** The list of algorithms to offer in `CHAP_A`: the configured ones, in order, with MD5 appended if missing (§12.1.3). */
export const offeredAlgorithms = (configured?: ReadonlyArray<Algorithm>): ReadonlyArray<Algorithm> => {
  const list: Array<Algorithm> = []
  for (const a of configured ?? allAlgorithms) if (!list.includes(a)) list.push(a)
  if (!list.includes("MD5")) list.push("MD5")
  return list
}

/** A hash function provided by the platform. */
export type Hash = (algorithm: Algorithm, data: Uint8Array) => Uint8Array

/** Maximum decoded size of a binary CHAP value (§12.1.3). */
export const MAX_BINARY_LENGTH = 1024

const encoder = new TextEncoder()

/** The secret as UTF-8 bytes (the only place a secret is unwrapped). */
export const secretBytes = (secret: Redacted.Redacted<string>): Uint8Array => encoder.encode(Redacted.value(secret))

/** `H(id ‖ secret ‖ challenge)` (RFC 1994 §4.1). */
export const response = (
  hash: Hash,
  algorithm: Algorithm,
  id: number,
  secret: Uint8Array,
  challenge: Uint8Array
): Uint8Array => {
  const input = new Uint8Array(1 + secret.length + challenge.length)
  input[0] = id & 0xff
  input.set(secret, 1)
  input.set(challenge, 1 + secret.length)
  return hash(algorithm, input)
}

/** Compare two byte arrays without an early exit (timing-independent of where they differ). */
export const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

const HEX = "0123456789abcdef"

/** Encode bytes as a `0x` hex constant (lower case). */
export const encodeHex = (bytes: Uint8Array): string => {
  let s = "0x"
  for (const b of bytes) s += HEX[b >> 4]! + HEX[b & 15]!
  return s
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
const B64_INDEX: ReadonlyMap<string, number> = new Map([...B64].map((c, i) => [c, i]))

/** Encode bytes as a `0b` base64 constant (RFC 4648 alphabet with padding). */
export const encodeBase64 = (bytes: Uint8Array): string => {
  let s = "0b"
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]!
    s += i + 1 < bytes.length ? B64[(n >> 6) & 63]! : "="
    s += i + 2 < bytes.length ? B64[n & 63]! : "="
  }
  return s
}

const hexNibble = (c: number): number => {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10
  return -1
}

const decodeHexDigits = (digits: string): Result.Result<Uint8Array, IscsiError.IscsiError> => {
  // An odd number of digits implies a leading zero nibble.
  const padded = digits.length % 2 === 1 ? `0${digits}` : digits
  const out = new Uint8Array(padded.length / 2)
  for (let i = 0; i < out.length; i++) {
    const hi = hexNibble(padded.charCodeAt(2 * i))
    const lo = hexNibble(padded.charCodeAt(2 * i + 1))
    if (hi < 0 || lo < 0) return failProtocol("invalid hex digit in binary value")
    out[i] = (hi << 4) | lo
  }
  return Result.succeed(out)
}

const decodeBase64Digits = (digits: string): Result.Result<Uint8Array, IscsiError.IscsiError> => {
  const body = digits.replace(/=+$/, "")
  if (digits.length - body.length > 2 || body.length % 4 === 1) return failProtocol("invalid base64 length")
  const out = new Uint8Array(Math.floor((body.length * 3) / 4))
  let acc = 0
  let bits = 0
  let o = 0
  for (const c of body) {
    const v = B64_INDEX.get(c)
    if (v === undefined) return failProtocol("invalid base64 character in binary value")
    acc = ((acc << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 0xff
    }
  }
  return Result.succeed(out)
}

/** Decode a binary value (`0x…` hex or `0b…` base64), at most {@link MAX_BINARY_LENGTH} bytes. */
export const decodeBinary = (value: string): Result.Result<Uint8Array, IscsiError.IscsiError> => {
  if (value.length < 3) return failProtocol("binary value too short")
  const prefix = value.slice(0, 2)
  const digits = value.slice(2)
  let r: Result.Result<Uint8Array, IscsiError.IscsiError>
  if (prefix === "0x" || prefix === "0X") r = decodeHexDigits(digits)
  else if (prefix === "0b" || prefix === "0B") r = decodeBase64Digits(digits)
  else return failProtocol("binary value without 0x or 0b prefix")
  if (Result.isSuccess(r) && r.success.length > MAX_BINARY_LENGTH) {
    return failProtocol(`binary value longer than ${MAX_BINARY_LENGTH} bytes`)
  }
  return r
}

/** Decode a numerical value: decimal, or a `0x` hex constant (§6.1). */
export const decodeNumber = (value: string): Result.Result<number, IscsiError.IscsiError> => {
  if (/^[0-9]{1,16}$/.test(value)) return Result.succeed(Number.parseInt(value, 10))
  if (/^0[xX][0-9a-fA-F]{1,13}$/.test(value)) return Result.succeed(Number.parseInt(value.slice(2), 16))
  return failProtocol("invalid numerical value")
}
