/**
 * BHS codecs of the target → initiator PDUs (RFC 7143 §11.4, §11.6, §11.7, §11.8, §11.9, §11.11,
 * §11.13, §11.15, §11.17, §11.19). Same conventions as `initiator.ts`.
 * @internal
 */
import type * as T from "../../PduTypes.ts"
import { u16, u32, u48, u64, w16, w32, w48, w64 } from "./bytes.ts"

// --- NOP-In (§11.19) ---------------------------------------------------------------------------------------
export const encodeNopIn = (p: T.NopIn, b: Uint8Array, o: number): void => {
  b[o] = 0x20
  b[o + 1] = 0x80
  w64(b, o + 8, p.lun)
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.ttt)
  w32(b, o + 24, p.statSN)
  w32(b, o + 28, p.expCmdSN)
  w32(b, o + 32, p.maxCmdSN)
}
export const decodeNopIn = (b: Uint8Array, o: number, data: Uint8Array): T.NopIn => ({
  _tag: "NopIn",
  lun: u64(b, o + 8),
  itt: u32(b, o + 16),
  ttt: u32(b, o + 20),
  statSN: u32(b, o + 24),
  expCmdSN: u32(b, o + 28),
  maxCmdSN: u32(b, o + 32),
  data
})

// --- SCSI Response (§11.4) ------------------------------------------------------------------------------
export const encodeScsiResponse = (p: T.ScsiResponse, b: Uint8Array, o: number): void => {
  b[o] = 0x21
  b[o + 1] =
    0x80 |
    (p.bidiOverflow ? 0x10 : 0) |
    (p.bidiUnderflow ? 0x08 : 0) |
    (p.overflow ? 0x04 : 0) |
    (p.underflow ? 0x02 : 0)
  b[o + 2] = p.response
  b[o + 3] = p.status
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.snackTag)
  w32(b, o + 24, p.statSN)
  w32(b, o + 28, p.expCmdSN)
  w32(b, o + 32, p.maxCmdSN)
  w32(b, o + 36, p.expDataSN)
  w32(b, o + 40, p.bidiResidualCount)
  w32(b, o + 44, p.residualCount)
}
export const decodeScsiResponse = (b: Uint8Array, o: number, data: Uint8Array): T.ScsiResponse => {
  const f = b[o + 1]
  return {
    _tag: "ScsiResponse",
    bidiOverflow: (f & 0x10) !== 0,
    bidiUnderflow: (f & 0x08) !== 0,
    overflow: (f & 0x04) !== 0,
    underflow: (f & 0x02) !== 0,
    response: b[o + 2],
    status: b[o + 3],
    itt: u32(b, o + 16),
    snackTag: u32(b, o + 20),
    statSN: u32(b, o + 24),
    expCmdSN: u32(b, o + 28),
    maxCmdSN: u32(b, o + 32),
    expDataSN: u32(b, o + 36),
    bidiResidualCount: u32(b, o + 40),
    residualCount: u32(b, o + 44),
    data
  }
}

// --- Task Management Function Response (§11.6) -------------------------------------------------------------
export const encodeTaskManagementResponse = (p: T.TaskManagementResponse, b: Uint8Array, o: number): void => {
  b[o] = 0x22
  b[o + 1] = 0x80
  b[o + 2] = p.response
  w32(b, o + 16, p.itt)
  w32(b, o + 24, p.statSN)
  w32(b, o + 28, p.expCmdSN)
  w32(b, o + 32, p.maxCmdSN)
}
export const decodeTaskManagementResponse = (b: Uint8Array, o: number): T.TaskManagementResponse => ({
  _tag: "TaskManagementResponse",
  response: b[o + 2],
  itt: u32(b, o + 16),
  statSN: u32(b, o + 24),
  expCmdSN: u32(b, o + 28),
  maxCmdSN: u32(b, o + 32)
})

