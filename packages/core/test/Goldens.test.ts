/**
 * Byte-exact goldens recorded from a real tgtd (see fixtures/goldens.ts for provenance and
 * scripts/capture-goldens.ts to re-capture): every PDU decodes and re-encodes to the same bytes,
 * and each stream gives the same PDUs whether pushed whole, split at every byte boundary, or in
 * 1-byte drips. On digest connections the framer switches digests on after the login completes,
 * exactly as the engine does.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Framer from "../src/Framer.ts"
import * as Pdu from "../src/Pdu.ts"
import { type Golden, goldens } from "./fixtures/goldens.ts"

const fromHex = (s: string): Uint8Array => {
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16)
  return out
}

/**
 * Digests start after the final login PDU of each direction: the Login Response that moves to full
 * feature phase (status 0, T=1, NSG=3), and the Login Request it answered (every Login Request gets
 * exactly one Login Response, so it is the n-th one).
 */
const loginResponses = (g: Golden): number => {
  const stream = fromHex(g.fromTarget)
  const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
  let n = 0
  let o = 0
  while (o < stream.length) {
    const dsl = (stream[o + 5]! << 16) | (stream[o + 6]! << 8) | stream[o + 7]!
    const len = 48 + stream[o + 4]! * 4 + ((dsl + 3) & ~3)
    const [p] = Result.getOrThrow(framer.push(stream.subarray(o, o + len)))
    o += len
    if (p?._tag !== "LoginResponse") return n
    n++
    if (p.transit && p.nsg === 3 && p.statusClass === 0) return n
  }
  return n
}

/**
 * Push `stream` in the given pieces, switching digests on (when the golden has them) right after
 * the PDU that completes login. A piece that crosses that point is cut there first, as the engine
 * sees it: the target never sends anything after the final Login Response before our next PDU.
 */
const run = (g: Golden, stream: Uint8Array, cuts: ReadonlyArray<number>, loginEnd: number): Array<Pdu.Pdu> => {
  const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
  const points = [...new Set([...cuts, ...(g.headerDigest || g.dataDigest ? [loginEnd] : []), stream.length])]
    .filter((c) => c > 0 && c <= stream.length)
    .sort((a, b) => a - b)
  const out: Array<Pdu.Pdu> = []
  let prev = 0
  for (const c of points) {
    const r = framer.push(stream.subarray(prev, c))
    if (Result.isFailure(r)) throw new Error(`${g.name}: ${r.failure.message} at ${prev}..${c}`)
    out.push(...r.success)
    if (c === loginEnd && (g.headerDigest || g.dataDigest)) framer.setDigests(g.headerDigest, g.dataDigest)
    prev = c
  }
  expect(framer.buffered).toBe(0)
  return out
}

/** Split the stream into frames (with the digest switch) and find where login ends. */
const frames = (g: Golden, stream: Uint8Array, logins: number) => {
  const out: Array<{ readonly bytes: Uint8Array; readonly pdu: Pdu.Pdu; readonly digests: Pdu.DigestOptions }> = []
  let digests: Pdu.DigestOptions = Pdu.noDigests
  let o = 0
  let loginEnd = -1
  let seen = 0
  while (o < stream.length) {
    const dsl = (stream[o + 5]! << 16) | (stream[o + 6]! << 8) | stream[o + 7]!
    const len =
      48 +
      stream[o + 4]! * 4 +
      (digests.headerDigest ? 4 : 0) +
      ((dsl + 3) & ~3) +
      (digests.dataDigest && dsl > 0 ? 4 : 0)
    const bytes = stream.subarray(o, o + len)
    const pdu = Result.getOrThrow(Pdu.decode(bytes, digests))
    out.push({ bytes, pdu, digests })
    o += len
    if (pdu._tag === "LoginRequest" || pdu._tag === "LoginResponse") seen++
    if (loginEnd < 0 && seen === logins) {
      loginEnd = o
      digests = { headerDigest: g.headerDigest, dataDigest: g.dataDigest }
    }
  }
  return { frames: out, loginEnd }
}

describe("goldens from tgtd", () => {
  it("has the scenarios the issue asks for", () => {
    const names = goldens.map((g) => g.name)
    expect(names).toEqual(expect.arrayContaining(["inq", "chap-inq", "header-digest-inq", "data-digest-session"]))
    const chap = goldens.find((g) => g.name === "chap-inq")!
    const text = new TextDecoder().decode(fromHex(chap.fromTarget))
    expect(text).toContain("CHAP_A=5")
  })

  for (const g of goldens) {
    for (const dir of ["toTarget", "fromTarget"] as const) {
      describe(`${g.name} ${dir}`, () => {
        const stream = fromHex(g[dir])
        const { frames: fs, loginEnd } = frames(g, stream, loginResponses(g))
        const pdus = fs.map((f) => f.pdu)

        it("decodes every PDU and re-encodes it byte-exact", () => {
          expect(fs.length).toBeGreaterThan(1)
          for (const f of fs) {
            expect(f.pdu._tag).not.toBe("Unknown")
            expect(Pdu.encode(f.pdu, f.digests)).toEqual(f.bytes)
          }
          if (g.headerDigest) expect(loginEnd).toBeGreaterThan(0)
        })

        it("gives the same PDUs pushed whole, as recorded, split at every byte boundary and in 1-byte drips", () => {
          expect(run(g, stream, [], loginEnd)).toEqual(pdus)
          const recorded: Array<number> = []
          for (const n of dir === "toTarget" ? g.toTargetChunks : g.fromTargetChunks) {
            recorded.push((recorded.at(-1) ?? 0) + n)
          }
          expect(run(g, stream, recorded, loginEnd)).toEqual(pdus)
          for (let i = 1; i < stream.length; i++) {
            expect(run(g, stream, [i], loginEnd)).toEqual(pdus)
          }
          expect(
            run(
              g,
              stream,
              Array.from({ length: stream.length }, (_, i) => i),
              loginEnd
            )
          ).toEqual(pdus)
        })
      })
    }
  }
})
