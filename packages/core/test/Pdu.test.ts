import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as Crc32c from "../src/Crc32c.ts"
import * as Pdu from "../src/Pdu.ts"
import * as A from "./fixtures/goldens-arbitraries.ts"
import { concat } from "./fixtures/bytes.ts"

const DIGESTS: Pdu.DigestOptions = { headerDigest: true, dataDigest: true }

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => Number.parseInt(h, 16))

const nopOut = (data: Uint8Array): Pdu.NopOut => ({
  _tag: "NopOut",
  immediate: true,
  lun: 0n,
  itt: 7,
  ttt: 0xffffffff,
  cmdSN: 1,
  expStatSN: 2,
  data
})

describe("Pdu round trips", () => {
  for (const [tag, arb] of Object.entries(A.families)) {
    it(`${tag}: decode(encode(x)) = x, digests off and on`, () =>
      fc.assert(
        fc.property(arb as fc.Arbitrary<Pdu.Pdu>, (x) => {
          expect(Result.getOrThrow(Pdu.decode(Pdu.encode(x)))).toEqual(x)
          expect(Result.getOrThrow(Pdu.decode(Pdu.encode(x, DIGESTS), DIGESTS))).toEqual(x)
        }),
        { numRuns: 200 }
      ))
  }

  it("encodeFrames concatenates to encode and passes the data segment through", () =>
    fc.assert(
      fc.property(A.pdu, fc.boolean(), fc.boolean(), (x, h, d) => {
        const options = { headerDigest: h, dataDigest: d }
        const frames = Pdu.encodeFrames(x, options)
        expect(concat(frames)).toEqual(Pdu.encode(x, options))
        if ("data" in x && x.data.length > 0) expect(frames[1]).toBe(x.data)
        else expect(frames.length).toBe(1)
        expect(Pdu.frameLength(x, options)).toBe(concat(frames).length)
      })
    ))

  it("the Schema round-trips too", () =>
    fc.assert(
      fc.property(A.pdu, (x) => {
        const bytes = Schema.encodeSync(Pdu.PduFromBytes)(x)
        expect(Schema.decodeSync(Pdu.PduFromBytes)(bytes)).toEqual(x)
      })
    ))
})

describe("Pdu layout", () => {
  it("encodes a NOP-Out byte-exact", () => {
    const frame = Pdu.encode(nopOut(new Uint8Array([1, 2, 3, 4, 5])))
    expect(frame.length).toBe(48 + 8)
    expect(frame.subarray(0, 8)).toEqual(hex("4080000000000005"))
    expect(frame.subarray(16, 32)).toEqual(hex("00000007ffffffff0000000100000002"))
    expect(frame.subarray(48)).toEqual(hex("0102030405000000"))
  })

  it("puts CDB bytes beyond 16 into an ExtendedCdb AHS and restores them", () => {
    const cdb = Uint8Array.from({ length: 32 }, (_, i) => i + 1)
    const cmd: Pdu.ScsiCommand = {
      _tag: "ScsiCommand",
      immediate: false,
      final: true,
      read: true,
      write: false,
      attribute: "Simple",
      lun: 0n,
      itt: 1,
      expectedDataTransferLength: 512,
      cmdSN: 1,
      expStatSN: 1,
      cdb,
      bidiReadLength: 4096,
      data: new Uint8Array(0)
    }
    const f = Pdu.encode(cmd)
    expect(f[4]).toBe((20 + 8) / 4) // TotalAHSLength in words: ExtendedCdb 4+16, Bidi 8
    expect(f[1]).toBe(0x80 | 0x40 | 1)
    expect(f.subarray(32, 48)).toEqual(cdb.subarray(0, 16))
    expect(f.subarray(48, 52)).toEqual(hex("00110100")) // AHSLength 17, type 1, reserved
    expect(f.subarray(52, 68)).toEqual(cdb.subarray(16))
    expect(f.subarray(68, 76)).toEqual(hex("0005020000001000")) // BidiReadLength 4096
    const back = Result.getOrThrow(Pdu.decode(f))
    expect(back).toEqual(cmd)
  })

  it("zero-pads a short CDB to 16 bytes", () => {
    const cdb = new Uint8Array([0x12, 0, 0, 0, 0x60, 0])
    const cmd: Pdu.ScsiCommand = {
      _tag: "ScsiCommand",
      immediate: false,
      final: true,
      read: true,
      write: false,
      attribute: "Simple",
      lun: 0n,
      itt: 1,
      expectedDataTransferLength: 96,
      cmdSN: 1,
      expStatSN: 1,
      cdb,
      data: new Uint8Array(0)
    }
    const back = Result.getOrThrow(Pdu.decode(Pdu.encode(cmd)))
    expect(back._tag === "ScsiCommand" && back.cdb).toEqual(Uint8Array.from([...cdb, ...new Uint8Array(10)]))
  })

  it("writes digests little-endian over header and over data + padding", () => {
    const frame = Pdu.encode(nopOut(new Uint8Array([1, 2, 3])), DIGESTS)
    expect(frame.length).toBe(48 + 4 + 4 + 4)
    const h = Crc32c.crc32c(frame.subarray(0, 48))
    expect(frame.subarray(48, 52)).toEqual(Uint8Array.of(h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff, h >>> 24))
    const d = Crc32c.crc32c(Uint8Array.of(1, 2, 3, 0))
    expect(frame.subarray(56, 60)).toEqual(Uint8Array.of(d & 0xff, (d >>> 8) & 0xff, (d >>> 16) & 0xff, d >>> 24))
  })

  it("has no data digest for an empty data segment", () => {
    expect(Pdu.encode(nopOut(new Uint8Array(0)), DIGESTS).length).toBe(52)
  })
})

