/**
 * The 8-byte LUN field of iSCSI PDUs (RFC 7143 §11.2.1.5) as SAM-5 §4.7 encodes it, both ways.
 *
 * | address method (byte 0 bits 7..6) | byte 0..1                          | range      |
 * |-----------------------------------|------------------------------------|------------|
 * | 00b peripheral device             | 0x00, LUN                           | 0..255     |
 * | 01b flat space                    | 0x40 \| LUN >> 8, LUN & 0xff         | 0..16383   |
 * | 10b logical unit, 11b extended    | not decoded: `decode` fails         |            |
 *
 * Bytes 2..7 (second to fourth level) are zero for single-level LUNs. A peripheral address with a
 * non-zero bus identifier (byte 0 bits 5..0) is a multi-level LUN and is not decoded either.
 *
 * Not here: LUN inventories (REPORT LUNS parsing lives in the SCSI package).
 */
import * as Result from "effect/Result"
import * as IscsiError from "./IscsiError.ts"

/** Highest LUN in peripheral addressing. */
export const MAX_PERIPHERAL = 255
/** Highest LUN in flat space addressing. */
export const MAX_FLAT = 16383

const invalid = (message: string) => IscsiError.make(new IscsiError.InvalidArgument({ message }))

/**
 * The raw 8-byte LUN field for `lun` (peripheral addressing below 256, flat space addressing up to
 * 16383). Fails with InvalidArgument outside 0..16383 or for a non-integer.
 */
export const encodeResult = (lun: number): Result.Result<bigint, IscsiError.IscsiError> => {
  if (!Number.isInteger(lun) || lun < 0 || lun > MAX_FLAT)
    return Result.fail(invalid(`LUN ${lun} out of range 0..16383`))
  // every command encodes its LUN: peripheral LUNs come from a table (no BigInt per command)
  if (lun <= MAX_PERIPHERAL) return PERIPHERAL[lun]!
  return Result.succeed(BigInt(0x4000 | lun) << 48n)
}

const PERIPHERAL: ReadonlyArray<Result.Result<bigint, IscsiError.IscsiError>> = Array.from(
  { length: MAX_PERIPHERAL + 1 },
  (_, lun) => Result.succeed(BigInt(lun) << 48n)
)

/**
 * The raw 8-byte LUN field for `lun`. An out-of-range LUN is a caller bug (a defect): it throws a
 * RangeError; validate external input with `encodeResult` first.
 */
export const encode = (lun: number): bigint => {
  const r = encodeResult(lun)
  if (Result.isFailure(r)) throw new RangeError(r.failure.message)
  return r.success
}

/** The LUN number of a raw 8-byte LUN field (peripheral or flat space addressing, single level). */
export const decode = (raw: bigint): Result.Result<number, IscsiError.IscsiError> => {
  if (raw < 0n || raw > 0xffffffffffffffffn) return Result.fail(invalid("LUN field is not 8 bytes"))
  if ((raw & 0xffffffffffffn) !== 0n) return Result.fail(invalid("multi-level LUNs are not supported"))
  const hi = Number(raw >> 48n)
  const method = hi >>> 14
  if (method === 0) {
    if (hi > 0xff) return Result.fail(invalid("peripheral LUN with a bus identifier is not supported"))
    return Result.succeed(hi)
  }
  if (method === 1) return Result.succeed(hi & 0x3fff)
  return Result.fail(invalid(`LUN address method ${method} is not supported`))
}

/** Read the 8 big-endian bytes at `offset` as a raw LUN field. */
export const read = (bytes: Uint8Array, offset: number): bigint => {
  const hi =
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0
  const lo =
    ((bytes[offset + 4]! << 24) | (bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) | bytes[offset + 7]!) >>> 0
  return hi === 0 && lo === 0 ? 0n : (BigInt(hi) << 32n) | BigInt(lo)
}

/** Write a raw LUN field as 8 big-endian bytes at `offset` (taken mod 2^64). */
export const write = (bytes: Uint8Array, offset: number, raw: bigint): void => {
  if (raw === 0n) {
    bytes.fill(0, offset, offset + 8)
    return
  }
  const hi = Number((raw >> 32n) & 0xffffffffn)
  const lo = Number(raw & 0xffffffffn)
  bytes[offset] = hi >>> 24
  bytes[offset + 1] = hi >>> 16
  bytes[offset + 2] = hi >>> 8
  bytes[offset + 3] = hi
  bytes[offset + 4] = lo >>> 24
  bytes[offset + 5] = lo >>> 16
  bytes[offset + 6] = lo >>> 8
  bytes[offset + 7] = lo
}
