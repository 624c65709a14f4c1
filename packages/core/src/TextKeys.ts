/**
 * iSCSI text keys: the `key=value\0` data segment of Login and Text PDUs (RFC 7143 §6.1, §6.2,
 * §11.10.5, §11.12.9).
 *
 * Wire format: a sequence of UTF-8 `key=value` pairs, each terminated by one NUL byte.
 *
 * ```text
 *   "HeaderDigest=None\0MaxRecvDataSegmentLength=262144\0"
 *    └── key ───┘ └val┘ ↑ └──────── key ────────┘ └val─┘ ↑
 *                       NUL                                NUL
 * ```
 *
 * Limits (§6.1): a key name is 1–63 bytes of `[A-Za-z0-9.\-+@_]`; a value is at most 255 bytes,
 * except the long binary CHAP values `CHAP_C` / `CHAP_R` (≤ 1024 bytes once decoded, so ≤ 2050
 * characters as `0x` hex). Order and repeated keys are kept (SendTargets answers repeat
 * `TargetName` / `TargetAddress`); duplicate detection is the negotiation's job.
 *
 * Leniency: empty entries (consecutive NULs, padding) are skipped, and a final pair without its
 * NUL is accepted. A pair without `=`, an empty or illegal key, an oversize key or value and
 * invalid UTF-8 are `ProtocolError`s.
 *
 * The C (continue) bit (§6.2): a text may be split over several PDUs at any byte, even inside a
 * pair. {@link makeReassembler} collects the pieces and decodes once the last piece arrives.
 *
 * Not here: what keys mean (see `Negotiation`, `Chap`, `SendTargets`).
 */
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as IscsiError from "./IscsiError.ts"
import { failProtocol } from "./internal/textErrors.ts"

/** One `key=value` pair, in wire order. */
export type Pair = readonly [key: string, value: string]

/** Maximum key name length in bytes (§6.1). */
export const MAX_KEY_LENGTH = 63
/** Maximum value length in bytes for ordinary keys (§6.1). */
export const MAX_VALUE_LENGTH = 255
/** Maximum encoded length of the long binary values CHAP_C / CHAP_R: "0x" + 2 × 1024 hex digits. */
export const MAX_LONG_VALUE_LENGTH = 2 + 2 * 1024

/** Keys whose value may exceed 255 bytes (binary CHAP values, §12.1.3). */
export const longValueKeys: ReadonlySet<string> = new Set(["CHAP_C", "CHAP_R"])

/** The largest value a key may carry, in bytes. */
export const maxValueLength = (key: string): number =>
  longValueKeys.has(key) ? MAX_LONG_VALUE_LENGTH : MAX_VALUE_LENGTH

const KEY_CHAR = /^[A-Za-z0-9.\-+@_]+$/

const decoder = new TextDecoder("utf-8", { fatal: true })
const encoder = new TextEncoder()

const decodeUtf8 = (bytes: Uint8Array): Result.Result<string, IscsiError.IscsiError> => {
  try {
    return Result.succeed(decoder.decode(bytes))
  } catch {
    return failProtocol("text key data is not valid UTF-8")
  }
}

const EQUALS = 0x3d

/** Decode one pair from its bytes (without the NUL). */
const decodePair = (bytes: Uint8Array): Result.Result<Pair, IscsiError.IscsiError> => {
  const eq = bytes.indexOf(EQUALS)
  if (eq < 0) return failProtocol("text key without '='")
  if (eq === 0) return failProtocol("empty text key name")
  if (eq > MAX_KEY_LENGTH) return failProtocol(`text key name longer than ${MAX_KEY_LENGTH} bytes`)
  const keyR = decodeUtf8(bytes.subarray(0, eq))
  if (Result.isFailure(keyR)) return Result.fail(keyR.failure)
  const key = keyR.success
  if (!KEY_CHAR.test(key)) return failProtocol("text key name has illegal characters")
  const valueBytes = bytes.subarray(eq + 1)
  if (valueBytes.length > maxValueLength(key)) {
    return failProtocol(`value of ${key} longer than ${maxValueLength(key)} bytes`)
  }
  const valueR = decodeUtf8(valueBytes)
  if (Result.isFailure(valueR)) return Result.fail(valueR.failure)
  return Result.succeed([key, valueR.success] as const)
}

/** Decode a complete text data segment into its pairs, in order. */
export const decode = (data: Uint8Array): Result.Result<ReadonlyArray<Pair>, IscsiError.IscsiError> => {
  const pairs: Array<Pair> = []
  let start = 0
  while (start < data.length) {
    let end = data.indexOf(0, start)
    if (end < 0) end = data.length
    if (end > start) {
      const r = decodePair(data.subarray(start, end))
      if (Result.isFailure(r)) return Result.fail(r.failure)
      pairs.push(r.success)
    }
    start = end + 1
  }
  return Result.succeed(pairs)
}

/** Encode pairs as `key=value\0…` (UTF-8). Does not validate: build pairs from known keys. */
export const encode = (pairs: ReadonlyArray<Pair>): Uint8Array => {
  let text = ""
  for (const [key, value] of pairs) text += `${key}=${value}\0`
  return encoder.encode(text)
}

/** Find the first value of a key. */
export const get = (pairs: ReadonlyArray<Pair>, key: string): string | undefined => {
  for (const [k, v] of pairs) if (k === key) return v
  return undefined
}

/** Options of {@link makeReassembler}. */
export interface ReassemblerOptions {
  /** Upper bound on the total bytes of one text (all its pieces); default 1 MiB. */
  readonly maxBytes?: number
}

/** Collects the pieces of a text split with the C bit and decodes it when the last piece arrives. */
export interface Reassembler {
  /**
   * Add the data segment of one PDU. `continues` is the PDU's C bit. Returns `None` while more
   * pieces are expected, `Some(pairs)` once the text is complete (the reassembler is then empty
   * and may be reused), or a `ProtocolError` when the text is malformed or exceeds the bound.
   */
  readonly push: (
    data: Uint8Array,
    continues: boolean
  ) => Result.Result<Option.Option<ReadonlyArray<Pair>>, IscsiError.IscsiError>
  /** Bytes held so far. */
  readonly pending: () => number
  /** Drop what is held. */
  readonly reset: () => void
}

/** Default bound of a reassembled text. */
export const DEFAULT_MAX_TEXT_BYTES = 1024 * 1024

/** Make a reassembler for the C bit (RFC 7143 §6.2, §11.10.2, §11.12.2). */
export const makeReassembler = (options?: ReassemblerOptions): Reassembler => {
  const maxBytes = options?.maxBytes ?? DEFAULT_MAX_TEXT_BYTES
  let chunks: Array<Uint8Array> = []
  let size = 0
  const reset = () => {
    chunks = []
    size = 0
  }
  return {
    push: (data, continues) => {
      if (size + data.length > maxBytes) {
        reset()
        return failProtocol(`text exceeds ${maxBytes} bytes`)
      }
      // Copy: the framer may hand us a view into a reused receive buffer.
      if (data.length > 0) chunks.push(data.slice())
      size += data.length
      if (continues) return Result.succeed(Option.none())
      const whole = new Uint8Array(size)
      let offset = 0
      for (const c of chunks) {
        whole.set(c, offset)
        offset += c.length
      }
      reset()
      return Result.map(decode(whole), Option.some)
    },
    pending: () => size,
    reset
  }
}
