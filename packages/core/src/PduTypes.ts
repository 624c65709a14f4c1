/**
 * The iSCSI PDUs of RFC 7143 §11 as `_tag`ged readonly data: the contract between the pure codec
 * (`Pdu`, `Framer`) and the effectful engine (`Connection`, `Session`, `Login`).
 *
 * Conventions, for every PDU:
 * - Numbers are plain JS numbers: 32-bit fields are unsigned (0..2^32-1), 24-bit DataSegmentLength
 *   is implied by `data.length` and never stored.
 * - `lun` is the raw 8-byte LUN field as a bigint (see `Lun` for SAM encoding); PDUs whose LUN field
 *   is reserved carry none.
 * - `data` is the data segment without padding or digest. When decoded by the `Framer` it may be a
 *   view into the received chunk (see `Framer` for the rule); encoders never keep it.
 * - `ahs` holds the additional header segments in wire order (decoded as typed AHS where known).
 * - Flags follow the RFC names: `final` (F), `continue` (C), `transit` (T), `immediate` (I), …
 *
 * This module holds no code: only types and the opcode constants.
 */

/** Opcodes (RFC 7143 §11.2.1.2). Initiator opcodes 0x00–0x1f, target opcodes 0x20–0x3f. */
export const Opcode = {
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskManagementRequest: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  ScsiDataOut: 0x05,
  LogoutRequest: 0x06,
  SnackRequest: 0x10,
  NopIn: 0x20,
  ScsiResponse: 0x21,
  TaskManagementResponse: 0x22,
  LoginResponse: 0x23,
  TextResponse: 0x24,
  ScsiDataIn: 0x25,
  LogoutResponse: 0x26,
  ReadyToTransfer: 0x31,
  AsyncMessage: 0x32,
  Reject: 0x3f
} as const
export type Opcode = (typeof Opcode)[keyof typeof Opcode]

/** The reserved tag value 0xffffffff (ITT of unsolicited target PDUs, TTT "none"). */
export const RESERVED_TAG = 0xffffffff

/** Additional Header Segments (RFC 7143 §11.2.2). */
export type Ahs =
  | { readonly _tag: "ExtendedCdb"; readonly cdb: Uint8Array } // type 1: CDB bytes beyond the first 16
  | { readonly _tag: "BidiReadLength"; readonly expectedReadLength: number } // type 2
  | { readonly _tag: "UnknownAhs"; readonly ahsType: number; readonly bytes: Uint8Array }

/** SCSI task attributes (§11.3.1). */
export type TaskAttribute = "Untagged" | "Simple" | "Ordered" | "HeadOfQueue" | "ACA"

// ---------------------------------------------------------------------------------------------
// Initiator → target
// ---------------------------------------------------------------------------------------------

/** §11.18 NOP-Out. */
export interface NopOut {
  readonly _tag: "NopOut"
  readonly immediate: boolean
  readonly lun: bigint
  readonly itt: number
  readonly ttt: number
  readonly cmdSN: number
  readonly expStatSN: number
  readonly data: Uint8Array
}

/** §11.3 SCSI Command. `cdb` may be longer than 16 bytes: the encoder moves the rest to an ExtendedCdb AHS. */
export interface ScsiCommand {
  readonly _tag: "ScsiCommand"
  readonly immediate: boolean
  /** F: no unsolicited Data-Out follows. */
  readonly final: boolean
  readonly read: boolean
  readonly write: boolean
  readonly attribute: TaskAttribute
  readonly lun: bigint
  readonly itt: number
  readonly expectedDataTransferLength: number
  readonly cmdSN: number
  readonly expStatSN: number
  readonly cdb: Uint8Array
  /** Bidirectional commands: expected read length (sent as a BidiReadLength AHS). */
  readonly bidiReadLength?: number | undefined
  /** Immediate data. */
  readonly data: Uint8Array
}

