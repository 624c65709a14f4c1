import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Serial from "../src/Serial.ts"

const u32 = fc.nat({ max: 0xffffffff })
const step = fc.integer({ min: 1, max: 0x7fffffff })

describe("Serial (RFC 1982, 32 bits)", () => {
  it("wraps around 2^32", () => {
    expect(Serial.add(0xffffffff, 1)).toBe(0)
    expect(Serial.lt(0xffffffff, 0)).toBe(true)
    expect(Serial.gt(0, 0xffffffff)).toBe(true)
    expect(Serial.diff(2, 0xfffffffe)).toBe(4)
    expect(Serial.diff(0xfffffffe, 2)).toBe(-4)
  })

  it("a + n > a for 1 <= n < 2^31", () =>
    fc.assert(
      fc.property(u32, step, (a, n) => {
        const b = Serial.add(a, n)
        expect(Serial.gt(b, a)).toBe(true)
        expect(Serial.lt(a, b)).toBe(true)
        expect(Serial.lte(a, b) && Serial.gte(b, a)).toBe(true)
        expect(Serial.diff(b, a)).toBe(n)
      })
    ))

  it("numbers exactly 2^31 apart are incomparable", () =>
    fc.assert(
      fc.property(u32, (a) => {
        const b = Serial.add(a, 0x80000000)
        expect(Serial.lt(a, b) || Serial.gt(a, b)).toBe(false)
      })
    ))

  it("equality is both lte and gte, never lt or gt", () =>
    fc.assert(
      fc.property(u32, (a) => {
        expect([Serial.lte(a, a), Serial.gte(a, a), Serial.lt(a, a), Serial.gt(a, a)]).toEqual([
          true,
          true,
          false,
          false
        ])
      })
    ))

  it("inWindow covers [low, high] across the wrap", () => {
    expect(Serial.inWindow(0, 0xfffffffe, 2)).toBe(true)
    expect(Serial.inWindow(3, 0xfffffffe, 2)).toBe(false)
    expect(Serial.inWindow(0xfffffffd, 0xfffffffe, 2)).toBe(false)
    expect(Serial.windowSize(0xfffffffe, 2)).toBe(5)
    expect(Serial.windowSize(5, 4)).toBe(0)
  })
})
