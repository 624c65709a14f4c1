/**
 * WRITE SAME (10) and (16) (SBC-4 §5.44, §5.45).
 *
 * ```
 * (10): 0 41h | 1 WRPROTECT(7-5) ANCHOR(4) UNMAP(3) | 2-5 LBA | 6 GROUP NUMBER(4-0)
 *       7-8 NUMBER OF LOGICAL BLOCKS | 9 CONTROL
 * (16): 0 93h | 1 WRPROTECT(7-5) ANCHOR(4) UNMAP(3) NDOB(0) | 2-9 LBA
 *       10-13 NUMBER OF LOGICAL BLOCKS | 14 GROUP NUMBER(4-0) | 15 CONTROL
 * ```
 * Data-out: one logical block (none with NDOB). NUMBER OF LOGICAL BLOCKS 0 means "to the end"
 * only when the device allows it (WSNZ = 0).
 */
import type * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

export interface WriteSameOptions {
  /** Unmap (deallocate) the blocks instead of writing, if the device is thin provisioned. */
  readonly unmap?: boolean | undefined
  readonly anchor?: boolean | undefined
  readonly protect?: number | undefined
  readonly group?: number | undefined
  /** (16) only: no data-out buffer, write zeros. */
  readonly ndob?: boolean | undefined
}

export const cdb10 = (
  lba: number,
  blocks: number,
  options?: WriteSameOptions
): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("WRITE SAME (10)", 10, (w) => {
    w.u8("opcode", 0, 0x41)
    w.bits("wrprotect", 1, 5, 3, options?.protect ?? 0)
    w.flag(1, 4, options?.anchor)
    w.flag(1, 3, options?.unmap)
    if (options?.ndob === true) w.fail("NDOB exists only in WRITE SAME (16)")
    w.u32("LBA", 2, lba)
    w.bits("group number", 6, 0, 5, options?.group ?? 0)
    w.u16("number of logical blocks", 7, blocks)
  })

export const cdb16 = (
  lba: number,
  blocks: number,
  options?: WriteSameOptions
): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("WRITE SAME (16)", 16, (w) => {
    w.u8("opcode", 0, 0x93)
    w.bits("wrprotect", 1, 5, 3, options?.protect ?? 0)
    w.flag(1, 4, options?.anchor)
    w.flag(1, 3, options?.unmap)
    w.flag(1, 0, options?.ndob)
    w.u64("LBA", 2, lba)
    w.u32("number of logical blocks", 10, blocks)
    w.bits("group number", 14, 0, 5, options?.group ?? 0)
  })
