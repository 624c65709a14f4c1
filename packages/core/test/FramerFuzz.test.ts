/**
 * Fuzz: 100,000+ random and mutated frames (valid encodings with flipped bytes, truncations,
 * rewritten length fields, and pure garbage) fed to the framer in random chunkings. The framer
 * must only ever answer with PDUs or a typed IscsiError (ProtocolError or DigestError), never throw
 * or hang, and never hold more than one maximal frame.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Framer from "../src/Framer.ts"
import * as IscsiError from "../src/IscsiError.ts"
import * as Pdu from "../src/Pdu.ts"
import * as A from "./fixtures/goldens-arbitraries.ts"

const MAX_DSL = 65536
const MAX_FRAME = 48 + 1020 + 4 + MAX_DSL + 3 + 4
const FRAMES = 100_000

/** xorshift32: deterministic and fast. */
const rng = (seed: number) => {
  let x = seed >>> 0 || 1
  return (n: number): number => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % n
  }
}

describe("Framer fuzz", () => {
  it(`survives ${FRAMES} random and mutated frames`, () => {
    const rand = rng(0x5eed1234)
    const seeds = fc.sample(A.pdu, { numRuns: 400, seed: 42 })
    const valid = seeds.flatMap((p) => [Pdu.encode(p), Pdu.encode(p, { headerDigest: true, dataDigest: true })])
    const tags = new Map<string, number>()
    let pdus = 0
    let framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: MAX_DSL })
    const fresh = () => {
      const h = rand(2) === 1
      const d = rand(2) === 1
      framer = Framer.make({ headerDigest: h, dataDigest: d, maxDataSegmentLength: MAX_DSL })
    }
    for (let i = 0; i < FRAMES; i++) {
      const base = valid[rand(valid.length)]!
      let frame: Uint8Array
      switch (rand(6)) {
        case 0: {
          frame = base.slice()
          const flips = 1 + rand(4)
          for (let k = 0; k < flips; k++) frame[rand(frame.length)] ^= 1 << rand(8)
          break
        }
        case 1:
          frame = base.slice(0, rand(base.length + 1))
          break
        case 2: {
          frame = base.slice()
          frame[4 + rand(4)] = rand(256) // TotalAHSLength or DataSegmentLength
          break
        }
        case 3:
          frame = Uint8Array.from({ length: rand(200) }, () => rand(256))
          break
        case 4: {
          frame = base.slice()
          frame[0] = rand(256) // opcode and I bit
          break
        }
        default:
          frame = base
      }
      // random chunking of this frame
      let o = 0
      while (o <= frame.length) {
        const n = rand(3) === 0 ? frame.length - o : rand(frame.length - o + 1)
        const r = framer.push(frame.subarray(o, o + n))
        if (Result.isFailure(r)) {
          expect(IscsiError.isIscsiError(r.failure)).toBe(true)
          const tag = r.failure.reason._tag
          expect(tag === "ProtocolError" || tag === "DigestError").toBe(true)
          tags.set(tag, (tags.get(tag) ?? 0) + 1)
          expect(Result.isFailure(framer.push(new Uint8Array(1)))).toBe(true)
          fresh()
          break
        }
        pdus += r.success.length
        expect(framer.buffered).toBeLessThanOrEqual(MAX_FRAME)
        o += n
        if (n === 0 && o === frame.length) break
      }
      if (rand(50) === 0) fresh()
    }
    expect(pdus).toBeGreaterThan(1000)
    expect(tags.get("ProtocolError") ?? 0).toBeGreaterThan(0)
    expect(tags.get("DigestError") ?? 0).toBeGreaterThan(0)
  }, 60_000)
})
