/**
 * REPORT TARGET PORT GROUPS (SPC-5, "REPORT TARGET PORT GROUPS command"; MAINTENANCE IN
 * A3h, service action 0Ah) and its answer: the target port groups of a logical unit with their
 * asymmetric access states (ALUA, SPC-5 "Asymmetric logical unit access") and target ports.
 *
 * ```
 * CDB (12):        0 A3h | 1 PARAMETER DATA FORMAT(7-5) SERVICE ACTION 0Ah(4-0) | 2-5 reserved
 *                  6-9 ALLOCATION LENGTH | 10 reserved | 11 CONTROL
 * Length only:     0-3 RETURN DATA LENGTH (n-3) | 4.. target port group descriptors
 * Extended (001b): 0-3 RETURN DATA LENGTH (n-3) | 4 FORMAT TYPE(6-4) | 5 IMPLICIT TRANSITION TIME
 *                  6-7 reserved | 8.. target port group descriptors
 * Group:           0 PREF(7) ASYMMETRIC ACCESS STATE(3-0)
 *                  1 T_SUP(7) O_SUP(6) LBD_SUP(4) U_SUP(3) S_SUP(2) AN_SUP(1) AO_SUP(0)
 *                  2-3 TARGET PORT GROUP | 4 reserved | 5 STATUS CODE | 6 vendor specific
 *                  7 TARGET PORT COUNT | 8.. target port descriptors of 4 bytes:
 *                  0-1 obsolete | 2-3 RELATIVE TARGET PORT IDENTIFIER
 * States:          0h active/optimized | 1h active/non-optimized | 2h standby | 3h unavailable
 *                  4h logical block dependent | Eh offline | Fh transitioning
 * Status codes:    00h none | 01h changed by SET TARGET PORT GROUPS | 02h changed by implicit behaviour
 * ```
 * A logical unit that does not do ALUA (TPGS 00b in standard INQUIRY) rejects the command with
 * ILLEGAL REQUEST; tgt does so.
 *
 * Not here: choosing a path (multipath), running it (`Scsi.reportTargetPortGroups`).
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import * as ScsiError from "./ScsiError.ts"

type R<A> = Result.Result<A, ScsiError.ScsiError>

export const cdb = (options?: {
  /** Ask for the extended header (PARAMETER DATA FORMAT 001b). */
  readonly extended?: boolean | undefined
  readonly allocationLength?: number | undefined
}): R<Uint8Array> =>
  B.build("REPORT TARGET PORT GROUPS", 12, (w) => {
    w.u8("opcode", 0, 0xa3)
    w.u8("service action", 1, (options?.extended === true ? 0x20 : 0) | 0x0a)
    w.u32("allocation length", 6, options?.allocationLength ?? 4096)
  })

export type AccessState =
  | "active/optimized"
  | "active/non-optimized"
  | "standby"
  | "unavailable"
  | "logical block dependent"
  | "offline"
  | "transitioning"
  | "reserved"

const stateNames: Record<number, AccessState> = {
  0x0: "active/optimized",
  0x1: "active/non-optimized",
  0x2: "standby",
  0x3: "unavailable",
  0x4: "logical block dependent",
  0xe: "offline",
  0xf: "transitioning"
}

/** The name of an ASYMMETRIC ACCESS STATE code. */
export const accessStateName = (code: number): AccessState => stateNames[code & 0x0f] ?? "reserved"

export interface SupportedStates {
  readonly transitioning: boolean
  readonly offline: boolean
  readonly logicalBlockDependent: boolean
  readonly unavailable: boolean
  readonly standby: boolean
  readonly activeNonOptimized: boolean
  readonly activeOptimized: boolean
}

export interface TargetPortGroup {
  /** PREF: a preferred group. */
  readonly preferred: boolean
  readonly stateCode: number
  readonly state: AccessState
  readonly supported: SupportedStates
  readonly id: number
  /** 0 none, 1 altered by SET TARGET PORT GROUPS, 2 altered by implicit behaviour. */
  readonly statusCode: number
  readonly vendorSpecific: number
  /** RELATIVE TARGET PORT IDENTIFIERs of the group's ports. */
  readonly targetPorts: ReadonlyArray<number>
}

export interface TargetPortGroups {
  /** Whether the answer had the extended header. */
  readonly extended: boolean
  /** Seconds (extended header only). */
  readonly implicitTransitionTime: number | undefined
  readonly groups: ReadonlyArray<TargetPortGroup>
  /** RETURN DATA LENGTH + 4: what the whole answer needs. */
  readonly length: number
}

/**
 * The parameter data, in either format (the extended one is recognised by FORMAT TYPE 001b, which
 * the length-only format cannot have there: its byte 4 starts a group descriptor whose bits 6-4 are
 * reserved). A descriptor cut off by the allocation length is left out; one that overruns the
 * RETURN DATA LENGTH is malformed.
 */
export const decode = (data: Uint8Array): R<TargetPortGroups> => {
  if (data.length < 4) return Result.fail(ScsiError.malformed("target port groups", `${data.length} bytes`))
  const length = 4 + B.u32(data, 0)
  const extended = length >= 8 && ((B.u8(data, 4) >> 4) & 7) === 1
  const end = Math.min(length, data.length)
  const groups: Array<TargetPortGroup> = []
  for (let o = extended ? 8 : 4; o + 8 <= end; ) {
    const count = data[o + 7]
    const size = 8 + 4 * count
    if (o + size > end) {
      if (end < length) break
      return Result.fail(ScsiError.malformed("target port groups", "a group descriptor overruns the data"))
    }
    const sup = data[o + 1]
    const targetPorts: Array<number> = []
    for (let i = 0; i < count; i++) targetPorts.push(B.u16(data, o + 8 + 4 * i + 2))
    groups.push({
      preferred: (data[o] & 0x80) !== 0,
      stateCode: data[o] & 0x0f,
      state: accessStateName(data[o]),
      supported: {
        transitioning: (sup & 0x80) !== 0,
        offline: (sup & 0x40) !== 0,
        logicalBlockDependent: (sup & 0x10) !== 0,
        unavailable: (sup & 0x08) !== 0,
        standby: (sup & 0x04) !== 0,
        activeNonOptimized: (sup & 0x02) !== 0,
        activeOptimized: (sup & 0x01) !== 0
      },
      id: B.u16(data, o + 2),
      statusCode: data[o + 5],
      vendorSpecific: data[o + 6],
      targetPorts
    })
    o += size
  }
  return Result.succeed({
    extended,
    implicitTransitionTime: extended ? B.u8(data, 5) : undefined,
    groups,
    length
  })
}
