/**
 * The PDU codec core shared by `Pdu` and `Framer`: opcode dispatch, AHS (RFC 7143 §11.2.2), BHS
 * common fields (§11.2.1) and encode-side limits.
 * @internal
 */
import type * as T from "../../PduTypes.ts"
import { EMPTY, padOf, u16, u24, u32, w16, w24, w32 } from "./bytes.ts"
import * as Ini from "./initiator.ts"
import * as Tgt from "./target.ts"

export const BHS_LENGTH = 48
/** TotalAHSLength is one byte of 4-byte words. */
export const MAX_AHS_LENGTH = 255 * 4
/** DataSegmentLength is 24 bits. */
export const MAX_DATA_SEGMENT_LENGTH = 0xffffff

const AHS_EXTENDED_CDB = 1
const AHS_BIDI_READ_LENGTH = 2

/** Bytes of AHS the encoder writes for `p` (ExtendedCdb first, then BidiReadLength). */
export const ahsLength = (p: T.Pdu): number => {
  if (p._tag === "ScsiCommand") {
    const ext = p.cdb.length - 16
    return (ext > 0 ? (4 + ext + 3) & ~3 : 0) + (p.bidiReadLength === undefined ? 0 : 8)
  }
  if (p._tag === "Unknown") return p.bhs.length - BHS_LENGTH
  return 0
}

/** The data segment of `p` (empty for PDUs that have none). */
export const dataOf = (p: T.Pdu): Uint8Array => ("data" in p ? p.data : EMPTY)

/** Why `p` cannot be put on the wire, or undefined when it can. */
export const checkEncodable = (p: T.Pdu): string | undefined => {
  const data = dataOf(p)
  if (data.length > MAX_DATA_SEGMENT_LENGTH) return `data segment of ${data.length} bytes exceeds 2^24-1`
  if (p._tag === "Unknown") {
    const n = p.bhs.length
    if (n < BHS_LENGTH || (n - BHS_LENGTH) % 4 !== 0 || n - BHS_LENGTH > MAX_AHS_LENGTH) {
      return "Unknown PDU header must be 48 bytes plus whole AHS words"
    }
  } else if (p._tag === "ScsiCommand") {
    if (ahsLength(p) > MAX_AHS_LENGTH) return `CDB of ${p.cdb.length} bytes does not fit in the AHS`
  }
  return undefined
}

const writeScsiCommandAhs = (p: T.ScsiCommand, b: Uint8Array, o: number): void => {
  const ext = p.cdb.length - 16
  if (ext > 0) {
    w16(b, o, ext + 1)
    b[o + 2] = AHS_EXTENDED_CDB
    b.set(p.cdb.subarray(16), o + 4)
    o += (4 + ext + 3) & ~3
  }
  if (p.bidiReadLength !== undefined) {
    w16(b, o, 5)
    b[o + 2] = AHS_BIDI_READ_LENGTH
    w32(b, o + 4, p.bidiReadLength)
  }
}

/**
 * Writes BHS + AHS of `p` at `b[o]` (which must be zero-filled, `48 + ahsLength(p)` bytes), with
 * DataSegmentLength `dsl`.
 */
export const writeHeader = (p: T.Pdu, b: Uint8Array, o: number, ahs: number, dsl: number): void => {
  switch (p._tag) {
    case "NopOut":
      Ini.encodeNopOut(p, b, o)
      break
    case "ScsiCommand":
      Ini.encodeScsiCommand(p, b, o)
      if (ahs > 0) writeScsiCommandAhs(p, b, o + BHS_LENGTH)
      break
    case "TaskManagementRequest":
      Ini.encodeTaskManagementRequest(p, b, o)
      break
    case "LoginRequest":
      Ini.encodeLoginRequest(p, b, o)
      break
    case "TextRequest":
      Ini.encodeTextRequest(p, b, o)
      break
    case "ScsiDataOut":
      Ini.encodeScsiDataOut(p, b, o)
      break
    case "LogoutRequest":
      Ini.encodeLogoutRequest(p, b, o)
      break
    case "SnackRequest":
      Ini.encodeSnackRequest(p, b, o)
      break
    case "NopIn":
      Tgt.encodeNopIn(p, b, o)
      break
    case "ScsiResponse":
      Tgt.encodeScsiResponse(p, b, o)
      break
    case "TaskManagementResponse":
      Tgt.encodeTaskManagementResponse(p, b, o)
      break
    case "LoginResponse":
      Tgt.encodeLoginResponse(p, b, o)
      break
    case "TextResponse":
      Tgt.encodeTextResponse(p, b, o)
      break
    case "ScsiDataIn":
      Tgt.encodeScsiDataIn(p, b, o)
      break
    case "LogoutResponse":
      Tgt.encodeLogoutResponse(p, b, o)
      break
    case "ReadyToTransfer":
      Tgt.encodeReadyToTransfer(p, b, o)
      break
    case "AsyncMessage":
      Tgt.encodeAsyncMessage(p, b, o)
      break
    case "Reject":
      Tgt.encodeReject(p, b, o)
      break
    case "Unknown":
      b.set(p.bhs, o)
      break
  }
  b[o + 4] = ahs >>> 2
  w24(b, o + 5, dsl)
}