/** §11.5.1 Task management functions. */
export const TaskManagementFunction = {
  AbortTask: 1,
  AbortTaskSet: 2,
  ClearAca: 3,
  ClearTaskSet: 4,
  LogicalUnitReset: 5,
  TargetWarmReset: 6,
  TargetColdReset: 7,
  TaskReassign: 8
} as const
export type TaskManagementFunction = (typeof TaskManagementFunction)[keyof typeof TaskManagementFunction]

/** §11.5 Task Management Function Request. */
export interface TaskManagementRequest {
  readonly _tag: "TaskManagementRequest"
  readonly immediate: boolean
  readonly function: number
  readonly lun: bigint
  readonly itt: number
  readonly referencedTaskTag: number
  readonly cmdSN: number
  readonly expStatSN: number
  readonly refCmdSN: number
  readonly expDataSN: number
}

/** §11.12 Login Request. Stages: 0 security, 1 operational, 3 full feature. */
export interface LoginRequest {
  readonly _tag: "LoginRequest"
  readonly transit: boolean
  readonly continue: boolean
  readonly csg: number
  readonly nsg: number
  readonly versionMax: number
  readonly versionMin: number
  /** 6-byte ISID as a number (48 bits fit exactly in a double). */
  readonly isid: number
  readonly tsih: number
  readonly itt: number
  readonly cid: number
  readonly cmdSN: number
  readonly expStatSN: number
  readonly data: Uint8Array
}

/** §11.10 Text Request. */
export interface TextRequest {
  readonly _tag: "TextRequest"
  readonly immediate: boolean
  readonly final: boolean
  readonly continue: boolean
  readonly lun: bigint
  readonly itt: number
  readonly ttt: number
  readonly cmdSN: number
  readonly expStatSN: number
  readonly data: Uint8Array
}

/** §11.7 SCSI Data-Out. */
export interface ScsiDataOut {
  readonly _tag: "ScsiDataOut"
  readonly final: boolean
  readonly lun: bigint
  readonly itt: number
  readonly ttt: number
  readonly expStatSN: number
  readonly dataSN: number
  readonly bufferOffset: number
  readonly data: Uint8Array
}

/** §11.14 Logout Request. reason: 0 close session, 1 close connection, 2 remove connection for recovery. */
export interface LogoutRequest {
  readonly _tag: "LogoutRequest"
  readonly immediate: boolean
  readonly reason: number
  readonly itt: number
  readonly cid: number
  readonly cmdSN: number
  readonly expStatSN: number
}

/** §11.16 SNACK Request. type: 0 Data/R2T, 1 Status, 2 DataACK, 3 R-Data. */
export interface SnackRequest {
  readonly _tag: "SnackRequest"
  readonly type: number
  readonly lun: bigint
  readonly itt: number
  readonly ttt: number
  readonly expStatSN: number
  readonly begRun: number
  readonly runLength: number
}

// ---------------------------------------------------------------------------------------------
// Target → initiator
// ---------------------------------------------------------------------------------------------

/** §11.19 NOP-In. */
export interface NopIn {
  readonly _tag: "NopIn"
  readonly lun: bigint
  readonly itt: number
  readonly ttt: number
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
  readonly data: Uint8Array
}

/** §11.4 SCSI Response. `data` is the raw data segment: SenseLength (2 bytes) + sense + response data. */
export interface ScsiResponse {
  readonly _tag: "ScsiResponse"
  readonly bidiOverflow: boolean
  readonly bidiUnderflow: boolean
  readonly overflow: boolean
  readonly underflow: boolean
  /** 0x00 command completed at target, 0x01 target failure. */
  readonly response: number
  /** SCSI status byte (GOOD 0x00, CHECK CONDITION 0x02, BUSY 0x08, …). */
  readonly status: number
  readonly itt: number
  readonly snackTag: number
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
  readonly expDataSN: number
  readonly bidiResidualCount: number
  readonly residualCount: number
  readonly data: Uint8Array
}

