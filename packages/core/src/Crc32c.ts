/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the iSCSI header and data digest
 * (RFC 7143 §11.1 and Appendix B.4, RFC 3385).
 *
 * This is the platform-free TypeScript implementation, slicing-by-8 over an 8 × 256 table built once
 * at module load. It is the fastest option for 48-byte headers (a native call costs ~100 ns of
 * overhead) and the fallback when the native module cannot load. For large data segments the
 * Node transport offers `NativeCrc32c.crc32c` (@node-rs/crc32, several GB/s) with the same signature.
 *
 * Not here: how a digest is placed on the wire (little-endian, after the padded segment): see `Pdu`.
 *
 * Check value: `crc32c(utf8("123456789")) === 0xE3069283`.
 */

/**
 * A CRC32C function. `initial` is a previous result, to continue a running CRC over several buffers
 * (`f(b, f(a)) === f(a ++ b)`), like @node-rs/crc32's `crc32c(buf, initialState)`.
 */
export type Fn = (data: Uint8Array, initial?: number) => number

const POLY = 0x82f63b78

/** T[k * 256 + b]: CRC of byte b followed by k zero bytes. */
const TABLE: Int32Array = (() => {
  const t = new Int32Array(8 * 256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1
    t[i] = c
  }
  for (let i = 0; i < 256; i++) {
    let c = t[i]!
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8)
      t[k * 256 + i] = c
    }
  }
  return t
})()

/** CRC32C of `data`, optionally continuing from `initial` (a previous result). Pure TS, slicing-by-8. */
export const crc32c: Fn = (data, initial = 0) => {
  const t = TABLE
  let crc = ~initial | 0
  let i = 0
  const n = data.length
  const end8 = n - (n & 7)
  while (i < end8) {
    const lo = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))
    crc =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!
    i += 8
  }
  while (i < n) {
    crc = t[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8)
    i++
  }
  return ~crc >>> 0
}

/** The check value of CRC32C over the ASCII bytes "123456789" (RFC 3385, Appendix B.4 of RFC 7143). */
export const CHECK_VALUE = 0xe3069283
