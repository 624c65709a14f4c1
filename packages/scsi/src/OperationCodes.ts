/**
 * REPORT SUPPORTED OPERATION CODES (SPC-5 §6.35): MAINTENANCE IN (A3h), service action 0Ch. The CDB,
 * the all-commands list and the one-command descriptor (with its CDB usage data), the command
 * timeouts descriptor, and the SPC/SBC names of the operation codes a block device answers with.
 *
 * ```
 * CDB (12):        0 A3h | 1 SERVICE ACTION 0Ch(4-0) | 2 RCTD(7) REPORTING OPTIONS(2-0)
 *                  3 REQUESTED OPERATION CODE | 4-5 REQUESTED SERVICE ACTION
 *                  6-9 ALLOCATION LENGTH | 10 reserved | 11 CONTROL
 * Reporting options: 000b all commands | 001b one opcode (no service action) | 010b opcode and
 *                  service action | 011b opcode, service action if it has them
 * All commands:    0-3 COMMAND DATA LENGTH (n-3) | 4.. command descriptors
 * Descriptor:      0 OPERATION CODE | 1 reserved | 2-3 SERVICE ACTION | 4 reserved
 *                  5 CDLP(3-2) CTDP(1) SERVACTV(0) | 6-7 CDB LENGTH
 *                  8-19 command timeouts descriptor (when CTDP)
 * One command:     0 reserved | 1 CTDP(7) CDLP(4-3) SUPPORT(2-0) | 2-3 CDB SIZE (n-3)
 *                  4.. CDB USAGE DATA | then the command timeouts descriptor (when CTDP)
 * Timeouts:        0-1 DESCRIPTOR LENGTH (000Ah) | 2 reserved | 3 COMMAND SPECIFIC
 *                  4-7 NOMINAL COMMAND PROCESSING TIMEOUT | 8-11 RECOMMENDED COMMAND TIMEOUT (seconds)
 * SUPPORT:         000b data not available | 001b not supported | 011b supported (standard)
 *                  101b supported (vendor specific) | others reserved
 * ```
 * CDB USAGE DATA is a bit mask the size of the CDB: byte 0 is the opcode, every other byte has a 1
 * where the device server looks at that bit (so 0 bits are fields it ignores or does not support).
 *
 * Not here: what a set of opcodes means for a LUN (`Capabilities`), running the command
 * (`Scsi.reportSupportedOperationCodes`, `Scsi.reportSupportedOperationCode`).
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import * as ScsiError from "./ScsiError.ts"

type R<A> = Result.Result<A, ScsiError.ScsiError>

/** REPORTING OPTIONS. */
export const ReportingOptions = {
  All: 0,
  OpcodeOnly: 1,
  OpcodeAndServiceAction: 2,
  OpcodeMaybeServiceAction: 3
} as const

export interface CdbOptions {
  /** 0 all (default), 1 opcode, 2 opcode + service action, 3 opcode + service action if any. */
  readonly reportingOptions?: number | undefined
  readonly opcode?: number | undefined
  readonly serviceAction?: number | undefined
  /** RCTD: return command timeouts descriptors. */
  readonly timeouts?: boolean | undefined
  readonly allocationLength?: number | undefined
}

export const cdb = (options?: CdbOptions): R<Uint8Array> =>
  B.build("REPORT SUPPORTED OPERATION CODES", 12, (w) => {
    const ro = options?.reportingOptions ?? ReportingOptions.All
    w.u8("opcode", 0, 0xa3)
    w.u8("service action", 1, 0x0c)
    w.flag(2, 7, options?.timeouts)
    w.bits("reporting options", 2, 0, 3, ro)
    if (ro === ReportingOptions.All && (options?.opcode !== undefined || options?.serviceAction !== undefined))
      w.fail("reporting option 0 (all commands) takes no requested operation code")
    if (ro === ReportingOptions.OpcodeOnly && options?.serviceAction !== undefined)
      w.fail("reporting option 1 takes no requested service action")
    w.u8("requested operation code", 3, options?.opcode ?? 0)
    w.u16("requested service action", 4, options?.serviceAction ?? 0)
    w.u32("allocation length", 6, options?.allocationLength ?? 8192)
  })

export interface Timeouts {
  readonly commandSpecific: number
  /** Seconds (0: not specified). */
  readonly nominal: number
  /** Seconds (0: not specified). */
  readonly recommended: number
}

export interface CommandDescriptor {
  readonly opcode: number
  /** Present when the opcode has service actions (SERVACTV). */
  readonly serviceAction: number | undefined
  readonly cdbLength: number
  /** CDLP: command duration limits page (0 none). */
  readonly cdlp: number
  readonly timeouts: Timeouts | undefined
}

const decodeTimeouts = (b: Uint8Array, o: number, what: string): R<Timeouts> => {
  if (o + 12 > b.length || B.u16(b, o) < 0x0a) {
    return Result.fail(ScsiError.malformed(what, "command timeouts descriptor overruns the data"))
  }
  return Result.succeed({ commandSpecific: b[o + 3], nominal: B.u32(b, o + 4), recommended: B.u32(b, o + 8) })
}

