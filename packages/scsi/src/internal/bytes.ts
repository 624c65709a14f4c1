/**
 * Big-endian field access over `Uint8Array` for CDBs and SCSI data-in buffers, and a bounds-checked
 * CDB writer that turns out-of-range fields into a typed `ScsiError` (InvalidArgument) instead of
 * silently truncating them.
 *
 * Not here: anything protocol-specific; callers decide the layout.
 */
import * as Result from "effect/Result"
import * as ScsiError from "../ScsiError.ts"

const TWO_32 = 0x1_0000_0000

/** Read helpers: out-of-range offsets read as 0 so short (truncated) pages decode with defaults. */
export const u8 = (b: Uint8Array, o: number): number => (o < b.length ? b[o] : 0)
export const u16 = (b: Uint8Array, o: number): number => (u8(b, o) << 8) | u8(b, o + 1)
export const u24 = (b: Uint8Array, o: number): number => (u8(b, o) << 16) | (u8(b, o + 1) << 8) | u8(b, o + 2)
export const u32 = (b: Uint8Array, o: number): number => u8(b, o) * 0x100_0000 + u24(b, o + 1)
export const u64 = (b: Uint8Array, o: number): bigint => (BigInt(u32(b, o)) << 32n) | BigInt(u32(b, o + 4))
/** A 64-bit field as a number (exact up to 2^53). */
export const u64n = (b: Uint8Array, o: number): number => u32(b, o) * TWO_32 + u32(b, o + 4)

export const put16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = (v >>> 8) & 0xff
  b[o + 1] = v & 0xff
}
export const put32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = (v >>> 24) & 0xff
  b[o + 1] = (v >>> 16) & 0xff
  b[o + 2] = (v >>> 8) & 0xff
  b[o + 3] = v & 0xff
}
export const put64 = (b: Uint8Array, o: number, v: number | bigint): void => {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) {
    // no BigInt for the common case (an LBA): the high and low words straight from the number
    put32(b, o, Math.floor(v / TWO_32))
    put32(b, o + 4, v >>> 0)
    return
  }
  const big = typeof v === "bigint" ? BigInt.asUintN(64, v) : BigInt(v)
  put32(b, o, Number(big >> 32n))
  put32(b, o + 4, Number(big & 0xffff_ffffn))
}

/** Printable ASCII field with trailing spaces/NULs removed. */
export const ascii = (b: Uint8Array, start: number, end: number): string => {
  let s = ""
  for (let i = start; i < Math.min(end, b.length); i++) s += String.fromCharCode(b[i])
  return s.replace(/[\s\0]+$/, "")
}

export const toHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")
export const fromHex = (s: string): Uint8Array => {
  const clean = s.replace(/[^0-9a-fA-F]/g, "")
  const out = new Uint8Array(clean.length >> 1)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(i * 2, i * 2 + 2), 16)
  return out
}

/** Mutable CDB under construction; every setter validates its value against the field width. */
export interface Writer {
  readonly bytes: Uint8Array
  /** An unsigned field of `bits` bits at byte `offset`, left-shifted by `shift` (bit fields within one byte). */
  bits(name: string, offset: number, shift: number, bits: number, value: number): void
  flag(offset: number, bit: number, on: boolean | undefined): void
  u8(name: string, offset: number, value: number): void
  u16(name: string, offset: number, value: number): void
  u24(name: string, offset: number, value: number): void
  u32(name: string, offset: number, value: number): void
  u64(name: string, offset: number, value: number | bigint): void
  /** Reject the build with this reason (a combination the CDB cannot express). */
  fail(reason: string): void
}

/** `v` is an integer in 0..max. */
export const isUint = (v: number, max: number): boolean => Number.isInteger(v) && v >= 0 && v <= max

/** Build a CDB (or parameter list) of `size` bytes; the first invalid field becomes an InvalidArgument. */
export const build = (
  what: string,
  size: number,
  f: (w: Writer) => void
): Result.Result<Uint8Array, ScsiError.ScsiError> => {
  const bytes = new Uint8Array(size)
  let error: string | undefined
  const bad = (name: string, value: unknown, max: number | bigint) => {
    error ??= `${what}: ${name} = ${String(value)} is outside 0..${String(max)}`
  }
  const w: Writer = {
    bytes,
    bits(name, offset, shift, n, value) {
      const max = (1 << n) - 1
      if (!isUint(value, max)) return bad(name, value, max)
      bytes[offset] |= value << shift
    },
    flag(offset, bit, on) {
      if (on === true) bytes[offset] |= 1 << bit
    },
    u8(name, offset, value) {
      if (!isUint(value, 0xff)) return bad(name, value, 0xff)
      bytes[offset] = value
    },
    u16(name, offset, value) {
      if (!isUint(value, 0xffff)) return bad(name, value, 0xffff)
      put16(bytes, offset, value)
    },
    u24(name, offset, value) {
      if (!isUint(value, 0xff_ffff)) return bad(name, value, 0xff_ffff)
      bytes[offset] = value >>> 16
      put16(bytes, offset + 1, value & 0xffff)
    },
    u32(name, offset, value) {
      if (!isUint(value, 0xffff_ffff)) return bad(name, value, 0xffff_ffff)
      put32(bytes, offset, value)
    },
    u64(name, offset, value) {
      if (typeof value === "bigint") {
        if (value < 0n || value > 0xffff_ffff_ffff_ffffn) return bad(name, value, 0xffff_ffff_ffff_ffffn)
      } else if (!isUint(value, Number.MAX_SAFE_INTEGER)) return bad(name, value, Number.MAX_SAFE_INTEGER)
      put64(bytes, offset, value)
    },
    fail(reason) {
      error ??= `${what}: ${reason}`
    }
  }
  f(w)
  return error === undefined ? Result.succeed(bytes) : Result.fail(ScsiError.invalidArgument(error))
}

/** Decoder guard: data shorter than `min` bytes is a MalformedResponse. */
export const need = (what: string, data: Uint8Array, min: number): Result.Result<void, ScsiError.ScsiError> =>
  data.length >= min
    ? Result.succeed(undefined)
    : Result.fail(ScsiError.malformed(what, `${what}: ${data.length} bytes, need at least ${min}`))
