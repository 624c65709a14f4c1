/**
 * The iSNS codec (RFC 4171): attribute and message round trips (properties), multi-PDU messages
 * pushed in random chunkings, each malformed input as its typed error, addresses in both IPv4 forms,
 * and the grouping of query answers into objects and targets.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Isns from "../src/Isns.ts"
import * as IsnsClient from "../src/IsnsClient.ts"
import * as A from "./fixtures/isns-arbitraries.ts"

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

const hex = (s: string) => Uint8Array.from(s.match(/../g)!, (h) => Number.parseInt(h, 16))

/** A raw PDU with the given header fields and payload. */
const pdu = (
  fields: { version?: number; functionId?: number; flags: number; transactionId?: number; sequenceId?: number },
  payload: Uint8Array
): Uint8Array => {
  const b = new Uint8Array(12 + payload.length)
  const w16 = (o: number, v: number) => {
    b[o] = v >> 8
    b[o + 1] = v & 0xff
  }
  w16(0, fields.version ?? 1)
  w16(2, fields.functionId ?? 0x8002)
  w16(4, payload.length)
  w16(6, fields.flags)
  w16(8, fields.transactionId ?? 1)
  w16(10, fields.sequenceId ?? 0)
  b.set(payload, 12)
  return b
}

const F = Isns.Flag.FirstPdu
const L = Isns.Flag.LastPdu

const errorOf = (r: Result.Result<unknown, { reason: { _tag: string } }>) => {
  expect(Result.isFailure(r)).toBe(true)
  return Result.isFailure(r) ? r.failure.reason._tag : ""
}

describe("Isns attributes", () => {
  it("decode(encode(x)) = x for attribute lists", () => {
    fc.assert(
      fc.property(A.attributes, (attrs) => {
        const bytes = Isns.encodeAttributes(attrs)
        expect(bytes.length % 4).toBe(0)
        expect(bytes.length).toBe(Isns.attributesLength(attrs))
        expect(Result.getOrThrow(Isns.decodeAttributes(bytes))).toEqual(attrs)
        for (const a of attrs) expect(Isns.validateAttribute(a)).toBeUndefined()
      }),
      { numRuns: 500 }
    )
  })

  it("strings are null-terminated and padded to 4 bytes; any padding after the null is accepted", () => {
    expect(Isns.encodeAttributes([Isns.string(32, "abc")])).toEqual(hex("000000200000000461626300"))
    expect(Isns.encodeAttributes([Isns.string(32, "abcd")])).toEqual(hex("00000020000000086162636400000000"))
    const padded = hex("0000002000000008616263000000ffff")
    expect(Result.getOrThrow(Isns.decodeAttributes(padded))).toEqual([Isns.string(32, "abc")])
  })

  it("a zero-length value is Nil; tag 0 with length 0 is the delimiter; unknown tags stay raw", () => {
    const bytes = hex("00000020000000000000000000000000" + "0000fff00000000401020304")
    expect(Result.getOrThrow(Isns.decodeAttributes(bytes))).toEqual([
      Isns.nil(32),
      Isns.delimiter,
      Isns.raw(0xfff0, Uint8Array.of(1, 2, 3, 4))
    ])
  })

  it.each([
    ["truncated header", "000000200000"],
    ["length not a multiple of 4", "0000002000000003616200"],
    ["length past the end", "000000200000000861620000"],
    ["a delimiter with a value", "0000000000000004ffffffff"],
    ["a string without its null", "0000002000000004 61626364"],
    ["a string that is not UTF-8", "0000002000000004ff000000"],
    ["a 32-bit attribute with 8 bytes", "000000210000000800000000 00000001"],
    ["an address with 4 bytes", "000000100000000 47f000001"]
  ])("%s is a ProtocolError", (_, text) => {
    expect(errorOf(Isns.decodeAttributes(hex(text.replace(/ /g, ""))))).toBe("ProtocolError")
  })

  it("validateAttribute names what cannot be encoded", () => {
    expect(Isns.validateAttribute(Isns.address(16, new Uint8Array(4)))).toBeDefined()
    expect(Isns.validateAttribute(Isns.string(32, "a\u0000b"))).toBeDefined()
    expect(Isns.validateAttribute({ _tag: "Uint32", tag: 33, value: -1 })).toBeDefined()
    expect(Isns.validateAttribute(Isns.raw(4, new Uint8Array(0)))).toBeDefined()
    expect(Isns.validateAttribute(Isns.string(0, "x"))).toBeDefined()
  })
})