// --- Login Response (§11.13) --------------------------------------------------------------------------------
export const encodeLoginResponse = (p: T.LoginResponse, b: Uint8Array, o: number): void => {
  b[o] = 0x23
  b[o + 1] = (p.transit ? 0x80 : 0) | (p.continue ? 0x40 : 0) | ((p.csg & 3) << 2) | (p.nsg & 3)
  b[o + 2] = p.versionMax
  b[o + 3] = p.versionActive
  w48(b, o + 8, p.isid)
  w16(b, o + 14, p.tsih)
  w32(b, o + 16, p.itt)
  w32(b, o + 24, p.statSN)
  w32(b, o + 28, p.expCmdSN)
  w32(b, o + 32, p.maxCmdSN)
  b[o + 36] = p.statusClass
  b[o + 37] = p.statusDetail
}
export const decodeLoginResponse = (b: Uint8Array, o: number, data: Uint8Array): T.LoginResponse => ({
  _tag: "LoginResponse",
  transit: (b[o + 1] & 0x80) !== 0,
  continue: (b[o + 1] & 0x40) !== 0,
  csg: (b[o + 1] >>> 2) & 3,
  nsg: b[o + 1] & 3,
  versionMax: b[o + 2],
  versionActive: b[o + 3],
  isid: u48(b, o + 8),
  tsih: u16(b, o + 14),
  itt: u32(b, o + 16),
  statSN: u32(b, o + 24),
  expCmdSN: u32(b, o + 28),
  maxCmdSN: u32(b, o + 32),
  statusClass: b[o + 36],
  statusDetail: b[o + 37],
  data
})

// --- Text Response (§11.11) -----------------------------------------------------------------------------------
export const encodeTextResponse = (p: T.TextResponse, b: Uint8Array, o: number): void => {
  b[o] = 0x24
  b[o + 1] = (p.final ? 0x80 : 0) | (p.continue ? 0x40 : 0)
  w64(b, o + 8, p.lun)
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.ttt)
  w32(b, o + 24, p.statSN)
  w32(b, o + 28, p.expCmdSN)
  w32(b, o + 32, p.maxCmdSN)
}
export const decodeTextResponse = (b: Uint8Array, o: number, data: Uint8Array): T.TextResponse => ({
  _tag: "TextResponse",
  final: (b[o + 1] & 0x80) !== 0,
  continue: (b[o + 1] & 0x40) !== 0,
  lun: u64(b, o + 8),
  itt: u32(b, o + 16),
  ttt: u32(b, o + 20),
  statSN: u32(b, o + 24),
  expCmdSN: u32(b, o + 28),
  maxCmdSN: u32(b, o + 32),
  data
})

// --- SCSI Data-In (§11.7) -------------------------------------------------------------------------------------
export const encodeScsiDataIn = (p: T.ScsiDataIn, b: Uint8Array, o: number): void => {
  b[o] = 0x25
  b[o + 1] =
    (p.final ? 0x80 : 0) |
    (p.acknowledge ? 0x40 : 0) |
    (p.overflow ? 0x04 : 0) |
    (p.underflow ? 0x02 : 0) |
    (p.statusPresent ? 0x01 : 0)
  b[o + 3] = p.status
  w64(b, o + 8, p.lun)
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.ttt)
  w32(b, o + 24, p.statSN)
  w32(b, o + 28, p.expCmdSN)
  w32(b, o + 32, p.maxCmdSN)
  w32(b, o + 36, p.dataSN)
  w32(b, o + 40, p.bufferOffset)
  w32(b, o + 44, p.residualCount)
}
export const decodeScsiDataIn = (b: Uint8Array, o: number, data: Uint8Array): T.ScsiDataIn => {
  const f = b[o + 1]
  return {
    _tag: "ScsiDataIn",
    final: (f & 0x80) !== 0,
    acknowledge: (f & 0x40) !== 0,
    overflow: (f & 0x04) !== 0,
    underflow: (f & 0x02) !== 0,
    statusPresent: (f & 0x01) !== 0,
    status: b[o + 3],
    lun: u64(b, o + 8),
    itt: u32(b, o + 16),
    ttt: u32(b, o + 20),
    statSN: u32(b, o + 24),
    expCmdSN: u32(b, o + 28),
    maxCmdSN: u32(b, o + 32),
    dataSN: u32(b, o + 36),
    bufferOffset: u32(b, o + 40),
    residualCount: u32(b, o + 44),
    data
  }
}

