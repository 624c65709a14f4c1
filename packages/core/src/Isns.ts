/**
 * The iSNS protocol codec (iSNSP, RFC 4171 §5–6): PDUs, the reassembly of messages that span several
 * PDUs, TLV attributes, request and response messages, and the grouping of a query answer into
 * objects (entities, portals, iSCSI nodes, portal groups).
 *
 * Pure synchronous functions over `Uint8Array` (no Effect runtime, no `Buffer`). Decoding never
 * throws: a malformed or hostile answer is an `IscsiError` with a `ProtocolError` reason (the same
 * error as the rest of discovery, see `IscsiError`). Attributes of tags this module does not know
 * are kept as raw bytes.
 *
 * Not here: the exchange with a server (that is `IsnsClient`), registration semantics, the
 * authentication block of multicast/broadcast messages (§5.5: this codec runs over TCP, where it
 * is never used, and rejects PDUs that announce one).
 *
 * PDU (§5.1), every field big-endian:
 *
 * | bytes | field                                                                              |
 * |-------|------------------------------------------------------------------------------------|
 * | 0–1   | iSNSP VERSION, 0x0001                                                              |
 * | 2–3   | FUNCTION ID (DevAttrQry 0x0002, DevGetNext 0x0003, …); a response sets 0x8000      |
 * | 4–5   | PDU LENGTH: bytes of payload after this 12-byte header, a multiple of 4            |
 * | 6–7   | FLAGS, below                                                                       |
 * | 8–9   | TRANSACTION ID: the same in every PDU of a message, and in its response            |
 * | 10–11 | SEQUENCE ID: 0 in the first PDU of a message, +1 in each following one             |
 * | 12–   | PDU PAYLOAD                                                                        |
 *
 * | flag   | meaning (§5.1)                                  |
 * |--------|-------------------------------------------------|
 * | 0x8000 | sender is the iSNS client                       |
 * | 0x4000 | sender is the iSNS server                       |
 * | 0x2000 | authentication block present (rejected here)    |
 * | 0x1000 | replace (DevAttrReg)                            |
 * | 0x0800 | last PDU of the iSNS message                    |
 * | 0x0400 | first PDU of the iSNS message                   |
 *
 * A message is the concatenated payloads of its PDUs, first to last (§5.2). Its payload (§5.6,
 * §5.7) is a list of TLV attributes (§5.3, §6.1):
 *
 * | bytes | field                                                                       |
 * |-------|-----------------------------------------------------------------------------|
 * | 0–3   | Attribute Tag                                                               |
 * | 4–7   | Attribute Length: bytes of value, a multiple of 4; 0 is a NIL value (a key  |
 * |       | that matches everything, or an attribute asked for in a query)             |
 * | 8–    | Attribute Value: null-terminated UTF-8 padded with nulls, a 4-byte integer, |
 * |       | a 16-byte IPv6 address (IPv4 as ::ffff:a.b.c.d), or opaque bytes            |
 *
 * ```text
 *   request:  Source attribute | Message Key attributes | Delimiter (tag 0, length 0) | Operating attributes
 *   response: Status (4 bytes) | Message Key attributes | Delimiter                   | Operating attributes
 * ```
 *
 * `Request.attributes` and `Response.attributes` are the attribute list exactly as on the wire
 * (source and delimiter included), so decode/encode round trips are byte-exact; `sections` splits
 * it. Strings are encoded canonically (one terminating null, then nulls to the next multiple of 4);
 * the decoder accepts any padding after the terminating null.
 *
 * Addresses: RFC 4171 §6.3.1 gives IPv4 as the IPv4-mapped `::ffff:a.b.c.d`; open-isns answers
 * `::a.b.c.d` (IPv4-compatible) instead. `formatAddress` reads both as `a.b.c.d`; a 16-byte value
 * whose first 12 bytes are zero and whose 13th is zero (`::`, `::1`) stays IPv6.
 */
import * as Result from "effect/Result"
import * as Tables from "./internal/isns/tables.ts"
import { u16, u32, w16, w32 } from "./internal/pdu/bytes.ts"
import * as IscsiError from "./IscsiError.ts"

/** iSNSP version 1 (§5.1). */
export const VERSION = 1
/** The iSNS server's well-known TCP port. */
export const DEFAULT_PORT = 3205
/** Length of the PDU header. */
export const HEADER_LENGTH = 12
/** The largest payload one PDU can carry: the 16-bit PDU LENGTH, a multiple of 4. */
export const MAX_PDU_PAYLOAD = 65532
/** Default bound of a reassembled message (`makeReader`). */
export const DEFAULT_MAX_MESSAGE_LENGTH = 4 * 1024 * 1024

