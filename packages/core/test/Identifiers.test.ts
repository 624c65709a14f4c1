import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Identifiers from "../src/Identifiers.ts"

describe("Identifiers", () => {
  it("validates ranges without throwing through .result", () => {
    expect(Result.isSuccess(Identifiers.Itt.result(0xfffffffe))).toBe(true)
    expect(Result.isFailure(Identifiers.CmdSN.result(2 ** 32))).toBe(true)
    expect(Result.isFailure(Identifiers.StatSN.result(-1))).toBe(true)
    expect(Result.isFailure(Identifiers.Tsih.result(0x10000))).toBe(true)
    expect(Result.isSuccess(Identifiers.Cid.result(0xffff))).toBe(true)
    expect(Result.isFailure(Identifiers.Ttt.result(1.5))).toBe(true)
  })

  it("lays out ISID format bits per RFC 7143 §11.12.5", () => {
    // T=10 (random), B+C = 0x123456, D = 0xabcd
    expect(Identifiers.Isid.make({ type: "Random", naming: 0x123456, qualifier: 0xabcd })).toBe(0x80_12_34_56_ab_cd)
    // T=01 (EN)
    expect(Identifiers.Isid.make({ type: "EN", naming: 1, qualifier: 2 })).toBe(0x40_00_00_01_00_02)
    // T=00 (OUI): A+B = 22-bit OUI, C+D = 24-bit qualifier
    expect(Identifiers.Isid.make({ type: "OUI", naming: 0x3fffff, qualifier: 0xffffff })).toBe(0x3f_ff_ff_ff_ff_ff)
    expect(Identifiers.Isid.toBytes(0x80_12_34_56_ab_cd)).toEqual(Uint8Array.of(0x80, 0x12, 0x34, 0x56, 0xab, 0xcd))
  })

  it("parts(make(x)) = x for every format", () =>
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({
            type: fc.constant("OUI" as const),
            naming: fc.nat({ max: 0x3fffff }),
            qualifier: fc.nat({ max: 0xffffff })
          }),
          fc.record({
            type: fc.constantFrom("EN" as const, "Random" as const),
            naming: fc.nat({ max: 0xffffff }),
            qualifier: fc.nat({ max: 0xffff })
          })
        ),
        (parts) => {
          expect(Identifiers.Isid.parts(Identifiers.Isid.make(parts))).toEqual(parts)
        }
      )
    ))

  it("random ISIDs have the random format and the qualifier", () => {
    const isid = Identifiers.Isid.random(7)
    expect(Identifiers.Isid.parts(isid)).toMatchObject({ type: "Random", qualifier: 7 })
    expect(Identifiers.Isid.parts(Identifiers.Isid.random(0, 0xabcdef))).toEqual({
      type: "Random",
      naming: 0xabcdef,
      qualifier: 0
    })
  })
})