// --- Logout Response (§11.15) ----------------------------------------------------------------------------------
export const encodeLogoutResponse = (p: T.LogoutResponse, b: Uint8Array, o: number): void => {
  b[o] = 0x26
  b[o + 1] = 0x80
  b[o + 2] = p.response
  w32(b, o + 16, p.itt)
  w32(b, o + 24, p.statSN)
  w32(b, o + 28, p.expCmdSN)
  w32(b, o + 32, p.maxCmdSN)
  w16(b, o + 40, p.time2Wait)
  w16(b, o + 42, p.time2Retain)
}
export const decodeLogoutResponse = (b: Uint8Array, o: number): T.LogoutResponse => ({
  _tag: "LogoutResponse",
  response: b[o + 2],
  itt: u32(b, o + 16),
  statSN: u32(b, o + 24),
  expCmdSN: u32(b, o + 28),
  maxCmdSN: u32(b, o + 32),
  time2Wait: u16(b, o + 40),
  time2Retain: u16(b, o + 42)
})

// --- Ready To Transfer (§11.8) ------------------------------------------------------------------------------------
export const encodeReadyToTransfer = (p: T.ReadyToTransfer, b: Uint8Array, o: number): void => {
  b[o] = 0x31
  b[o + 1] = 0x80
  w64(b, o + 8, p.lun)
  w32(b, o + 16, p.itt)
  w32(b, o + 20, p.ttt)
  w32(b, o + 24, p.statSN)
  w32(b, o + 28, p.expCmdSN)
  w32(b, o + 32, p.maxCmdSN)
  w32(b, o + 36, p.r2tSN)
  w32(b, o + 40, p.bufferOffset)
  w32(b, o + 44, p.desiredDataTransferLength)
}
export const decodeReadyToTransfer = (b: Uint8Array, o: number): T.ReadyToTransfer => ({
  _tag: "ReadyToTransfer",
  lun: u64(b, o + 8),
  itt: u32(b, o + 16),
  ttt: u32(b, o + 20),
  statSN: u32(b, o + 24),
  expCmdSN: u32(b, o + 28),
  maxCmdSN: u32(b, o + 32),
  r2tSN: u32(b, o + 36),
  bufferOffset: u32(b, o + 40),
  desiredDataTransferLength: u32(b, o + 44)
})

// --- Asynchronous Message (§11.9); ITT is always 0xffffffff -----------------------------------------------------
export const encodeAsyncMessage = (p: T.AsyncMessage, b: Uint8Array, o: number): void => {
  b[o] = 0x32
  b[o + 1] = 0x80
  w64(b, o + 8, p.lun)
  w32(b, o + 16, 0xffffffff)
  w32(b, o + 24, p.statSN)
  w32(b, o + 28, p.expCmdSN)
  w32(b, o + 32, p.maxCmdSN)
  b[o + 36] = p.asyncEvent
  b[o + 37] = p.asyncVCode
  w16(b, o + 38, p.parameter1)
  w16(b, o + 40, p.parameter2)
  w16(b, o + 42, p.parameter3)
}
export const decodeAsyncMessage = (b: Uint8Array, o: number, data: Uint8Array): T.AsyncMessage => ({
  _tag: "AsyncMessage",
  lun: u64(b, o + 8),
  statSN: u32(b, o + 24),
  expCmdSN: u32(b, o + 28),
  maxCmdSN: u32(b, o + 32),
  asyncEvent: b[o + 36],
  asyncVCode: b[o + 37],
  parameter1: u16(b, o + 38),
  parameter2: u16(b, o + 40),
  parameter3: u16(b, o + 42),
  data
})

// --- Reject (§11.17); ITT is always 0xffffffff ------------------------------------------------------------------
export const encodeReject = (p: T.Reject, b: Uint8Array, o: number): void => {
  b[o] = 0x3f
  b[o + 1] = 0x80
  b[o + 2] = p.reason
  w32(b, o + 16, 0xffffffff)
  w32(b, o + 24, p.statSN)
  w32(b, o + 28, p.expCmdSN)
  w32(b, o + 32, p.maxCmdSN)
  w32(b, o + 36, p.dataSN)
}
export const decodeReject = (b: Uint8Array, o: number, data: Uint8Array): T.Reject => ({
  _tag: "Reject",
  reason: b[o + 2],
  statSN: u32(b, o + 24),
  expCmdSN: u32(b, o + 28),
  maxCmdSN: u32(b, o + 32),
  dataSN: u32(b, o + 36),
  data
})