/** Request function IDs (§5.1); a response carries the request's ID | `RESPONSE`. */
export const FunctionId = {
  DevAttrReg: 0x0001,
  DevAttrQry: 0x0002,
  DevGetNext: 0x0003,
  DevDereg: 0x0004,
  SCNReg: 0x0005,
  SCNDereg: 0x0006,
  SCNEvent: 0x0007,
  SCN: 0x0008,
  DDReg: 0x0009,
  DDDereg: 0x000a,
  DDSReg: 0x000b,
  DDSDereg: 0x000c,
  ESI: 0x000d,
  Heartbeat: 0x000e,
  RqstDomId: 0x0011,
  RlseDomId: 0x0012,
  GetDomId: 0x0013
} as const

/** The bit a response sets in the function ID. */
export const RESPONSE = 0x8000

/** PDU flags (§5.1). */
export const Flag = {
  Client: 0x8000,
  Server: 0x4000,
  Authentication: 0x2000,
  Replace: 0x1000,
  LastPdu: 0x0800,
  FirstPdu: 0x0400
} as const

/** Response status codes (§5.4). */
export const Status = {
  Successful: 0,
  UnknownError: 1,
  MessageFormatError: 2,
  InvalidRegistration: 3,
  InvalidQuery: 5,
  SourceUnknown: 6,
  SourceAbsent: 7,
  SourceUnauthorized: 8,
  NoSuchEntry: 9,
  VersionNotSupported: 10,
  InternalError: 11,
  Busy: 12,
  OptionNotUnderstood: 13,
  InvalidUpdate: 14,
  MessageNotSupported: 15,
  ScnEventRejected: 16,
  ScnRegistrationRejected: 17,
  AttributeNotImplemented: 18,
  FcDomainIdNotAvailable: 19,
  FcDomainIdNotAllocated: 20,
  EsiNotAvailable: 21,
  InvalidDeregistration: 22,
  RegistrationFeatureNotSupported: 23
} as const

/** The attribute tags an iSCSI initiator uses (§6.1; every tag of Table 9 decodes, see `tagName`). */
export const Tag = {
  Delimiter: 0,
  EntityIdentifier: 1,
  EntityProtocol: 2,
  ManagementIpAddress: 3,
  Timestamp: 4,
  RegistrationPeriod: 6,
  EntityIndex: 7,
  PortalIpAddress: 16,
  PortalPort: 17,
  PortalSymbolicName: 18,
  EsiInterval: 19,
  EsiPort: 20,
  PortalIndex: 22,
  ScnPort: 23,
  IscsiName: 32,
  IscsiNodeType: 33,
  IscsiAlias: 34,
  IscsiScnBitmap: 35,
  IscsiNodeIndex: 36,
  IscsiAuthMethod: 42,
  PgIscsiName: 48,
  PgPortalIpAddress: 49,
  PgPortalPort: 50,
  PgTag: 51,
  PgIndex: 52,
  DdId: 2065,
  DdSymbolicName: 2066
} as const

/** iSCSI Node Type bits (§6.4.2). */
export const NodeType = {
  Target: 0x1,
  Initiator: 0x2,
  Control: 0x4
} as const

/** The UDP bit of a TCP/UDP port attribute (§6.3.2): port in the low 16 bits, this bit set for UDP. */
export const PORT_UDP = 0x10000

// ---------------------------------------------------------------------------------------------
// attributes
// ---------------------------------------------------------------------------------------------

/** Tag 0, length 0: separates the message key from the operating attributes (§5.6.3). */
export interface Delimiter {
  readonly _tag: "Delimiter"
}

/** A zero-length value: a key matching every value, or an attribute asked for in a query. */
export interface Nil {
  readonly _tag: "Nil"
  readonly tag: number
}

export interface StringAttribute {
  readonly _tag: "String"
  readonly tag: number
  readonly value: string
}

export interface Uint32Attribute {
  readonly _tag: "Uint32"
  readonly tag: number
  readonly value: number
}

/** A 16-byte address (IPv6, or IPv4 mapped); `formatAddress` gives its text. */
export interface AddressAttribute {
  readonly _tag: "Address"
  readonly tag: number
  readonly bytes: Uint8Array
}

/** Any other value (timestamps, certificates, tags this codec does not know), as received. */
export interface RawAttribute {
  readonly _tag: "Raw"
  readonly tag: number
  readonly value: Uint8Array
}

