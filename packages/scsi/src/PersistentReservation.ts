/**
 * PERSISTENT RESERVE IN / OUT (SPC-5 §6.17, §6.18): CDBs, the basic PR OUT parameter list and
 * the READ KEYS / READ RESERVATION / REPORT CAPABILITIES parameter data.
 *
 * ```
 * PR IN (10):  0 5Eh | 1 SERVICE ACTION(4-0) | 2-6 reserved | 7-8 ALLOCATION LENGTH | 9 CONTROL
 * PR OUT (10): 0 5Fh | 1 SERVICE ACTION(4-0) | 2 SCOPE(7-4) TYPE(3-0) | 3-4 reserved
 *              5-8 PARAMETER LIST LENGTH | 9 CONTROL
 * PR OUT parameter list (24): 0-7 RESERVATION KEY | 8-15 SERVICE ACTION RESERVATION KEY | 16-19 obsolete
 *              20 SPEC_I_PT(3) ALL_TG_PT(2) APTPL(0) | 21 reserved | 22-23 obsolete
 * READ KEYS data: 0-3 PRGENERATION | 4-7 ADDITIONAL LENGTH | 8.. 8-byte keys
 * READ RESERVATION data: 0-3 PRGENERATION | 4-7 ADDITIONAL LENGTH (0 or 10h)
 *              8-15 RESERVATION KEY | 16-19 obsolete | 20 reserved | 21 SCOPE(7-4) TYPE(3-0)
 * REPORT CAPABILITIES data: 0-1 LENGTH | 2 RLR_C(7) CRH(4) SIP_C(3) ATP_C(2) PTPL_C(0)
 *              3 TMV(7) ALLOW COMMANDS(6-4) PTPL_A(0) | 4-5 PERSISTENT RESERVATION TYPE MASK
 * ```
 * PR OUT is not idempotent (a replayed REGISTER or PREEMPT changes state).
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

type R<A> = Result.Result<A, ScsiError.ScsiError>

export const InAction = { ReadKeys: 0, ReadReservation: 1, ReportCapabilities: 2, ReadFullStatus: 3 } as const
export const OutAction = {
  Register: 0,
  Reserve: 1,
  Release: 2,
  Clear: 3,
  Preempt: 4,
  PreemptAndAbort: 5,
  RegisterAndIgnoreExistingKey: 6,
  RegisterAndMove: 7
} as const
/** Reservation TYPE. */
export const Type = {
  WriteExclusive: 1,
  ExclusiveAccess: 3,
  WriteExclusiveRegistrantsOnly: 5,
  ExclusiveAccessRegistrantsOnly: 6,
  WriteExclusiveAllRegistrants: 7,
  ExclusiveAccessAllRegistrants: 8
} as const

export const cdbIn = (serviceAction: number, allocationLength = 4096): R<Uint8Array> =>
  B.build("PERSISTENT RESERVE IN", 10, (w) => {
    w.u8("opcode", 0, 0x5e)
    w.bits("service action", 1, 0, 5, serviceAction)
    w.u16("allocation length", 7, allocationLength)
  })

export const cdbOut = (
  serviceAction: number,
  options?: {
    readonly type?: number | undefined
    readonly scope?: number | undefined
    readonly parameterListLength?: number | undefined
  }
): R<Uint8Array> =>
  B.build("PERSISTENT RESERVE OUT", 10, (w) => {
    w.u8("opcode", 0, 0x5f)
    w.bits("service action", 1, 0, 5, serviceAction)
    w.bits("scope", 2, 4, 4, options?.scope ?? 0)
    w.bits("type", 2, 0, 4, options?.type ?? 0)
    w.u32("parameter list length", 5, options?.parameterListLength ?? 24)
  })

export interface OutParameters {
  readonly reservationKey?: bigint | undefined
  readonly serviceActionReservationKey?: bigint | undefined
  readonly aptpl?: boolean | undefined
  readonly allTargetPorts?: boolean | undefined
  readonly specifyInitiatorPorts?: boolean | undefined
}

export const encodeOutParameters = (p: OutParameters): R<Uint8Array> =>
  B.build("PERSISTENT RESERVE OUT parameter list", 24, (w) => {
    w.u64("reservation key", 0, p.reservationKey ?? 0n)
    w.u64("service action reservation key", 8, p.serviceActionReservationKey ?? 0n)
    w.flag(20, 3, p.specifyInitiatorPorts)
    w.flag(20, 2, p.allTargetPorts)
    w.flag(20, 0, p.aptpl)
  })

export interface Keys {
  readonly generation: number
  readonly keys: ReadonlyArray<bigint>
}

export const decodeReadKeys = (data: Uint8Array): R<Keys> =>
  Result.map(B.need("READ KEYS data", data, 8), () => {
    const keys: Array<bigint> = []
    const end = Math.min(data.length, 8 + B.u32(data, 4))
    for (let o = 8; o + 8 <= end; o += 8) keys.push(B.u64(data, o))
    return { generation: B.u32(data, 0), keys }
  })

export interface Reservation {
  readonly generation: number
  /** Absent when no reservation is held. */
  readonly reservation: { readonly key: bigint; readonly scope: number; readonly type: number } | undefined
}

export const decodeReadReservation = (data: Uint8Array): R<Reservation> =>
  Result.map(B.need("READ RESERVATION data", data, 8), () => ({
    generation: B.u32(data, 0),
    reservation:
      B.u32(data, 4) >= 16 && data.length >= 22
        ? { key: B.u64(data, 8), scope: data[21] >> 4, type: data[21] & 0x0f }
        : undefined
  }))

export interface Capabilities {
  readonly rlrC: boolean
  readonly crh: boolean
  readonly sipC: boolean
  readonly atpC: boolean
  readonly ptplC: boolean
  readonly tmv: boolean
  readonly allowCommands: number
  readonly ptplA: boolean
  /** PERSISTENT RESERVATION TYPE MASK (WR_EX_AR(15-bit 0 of byte 5) …). */
  readonly typeMask: number
}

export const decodeReportCapabilities = (data: Uint8Array): R<Capabilities> =>
  Result.map(B.need("REPORT CAPABILITIES data", data, 6), () => ({
    rlrC: (data[2] & 0x80) !== 0,
    crh: (data[2] & 0x10) !== 0,
    sipC: (data[2] & 0x08) !== 0,
    atpC: (data[2] & 0x04) !== 0,
    ptplC: (data[2] & 0x01) !== 0,
    tmv: (data[3] & 0x80) !== 0,
    allowCommands: (data[3] >> 4) & 7,
    ptplA: (data[3] & 0x01) !== 0,
    typeMask: B.u16(data, 4)
  }))
