/**
 * BHS codecs of the initiator → target PDUs (RFC 7143 §11.3, §11.5, §11.7, §11.10, §11.12,
 * §11.14, §11.16, §11.18). Each `write*` fills bytes 0–3 and 8–47 of a zeroed 48-byte BHS at `o`
 * (the dispatcher writes TotalAHSLength and DataSegmentLength in bytes 4–7); each `read*` reads them
 * back. Byte-offset tables are in the public `Pdu` module.
 * @internal
 */
import type * as T from "../../PduTypes.ts"
import { u16, u32, u48, u64, w16, w32, w48, w64 } from "./bytes.ts"

const I = 0x40

const ATTRIBUTES: ReadonlyArray<T.TaskAttribute> = ["Untagged", "Simple", "Ordered", "HeadOfQueue", "ACA"]
const attributeCode = (a: T.TaskAttribute): number =>
  a === "Simple" ? 1 : a === "Ordered" ? 2 : a === "HeadOfQueue" ? 3 : a === "ACA" ? 4 : 0

// --- NOP-Out (§11.18) -----------------------------------------------------------------------------
export const encodeNopOut = (p: T.NopOut, b: Uint8Array, o: number): void => {
  b[o] = (p.immediate ? I : 0) | 0x00
  b[o + 1] = 0x80
  w64(b, o + 8, p.lun)
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.ttt)
  w32(b, o + 24, p.cmdSN)
  w32(b, o + 28, p.expStatSN)
}
export const decodeNopOut = (b: Uint8Array, o: number, data: Uint8Array): T.NopOut => ({
  _tag: "NopOut",
  immediate: (b[o] & I) !== 0,
  lun: u64(b, o + 8),
  itt: u32(b, o + 16),
  ttt: u32(b, o + 20),
  cmdSN: u32(b, o + 24),
  expStatSN: u32(b, o + 28),
  data
})

// --- SCSI Command (§11.3); the CDB beyond byte 16 goes to the AHS (see ahs.ts) -----------------------
export const encodeScsiCommand = (p: T.ScsiCommand, b: Uint8Array, o: number): void => {
  b[o] = (p.immediate ? I : 0) | 0x01
  b[o + 1] = (p.final ? 0x80 : 0) | (p.read ? 0x40 : 0) | (p.write ? 0x20 : 0) | attributeCode(p.attribute)
  w64(b, o + 8, p.lun)
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.expectedDataTransferLength)
  w32(b, o + 24, p.cmdSN)
  w32(b, o + 28, p.expStatSN)
  // byte loops, not set/fill: for ≤ 16 bytes the builtins' call overhead is most of the cost (npm run bench)
  const cdb = p.cdb
  const n = Math.min(cdb.length, 16)
  for (let i = 0; i < n; i++) b[o + 32 + i] = cdb[i]!
  for (let i = n; i < 16; i++) b[o + 32 + i] = 0
}
export const decodeScsiCommand = (
  b: Uint8Array,
  o: number,
  cdb: Uint8Array,
  bidiReadLength: number | undefined,
  data: Uint8Array
): T.ScsiCommand => {
  const attr = b[o + 1] & 0x07
  const base = {
    _tag: "ScsiCommand" as const,
    immediate: (b[o] & I) !== 0,
    final: (b[o + 1] & 0x80) !== 0,
    read: (b[o + 1] & 0x40) !== 0,
    write: (b[o + 1] & 0x20) !== 0,
    attribute: ATTRIBUTES[attr] ?? "Untagged",
    lun: u64(b, o + 8),
    itt: u32(b, o + 16),
    expectedDataTransferLength: u32(b, o + 20),
    cmdSN: u32(b, o + 24),
    expStatSN: u32(b, o + 28),
    cdb,
    data
  }
  return bidiReadLength === undefined ? base : { ...base, bidiReadLength }
}

// --- Task Management Function Request (§11.5) -----------------------------------------------------
export const encodeTaskManagementRequest = (p: T.TaskManagementRequest, b: Uint8Array, o: number): void => {
  b[o] = (p.immediate ? I : 0) | 0x02
  b[o + 1] = 0x80 | (p.function & 0x7f)
  w64(b, o + 8, p.lun)
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.referencedTaskTag)
  w32(b, o + 24, p.cmdSN)
  w32(b, o + 28, p.expStatSN)
  w32(b, o + 32, p.refCmdSN)
  w32(b, o + 36, p.expDataSN)
}
export const decodeTaskManagementRequest = (b: Uint8Array, o: number): T.TaskManagementRequest => ({
  _tag: "TaskManagementRequest",
  immediate: (b[o] & I) !== 0,
  function: b[o + 1] & 0x7f,
  lun: u64(b, o + 8),
  itt: u32(b, o + 16),
  referencedTaskTag: u32(b, o + 20),
  cmdSN: u32(b, o + 24),
  expStatSN: u32(b, o + 28),
  refCmdSN: u32(b, o + 32),
  expDataSN: u32(b, o + 36)
})