export type Attribute = Delimiter | Nil | StringAttribute | Uint32Attribute | AddressAttribute | RawAttribute

export const delimiter: Delimiter = { _tag: "Delimiter" }
export const nil = (tag: number): Nil => ({ _tag: "Nil", tag })
export const string = (tag: number, value: string): StringAttribute => ({ _tag: "String", tag, value })
export const uint32 = (tag: number, value: number): Uint32Attribute => ({ _tag: "Uint32", tag, value: value >>> 0 })
export const address = (tag: number, bytes: Uint8Array): AddressAttribute => ({ _tag: "Address", tag, bytes })
export const raw = (tag: number, value: Uint8Array): RawAttribute => ({ _tag: "Raw", tag, value })

/** The tag of an attribute (0 for the delimiter). */
export const tagOf = (a: Attribute): number => (a._tag === "Delimiter" ? 0 : a.tag)

/** The RFC 4171 name of a tag, e.g. "iSCSI Name"; `Tag 1234` when unknown. */
export const tagName = (tag: number): string => Tables.tags.get(tag)?.name ?? `Tag ${tag}`

/** The name of a function ID, e.g. "DevAttrQry", "DevGetNextRsp"; `Function 0x1234` when unknown. */
export const functionName = (functionId: number): string => {
  const name = Tables.functions.get(functionId & ~RESPONSE)
  if (name === undefined) return `Function 0x${functionId.toString(16).padStart(4, "0")}`
  return (functionId & RESPONSE) !== 0 ? `${name}Rsp` : name
}

/** The name of a status code, e.g. "No Such Entry"; `Status 99` when unknown. */
export const statusName = (status: number): string => Tables.statuses.get(status) ?? `Status ${status}`

const protocolError = (message: string): IscsiError.IscsiError =>
  IscsiError.make(new IscsiError.ProtocolError({ message: `iSNS: ${message}` }))

const fail = (message: string): Result.Result<never, IscsiError.IscsiError> => Result.fail(protocolError(message))

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

const pad4 = (n: number): number => (n + 3) & ~3

/** Bytes of the value field of `a` (after padding). */
const valueLength = (a: Attribute): number => {
  switch (a._tag) {
    case "Delimiter":
    case "Nil":
      return 0
    case "String":
      return pad4(encoder.encode(a.value).length + 1)
    case "Uint32":
      return 4
    case "Address":
      return 16
    case "Raw":
      return pad4(a.value.length)
  }
}

/** Length of the TLV encoding of `attributes`. */
export const attributesLength = (attributes: ReadonlyArray<Attribute>): number => {
  let n = 0
  for (const a of attributes) n += 8 + valueLength(a)
  return n
}

/** Write `attributes` as TLVs into `out` at `offset` (zeroed first); returns the bytes written. */
export const encodeAttributesInto = (attributes: ReadonlyArray<Attribute>, out: Uint8Array, offset: number): number => {
  let o = offset
  for (const a of attributes) {
    w32(out, o, tagOf(a))
    switch (a._tag) {
      case "Delimiter":
      case "Nil":
        w32(out, o + 4, 0)
        o += 8
        break
      case "String": {
        const bytes = encoder.encode(a.value)
        const n = pad4(bytes.length + 1)
        w32(out, o + 4, n)
        out.fill(0, o + 8, o + 8 + n)
        out.set(bytes, o + 8)
        o += 8 + n
        break
      }
      case "Uint32":
        w32(out, o + 4, 4)
        w32(out, o + 8, a.value)
        o += 12
        break
      case "Address":
        w32(out, o + 4, 16)
        out.fill(0, o + 8, o + 24)
        out.set(a.bytes.subarray(0, 16), o + 8)
        o += 24
        break
      case "Raw": {
        const n = pad4(a.value.length)
        w32(out, o + 4, n)
        out.fill(0, o + 8, o + 8 + n)
        out.set(a.value, o + 8)
        o += 8 + n
        break
      }
    }
  }
  return o - offset
}

/** The TLV encoding of `attributes`. */
export const encodeAttributes = (attributes: ReadonlyArray<Attribute>): Uint8Array => {
  const out = new Uint8Array(attributesLength(attributes))
  encodeAttributesInto(attributes, out, 0)
  return out
}

/**
 * Why `attribute` cannot be encoded as given (an `Address` that is not 16 bytes, a string with a
 * null character, a `Uint32` that is not an unsigned 32-bit integer, a delimiter or NIL
 * mismatch), or undefined. The encoders do not check; call this on outside input.
 */