export interface AllCommands {
  readonly commands: ReadonlyArray<CommandDescriptor>
  /** COMMAND DATA LENGTH + 4: what the whole answer needs (more than was received when truncated). */
  readonly length: number
}

/** The all-commands parameter data (reporting options 000b). Descriptors cut off by the allocation length are left out. */
export const decodeAll = (data: Uint8Array): R<AllCommands> => {
  if (data.length < 4) return Result.fail(ScsiError.malformed("supported operation codes", `${data.length} bytes`))
  const length = 4 + B.u32(data, 0)
  const end = Math.min(length, data.length)
  const commands: Array<CommandDescriptor> = []
  for (let o = 4; o + 8 <= end; ) {
    const ctdp = (data[o + 5] & 0x02) !== 0
    const size = ctdp ? 20 : 8
    if (o + size > end) {
      if (end < length) break // truncated by the allocation length
      return Result.fail(ScsiError.malformed("supported operation codes", "a descriptor overruns the data"))
    }
    let timeouts: Timeouts | undefined
    if (ctdp) {
      const t = decodeTimeouts(data, o + 8, "supported operation codes")
      if (Result.isFailure(t)) return Result.fail(t.failure)
      timeouts = t.success
    }
    commands.push({
      opcode: data[o],
      serviceAction: (data[o + 5] & 0x01) !== 0 ? B.u16(data, o + 2) : undefined,
      cdbLength: B.u16(data, o + 6),
      cdlp: (data[o + 5] >> 2) & 3,
      timeouts
    })
    o += size
  }
  return Result.succeed({ commands, length })
}

export type Support = "not available" | "not supported" | "supported" | "supported (vendor specific)" | "reserved"

const supportNames: Record<number, Support> = {
  0: "not available",
  1: "not supported",
  3: "supported",
  5: "supported (vendor specific)"
}

export interface OneCommand {
  /** SUPPORT field. */
  readonly supportCode: number
  readonly support: Support
  readonly supported: boolean
  /** CDB SIZE (0 when not supported). */
  readonly cdbSize: number
  /** CDB USAGE DATA: byte 0 the opcode, then a 1 bit for every CDB bit the device server uses. */
  readonly usage: Uint8Array
  readonly cdlp: number
  readonly timeouts: Timeouts | undefined
}

/** The one-command parameter data (reporting options 001b–011b). */
export const decodeOne = (data: Uint8Array): R<OneCommand> => {
  if (data.length < 4) return Result.fail(ScsiError.malformed("supported operation code", `${data.length} bytes`))
  const size = B.u16(data, 2)
  if (4 + size > data.length) {
    return Result.fail(ScsiError.malformed("supported operation code", "CDB usage data overruns the data"))
  }
  const ctdp = (data[1] & 0x80) !== 0
  let timeouts: Timeouts | undefined
  if (ctdp) {
    const t = decodeTimeouts(data, 4 + size, "supported operation code")
    if (Result.isFailure(t)) return Result.fail(t.failure)
    timeouts = t.success
  }
  const code = data[1] & 0x07
  return Result.succeed({
    supportCode: code,
    support: supportNames[code] ?? "reserved",
    supported: code === 3 || code === 5,
    cdbSize: size,
    usage: data.slice(4, 4 + size),
    cdlp: (data[1] >> 3) & 3,
    timeouts
  })
}