/** The CDB and bidi length carried by a SCSI Command's BHS and AHS, or an error message. */
const scsiCommand = (b: Uint8Array, o: number, ahs: number, data: Uint8Array): T.ScsiCommand | string => {
  if ((b[o + 1]! & 0x07) > 4) return "reserved SCSI task attribute"
  let cdb: Uint8Array | undefined
  let bidi: number | undefined
  let p = o + BHS_LENGTH
  const end = p + ahs
  while (p < end) {
    if (end - p < 4) return "truncated AHS"
    const len = u16(b, p)
    const type = b[p + 2]!
    const size = (3 + len + 3) & ~3
    if (len === 0 || p + size > end) return "AHS length exceeds TotalAHSLength"
    if (type === AHS_EXTENDED_CDB) {
      if (cdb !== undefined) return "two Extended CDB AHS"
      const ext = len - 1
      cdb = new Uint8Array(16 + ext)
      cdb.set(b.subarray(o + 32, o + 48), 0)
      cdb.set(b.subarray(p + 4, p + 4 + ext), 16)
    } else if (type === AHS_BIDI_READ_LENGTH) {
      if (len !== 5) return "Bidirectional Read Expected Data Transfer Length AHS must have AHSLength 5"
      bidi = u32(b, p + 4)
    }
    p += size
  }
  return Ini.decodeScsiCommand(b, o, cdb ?? b.slice(o + 32, o + 48), bidi, data)
}

/** RFC 7143 requires DataSegmentLength 0 for Task Management, Logout, SNACK and R2T PDUs. */
const NO_DATA = "DataSegmentLength must be 0 for this PDU"

/**
 * Decodes the PDU whose BHS is at `b[o]`, with `ahs` bytes of AHS after it, and `data` as its data
 * segment (already cut out, without padding). Returns an error message for a malformed PDU.
 * Never throws: every read is inside the BHS/AHS bounds the caller checked.
 */
export const decodeParts = (b: Uint8Array, o: number, ahs: number, data: Uint8Array): T.Pdu | string => {
  const opcode = b[o]! & 0x3f
  switch (opcode) {
    case 0x00:
      return Ini.decodeNopOut(b, o, data)
    case 0x01:
      return scsiCommand(b, o, ahs, data)
    case 0x02:
      return data.length === 0 ? Ini.decodeTaskManagementRequest(b, o) : NO_DATA
    case 0x03:
      return Ini.decodeLoginRequest(b, o, data)
    case 0x04:
      return Ini.decodeTextRequest(b, o, data)
    case 0x05:
      return Ini.decodeScsiDataOut(b, o, data)
    case 0x06:
      return data.length === 0 ? Ini.decodeLogoutRequest(b, o) : NO_DATA
    case 0x10:
      return data.length === 0 ? Ini.decodeSnackRequest(b, o) : NO_DATA
    case 0x20:
      return Tgt.decodeNopIn(b, o, data)
    case 0x21:
      return Tgt.decodeScsiResponse(b, o, data)
    case 0x22:
      return data.length === 0 ? Tgt.decodeTaskManagementResponse(b, o) : NO_DATA
    case 0x23:
      return Tgt.decodeLoginResponse(b, o, data)
    case 0x24:
      return Tgt.decodeTextResponse(b, o, data)
    case 0x25:
      return Tgt.decodeScsiDataIn(b, o, data)
    case 0x26:
      return data.length === 0 ? Tgt.decodeLogoutResponse(b, o) : NO_DATA
    case 0x31:
      return data.length === 0 ? Tgt.decodeReadyToTransfer(b, o) : NO_DATA
    case 0x32:
      return Tgt.decodeAsyncMessage(b, o, data)
    case 0x3f:
      return Tgt.decodeReject(b, o, data)
    default:
      return { _tag: "Unknown", opcode, bhs: b.subarray(o, o + BHS_LENGTH + ahs), data }
  }
}

/** TotalAHSLength in bytes of the BHS at `b[o]`. */
export const ahsAt = (b: Uint8Array, o: number): number => b[o + 4]! << 2

/** DataSegmentLength of the BHS at `b[o]`. */
export const dslAt = (b: Uint8Array, o: number): number => u24(b, o + 5)

export { padOf }
