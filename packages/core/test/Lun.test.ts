import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Lun from "../src/Lun.ts"

describe("Lun (SAM-5 §4.7)", () => {
  it("uses peripheral addressing below 256 and flat space up to 16383", () => {
    expect(Lun.encode(0)).toBe(0n)
    expect(Lun.encode(1)).toBe(0x0001_0000_0000_0000n)
    expect(Lun.encode(255)).toBe(0x00ff_0000_0000_0000n)
    expect(Lun.encode(256)).toBe(0x4100_0000_0000_0000n)
    expect(Lun.encode(16383)).toBe(0x7fff_0000_0000_0000n)
  })

  it("round-trips every LUN 0..16383", () =>
    fc.assert(
      fc.property(fc.nat({ max: 16383 }), (n) => {
        expect(Result.getOrThrow(Lun.decode(Lun.encode(n)))).toBe(n)
      })
    ))

  it("decodes flat space addressing below 256 too", () => {
    expect(Result.getOrThrow(Lun.decode(0x4005_0000_0000_0000n))).toBe(5)
  })

  it("rejects out-of-range input and unsupported address methods as InvalidArgument", () => {
    const tag = (r: Result.Result<unknown, { readonly reason: { readonly _tag: string } }>) =>
      Result.isFailure(r) ? r.failure.reason._tag : undefined
    expect(tag(Lun.encodeResult(16384))).toBe("InvalidArgument")
    expect(tag(Lun.encodeResult(-1))).toBe("InvalidArgument")
    expect(tag(Lun.decode(0x8001_0000_0000_0000n))).toBe("InvalidArgument") // logical unit addressing
    expect(tag(Lun.decode(0xc001_0000_0000_0000n))).toBe("InvalidArgument") // extended
    expect(tag(Lun.decode(0x0001_0002_0000_0000n))).toBe("InvalidArgument") // two levels
  })

  it("reads and writes the 8 bytes big-endian", () =>
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (raw) => {
        const b = new Uint8Array(10).fill(0xee)
        Lun.write(b, 1, raw)
        expect(Lun.read(b, 1)).toBe(raw)
        expect(b[0]).toBe(0xee)
        expect(b[9]).toBe(0xee)
      })
    ))
})