describe("Pdu decode errors", () => {
  const failure = (r: Result.Result<Pdu.Pdu, unknown>) => {
    expect(Result.isFailure(r)).toBe(true)
    return (r as Result.Failure<Pdu.Pdu, { readonly reason: { readonly _tag: string; readonly which?: string } }>)
      .failure.reason
  }

  it("a short or mis-sized frame is a ProtocolError", () => {
    expect(failure(Pdu.decode(new Uint8Array(10)))._tag).toBe("ProtocolError")
    const f = Pdu.encode(nopOut(new Uint8Array(8)))
    expect(failure(Pdu.decode(f.subarray(0, f.length - 1)))._tag).toBe("ProtocolError")
  })

  it("names the digest that does not match", () => {
    const f = Pdu.encode(nopOut(new Uint8Array([9, 9, 9, 9])), DIGESTS)
    const badHeader = f.slice()
    badHeader[20] ^= 1
    expect(failure(Pdu.decode(badHeader, DIGESTS))).toMatchObject({ _tag: "DigestError", which: "header" })
    const badData = f.slice()
    badData[53] ^= 1
    expect(failure(Pdu.decode(badData, DIGESTS))).toMatchObject({ _tag: "DigestError", which: "data" })
  })

  it("an unknown opcode decodes to Unknown with its bytes", () => {
    const f = new Uint8Array(48)
    f[0] = 0x1c
    const r = Result.getOrThrow(Pdu.decode(f))
    expect(r).toMatchObject({ _tag: "Unknown", opcode: 0x1c })
    expect(r._tag === "Unknown" && r.bhs).toEqual(f)
  })

  it("a data segment on an R2T is a ProtocolError", () => {
    const r2t: Pdu.ReadyToTransfer = {
      _tag: "ReadyToTransfer",
      lun: 0n,
      itt: 1,
      ttt: 2,
      statSN: 3,
      expCmdSN: 4,
      maxCmdSN: 5,
      r2tSN: 0,
      bufferOffset: 0,
      desiredDataTransferLength: 512
    }
    const f = Pdu.encode(r2t)
    const withData = new Uint8Array(52)
    withData.set(f)
    withData[7] = 4
    expect(failure(Pdu.decode(withData))._tag).toBe("ProtocolError")
  })

  it("a malformed AHS is a ProtocolError", () => {
    const f = new Uint8Array(52)
    f[0] = 0x01
    f[4] = 1
    f[48] = 0
    f[49] = 9 // AHSLength 9 overruns the 4-byte AHS
    f[50] = 1
    expect(failure(Pdu.decode(f))._tag).toBe("ProtocolError")
  })

  it("a reserved task attribute is a ProtocolError", () => {
    const f = new Uint8Array(48)
    f[0] = 0x01
    f[1] = 0x80 | 5
    expect(failure(Pdu.decode(f))._tag).toBe("ProtocolError")
  })

  it("the Schema reports failures as schema errors, not throws", () => {
    const r = Schema.decodeExit(Pdu.PduFromBytes)(new Uint8Array(3))
    expect(r._tag).toBe("Failure")
  })
})

describe("Pdu validated schemas (test oracle)", () => {
  it("accepts every generated PDU and every decoded one", () =>
    fc.assert(
      fc.property(A.pdu, (x) => {
        expect(Schema.is(Pdu.Schemas[x._tag] as Schema.Top)(x)).toBe(true)
        expect(Schema.is(Pdu.PduStruct)(Result.getOrThrow(Pdu.decode(Pdu.encode(x))))).toBe(true)
      })
    ))

  it("rejects values the wire cannot carry", () => {
    const ok = nopOut(new Uint8Array(0))
    expect(Schema.is(Pdu.PduStruct)(ok)).toBe(true)
    expect(Schema.is(Pdu.PduStruct)({ ...ok, itt: 2 ** 32 })).toBe(false)
    expect(Schema.is(Pdu.PduStruct)({ ...ok, cmdSN: -1 })).toBe(false)
    expect(Schema.is(Pdu.PduStruct)({ ...ok, lun: 1n << 64n })).toBe(false)
    expect(Schema.is(Pdu.PduStruct)({ ...ok, _tag: "Nope" })).toBe(false)
  })
})