/** §11.6 Task Management Function Response. */
export interface TaskManagementResponse {
  readonly _tag: "TaskManagementResponse"
  /** 0 complete, 1 task does not exist, 2 LUN does not exist, 3 task still allegiant, 4 reassignment not supported, 5 not supported, 6 authorization failed, 255 rejected. */
  readonly response: number
  readonly itt: number
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
}

/** §11.13 Login Response. */
export interface LoginResponse {
  readonly _tag: "LoginResponse"
  readonly transit: boolean
  readonly continue: boolean
  readonly csg: number
  readonly nsg: number
  readonly versionMax: number
  readonly versionActive: number
  readonly isid: number
  readonly tsih: number
  readonly itt: number
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
  readonly statusClass: number
  readonly statusDetail: number
  readonly data: Uint8Array
}

/** §11.11 Text Response. */
export interface TextResponse {
  readonly _tag: "TextResponse"
  readonly final: boolean
  readonly continue: boolean
  readonly lun: bigint
  readonly itt: number
  readonly ttt: number
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
  readonly data: Uint8Array
}

/** §11.7 SCSI Data-In. `statSN`, `status` and `residualCount` are meaningful only when `statusPresent` (S). */
export interface ScsiDataIn {
  readonly _tag: "ScsiDataIn"
  readonly final: boolean
  /** A: acknowledge requested (ERL ≥ 1 only). */
  readonly acknowledge: boolean
  readonly overflow: boolean
  readonly underflow: boolean
  readonly statusPresent: boolean
  readonly status: number
  readonly lun: bigint
  readonly itt: number
  readonly ttt: number
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
  readonly dataSN: number
  readonly bufferOffset: number
  readonly residualCount: number
  readonly data: Uint8Array
}

/** §11.15 Logout Response. */
export interface LogoutResponse {
  readonly _tag: "LogoutResponse"
  /** 0 closed, 1 CID not found, 2 recovery not supported, 3 cleanup failed. */
  readonly response: number
  readonly itt: number
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
  readonly time2Wait: number
  readonly time2Retain: number
}

/** §11.8 Ready To Transfer. */
export interface ReadyToTransfer {
  readonly _tag: "ReadyToTransfer"
  readonly lun: bigint
  readonly itt: number
  readonly ttt: number
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
  readonly r2tSN: number
  readonly bufferOffset: number
  readonly desiredDataTransferLength: number
}

/** §11.9 Asynchronous Message. event: 0 SCSI, 1 logout request, 2 connection drop, 3 session drop, 4 negotiation request, 5 task termination, 248–255 vendor. */
export interface AsyncMessage {
  readonly _tag: "AsyncMessage"
  readonly lun: bigint
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
  readonly asyncEvent: number
  readonly asyncVCode: number
  readonly parameter1: number
  readonly parameter2: number
  readonly parameter3: number
  /** SenseLength (2 bytes) + sense data + iSCSI event data. */
  readonly data: Uint8Array
}

/** §11.17 Reject. `data` holds the complete header of the rejected PDU. */
export interface Reject {
  readonly _tag: "Reject"
  readonly reason: number
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
  readonly dataSN: number
  readonly data: Uint8Array
}

/** A PDU with an opcode this codec does not know: the whole BHS (and AHS, data) kept as bytes. */
export interface Unknown {
  readonly _tag: "Unknown"
  readonly opcode: number
  readonly bhs: Uint8Array
  readonly data: Uint8Array
}

export type InitiatorPdu =
  | NopOut
  | ScsiCommand
  | TaskManagementRequest
  | LoginRequest
  | TextRequest
  | ScsiDataOut
  | LogoutRequest
  | SnackRequest

export type TargetPdu =
  | NopIn
  | ScsiResponse
  | TaskManagementResponse
  | LoginResponse
  | TextResponse
  | ScsiDataIn
  | LogoutResponse
  | ReadyToTransfer
  | AsyncMessage
  | Reject

export type Pdu = InitiatorPdu | TargetPdu | Unknown