describe("Isns addresses", () => {
  const bytes = (...tail: Array<number>) => {
    const b = new Uint8Array(16)
    b.set(tail, 16 - tail.length)
    return b
  }

  it("IPv4 as ::ffff:a.b.c.d (RFC 4171) and as ::a.b.c.d (open-isns) both read as a.b.c.d", () => {
    expect(Isns.formatAddress(bytes(0xff, 0xff, 127, 0, 0, 2))).toBe("127.0.0.2")
    expect(Isns.formatAddress(bytes(127, 0, 0, 2))).toBe("127.0.0.2")
    expect(Isns.formatAddress(bytes(10, 1, 2, 3))).toBe("10.1.2.3")
  })

  it("IPv6 in RFC 5952 text; :: and ::1 stay IPv6", () => {
    expect(Isns.formatAddress(bytes())).toBe("::")
    expect(Isns.formatAddress(bytes(1))).toBe("::1")
    expect(Isns.formatAddress(Isns.parseAddress("2001:db8::1")!)).toBe("2001:db8::1")
    expect(Isns.formatAddress(Isns.parseAddress("2001:db8:0:0:1:0:0:1")!)).toBe("2001:db8::1:0:0:1")
    expect(Isns.formatAddress(Isns.parseAddress("2001:db8:0:1:1:1:1:1")!)).toBe("2001:db8:0:1:1:1:1:1")
    expect(Isns.formatAddress(Isns.parseAddress("fe80::1:2")!)).toBe("fe80::1:2")
  })

  it("parseAddress maps IPv4 to ::ffff:a.b.c.d and rejects what is no address", () => {
    expect(Isns.parseAddress("192.0.2.7")).toEqual(bytes(0xff, 0xff, 192, 0, 2, 7))
    expect(Isns.parseAddress("::ffff:192.0.2.7")).toEqual(bytes(0xff, 0xff, 192, 0, 2, 7))
    for (const bad of ["", "host.example", "1.2.3", "1.2.3.256", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "::g"]) {
      expect(Isns.parseAddress(bad)).toBeUndefined()
    }
  })

  it("parseAddress(formatAddress(b)) = b, except that IPv4-compatible comes back IPv4-mapped", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
          fc.uint8Array({ minLength: 4, maxLength: 4 }).map((t) => bytes(...t)),
          fc.uint8Array({ minLength: 4, maxLength: 4 }).map((t) => bytes(0xff, 0xff, ...t))
        ),
        (b) => {
          const back = Isns.parseAddress(Isns.formatAddress(b))!
          const compatible = b.subarray(0, 12).every((x) => x === 0) && b[12] !== 0
          expect(back).toEqual(compatible ? bytes(0xff, 0xff, ...b.subarray(12)) : b)
        }
      ),
      { numRuns: 2000 }
    )
  })
})

