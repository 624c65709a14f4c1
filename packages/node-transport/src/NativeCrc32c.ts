/**
 * CRC32C for data digests on Node: @node-rs/crc32's `crc32c` (Rust, napi, several GB/s) when its
 * prebuilt binary loads, otherwise the pure TS slicing-by-8 of `@effect-iscsi/core`'s `Crc32c`
 * (about 1 GB/s). Same signature and chaining (`crc32c(b, crc32c(a)) === crc32c(a ++ b)`).
 *
 * For 48-byte headers the TS function is faster (a napi call costs ~100 ns): use `Crc32c.crc32c`
 * there and this one for data segments.
 *
 * Not here: where digests go in a frame (`Pdu`, `Framer`).
 */
import * as Crc32c from "@effect-iscsi/core/Crc32c"
import { createRequire } from "node:module"

const load = (): Crc32c.Fn | undefined => {
  try {
    const mod = createRequire(import.meta.url)("@node-rs/crc32") as {
      readonly crc32c: (input: Uint8Array, initialState?: number) => number
    }
    const f = mod.crc32c
    // Self-check before trusting it.
    if (f(new TextEncoder().encode("123456789")) !== Crc32c.CHECK_VALUE) return undefined
    return (data, initial) => (initial === undefined ? f(data) : f(data, initial)) >>> 0
  } catch {
    return undefined
  }
}

// Loaded on first use, not with the module: `require("@node-rs/crc32")` adds 5-20 ms of CPU to a
// process's start (perf stat, 2-core test machine), and only sessions with DataDigest need it.
let loaded: Crc32c.Fn | undefined | null = null
const impl = (): Crc32c.Fn => {
  if (loaded === null) loaded = load()
  return loaded ?? Crc32c.crc32c
}

/** True when the native @node-rs/crc32 implementation is in use (loading it if not tried yet). */
export const isNative = (): boolean => {
  impl()
  return loaded !== undefined && loaded !== null
}

/** CRC32C: native when available, else the TS fallback. */
export const crc32c: Crc32c.Fn = (data, initial) => impl()(data, initial)
