/**
 * Byte helpers for the PDU codec: big-endian integers with shifts (no DataView: see EFFECT4.md §4),
 * the 8-byte LUN field, 4-byte padding and the little-endian digest word.
 * @internal
 */

export const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!

export const u24 = (b: Uint8Array, o: number): number => (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!

export const u32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0

export const w16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 8
  b[o + 1] = v
}

export const w24 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 16
  b[o + 1] = v >>> 8
  b[o + 2] = v
}

export const w32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 24
  b[o + 1] = v >>> 16
  b[o + 2] = v >>> 8
  b[o + 3] = v
}

// One-entry caches: a stream of commands or Data-In for one LUN carries the same LUN field again and
// again, and BigInt arithmetic is the most expensive part of a header (packages/core/benchmark/codec.ts).
let rHi = 0
let rLo = 0
let rVal = 0n
let wVal = 0n
let wHi = 0
let wLo = 0

/** Reads the 8-byte LUN (or any 64-bit field) as a bigint. */
export const u64 = (b: Uint8Array, o: number): bigint => {
  const hi = u32(b, o)
  const lo = u32(b, o + 4)
  if (hi === 0 && lo === 0) return 0n
  if (hi !== rHi || lo !== rLo) {
    rVal = lo === 0 ? BigInt(hi) << 32n : (BigInt(hi) << 32n) | BigInt(lo)
    rHi = hi
    rLo = lo
  }
  return rVal
}

/** Writes a 64-bit field; a zero value writes nothing (encode buffers are zero-filled). */
export const w64 = (b: Uint8Array, o: number, v: bigint): void => {
  if (v === 0n) return
  if (v !== wVal) {
    wHi = Number((v >> 32n) & 0xffffffffn)
    wLo = Number(v & 0xffffffffn)
    wVal = v
  }
  w32(b, o, wHi)
  w32(b, o + 4, wLo)
}

/** 48-bit ISID (bytes 8..13). */
export const u48 = (b: Uint8Array, o: number): number => u16(b, o) * 0x100000000 + u32(b, o + 2)

export const w48 = (b: Uint8Array, o: number, v: number): void => {
  w16(b, o, Math.floor(v / 0x100000000))
  w32(b, o + 2, v >>> 0)
}

/** Digests go on the wire least significant byte first (RFC 3720 Appendix B.4 examples, RFC 7143 §13.1). */
export const digestAt = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0

export const writeDigest = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v
  b[o + 1] = v >>> 8
  b[o + 2] = v >>> 16
  b[o + 3] = v >>> 24
}

/** Bytes of padding after a segment of `n` bytes. */
export const padOf = (n: number): number => -n & 3

export const EMPTY: Uint8Array = new Uint8Array(0)
export const ZEROS4: Uint8Array = new Uint8Array(4)
