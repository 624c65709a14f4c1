/**
 * Fuzz: 100,000 random and mutated iSNSP streams (the isnsd goldens and generated messages, split
 * into PDUs of random sizes, then with flipped bits, truncations, rewritten length, flag and
 * sequence fields, and pure garbage) pushed in random chunkings through the reader, then decoded
 * and read as objects and targets. Only typed `ProtocolError`s may come back: nothing throws or
 * hangs, and the reader never holds more than one PDU plus its message bound.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as IscsiError from "../src/IscsiError.ts"
import * as Isns from "../src/Isns.ts"
import * as IsnsClient from "../src/IsnsClient.ts"
import * as A from "./fixtures/isns-arbitraries.ts"
import { isnsGoldens } from "./fixtures/isns-goldens.ts"

const STREAMS = 100_000
const MAX_MESSAGE = 16 * 1024
const MAX_HELD = Isns.HEADER_LENGTH + Isns.MAX_PDU_PAYLOAD + MAX_MESSAGE

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

const fromHex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => Number.parseInt(h, 16))

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

describe("iSNS fuzz", () => {
  it(`survives ${STREAMS} random and mutated streams`, () => {
    const rand = rng(0x15a5f00d)
    const golden = isnsGoldens.flatMap((g) => [fromHex(g.toServer), fromHex(g.fromServer)])
    const generated = fc.sample(A.message, { numRuns: 300, seed: 7 })
    const seeds: Array<Uint8Array> = [
      ...golden,
      ...generated.map((m) => concat(Isns.encode(m, { maxPduPayload: 4 + rand(40) * 4 })))
    ]
    const tags = new Map<string, number>()
    let messages = 0
    let targets = 0
    for (let i = 0; i < STREAMS; i++) {
      const base = seeds[rand(seeds.length)]!
      let stream: Uint8Array
      switch (rand(7)) {
        case 0: {
          stream = base.slice()
          const flips = 1 + rand(4)
          for (let k = 0; k < flips; k++) stream[rand(stream.length)]! ^= 1 << rand(8)
          break
        }
        case 1:
          stream = base.slice(0, rand(base.length + 1))
          break
        case 2: {
          // a header field of some PDU-aligned offset: version, function, length, flags, transaction, sequence
          stream = base.slice()
          const at = rand(Math.max(1, stream.length - 12))
          stream[at + rand(12)] = rand(256)
          break
        }
        case 3:
          stream = Uint8Array.from({ length: rand(300) }, () => rand(256))
          break
        case 4: {
          // an attribute length word somewhere in the payload
          stream = base.slice()
          const at = 12 + 4 * rand(Math.max(1, (stream.length - 16) >> 2))
          if (at + 4 <= stream.length) stream.set([rand(2) ? 0 : 0xff, rand(256), rand(256), rand(256)], at)
          break
        }
        case 5:
          stream = concat([base, base.slice(0, rand(base.length))])
          break
        default:
          stream = base
      }
      const reader = Isns.makeReader({ maxMessageLength: MAX_MESSAGE })
      let o = 0
      while (o < stream.length) {
        const n = rand(3) === 0 ? stream.length - o : 1 + rand(stream.length - o)
        const r = reader.push(stream.subarray(o, o + n))
        o += n
        if (Result.isFailure(r)) {
          expect(IscsiError.isIscsiError(r.failure)).toBe(true)
          expect(r.failure.reason._tag).toBe("ProtocolError")
          tags.set("reader", (tags.get("reader") ?? 0) + 1)
          expect(Result.isFailure(reader.push(new Uint8Array(12)))).toBe(true)
          break
        }
        expect(reader.buffered).toBeLessThanOrEqual(MAX_HELD)
        for (const m of r.success) {
          messages++
          const d = Isns.decode(m)
          if (Result.isFailure(d)) {
            expect(d.failure.reason._tag).toBe("ProtocolError")
            tags.set("decode", (tags.get("decode") ?? 0) + 1)
            continue
          }
          const { keys, operating } = Isns.sections(d.success)
          Isns.objects(operating)
          const name = Isns.stringOf(keys, Isns.Tag.IscsiName)
          if (name !== undefined && IsnsClient.targetFromAnswer(name, operating) !== undefined) targets++
          // what decoded re-encodes to something that decodes to the same message
          const again = Result.getOrThrow(Isns.decodeStream(concat(Isns.encode(d.success))))
          expect(again).toEqual([d.success])
        }
      }
    }
    expect(messages).toBeGreaterThan(10_000)
    expect(targets).toBeGreaterThan(0)
    expect(tags.get("reader") ?? 0).toBeGreaterThan(1000)
    expect(tags.get("decode") ?? 0).toBeGreaterThan(100)
  }, 120_000)

  it("decodeAttributes answers random bytes with attributes or a ProtocolError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = Isns.decodeAttributes(bytes)
        if (Result.isFailure(r)) expect(r.failure.reason._tag).toBe("ProtocolError")
      }),
      { numRuns: 20_000 }
    )
  })
})