export const validateAttribute = (a: Attribute): string | undefined => {
  if (a._tag === "Delimiter") return undefined
  if (!Number.isInteger(a.tag) || a.tag < 0 || a.tag > 0xffffffff) return `bad tag ${a.tag}`
  switch (a._tag) {
    case "Nil":
      return undefined
    case "String":
      if (a.tag === 0) return "tag 0 is the delimiter"
      return a.value.includes("\u0000") ? `${tagName(a.tag)}: a string with a null character` : undefined
    case "Uint32":
      if (a.tag === 0) return "tag 0 is the delimiter"
      return Number.isInteger(a.value) && a.value >= 0 && a.value <= 0xffffffff
        ? undefined
        : `${tagName(a.tag)}: ${a.value} is not a 32-bit unsigned integer`
    case "Address":
      if (a.tag === 0) return "tag 0 is the delimiter"
      return a.bytes.length === 16 ? undefined : `${tagName(a.tag)}: an address must be 16 bytes`
    case "Raw":
      if (a.tag === 0) return "tag 0 is the delimiter"
      return a.value.length === 0 ? `${tagName(a.tag)}: an empty value is a Nil attribute` : undefined
  }
}

/**
 * Decode a TLV list (the payload of a request, or of a response after its status). Fails with a
 * `ProtocolError` on a truncated attribute, a length that is not a multiple of 4 or runs past the
 * end, a delimiter with a value, a string without its terminating null or not UTF-8, an integer
 * that is not 4 bytes, an address that is not 16 bytes.
 */
export const decodeAttributes = (bytes: Uint8Array): Result.Result<Array<Attribute>, IscsiError.IscsiError> => {
  const out: Array<Attribute> = []
  const n = bytes.length
  let o = 0
  while (o < n) {
    if (n - o < 8) return fail(`truncated attribute at byte ${o} (${n - o} bytes left)`)
    const tag = u32(bytes, o)
    const length = u32(bytes, o + 4)
    if (length % 4 !== 0) return fail(`${tagName(tag)}: length ${length} is not a multiple of 4`)
    if (length > n - o - 8) return fail(`${tagName(tag)}: length ${length} runs past the end of the message`)
    const value = bytes.subarray(o + 8, o + 8 + length)
    o += 8 + length
    if (tag === 0) {
      if (length !== 0) return fail(`a delimiter with a ${length}-byte value`)
      out.push(delimiter)
      continue
    }
    if (length === 0) {
      out.push(nil(tag))
      continue
    }
    switch (Tables.tags.get(tag)?.kind ?? "opaque") {
      case "string": {
        const end = value.indexOf(0)
        if (end < 0) return fail(`${tagName(tag)}: a string without its terminating null`)
        let text: string
        try {
          text = decoder.decode(value.subarray(0, end))
        } catch {
          return fail(`${tagName(tag)}: not UTF-8`)
        }
        out.push(string(tag, text))
        break
      }
      case "uint32":
        if (length !== 4) return fail(`${tagName(tag)}: ${length} bytes, expected 4`)
        out.push(uint32(tag, u32(value, 0)))
        break
      case "address":
        if (length !== 16) return fail(`${tagName(tag)}: ${length} bytes, expected a 16-byte address`)
        out.push(address(tag, value.slice()))
        break
      case "opaque":
        out.push(raw(tag, value.slice()))
        break
    }
  }
  return Result.succeed(out)
}

// ---------------------------------------------------------------------------------------------
// addresses
// ---------------------------------------------------------------------------------------------

const allZero = (b: Uint8Array, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false
  return true
}

/**
 * The text of a 16-byte address: `a.b.c.d` for IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible
 * (`::a.b.c.d` with a ≠ 0, what open-isns sends) addresses, RFC 5952 text for IPv6.
 */
export const formatAddress = (b: Uint8Array): string => {
  if (b.length !== 16) return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")
  const v4 = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`
  if (allZero(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) return v4
  if (allZero(b, 0, 12) && b[12] !== 0) return v4
  const groups: Array<number> = []
  for (let i = 0; i < 16; i += 2) groups.push(u16(b, i))
  // RFC 5952 §4.2: the longest run of two or more zero groups becomes "::" (the first one on a tie)
  let best = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      best = i
      bestLength = j - i
    }
    i = j
  }
  const hex = (g: ReadonlyArray<number>) => g.map((x) => x.toString(16)).join(":")
  if (best < 0) return hex(groups)
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`
}

const parseV4 = (s: string): Array<number> | undefined => {
  const parts = s.split(".")
  if (parts.length !== 4) return undefined
  const out: Array<number> = []
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > 255) return undefined
    out.push(Number(p))
  }
  return out
}