/** Operation code names (SPC-5 / SBC-4 / MMC), keyed `op` or `op/sa` (hex, lower case). */
const names: Record<string, string> = {
  "00": "TEST UNIT READY",
  "03": "REQUEST SENSE",
  "04": "FORMAT UNIT",
  "08": "READ (6)",
  "0a": "WRITE (6)",
  "12": "INQUIRY",
  "15": "MODE SELECT (6)",
  "16": "RESERVE (6)",
  "17": "RELEASE (6)",
  "1a": "MODE SENSE (6)",
  "1b": "START STOP UNIT",
  "1c": "RECEIVE DIAGNOSTIC RESULTS",
  "1d": "SEND DIAGNOSTIC",
  "1e": "PREVENT ALLOW MEDIUM REMOVAL",
  "25": "READ CAPACITY (10)",
  "28": "READ (10)",
  "2a": "WRITE (10)",
  "2b": "SEEK (10)",
  "2e": "WRITE AND VERIFY (10)",
  "2f": "VERIFY (10)",
  "34": "PRE-FETCH (10)",
  "35": "SYNCHRONIZE CACHE (10)",
  "37": "READ DEFECT DATA (10)",
  "3b": "WRITE BUFFER",
  "3c": "READ BUFFER",
  "41": "WRITE SAME (10)",
  "42": "UNMAP",
  "43": "READ TOC/PMA/ATIP",
  "48": "SANITIZE",
  "4c": "LOG SELECT",
  "4d": "LOG SENSE",
  "55": "MODE SELECT (10)",
  "56": "RESERVE (10)",
  "57": "RELEASE (10)",
  "5a": "MODE SENSE (10)",
  "5e": "PERSISTENT RESERVE IN",
  "5e/0": "PERSISTENT RESERVE IN: READ KEYS",
  "5e/1": "PERSISTENT RESERVE IN: READ RESERVATION",
  "5e/2": "PERSISTENT RESERVE IN: REPORT CAPABILITIES",
  "5e/3": "PERSISTENT RESERVE IN: READ FULL STATUS",
  "5f": "PERSISTENT RESERVE OUT",
  "5f/0": "PERSISTENT RESERVE OUT: REGISTER",
  "5f/1": "PERSISTENT RESERVE OUT: RESERVE",
  "5f/2": "PERSISTENT RESERVE OUT: RELEASE",
  "5f/3": "PERSISTENT RESERVE OUT: CLEAR",
  "5f/4": "PERSISTENT RESERVE OUT: PREEMPT",
  "5f/5": "PERSISTENT RESERVE OUT: PREEMPT AND ABORT",
  "5f/6": "PERSISTENT RESERVE OUT: REGISTER AND IGNORE EXISTING KEY",
  "5f/7": "PERSISTENT RESERVE OUT: REGISTER AND MOVE",
  "83": "THIRD-PARTY COPY OUT",
  "83/0": "EXTENDED COPY (LID1)",
  "83/1": "EXTENDED COPY (LID4)",
  "84": "THIRD-PARTY COPY IN",
  "84/0": "RECEIVE COPY STATUS (LID1)",
  "84/1": "RECEIVE COPY DATA (LID1)",
  "84/3": "RECEIVE COPY OPERATING PARAMETERS",
  "84/4": "RECEIVE COPY FAILURE DETAILS (LID1)",
  "84/5": "RECEIVE COPY STATUS (LID4)",
  "88": "READ (16)",
  "89": "COMPARE AND WRITE",
  "8a": "WRITE (16)",
  "8b": "ORWRITE (16)",
  "8e": "WRITE AND VERIFY (16)",
  "8f": "VERIFY (16)",
  "90": "PRE-FETCH (16)",
  "91": "SYNCHRONIZE CACHE (16)",
  "93": "WRITE SAME (16)",
  "9c": "WRITE ATOMIC (16)",
  "9e": "SERVICE ACTION IN (16)",
  "9e/10": "READ CAPACITY (16)",
  "9e/12": "GET LBA STATUS",
  a0: "REPORT LUNS",
  a3: "MAINTENANCE IN",
  "a3/5": "REPORT IDENTIFYING INFORMATION",
  "a3/a": "REPORT TARGET PORT GROUPS",
  "a3/c": "REPORT SUPPORTED OPERATION CODES",
  "a3/d": "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS",
  "a3/f": "REPORT TIMESTAMP",
  a4: "MAINTENANCE OUT",
  "a4/a": "SET TARGET PORT GROUPS",
  a8: "READ (12)",
  aa: "WRITE (12)",
  ae: "WRITE AND VERIFY (12)",
  af: "VERIFY (12)",
  b7: "READ DEFECT DATA (12)"
}

/** The name of an operation code (with its service action when it has one), or `OPCODE 0xNN[/SA 0xNN]`. */
export const name = (opcode: number, serviceAction?: number): string => {
  const op = opcode.toString(16).padStart(2, "0")
  if (serviceAction !== undefined) {
    const n = names[`${op}/${serviceAction.toString(16)}`]
    if (n !== undefined) return n
    return `${names[op] ?? `OPCODE 0x${op}`} / SA 0x${serviceAction.toString(16).padStart(2, "0")}`
  }
  return names[op] ?? `OPCODE 0x${op}`
}

/** Well-known operation codes (those `Capabilities` answers about by name). */
export const Opcode = {
  TestUnitReady: 0x00,
  Read10: 0x28,
  Write10: 0x2a,
  WriteAndVerify10: 0x2e,
  Verify10: 0x2f,
  PreFetch10: 0x34,
  SynchronizeCache10: 0x35,
  ReadDefectData10: 0x37,
  WriteSame10: 0x41,
  Unmap: 0x42,
  ReadToc: 0x43,
  Sanitize: 0x48,
  PersistentReserveIn: 0x5e,
  PersistentReserveOut: 0x5f,
  ExtendedCopy: 0x83,
  ReceiveCopyResults: 0x84,
  Read16: 0x88,
  CompareAndWrite: 0x89,
  Write16: 0x8a,
  OrWrite16: 0x8b,
  WriteAndVerify16: 0x8e,
  Verify16: 0x8f,
  PreFetch16: 0x90,
  SynchronizeCache16: 0x91,
  WriteSame16: 0x93,
  WriteAtomic16: 0x9c,
  ServiceActionIn16: 0x9e,
  ReportLuns: 0xa0,
  MaintenanceIn: 0xa3,
  Read12: 0xa8,
  Write12: 0xaa,
  ReadDefectData12: 0xb7
} as const

/** Service actions of SERVICE ACTION IN (16) and MAINTENANCE IN used here. */
export const ServiceAction = {
  ReadCapacity16: 0x10,
  GetLbaStatus: 0x12,
  ReportTargetPortGroups: 0x0a,
  ReportSupportedOperationCodes: 0x0c
} as const
