/**
 * READ DEFECT DATA (10) and (12) (SBC-4, "READ DEFECT DATA (10) command" / "(12) command"; the
 * address descriptor formats in "Address descriptor formats"): CDBs and the defect lists.
 *
 * ```
 * CDB (10):  0 37h | 1 reserved | 2 REQ_PLIST(4) REQ_GLIST(3) DEFECT LIST FORMAT(2-0)
 *            3-6 reserved | 7-8 ALLOCATION LENGTH | 9 CONTROL
 * CDB (12):  0 B7h | 1 REQ_PLIST(4) REQ_GLIST(3) DEFECT LIST FORMAT(2-0)
 *            2-5 ADDRESS DESCRIPTOR INDEX | 6-9 ALLOCATION LENGTH | 10 reserved | 11 CONTROL
 * Data (10): 0 reserved | 1 PLISTV(4) GLISTV(3) DEFECT LIST FORMAT(2-0) | 2-3 DEFECT LIST LENGTH
 *            4.. address descriptors
 * Data (12): 0 reserved | 1 PLISTV(4) GLISTV(3) DEFECT LIST FORMAT(2-0) | 2-3 GENERATION CODE
 *            4-7 DEFECT LIST LENGTH | 8.. address descriptors
 * Formats:   000b short block (4 bytes: LBA 32) | 011b long block (8 bytes: LBA 64)
 *            100b bytes from index (8: CYLINDER 0-2 | HEAD 3 | BYTES FROM INDEX 4-7)
 *            101b physical sector (8: CYLINDER 0-2 | HEAD 3 | SECTOR 4-7)
 *            001b extended bytes from index, 010b extended physical sector (as 100b/101b, MADS in
 *            bit 7 of byte 4 and the value in the rest) | 110b vendor specific
 * ```
 * PLIST is the primary (factory) list, GLIST the grown list; PLISTV/GLISTV say which the answer
 * holds. A list longer than the allocation length is truncated: `length` tells how much to ask for.
 *
 * Not here: running it (`Scsi.readDefectData10/12`).
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import * as ScsiError from "./ScsiError.ts"

type R<A> = Result.Result<A, ScsiError.ScsiError>

/** DEFECT LIST FORMAT codes. */
export const Format = {
  ShortBlock: 0,
  ExtendedBytesFromIndex: 1,
  ExtendedPhysicalSector: 2,
  LongBlock: 3,
  BytesFromIndex: 4,
  PhysicalSector: 5,
  VendorSpecific: 6
} as const

export interface CdbOptions {
  /** Request the primary list (REQ_PLIST). */
  readonly primary?: boolean | undefined
  /** Request the grown list (REQ_GLIST). */
  readonly grown?: boolean | undefined
  /** DEFECT LIST FORMAT (default 3, long block). */
  readonly format?: number | undefined
  readonly allocationLength?: number | undefined
}

export const cdb10 = (options?: CdbOptions): R<Uint8Array> =>
  B.build("READ DEFECT DATA (10)", 10, (w) => {
    w.u8("opcode", 0, 0x37)
    w.flag(2, 4, options?.primary)
    w.flag(2, 3, options?.grown)
    w.bits("defect list format", 2, 0, 3, options?.format ?? Format.LongBlock)
    w.u16("allocation length", 7, options?.allocationLength ?? 0xffff)
  })

export const cdb12 = (options?: CdbOptions & { readonly addressDescriptorIndex?: number | undefined }): R<Uint8Array> =>
  B.build("READ DEFECT DATA (12)", 12, (w) => {
    w.u8("opcode", 0, 0xb7)
    w.flag(1, 4, options?.primary)
    w.flag(1, 3, options?.grown)
    w.bits("defect list format", 1, 0, 3, options?.format ?? Format.LongBlock)
    w.u32("address descriptor index", 2, options?.addressDescriptorIndex ?? 0)
    w.u32("allocation length", 6, options?.allocationLength ?? 0x1_0000)
  })

export type Defect =
  | { readonly _tag: "Block"; readonly lba: number }
  | {
      readonly _tag: "BytesFromIndex" | "PhysicalSector"
      readonly cylinder: number
      readonly head: number
      /** Bytes from index, or the sector number. */
      readonly value: number
      /** Extended formats: MADS (multi-address descriptor start). */
      readonly mads: boolean
    }
  | { readonly _tag: "Vendor"; readonly bytes: Uint8Array }

export interface DefectList {
  readonly primaryValid: boolean
  readonly grownValid: boolean
  readonly format: number
  /** (12) only. */
  readonly generationCode: number | undefined
  readonly defects: ReadonlyArray<Defect>
  /** Header + DEFECT LIST LENGTH: what the whole list needs (more than received when truncated). */
  readonly length: number
}

const descriptorSize = (format: number): number | undefined =>
  format === Format.ShortBlock ? 4 : format === Format.VendorSpecific || format === 7 ? undefined : 8

const decodeDescriptors = (data: Uint8Array, start: number, end: number, format: number): R<ReadonlyArray<Defect>> => {
  const size = descriptorSize(format)
  if (size === undefined) {
    return format === Format.VendorSpecific && end > start
      ? Result.succeed([{ _tag: "Vendor", bytes: data.slice(start, end) }])
      : end > start
        ? Result.fail(ScsiError.malformed("defect data", `reserved defect list format ${format}`))
        : Result.succeed([])
  }
  const out: Array<Defect> = []
  for (let o = start; o + size <= end; o += size) {
    switch (format) {
      case Format.ShortBlock:
        out.push({ _tag: "Block", lba: B.u32(data, o) })
        break
      case Format.LongBlock:
        out.push({ _tag: "Block", lba: B.u64n(data, o) })
        break
      default: {
        const extended = format === Format.ExtendedBytesFromIndex || format === Format.ExtendedPhysicalSector
        const bytes = format === Format.BytesFromIndex || format === Format.ExtendedBytesFromIndex
        out.push({
          _tag: bytes ? "BytesFromIndex" : "PhysicalSector",
          cylinder: B.u24(data, o),
          head: data[o + 3],
          value: extended ? B.u32(data, o + 4) & 0x0fff_ffff : B.u32(data, o + 4),
          mads: extended && (data[o + 4] & 0x80) !== 0
        })
      }
    }
  }
  return Result.succeed(out)
}

const decodeWith = (data: Uint8Array, header: number, listLength: number, generation: number | undefined) => {
  const format = data[1] & 0x07
  const length = header + listLength
  const end = Math.min(length, data.length)
  const size = descriptorSize(format)
  if (size !== undefined && listLength % size !== 0) {
    return Result.fail(
      ScsiError.malformed("defect data", `defect list length ${listLength} is not a multiple of ${size}`)
    )
  }
  return Result.map(
    decodeDescriptors(data, header, end, format),
    (defects): DefectList => ({
      primaryValid: (data[1] & 0x10) !== 0,
      grownValid: (data[1] & 0x08) !== 0,
      format,
      generationCode: generation,
      defects,
      length
    })
  )
}

/** READ DEFECT DATA (10) parameter data. */
export const decode10 = (data: Uint8Array): R<DefectList> =>
  data.length < 4
    ? Result.fail(ScsiError.malformed("defect data (10)", `${data.length} bytes, need 4`))
    : decodeWith(data, 4, B.u16(data, 2), undefined)

/** READ DEFECT DATA (12) parameter data. */
export const decode12 = (data: Uint8Array): R<DefectList> =>
  data.length < 8
    ? Result.fail(ScsiError.malformed("defect data (12)", `${data.length} bytes, need 8`))
    : decodeWith(data, 8, B.u32(data, 4), B.u16(data, 2))
