/**
 * GET LBA STATUS (SBC-4 §5.7): SERVICE ACTION IN (16) with service action 12h.
 *
 * ```
 * CDB (16): 0 9Eh | 1 SERVICE ACTION 12h(4-0) | 2-9 STARTING LBA | 10-13 ALLOCATION LENGTH
 *           14 REPORT TYPE(1-0) | 15 CONTROL
 * Data: 0-3 PARAMETER DATA LENGTH (n-3) | 4-7 reserved | 8.. 16-byte LBA status descriptors
 * Descriptor: 0-7 LBA | 8-11 NUMBER OF LOGICAL BLOCKS | 12 PROVISIONING STATUS(3-0)
 *             13 ADDITIONAL STATUS | 14-15 reserved
 * ```
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

export const cdb = (
  lba: number,
  options?: { readonly allocationLength?: number | undefined; readonly reportType?: number | undefined }
): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("GET LBA STATUS", 16, (w) => {
    w.u8("opcode", 0, 0x9e)
    w.u8("service action", 1, 0x12)
    w.u64("LBA", 2, lba)
    w.u32("allocation length", 10, options?.allocationLength ?? 8 + 16 * 64)
    w.bits("report type", 14, 0, 2, options?.reportType ?? 0)
  })

export interface LbaStatusDescriptor {
  readonly lba: number
  readonly blocks: number
  /** 0 mapped (or unknown), 1 deallocated, 2 anchored, 3 mapped or unknown. */
  readonly provisioningStatus: number
  readonly status: "mapped" | "deallocated" | "anchored" | "unknown"
  readonly additionalStatus: number
}

const names = ["mapped", "deallocated", "anchored", "unknown"] as const

export const decode = (data: Uint8Array): Result.Result<ReadonlyArray<LbaStatusDescriptor>, ScsiError.ScsiError> =>
  Result.map(B.need("GET LBA STATUS data", data, 8), () => {
    const out: Array<LbaStatusDescriptor> = []
    const end = Math.min(data.length, 4 + B.u32(data, 0))
    for (let o = 8; o + 16 <= end; o += 16) {
      const ps = data[o + 12] & 0x0f
      out.push({
        lba: B.u64n(data, o),
        blocks: B.u32(data, o + 8),
        provisioningStatus: ps,
        status: names[ps] ?? "unknown",
        additionalStatus: data[o + 13]
      })
    }
    return out
  })
