/**
 * Fully validated Struct schemas of every PDU family (field ranges as the wire allows them): a test
 * oracle and a dev-mode check for PDUs built outside the engine. Too slow for the per-PDU hot path
 * (EFFECT4.md §4): the codec itself never calls them.
 * @internal
 */
import * as Schema from "effect/Schema"

const U32 = Schema.Number.check(Schema.isUint32())
const bits = (n: number) => Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 ** n - 1 }))
const U24 = bits(24)
const U16 = bits(16)
const U8 = bits(8)
const U7 = bits(7)
const U4 = bits(4)
const U2 = bits(2)
const U48 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 ** 48 - 1 }))
const Lun = Schema.BigInt.check(Schema.isBetweenBigInt({ minimum: 0n, maximum: 2n ** 64n - 1n }))
const Data = Schema.Uint8Array.check(Schema.isMaxLength(0xffffff))
const Bool = Schema.Boolean

export const NopOut = Schema.Struct({
  _tag: Schema.Literal("NopOut"),
  immediate: Bool,
  lun: Lun,
  itt: U32,
  ttt: U32,
  cmdSN: U32,
  expStatSN: U32,
  data: Data
})
export const ScsiCommand = Schema.Struct({
  _tag: Schema.Literal("ScsiCommand"),
  immediate: Bool,
  final: Bool,
  read: Bool,
  write: Bool,
  attribute: Schema.Literals(["Untagged", "Simple", "Ordered", "HeadOfQueue", "ACA"]),
  lun: Lun,
  itt: U32,
  expectedDataTransferLength: U32,
  cmdSN: U32,
  expStatSN: U32,
  // 16 bytes in the BHS, the rest in an ExtendedCdb AHS (TotalAHSLength ≤ 1020 bytes, 4 of them AHS header)
  cdb: Schema.Uint8Array.check(Schema.isMinLength(1), Schema.isMaxLength(16 + 1016 - 8)),
  bidiReadLength: Schema.optional(U32),
  data: Data
})
export const TaskManagementRequest = Schema.Struct({
  _tag: Schema.Literal("TaskManagementRequest"),
  immediate: Bool,
  function: U7,
  lun: Lun,
  itt: U32,
  referencedTaskTag: U32,
  cmdSN: U32,
  expStatSN: U32,
  refCmdSN: U32,
  expDataSN: U32
})
export const LoginRequest = Schema.Struct({
  _tag: Schema.Literal("LoginRequest"),
  transit: Bool,
  continue: Bool,
  csg: U2,
  nsg: U2,
  versionMax: U8,
  versionMin: U8,
  isid: U48,
  tsih: U16,
  itt: U32,
  cid: U16,
  cmdSN: U32,
  expStatSN: U32,
  data: Data
})
export const TextRequest = Schema.Struct({
  _tag: Schema.Literal("TextRequest"),
  immediate: Bool,
  final: Bool,
  continue: Bool,
  lun: Lun,
  itt: U32,
  ttt: U32,
  cmdSN: U32,
  expStatSN: U32,
  data: Data
})
export const ScsiDataOut = Schema.Struct({
  _tag: Schema.Literal("ScsiDataOut"),
  final: Bool,
  lun: Lun,
  itt: U32,
  ttt: U32,
  expStatSN: U32,
  dataSN: U32,
  bufferOffset: U32,
  data: Data
})
export const LogoutRequest = Schema.Struct({
  _tag: Schema.Literal("LogoutRequest"),
  immediate: Bool,
  reason: U7,
  itt: U32,
  cid: U16,
  cmdSN: U32,
  expStatSN: U32
})
export const SnackRequest = Schema.Struct({
  _tag: Schema.Literal("SnackRequest"),
  type: U4,
  lun: Lun,
  itt: U32,
  ttt: U32,
  expStatSN: U32,
  begRun: U32,
  runLength: U32
})
export const NopIn = Schema.Struct({
  _tag: Schema.Literal("NopIn"),
  lun: Lun,
  itt: U32,
  ttt: U32,
  statSN: U32,
  expCmdSN: U32,
  maxCmdSN: U32,
  data: Data
})
export const ScsiResponse = Schema.Struct({
  _tag: Schema.Literal("ScsiResponse"),
  bidiOverflow: Bool,
  bidiUnderflow: Bool,
  overflow: Bool,
  underflow: Bool,
  response: U8,
  status: U8,
  itt: U32,
  snackTag: U32,
  statSN: U32,
  expCmdSN: U32,
  maxCmdSN: U32,
  expDataSN: U32,
  bidiResidualCount: U32,
  residualCount: U32,
  data: Data
})
export const TaskManagementResponse = Schema.Struct({
  _tag: Schema.Literal("TaskManagementResponse"),
  response: U8,
  itt: U32,
  statSN: U32,
  expCmdSN: U32,
  maxCmdSN: U32
})
export const LoginResponse = Schema.Struct({
  _tag: Schema.Literal("LoginResponse"),
  transit: Bool,
  continue: Bool,
  csg: U2,
  nsg: U2,
  versionMax: U8,
  versionActive: U8,
  isid: U48,
  tsih: U16,
  itt: U32,
  statSN: U32,
  expCmdSN: U32,
  maxCmdSN: U32,
  statusClass: U8,
  statusDetail: U8,
  data: Data
})
export const TextResponse = Schema.Struct({
  _tag: Schema.Literal("TextResponse"),
  final: Bool,
  continue: Bool,
  lun: Lun,
  itt: U32,
  ttt: U32,
  statSN: U32,
  expCmdSN: U32,
  maxCmdSN: U32,
  data: Data
})
export const ScsiDataIn = Schema.Struct({
  _tag: Schema.Literal("ScsiDataIn"),
  final: Bool,
  acknowledge: Bool,
  overflow: Bool,
  underflow: Bool,
  statusPresent: Bool,
  status: U8,
  lun: Lun,
  itt: U32,
  ttt: U32,
  statSN: U32,
  expCmdSN: U32,
  maxCmdSN: U32,
  dataSN: U32,
  bufferOffset: U32,
  residualCount: U32,
  data: Data
})
export const LogoutResponse = Schema.Struct({
  _tag: Schema.Literal("LogoutResponse"),
  response: U8,
  itt: U32,
  statSN: U32,
  expCmdSN: U32,
  maxCmdSN: U32,
  time2Wait: U16,
  time2Retain: U16
})
export const ReadyToTransfer = Schema.Struct({
  _tag: Schema.Literal("ReadyToTransfer"),
  lun: Lun,
  itt: U32,
  ttt: U32,
  statSN: U32,
  expCmdSN: U32,
  maxCmdSN: U32,
  r2tSN: U32,
  bufferOffset: U32,
  desiredDataTransferLength: U32
})
export const AsyncMessage = Schema.Struct({
  _tag: Schema.Literal("AsyncMessage"),
  lun: Lun,
  statSN: U32,
  expCmdSN: U32,
  maxCmdSN: U32,
  asyncEvent: U8,
  asyncVCode: U8,
  parameter1: U16,
  parameter2: U16,
  parameter3: U16,
  data: Data
})
export const Reject = Schema.Struct({
  _tag: Schema.Literal("Reject"),
  reason: U8,
  statSN: U32,
  expCmdSN: U32,
  maxCmdSN: U32,
  dataSN: U32,
  data: Data
})
export const Unknown = Schema.Struct({
  _tag: Schema.Literal("Unknown"),
  opcode: bits(6),
  bhs: Schema.Uint8Array.check(
    Schema.makeFilter(
      (b: Uint8Array) => (b.length >= 48 && b.length <= 48 + 1020 && b.length % 4 === 0) || "48 bytes + whole AHS words"
    )
  ),
  data: Data
})

export const DataSegmentLength = U24
