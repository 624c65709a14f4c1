/**
 * READ TOC/PMA/ATIP (MMC-6, "READ TOC/PMA/ATIP command"), the CD/DVD table of contents: the CDB
 * and the format 0000b (TOC) and 0001b (session information) answers, whose layouts are the same.
 * Block devices (SBC) do not have it; an optical logical unit (peripheral device type 05h) does.
 *
 * ```
 * CDB (10):   0 43h | 1 MSF(1) | 2 FORMAT(3-0) | 3-5 reserved | 6 TRACK/SESSION NUMBER
 *             7-8 ALLOCATION LENGTH | 9 CONTROL
 * Format 0/1: 0-1 DATA LENGTH (n-1) | 2 FIRST TRACK (session) NUMBER | 3 LAST TRACK (session) NUMBER
 *             4.. track descriptors of 8 bytes:
 *             0 reserved | 1 ADR(7-4) CONTROL(3-0) | 2 TRACK NUMBER (AAh = lead-out) | 3 reserved
 *             4-7 TRACK START ADDRESS (LBA; with MSF: 4 reserved | 5 M | 6 S | 7 F)
 * ```
 * CONTROL bit 2 set means a data track (else audio). Formats 2–5 (full TOC, PMA, ATIP, CD-TEXT)
 * are not decoded.
 *
 * Not here: running it (`Scsi.readToc`).
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import * as ScsiError from "./ScsiError.ts"

type R<A> = Result.Result<A, ScsiError.ScsiError>

export const Format = { Toc: 0, SessionInfo: 1 } as const

export interface CdbOptions {
  /** Addresses as minute/second/frame instead of LBA. */
  readonly msf?: boolean | undefined
  /** FORMAT (default 0, the TOC). */
  readonly format?: number | undefined
  /** First track (format 0) or session to report (default 0). */
  readonly track?: number | undefined
  readonly allocationLength?: number | undefined
}

export const cdb = (options?: CdbOptions): R<Uint8Array> =>
  B.build("READ TOC/PMA/ATIP", 10, (w) => {
    w.u8("opcode", 0, 0x43)
    w.flag(1, 1, options?.msf)
    w.bits("format", 2, 0, 4, options?.format ?? Format.Toc)
    w.u8("track/session number", 6, options?.track ?? 0)
    w.u16("allocation length", 7, options?.allocationLength ?? 804)
  })

export interface TrackDescriptor {
  readonly adr: number
  readonly control: number
  /** Data track (CONTROL bit 2), else audio. */
  readonly data: boolean
  /** AAh is the lead-out. */
  readonly track: number
  /** The LBA (a signed 32-bit value), when the CDB did not ask for MSF. */
  readonly lba: number | undefined
  readonly msf: { readonly minute: number; readonly second: number; readonly frame: number } | undefined
}

export interface Toc {
  readonly firstTrack: number
  readonly lastTrack: number
  readonly tracks: ReadonlyArray<TrackDescriptor>
}

/** Format 0 (TOC) or 1 (session information) data; `msf` as it was asked in the CDB. */
export const decode = (data: Uint8Array, options?: { readonly msf?: boolean | undefined }): R<Toc> => {
  if (data.length < 4) return Result.fail(ScsiError.malformed("TOC", `${data.length} bytes, need 4`))
  const length = 2 + B.u16(data, 0)
  if ((length - 4) % 8 !== 0 || length < 4) {
    return Result.fail(ScsiError.malformed("TOC", `data length ${length - 2} does not hold whole descriptors`))
  }
  const end = Math.min(length, data.length)
  const tracks: Array<TrackDescriptor> = []
  for (let o = 4; o + 8 <= end; o += 8) {
    const msf = options?.msf === true
    tracks.push({
      adr: data[o + 1] >> 4,
      control: data[o + 1] & 0x0f,
      data: (data[o + 1] & 0x04) !== 0,
      track: data[o + 2],
      lba: msf ? undefined : B.u32(data, o + 4) | 0,
      msf: msf ? { minute: data[o + 5], second: data[o + 6], frame: data[o + 7] } : undefined
    })
  }
  return Result.succeed({ firstTrack: data[2], lastTrack: data[3], tracks })
}
