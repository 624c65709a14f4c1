/**
 * COMPARE AND WRITE (SBC-4 §5.3).
 *
 * ```
 * CDB (16): 0 89h | 1 WRPROTECT(7-5) DPO(4) FUA(3) | 2-9 LBA | 10-12 reserved
 *           13 NUMBER OF LOGICAL BLOCKS | 14 GROUP NUMBER(4-0) | 15 CONTROL
 * ```
 * Data-out: 2 × NUMBER OF LOGICAL BLOCKS blocks: the verify data, then the write data. A
 * mismatch ends with CHECK CONDITION, sense key MISCOMPARE, ASC/ASCQ 1Dh/00h, and the INFORMATION
 * field holding the offset of the first differing byte.
 *
 * Not idempotent: the engine must not re-issue it after a connection loss.
 */
import type * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

export interface CompareAndWriteOptions {
  readonly dpo?: boolean | undefined
  readonly fua?: boolean | undefined
  readonly protect?: number | undefined
  readonly group?: number | undefined
}

export const cdb = (
  lba: number,
  blocks: number,
  options?: CompareAndWriteOptions
): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("COMPARE AND WRITE", 16, (w) => {
    w.u8("opcode", 0, 0x89)
    w.bits("wrprotect", 1, 5, 3, options?.protect ?? 0)
    w.flag(1, 4, options?.dpo)
    w.flag(1, 3, options?.fua)
    w.u64("LBA", 2, lba)
    w.u8("number of logical blocks", 13, blocks)
    w.bits("group number", 14, 0, 5, options?.group ?? 0)
  })

/** The data-out buffer: verify data followed by write data (both `blocks` × block size). */
export const encodeDataOut = (compare: Uint8Array, write: Uint8Array): Uint8Array => {
  const out = new Uint8Array(compare.length + write.length)
  out.set(compare, 0)
  out.set(write, compare.length)
  return out
}
