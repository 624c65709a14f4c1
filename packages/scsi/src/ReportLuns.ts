/**
 * REPORT LUNS (SPC-5 §6.33) and SAM-5 LUN field decoding (§4.7).
 *
 * ```
 * CDB (12): 0 A0h | 1 reserved | 2 SELECT REPORT | 3-5 reserved | 6-9 ALLOCATION LENGTH | 10 reserved | 11 CONTROL
 * Data:     0-3 LUN LIST LENGTH (n-7) | 4-7 reserved | 8.. 8-byte LUNs
 * LUN byte 0: ADDRESS METHOD(7-6): 00b peripheral (BUS IDENTIFIER(5-0), byte 1 TARGET/LUN),
 *             01b flat space (LUN = byte0(5-0) << 8 | byte 1), 10b logical unit, 11b extended
 * ```
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

export const cdb = (options?: {
  readonly selectReport?: number | undefined
  readonly allocationLength?: number | undefined
}): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("REPORT LUNS", 12, (w) => {
    w.u8("opcode", 0, 0xa0)
    w.u8("select report", 2, options?.selectReport ?? 0)
    w.u32("allocation length", 6, options?.allocationLength ?? 16 + 8 * 256)
  })

export interface Lun {
  readonly addressMethod: "peripheral" | "flat" | "logical-unit" | "extended"
  /** The LUN number for peripheral (bus 0) and flat addressing; the first-level raw value otherwise. */
  readonly lun: number
  /** The whole 8-byte field as 16 hex digits (JSON-safe; `BigInt("0x" + raw)` gives the number). */
  readonly raw: string
}

const methods = ["peripheral", "flat", "logical-unit", "extended"] as const

export const decodeLun = (field: Uint8Array): Lun => {
  const method = field[0] >> 6
  const lun =
    method === 0
      ? (field[0] & 0x3f) === 0
        ? field[1]
        : ((field[0] & 0x3f) << 8) | field[1]
      : ((field[0] & 0x3f) << 8) | field[1]
  return { addressMethod: methods[method], lun, raw: B.u64(field, 0).toString(16).padStart(16, "0") }
}

export interface LunList {
  /** LUN LIST LENGTH / 8: how many the target has (may exceed `luns.length` if the allocation was short). */
  readonly total: number
  readonly luns: ReadonlyArray<Lun>
}

export const decode = (data: Uint8Array): Result.Result<LunList, ScsiError.ScsiError> =>
  Result.map(B.need("REPORT LUNS data", data, 8), () => {
    const listLength = B.u32(data, 0)
    const luns: Array<Lun> = []
    for (let o = 8; o + 8 <= Math.min(data.length, 8 + listLength); o += 8)
      luns.push(decodeLun(data.subarray(o, o + 8)))
    return { total: Math.floor(listLength / 8), luns }
  })