/**
 * The 16 bytes of an address text: dotted IPv4 becomes IPv4-mapped (`::ffff:a.b.c.d`, §6.3.1),
 * IPv6 as written (with an optional dotted IPv4 tail). Undefined when it is neither.
 */
export const parseAddress = (text: string): Uint8Array | undefined => {
  const out = new Uint8Array(16)
  const v4 = parseV4(text)
  if (v4 !== undefined) {
    out[10] = 0xff
    out[11] = 0xff
    out.set(v4, 12)
    return out
  }
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(":")) return undefined
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  const groupsOf = (part: string): Array<number> | undefined => {
    if (part === "") return []
    const groups: Array<number> = []
    const items = part.split(":")
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      if (i === items.length - 1 && item.includes(".")) {
        const tail = parseV4(item)
        if (tail === undefined) return undefined
        groups.push((tail[0]! << 8) | tail[1]!, (tail[2]! << 8) | tail[3]!)
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(item)) return undefined
        groups.push(Number.parseInt(item, 16))
      }
    }
    return groups
  }
  const head = groupsOf(halves[0]!)
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  const groups =
    halves.length === 2
      ? head.length + tail.length > 7
        ? undefined
        : [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
      : head.length === 8
        ? head
        : undefined
  if (groups === undefined) return undefined
  for (let i = 0; i < 8; i++) w16(out, i * 2, groups[i]!)
  return out
}

// ---------------------------------------------------------------------------------------------
// PDUs and messages
// ---------------------------------------------------------------------------------------------

export interface PduHeader {
  readonly version: number
  readonly functionId: number
  /** Payload bytes after the header. */
  readonly length: number
  readonly flags: number
  readonly transactionId: number
  readonly sequenceId: number
}

/** Read the 12-byte header at `offset` (no checks; `b` must hold 12 bytes there). */
export const decodeHeader = (b: Uint8Array, offset = 0): PduHeader => ({
  version: u16(b, offset),
  functionId: u16(b, offset + 2),
  length: u16(b, offset + 4),
  flags: u16(b, offset + 6),
  transactionId: u16(b, offset + 8),
  sequenceId: u16(b, offset + 10)
})

/** A reassembled message: the payloads of its PDUs concatenated. */
export interface Message {
  readonly functionId: number
  /** The flags of its first PDU, without FirstPdu/LastPdu. */
  readonly flags: number
  readonly transactionId: number
  readonly payload: Uint8Array
}

/** A client request (function ID without the response bit). */
export interface Request {
  readonly _tag: "Request"
  readonly functionId: number
  readonly transactionId: number
  /** Message flags other than FirstPdu/LastPdu: `Flag.Client`, and `Flag.Replace` for a DevAttrReg that replaces. */
  readonly flags: number
  /** Source, message key attributes, delimiter, operating attributes: as on the wire. */
  readonly attributes: ReadonlyArray<Attribute>
}

/** A response (function ID with the response bit). */
export interface Response {
  readonly _tag: "Response"
  readonly functionId: number
  readonly transactionId: number
  /** Message flags other than FirstPdu/LastPdu: normally `Flag.Server`. */
  readonly flags: number
  readonly status: number
  /** Message key attributes, delimiter, operating attributes: as on the wire. */
  readonly attributes: ReadonlyArray<Attribute>
}

export interface RequestOptions {
  readonly functionId: number
  readonly transactionId: number
  /** The iSCSI name of the node asking (§5.6.1). */
  readonly source: string
  readonly keys: ReadonlyArray<Attribute>
  readonly operating?: ReadonlyArray<Attribute> | undefined
  readonly replace?: boolean | undefined
}

/** A request with the standard layout: source, keys, delimiter, operating attributes. */
export const makeRequest = (options: RequestOptions): Request => ({
  _tag: "Request",
  functionId: options.functionId,
  transactionId: options.transactionId & 0xffff,
  flags: Flag.Client | (options.replace === true ? Flag.Replace : 0),
  attributes: [string(Tag.IscsiName, options.source), ...options.keys, delimiter, ...(options.operating ?? [])]
})

export interface Sections {
  /** A request's first attribute (undefined in a response). */
  readonly source: Attribute | undefined
  /** The message key attributes: up to the first delimiter (all of them when there is none). */
  readonly keys: ReadonlyArray<Attribute>
  /** The operating attributes: after the first delimiter. */
  readonly operating: ReadonlyArray<Attribute>
}

