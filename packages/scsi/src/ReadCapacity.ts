/**
 * READ CAPACITY (10) and READ CAPACITY (16) (SBC-4 §5.20, §5.21): CDBs and parameter data.
 *
 * ```
 * READ CAPACITY (10) CDB:  0 25h | 1 reserved | 2-5 obsolete LBA | 6-7 reserved | 8 obsolete PMI | 9 CONTROL
 * READ CAPACITY (16) CDB:  0 9Eh | 1 SERVICE ACTION 10h | 2-9 obsolete LBA | 10-13 ALLOCATION LENGTH
 *                          14 reserved | 15 CONTROL
 * (10) data: 0-3 RETURNED LOGICAL BLOCK ADDRESS | 4-7 LOGICAL BLOCK LENGTH IN BYTES
 * (16) data: 0-7 RETURNED LOGICAL BLOCK ADDRESS | 8-11 LOGICAL BLOCK LENGTH IN BYTES
 *            12 RC BASIS(5-4) P_TYPE(3-1) PROT_EN(0)
 *            13 P_I_EXPONENT(7-4) LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT(3-0)
 *            14-15 LBPME(7 of 14) LBPRZ(6 of 14) LOWEST ALIGNED LOGICAL BLOCK ADDRESS(13-0)
 * ```
 * A (10) RETURNED LBA of FFFFFFFFh means "use READ CAPACITY (16)".
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

export const cdb10 = (): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("READ CAPACITY (10)", 10, (w) => w.u8("opcode", 0, 0x25))

export const cdb16 = (allocationLength = 32): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("READ CAPACITY (16)", 16, (w) => {
    w.u8("opcode", 0, 0x9e)
    w.u8("service action", 1, 0x10)
    w.u32("allocation length", 10, allocationLength)
  })

export interface Capacity10 {
  readonly lastLba: number
  readonly blockSize: number
  /** lastLba + 1 (meaningless when `needs16`). */
  readonly blockCount: number
  /** The target answered FFFFFFFFh: the capacity needs READ CAPACITY (16). */
  readonly needs16: boolean
}

export const decode10 = (data: Uint8Array): Result.Result<Capacity10, ScsiError.ScsiError> =>
  Result.map(B.need("READ CAPACITY (10) data", data, 8), () => {
    const lastLba = B.u32(data, 0)
    return { lastLba, blockSize: B.u32(data, 4), blockCount: lastLba + 1, needs16: lastLba === 0xffff_ffff }
  })

export interface Capacity16 {
  readonly lastLba: number
  readonly blockSize: number
  readonly blockCount: number
  readonly protectionEnabled: boolean
  /** P_TYPE + 1 when protection is enabled (Type 1..3), else 0. */
  readonly protectionType: number
  readonly logicalBlocksPerPhysicalBlockExponent: number
  /** Logical block provisioning management enabled (thin provisioning). */
  readonly lbpme: boolean
  /** Unmapped blocks read as zeros. */
  readonly lbprz: boolean
  readonly lowestAlignedLba: number
}

export const decode16 = (data: Uint8Array): Result.Result<Capacity16, ScsiError.ScsiError> =>
  Result.map(B.need("READ CAPACITY (16) data", data, 12), () => {
    const lastLba = B.u64n(data, 0)
    const protectionEnabled = (B.u8(data, 12) & 1) !== 0
    return {
      lastLba,
      blockSize: B.u32(data, 8),
      blockCount: lastLba + 1,
      protectionEnabled,
      protectionType: protectionEnabled ? ((B.u8(data, 12) >> 1) & 7) + 1 : 0,
      logicalBlocksPerPhysicalBlockExponent: B.u8(data, 13) & 0x0f,
      lbpme: (B.u8(data, 14) & 0x80) !== 0,
      lbprz: (B.u8(data, 14) & 0x40) !== 0,
      lowestAlignedLba: B.u16(data, 14) & 0x3fff
    }
  })