describe("Isns messages and PDUs", () => {
  it("decode(encode(x)) = x, in one PDU or many, pushed in any chunking", () => {
    fc.assert(
      fc.property(
        fc.array(A.message, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }),
        (messages, words, cuts) => {
          const stream = concat(messages.flatMap((m) => Isns.encode(m, { maxPduPayload: words * 4 })))
          const reader = Isns.makeReader()
          const out: Array<Isns.Message> = []
          let o = 0
          for (let i = 0; o < stream.length; i++) {
            const n = cuts[i % cuts.length]!
            out.push(...Result.getOrThrow(reader.push(stream.subarray(o, o + n))))
            o += n
          }
          expect(reader.buffered).toBe(0)
          expect(out.map((m) => Result.getOrThrow(Isns.decode(m)))).toEqual(messages)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("encode sets First/Last PDU and sequence IDs; every PDU has the same function and transaction ID", () => {
    const request = Isns.makeRequest({
      functionId: Isns.FunctionId.DevAttrQry,
      transactionId: 0x1234,
      source: "iqn.2026-11.io.effect-iscsi:x",
      keys: [Isns.nil(32)],
      operating: [Isns.nil(33), Isns.nil(34)]
    })
    const pdus = Isns.encode(request, { maxPduPayload: 16 })
    expect(pdus.length).toBeGreaterThan(2)
    pdus.forEach((p, i) => {
      const h = Isns.decodeHeader(p)
      expect(h).toMatchObject({ version: 1, functionId: 2, transactionId: 0x1234, sequenceId: i })
      expect(h.flags & Isns.Flag.Client).toBe(Isns.Flag.Client)
      expect((h.flags & F) !== 0).toBe(i === 0)
      expect((h.flags & L) !== 0).toBe(i === pdus.length - 1)
      expect(h.length).toBeLessThanOrEqual(16)
    })
    const one = Isns.encode(request)
    expect(one.length).toBe(1)
    expect(Isns.decodeHeader(one[0]!).flags).toBe(Isns.Flag.Client | F | L)
  })

  it("messages of different transactions may interleave", () => {
    const a = pdu({ flags: F, transactionId: 1 }, hex("00000000"))
    const b = pdu({ flags: F | L, transactionId: 2 }, hex("00000009"))
    const a2 = pdu({ flags: L, transactionId: 1, sequenceId: 1 }, hex("0000000000000000"))
    const r = Result.getOrThrow(Isns.makeReader().push(concat([a, b, a2])))
    expect(r.map((m) => [m.transactionId, m.payload.length])).toEqual([
      [2, 4],
      [1, 12]
    ])
  })

  it("sections splits source, keys and operating attributes", () => {
    const request = Isns.makeRequest({
      functionId: 2,
      transactionId: 1,
      source: "iqn.a",
      keys: [Isns.string(32, "iqn.b")],
      operating: [Isns.nil(16)]
    })
    expect(Isns.sections(request)).toEqual({
      source: Isns.string(32, "iqn.a"),
      keys: [Isns.string(32, "iqn.b")],
      operating: [Isns.nil(16)]
    })
    const response: Isns.Response = { ...request, _tag: "Response", status: 9, attributes: [] }
    expect(Isns.sections(response)).toEqual({ source: undefined, keys: [], operating: [] })
  })

  it.each([
    ["version 2", [pdu({ version: 2, flags: F | L }, hex("00000000"))]],
    ["a PDU LENGTH that is not a multiple of 4", [pdu({ flags: F | L }, hex("000000"))]],
    ["an authentication block", [pdu({ flags: F | L | Isns.Flag.Authentication }, hex("00000000"))]],
    ["a PDU that continues no message", [pdu({ flags: L, sequenceId: 1 }, hex("00000000"))]],
    ["a first PDU with sequence 1", [pdu({ flags: F | L, sequenceId: 1 }, hex("00000000"))]],
    ["a PDU out of sequence", [pdu({ flags: F }, hex("00000000")), pdu({ flags: L, sequenceId: 2 }, hex("00000000"))]],
    [
      "a new message before the previous one of that transaction ended",
      [pdu({ flags: F }, hex("00000000")), pdu({ flags: F | L }, hex("00000000"))]
    ]
  ])("%s is a ProtocolError, and the reader stays failed", (_, pdus) => {
    const reader = Isns.makeReader()
    expect(errorOf(reader.push(concat(pdus)))).toBe("ProtocolError")
    expect(errorOf(reader.push(pdu({ flags: F | L }, hex("00000000"))))).toBe("ProtocolError")
  })

  it("bounds the message length and the number of open messages", () => {
    const small = Isns.makeReader({ maxMessageLength: 8 })
    const first = pdu({ flags: F }, hex("0000000000000000"))
    expect(Result.isSuccess(small.push(first))).toBe(true)
    expect(small.buffered).toBe(8)
    expect(errorOf(small.push(pdu({ flags: L, sequenceId: 1 }, hex("00000000"))))).toBe("ProtocolError")
    const few = Isns.makeReader({ maxOpenMessages: 2 })
    const opens = [1, 2, 3].map((t) => pdu({ flags: F, transactionId: t }, hex("00000000")))
    expect(errorOf(few.push(concat(opens)))).toBe("ProtocolError")
  })

  it("a response needs its status word", () => {
    const m: Isns.Message = { functionId: 0x8002, flags: 0x4000, transactionId: 1, payload: new Uint8Array(0) }
    expect(errorOf(Isns.decode(m))).toBe("ProtocolError")
  })

  it("names functions, statuses and tags", () => {
    expect(Isns.functionName(0x0003)).toBe("DevGetNext")
    expect(Isns.functionName(0x8002)).toBe("DevAttrQryRsp")
    expect(Isns.functionName(0x0777)).toBe("Function 0x0777")
    expect(Isns.statusName(9)).toBe("No Such Entry")
    expect(Isns.statusName(99)).toBe("Status 99")
    expect(Isns.tagName(51)).toBe("PG Tag")
  })
})

describe("Isns objects and IsnsClient.targetFromAnswer", () => {
  const v4 = (text: string) => Isns.address(0, Isns.parseAddress(text)!)
  const at = (tag: number, text: string) => ({ ...v4(text), tag })
  const NAME = "iqn.2026-11.io.effect-iscsi:disk"

  it("groups attributes into objects by tag range and repeated tags", () => {
    const objects = Isns.objects([
      Isns.string(1, "entity"),
      Isns.uint32(2, 2),
      Isns.string(32, NAME),
      Isns.uint32(33, 1),
      at(16, "10.0.0.1"),
      Isns.uint32(17, 3260),
      at(16, "10.0.0.2"),
      Isns.uint32(17, 3260),
      Isns.string(48, NAME),
      at(49, "10.0.0.1"),
      Isns.string(48, NAME),
      at(49, "10.0.0.2")
    ])
    expect(objects.map((o) => [o.type, o.attributes.length])).toEqual([
      ["Entity", 2],
      ["Node", 2],
      ["Portal", 2],
      ["Portal", 2],
      ["PortalGroup", 2],
      ["PortalGroup", 2]
    ])
    expect(Isns.addressOf(objects[3]!, 16)).toBe("10.0.0.2")
  })

  it("portal groups of this node give the portals; NIL tags, UDP ports and other nodes' groups are skipped", () => {
    const t = IsnsClient.targetFromAnswer(NAME, [
      Isns.string(32, NAME),
      Isns.uint32(33, 1),
      Isns.string(34, "the disk"),
      Isns.string(48, NAME),
      at(49, "10.0.0.1"),
      Isns.uint32(50, 3260),
      Isns.uint32(51, 7),
      Isns.string(48, NAME),
      at(49, "10.0.0.2"),
      Isns.uint32(50, 3260),
      Isns.nil(51),
      Isns.string(48, NAME),
      at(49, "10.0.0.3"),
      Isns.uint32(50, 3260 | Isns.PORT_UDP),
      Isns.uint32(51, 1),
      Isns.string(48, "iqn.other"),
      at(49, "10.0.0.4"),
      Isns.uint32(50, 3260),
      Isns.uint32(51, 1),
      Isns.string(48, NAME),
      at(49, "10.0.0.1"),
      Isns.uint32(50, 3260),
      Isns.uint32(51, 7)
    ])
    expect(t).toEqual({
      name: NAME,
      alias: "the disk",
      nodeType: 1,
      portals: [{ host: "10.0.0.1", port: 3260, tpgt: 7 }]
    })
  })

  it("a node without any portal group is reachable through every TCP portal, tag 1", () => {
    const t = IsnsClient.targetFromAnswer(NAME, [
      Isns.string(32, NAME),
      Isns.uint32(33, 1),
      Isns.string(34, ""),
      at(16, "10.0.0.1"),
      Isns.uint32(17, 3260),
      { ...Isns.address(16, Isns.parseAddress("2001:db8::5")!) },
      Isns.uint32(17, 3261)
    ])
    expect(t).toEqual({
      name: NAME,
      alias: undefined,
      nodeType: 1,
      portals: [
        { host: "10.0.0.1", port: 3260, tpgt: 1 },
        { host: "2001:db8::5", port: 3261, tpgt: 1 }
      ]
    })
  })

  it("an answer that does not list the node gives nothing", () => {
    expect(IsnsClient.targetFromAnswer(NAME, [Isns.string(32, "iqn.other"), Isns.uint32(33, 1)])).toBeUndefined()
    expect(IsnsClient.targetFromAnswer(NAME, [])).toBeUndefined()
  })
})
