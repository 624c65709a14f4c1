/**
 * Branded identifiers of RFC 7143, so that an ITT is never passed where a CmdSN is expected:
 * `Itt`/`Ttt` (task tags, §11.2.1.8; 0xffffffff is reserved), `CmdSN`/`StatSN` (32-bit serial
 * numbers, §4.2.2), `Tsih` (16-bit, §11.12.6), `Cid` (16-bit, §11.12.7) and `Isid` (48-bit, §11.12.5)
 * with helpers for its format bits.
 *
 * ISID layout (§11.12.5, 6 bytes, shown as the 48-bit number the PDU types carry):
 *
 * | byte 0 bits 7..6 | byte 0 bits 5..0 | bytes 1..2 | byte 3 | bytes 4..5 |
 * |------------------|------------------|------------|--------|------------|
 * | T                | A                | B          | C      | D          |
 *
 * T = 00b OUI format (A+B: 22-bit OUI, C+D: 24-bit qualifier), 01b IANA enterprise number
 * (B+C: 24-bit EN, D: qualifier), 10b random (B+C: 24-bit random, D: qualifier), 11b reserved.
 *
 * The constructors (`Itt(n)`, …) throw on invalid input (a defect for code that builds its own
 * numbers); use `Itt.result(n)` / `Itt.is(n)` for outside input. Serial arithmetic is in `Serial`.
 */
import * as Brand from "effect/Brand"

const isUint = (bits: number) => {
  const max = 2 ** bits - 1
  return (n: number) => (Number.isInteger(n) && n >= 0 && n <= max) || `expected an unsigned ${bits}-bit integer`
}

/** Initiator Task Tag. */
export type Itt = number & Brand.Brand<"Itt">
export const Itt = Brand.make<Itt>(isUint(32))

/** Target Transfer Tag. */
export type Ttt = number & Brand.Brand<"Ttt">
export const Ttt = Brand.make<Ttt>(isUint(32))

/** Command sequence number (serial, 32-bit). */
export type CmdSN = number & Brand.Brand<"CmdSN">
export const CmdSN = Brand.make<CmdSN>(isUint(32))

/** Status sequence number (serial, 32-bit). */
export type StatSN = number & Brand.Brand<"StatSN">
export const StatSN = Brand.make<StatSN>(isUint(32))

/** Target Session Identifying Handle (0 in the leading login of a new session). */
export type Tsih = number & Brand.Brand<"Tsih">
export const Tsih = Brand.make<Tsih>(isUint(16))

/** Connection ID. */
export type Cid = number & Brand.Brand<"Cid">
export const Cid = Brand.make<Cid>(isUint(16))

/** The reserved tag 0xffffffff (unsolicited target PDUs, "no TTT"). */
export const RESERVED_TAG = 0xffffffff as Itt & Ttt

/** Initiator Session ID as a 48-bit number. */
export type Isid = number & Brand.Brand<"Isid">

/** ISID format (T bits). */
export type IsidType = "OUI" | "EN" | "Random"

/** The meaningful parts of an ISID: `naming` is the OUI (22 bits) or EN/random (24 bits). */
export interface IsidParts {
  readonly type: IsidType
  readonly naming: number
  /** 24 bits for OUI format, 16 bits otherwise. */
  readonly qualifier: number
}

const P16 = 0x10000
const P24 = 0x1000000
const P46 = 2 ** 46

const isidCtor = Brand.make<Isid>(isUint(48))

const fits = (n: number, bits: number) => Number.isInteger(n) && n >= 0 && n < 2 ** bits

export const Isid = Object.assign(isidCtor, {
  /**
   * Build an ISID from its format fields. Throws a RangeError when a field does not fit (a defect:
   * these come from configuration validated elsewhere).
   */
  make: (parts: IsidParts): Isid => {
    const { naming, qualifier, type } = parts
    if (type === "OUI") {
      if (!fits(naming, 22) || !fits(qualifier, 24)) throw new RangeError("ISID OUI is 22 bits, qualifier 24 bits")
      return isidCtor(naming * P24 + qualifier)
    }
    if (!fits(naming, 24) || !fits(qualifier, 16)) throw new RangeError("ISID naming is 24 bits, qualifier 16 bits")
    return isidCtor((type === "EN" ? 1 : 2) * P46 + naming * P16 + qualifier)
  },
  /**
   * A random-format ISID (T = 10b) with 24 random bits and the given 16-bit qualifier. `randomBits`
   * defaults to `crypto.getRandomValues` (Web Crypto, available in Node and browsers).
   */
  random: (qualifier = 0, randomBits?: number): Isid => {
    let bits = randomBits
    if (bits === undefined) {
      const a = new Uint32Array(1)
      globalThis.crypto.getRandomValues(a)
      bits = a[0]! & 0xffffff
    }
    return Isid.make({ type: "Random", naming: bits & 0xffffff, qualifier })
  },
  /** The format fields of an ISID; `undefined` for the reserved T = 11b. */
  parts: (isid: number): IsidParts | undefined => {
    const t = Math.floor(isid / P46)
    if (t === 0) return { type: "OUI", naming: Math.floor(isid / P24), qualifier: isid % P24 }
    if (t === 1 || t === 2) {
      return { type: t === 1 ? "EN" : "Random", naming: Math.floor(isid / P16) % P24, qualifier: isid % P16 }
    }
    return undefined
  },
  /** The 6 ISID bytes, big-endian. */
  toBytes: (isid: number): Uint8Array => {
    const out = new Uint8Array(6)
    const hi = Math.floor(isid / 2 ** 32)
    const lo = isid >>> 0
    out[0] = hi >>> 8
    out[1] = hi
    out[2] = lo >>> 24
    out[3] = lo >>> 16
    out[4] = lo >>> 8
    out[5] = lo
    return out
  }
})