/** Split a message's attributes into source, key and operating attributes (§5.6, §5.7). */
export const sections = (message: Request | Response): Sections => {
  const all = message.attributes
  const start = message._tag === "Request" ? 1 : 0
  const source = message._tag === "Request" ? all[0] : undefined
  let d = start
  while (d < all.length && all[d]!._tag !== "Delimiter") d++
  return { source, keys: all.slice(start, d), operating: all.slice(d + 1) }
}

/** Split `payload` into PDUs of at most `maxPduPayload` bytes (a multiple of 4) each. */
const toPdus = (
  functionId: number,
  flags: number,
  transactionId: number,
  payload: Uint8Array,
  maxPduPayload: number
): Array<Uint8Array> => {
  const max = Math.max(4, Math.min(MAX_PDU_PAYLOAD, maxPduPayload & ~3))
  const base = flags & ~(Flag.FirstPdu | Flag.LastPdu)
  const count = Math.max(1, Math.ceil(payload.length / max))
  const out: Array<Uint8Array> = []
  for (let i = 0; i < count; i++) {
    const part = payload.subarray(i * max, Math.min(payload.length, (i + 1) * max))
    const pdu = new Uint8Array(HEADER_LENGTH + part.length)
    w16(pdu, 0, VERSION)
    w16(pdu, 2, functionId)
    w16(pdu, 4, part.length)
    w16(pdu, 6, base | (i === 0 ? Flag.FirstPdu : 0) | (i === count - 1 ? Flag.LastPdu : 0))
    w16(pdu, 8, transactionId)
    w16(pdu, 10, i)
    pdu.set(part, HEADER_LENGTH)
    out.push(pdu)
  }
  return out
}

export interface EncodeOptions {
  /** Largest payload per PDU (default and at most `MAX_PDU_PAYLOAD`); longer messages span PDUs. */
  readonly maxPduPayload?: number | undefined
}

/** The payload of a message (status first for a response). */
export const encodePayload = (message: Request | Response): Uint8Array => {
  switch (message._tag) {
    case "Request":
      return encodeAttributes(message.attributes)
    case "Response": {
      const out = new Uint8Array(4 + attributesLength(message.attributes))
      w32(out, 0, message.status)
      encodeAttributesInto(message.attributes, out, 4)
      return out
    }
  }
}

/**
 * Encode a message as the PDUs that carry it (one, unless it is longer than `maxPduPayload`), with
 * the First/Last PDU flags and sequence IDs set.
 */
export const encode = (message: Request | Response, options: EncodeOptions = {}): Array<Uint8Array> =>
  toPdus(
    message.functionId,
    message.flags,
    message.transactionId,
    encodePayload(message),
    options.maxPduPayload ?? MAX_PDU_PAYLOAD
  )

/** Decode a reassembled message into a request or a response (by the response bit of its function ID). */
export const decode = (message: Message): Result.Result<Request | Response, IscsiError.IscsiError> => {
  if ((message.functionId & RESPONSE) === 0) {
    const attributes = decodeAttributes(message.payload)
    if (Result.isFailure(attributes)) return Result.fail(attributes.failure)
    return Result.succeed({
      _tag: "Request",
      functionId: message.functionId,
      transactionId: message.transactionId,
      flags: message.flags,
      attributes: attributes.success
    })
  }
  if (message.payload.length < 4) return fail(`${functionName(message.functionId)} without a status`)
  const attributes = decodeAttributes(message.payload.subarray(4))
  if (Result.isFailure(attributes)) return Result.fail(attributes.failure)
  return Result.succeed({
    _tag: "Response",
    functionId: message.functionId,
    transactionId: message.transactionId,
    flags: message.flags,
    status: u32(message.payload, 0),
    attributes: attributes.success
  })
}

// ---------------------------------------------------------------------------------------------
// reassembly
// ---------------------------------------------------------------------------------------------

export interface ReaderOptions {
  /** Largest reassembled message accepted (default `DEFAULT_MAX_MESSAGE_LENGTH`). */
  readonly maxMessageLength?: number | undefined
  /** Messages being reassembled at once, at most (default 4). */
  readonly maxOpenMessages?: number | undefined
}

/** The incremental reader of a byte stream of iSNSP PDUs. */
export interface Reader {
  /**
   * Feed the next chunk; returns the messages it completed (possibly none). After a failure the
   * reader is poisoned: every later push returns the same error (the stream cannot be resynchronised).
   */
  push(chunk: Uint8Array): Result.Result<ReadonlyArray<Message>, IscsiError.IscsiError>
  /** Bytes held: an incomplete PDU plus the messages being reassembled. */
  readonly buffered: number
}

