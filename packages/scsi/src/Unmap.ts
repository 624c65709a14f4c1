/**
 * UNMAP (SBC-4 §5.30): CDB and parameter list.
 *
 * ```
 * CDB (10): 0 42h | 1 ANCHOR(0) | 2-5 reserved | 6 GROUP NUMBER(4-0) | 7-8 PARAMETER LIST LENGTH | 9 CONTROL
 * Parameter list: 0-1 UNMAP DATA LENGTH (n-1) | 2-3 UNMAP BLOCK DESCRIPTOR DATA LENGTH | 4-7 reserved
 * Block descriptor (16 bytes): 0-7 UNMAP LOGICAL BLOCK ADDRESS | 8-11 NUMBER OF LOGICAL BLOCKS | 12-15 reserved
 * ```
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

export interface Range {
  readonly lba: number
  readonly blocks: number
}

export const cdb = (
  parameterListLength: number,
  options?: { readonly anchor?: boolean | undefined; readonly group?: number | undefined }
): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("UNMAP", 10, (w) => {
    w.u8("opcode", 0, 0x42)
    w.flag(1, 0, options?.anchor)
    w.bits("group number", 6, 0, 5, options?.group ?? 0)
    w.u16("parameter list length", 7, parameterListLength)
  })

export const encodeParameterList = (ranges: ReadonlyArray<Range>): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("UNMAP parameter list", 8 + 16 * ranges.length, (w) => {
    w.u16("unmap data length", 0, 6 + 16 * ranges.length)
    w.u16("block descriptor data length", 2, 16 * ranges.length)
    ranges.forEach((r, i) => {
      w.u64("LBA", 8 + 16 * i, r.lba)
      w.u32("number of logical blocks", 16 + 16 * i, r.blocks)
    })
  })

export const decodeParameterList = (data: Uint8Array): Result.Result<ReadonlyArray<Range>, ScsiError.ScsiError> =>
  Result.map(B.need("UNMAP parameter list", data, 8), () => {
    const out: Array<Range> = []
    const end = Math.min(data.length, 8 + B.u16(data, 2))
    for (let o = 8; o + 16 <= end; o += 16) out.push({ lba: B.u64n(data, o), blocks: B.u32(data, o + 8) })
    return out
  })
