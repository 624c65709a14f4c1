import * as Crc32c from "@effect-iscsi/core/Crc32c"
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as NativeCrc32c from "../src/NativeCrc32c.ts"

describe("NativeCrc32c", () => {
  it("loads @node-rs/crc32 on this platform", () => {
    expect(NativeCrc32c.isNative()).toBe(true)
  })

  it("has the check value 0xE3069283", () => {
    expect(NativeCrc32c.crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283)
  })

  it("agrees with the TS slicing-by-8 on random buffers of many lengths, and when chaining", () =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), fc.nat({ max: 9 }), fc.nat(), (bytes, skip, seed) => {
        const view = bytes.subarray(Math.min(skip, bytes.length))
        expect(NativeCrc32c.crc32c(view)).toBe(Crc32c.crc32c(view))
        const init = seed >>> 0
        expect(NativeCrc32c.crc32c(view, init)).toBe(Crc32c.crc32c(view, init))
      }),
      { numRuns: 200 }
    ))

  it("agrees at every length 0..1100", () => {
    const buf = Uint8Array.from({ length: 1100 }, (_, i) => (i * 31 + 7) & 0xff)
    for (let n = 0; n <= 1100; n++)
      expect(NativeCrc32c.crc32c(buf.subarray(0, n))).toBe(Crc32c.crc32c(buf.subarray(0, n)))
  })
})
