import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Crc32c from "../src/Crc32c.ts"

/** Bit-at-a-time reference (the definition, no tables). */
const reference = (data: Uint8Array): number => {
  let c = 0xffffffff
  for (const b of data) {
    c ^= b
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  }
  return (c ^ 0xffffffff) >>> 0
}

describe("Crc32c", () => {
  it('has the check value 0xE3069283 for "123456789"', () => {
    expect(Crc32c.crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283)
    expect(Crc32c.CHECK_VALUE).toBe(0xe3069283)
  })

  it("matches RFC 3720 Appendix B.4: 32 bytes of zeros and of ones", () => {
    expect(Crc32c.crc32c(new Uint8Array(32))).toBe(0x8a9136aa)
    expect(Crc32c.crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43)
    expect(Crc32c.crc32c(new Uint8Array(0))).toBe(0)
  })

  it("agrees with the bitwise reference on random buffers and unaligned views", () =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat({ max: 7 }), (bytes, skip) => {
        const view = bytes.subarray(Math.min(skip, bytes.length))
        expect(Crc32c.crc32c(view)).toBe(reference(view))
      })
    ))

  it("chains: crc(b, crc(a)) = crc(a ++ b)", () =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (a, b) => {
        const ab = new Uint8Array(a.length + b.length)
        ab.set(a)
        ab.set(b, a.length)
        expect(Crc32c.crc32c(b, Crc32c.crc32c(a))).toBe(Crc32c.crc32c(ab))
      })
    ))
})