interface Open {
  readonly functionId: number
  readonly flags: number
  readonly transactionId: number
  next: number
  length: number
  readonly parts: Array<Uint8Array>
}

const concat = (parts: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(length)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

const EMPTY = new Uint8Array(0)

/**
 * A reader that frames PDUs (12-byte header, PDU LENGTH bytes of payload) and reassembles messages
 * (§5.2): a PDU with FirstPdu and LastPdu is a whole message; otherwise the first PDU (sequence 0)
 * opens a message per function and transaction ID, the next ones must follow in sequence, and the
 * one with LastPdu completes it. Typed `ProtocolError`s: a version other than 1, a PDU LENGTH that
 * is not a multiple of 4, an authentication block, a PDU that continues no message or comes out of
 * sequence, a message over `maxMessageLength`, more than `maxOpenMessages` open at once. Memory held
 * is bounded by one PDU (≤ 65,547 bytes) plus the open messages.
 */
export const makeReader = (options: ReaderOptions = {}): Reader => {
  const maxMessage = options.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH
  const maxOpen = options.maxOpenMessages ?? 4
  const open = new Map<number, Open>()
  let pending: Uint8Array = EMPTY
  let openBytes = 0
  let failed: IscsiError.IscsiError | undefined

  const poison = (message: string): Result.Result<never, IscsiError.IscsiError> => {
    failed = protocolError(message)
    pending = EMPTY
    open.clear()
    openBytes = 0
    return Result.fail(failed)
  }

  /** One complete PDU: a finished message, undefined (message continues), or an error text. */
  const accept = (h: PduHeader, payload: Uint8Array): Message | undefined | string => {
    const key = h.functionId * 0x10000 + h.transactionId
    const partial = open.get(key)
    const first = (h.flags & Flag.FirstPdu) !== 0
    const last = (h.flags & Flag.LastPdu) !== 0
    const flags = h.flags & ~(Flag.FirstPdu | Flag.LastPdu)
    const name = `${functionName(h.functionId)} (transaction ${h.transactionId})`
    if (first) {
      if (partial !== undefined) return `${name}: a first PDU while the previous message is incomplete`
      if (h.sequenceId !== 0) return `${name}: the first PDU has sequence ID ${h.sequenceId}`
      if (payload.length > maxMessage) return `${name}: longer than ${maxMessage} bytes`
      if (last) return { functionId: h.functionId, flags, transactionId: h.transactionId, payload }
      if (open.size >= maxOpen) return `more than ${maxOpen} messages open at once`
      open.set(key, {
        functionId: h.functionId,
        flags,
        transactionId: h.transactionId,
        next: 1,
        length: payload.length,
        parts: [payload]
      })
      openBytes += payload.length
      return undefined
    }
    if (partial === undefined) return `${name}: a PDU that continues no message`
    if (h.sequenceId !== partial.next) return `${name}: sequence ID ${h.sequenceId}, expected ${partial.next}`
    if (partial.length + payload.length > maxMessage) return `${name}: longer than ${maxMessage} bytes`
    partial.parts.push(payload)
    partial.length += payload.length
    partial.next++
    openBytes += payload.length
    if (!last) return partial.next > 0xffff ? `${name}: too many PDUs` : undefined
    open.delete(key)
    openBytes -= partial.length
    return {
      functionId: partial.functionId,
      flags: partial.flags,
      transactionId: partial.transactionId,
      payload: concat(partial.parts, partial.length)
    }
  }

  return {
    get buffered() {
      return pending.length + openBytes
    },
    push(chunk) {
      if (failed !== undefined) return Result.fail(failed)
      let b: Uint8Array
      if (pending.length === 0) b = chunk
      else {
        b = new Uint8Array(pending.length + chunk.length)
        b.set(pending, 0)
        b.set(chunk, pending.length)
      }
      const out: Array<Message> = []
      let o = 0
      while (b.length - o >= HEADER_LENGTH) {
        const h = decodeHeader(b, o)
        if (h.version !== VERSION) return poison(`iSNSP version ${h.version}, expected ${VERSION}`)
        if (h.length % 4 !== 0) return poison(`PDU LENGTH ${h.length} is not a multiple of 4`)
        if ((h.flags & Flag.Authentication) !== 0) {
          return poison("a PDU with an authentication block (only used for multicast and broadcast)")
        }
        if (b.length - o < HEADER_LENGTH + h.length) break
        const payload = b.slice(o + HEADER_LENGTH, o + HEADER_LENGTH + h.length)
        o += HEADER_LENGTH + h.length
        const r = accept(h, payload)
        if (typeof r === "string") return poison(r)
        if (r !== undefined) out.push(r)
      }
      pending = o === b.length ? EMPTY : b.slice(o)
      return Result.succeed(out)
    }
  }
}

/** Reassemble and decode every message of a complete byte stream (tests, tools). */
export const decodeStream = (
  bytes: Uint8Array,
  options: ReaderOptions = {}
): Result.Result<Array<Request | Response>, IscsiError.IscsiError> => {
  const reader = makeReader(options)
  const messages = reader.push(bytes)
  if (Result.isFailure(messages)) return Result.fail(messages.failure)
  if (reader.buffered > 0) return fail(`${reader.buffered} bytes of an incomplete PDU or message at the end`)
  const out: Array<Request | Response> = []
  for (const m of messages.success) {
    const d = decode(m)
    if (Result.isFailure(d)) return Result.fail(d.failure)
    out.push(d.success)
  }
  return Result.succeed(out)
}

// ---------------------------------------------------------------------------------------------
// objects
// ---------------------------------------------------------------------------------------------

/** The object an attribute belongs to, by tag range (§6.1). */
export type ObjectType =
  | "Entity"
  | "Portal"
  | "Node"
  | "PortalGroup"
  | "FcPort"
  | "FcNode"
  | "DiscoveryDomainSet"
  | "DiscoveryDomain"
  | "Other"

export const objectTypeOf = (tag: number): ObjectType =>
  tag >= 1 && tag <= 15
    ? "Entity"
    : tag >= 16 && tag <= 31
      ? "Portal"
      : tag >= 32 && tag <= 47
        ? "Node"
        : tag >= 48 && tag <= 63
          ? "PortalGroup"
          : tag >= 64 && tag <= 95
            ? "FcPort"
            : tag >= 96 && tag <= 127
              ? "FcNode"
              : tag >= 2049 && tag <= 2064
                ? "DiscoveryDomainSet"
                : tag >= 2065 && tag <= 2080
                  ? "DiscoveryDomain"
                  : "Other"

/** The attributes of one object in a query answer. */
export interface IsnsObject {
  readonly type: ObjectType
  readonly attributes: ReadonlyArray<Attribute>
}

/**
 * Group an answer's operating attributes into objects (§5.7.5.2: the attributes of each object
 * are listed together, key first). A new object starts where the tag range changes, or where a tag
 * repeats within the current object (the next portal after a portal, …). Delimiters are skipped.
 */
export const objects = (attributes: ReadonlyArray<Attribute>): Array<IsnsObject> => {
  const out: Array<{ type: ObjectType; attributes: Array<Attribute> }> = []
  let current: { type: ObjectType; attributes: Array<Attribute> } | undefined
  let seen = new Set<number>()
  for (const a of attributes) {
    if (a._tag === "Delimiter") continue
    const type = objectTypeOf(a.tag)
    if (current === undefined || current.type !== type || seen.has(a.tag)) {
      current = { type, attributes: [] }
      out.push(current)
      seen = new Set()
    }
    current.attributes.push(a)
    seen.add(a.tag)
  }
  return out
}

const find = (o: IsnsObject | ReadonlyArray<Attribute>, tag: number): Attribute | undefined =>
  ("attributes" in o ? o.attributes : o).find((a) => a._tag !== "Delimiter" && a.tag === tag)

/** The string value of `tag` in an object (undefined when absent, NIL or not a string). */
export const stringOf = (o: IsnsObject | ReadonlyArray<Attribute>, tag: number): string | undefined => {
  const a = find(o, tag)
  return a?._tag === "String" ? a.value : undefined
}

/** The 32-bit value of `tag` in an object (undefined when absent, NIL or not an integer). */
export const uint32Of = (o: IsnsObject | ReadonlyArray<Attribute>, tag: number): number | undefined => {
  const a = find(o, tag)
  return a?._tag === "Uint32" ? a.value : undefined
}

/** The address text of `tag` in an object (see `formatAddress`; undefined when absent or NIL). */
export const addressOf = (o: IsnsObject | ReadonlyArray<Attribute>, tag: number): string | undefined => {
  const a = find(o, tag)
  return a?._tag === "Address" ? formatAddress(a.bytes) : undefined
}

/** Whether `tag` is present in an object with a NIL (zero-length) value. */
export const isNil = (o: IsnsObject | ReadonlyArray<Attribute>, tag: number): boolean => find(o, tag)?._tag === "Nil"