// --- Login Request (§11.12); always immediate --------------------------------------------------------
export const encodeLoginRequest = (p: T.LoginRequest, b: Uint8Array, o: number): void => {
  b[o] = I | 0x03
  b[o + 1] = (p.transit ? 0x80 : 0) | (p.continue ? 0x40 : 0) | ((p.csg & 3) << 2) | (p.nsg & 3)
  b[o + 2] = p.versionMax
  b[o + 3] = p.versionMin
  w48(b, o + 8, p.isid)
  w16(b, o + 14, p.tsih)
  w32(b, o + 16, p.itt)
  w16(b, o + 20, p.cid)
  w32(b, o + 24, p.cmdSN)
  w32(b, o + 28, p.expStatSN)
}
export const decodeLoginRequest = (b: Uint8Array, o: number, data: Uint8Array): T.LoginRequest => ({
  _tag: "LoginRequest",
  transit: (b[o + 1] & 0x80) !== 0,
  continue: (b[o + 1] & 0x40) !== 0,
  csg: (b[o + 1] >>> 2) & 3,
  nsg: b[o + 1] & 3,
  versionMax: b[o + 2],
  versionMin: b[o + 3],
  isid: u48(b, o + 8),
  tsih: u16(b, o + 14),
  itt: u32(b, o + 16),
  cid: u16(b, o + 20),
  cmdSN: u32(b, o + 24),
  expStatSN: u32(b, o + 28),
  data
})

// --- Text Request (§11.10) ----------------------------------------------------------------------------
export const encodeTextRequest = (p: T.TextRequest, b: Uint8Array, o: number): void => {
  b[o] = (p.immediate ? I : 0) | 0x04
  b[o + 1] = (p.final ? 0x80 : 0) | (p.continue ? 0x40 : 0)
  w64(b, o + 8, p.lun)
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.ttt)
  w32(b, o + 24, p.cmdSN)
  w32(b, o + 28, p.expStatSN)
}
export const decodeTextRequest = (b: Uint8Array, o: number, data: Uint8Array): T.TextRequest => ({
  _tag: "TextRequest",
  immediate: (b[o] & I) !== 0,
  final: (b[o + 1] & 0x80) !== 0,
  continue: (b[o + 1] & 0x40) !== 0,
  lun: u64(b, o + 8),
  itt: u32(b, o + 16),
  ttt: u32(b, o + 20),
  cmdSN: u32(b, o + 24),
  expStatSN: u32(b, o + 28),
  data
})

// --- SCSI Data-Out (§11.7) ------------------------------------------------------------------------------
export const encodeScsiDataOut = (p: T.ScsiDataOut, b: Uint8Array, o: number): void => {
  b[o] = 0x05
  b[o + 1] = p.final ? 0x80 : 0
  w64(b, o + 8, p.lun)
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.ttt)
  w32(b, o + 28, p.expStatSN)
  w32(b, o + 36, p.dataSN)
  w32(b, o + 40, p.bufferOffset)
}
export const decodeScsiDataOut = (b: Uint8Array, o: number, data: Uint8Array): T.ScsiDataOut => ({
  _tag: "ScsiDataOut",
  final: (b[o + 1] & 0x80) !== 0,
  lun: u64(b, o + 8),
  itt: u32(b, o + 16),
  ttt: u32(b, o + 20),
  expStatSN: u32(b, o + 28),
  dataSN: u32(b, o + 36),
  bufferOffset: u32(b, o + 40),
  data
})

// --- Logout Request (§11.14) ------------------------------------------------------------------------------
export const encodeLogoutRequest = (p: T.LogoutRequest, b: Uint8Array, o: number): void => {
  b[o] = (p.immediate ? I : 0) | 0x06
  b[o + 1] = 0x80 | (p.reason & 0x7f)
  w32(b, o + 16, p.itt)
  w16(b, o + 20, p.cid)
  w32(b, o + 24, p.cmdSN)
  w32(b, o + 28, p.expStatSN)
}
export const decodeLogoutRequest = (b: Uint8Array, o: number): T.LogoutRequest => ({
  _tag: "LogoutRequest",
  immediate: (b[o] & I) !== 0,
  reason: b[o + 1] & 0x7f,
  itt: u32(b, o + 16),
  cid: u16(b, o + 20),
  cmdSN: u32(b, o + 24),
  expStatSN: u32(b, o + 28)
})

// --- SNACK Request (§11.16) -------------------------------------------------------------------------------
export const encodeSnackRequest = (p: T.SnackRequest, b: Uint8Array, o: number): void => {
  b[o] = 0x10
  b[o + 1] = 0x80 | (p.type & 0x0f)
  w64(b, o + 8, p.lun)
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.ttt)
  w32(b, o + 28, p.expStatSN)
  w32(b, o + 40, p.begRun)
  w32(b, o + 44, p.runLength)
}
export const decodeSnackRequest = (b: Uint8Array, o: number): T.SnackRequest => ({
  _tag: "SnackRequest",
  type: b[o + 1] & 0x0f,
  lun: u64(b, o + 8),
  itt: u32(b, o + 16),
  ttt: u32(b, o + 20),
  expStatSN: u32(b, o + 28),
  begRun: u32(b, o + 40),
  runLength: u32(b, o + 44)
})
