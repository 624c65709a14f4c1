/**
 * RFC 1982 serial-number arithmetic for the 32-bit iSCSI sequence numbers (CmdSN, ExpCmdSN,
 * MaxCmdSN, StatSN, DataSN, R2TSN): RFC 7143 §4.2.2.1 says they compare "using serial number
 * arithmetic as defined in [RFC1982] where SERIAL_BITS = 32".
 *
 * Comparison of two numbers exactly 2^31 apart is undefined in RFC 1982; here `lt`/`gt` are both
 * false for such a pair (and `diff` returns -2^31), so callers treat it as "not newer".
 *
 * Not here: who owns the counters (the session engine), window rules (RFC 7143 §4.2.2.1's
 * "MaxCmdSN - ExpCmdSN + 1 < 0 means ignore"): `inWindow` and `windowSize` only give the arithmetic.
 */

/** `(a + n) mod 2^32`, for n ≥ 0 (RFC 1982 addition is defined for n ≤ 2^31 - 1). */
export const add = (a: number, n: number): number => (a + n) >>> 0

/** Signed distance `b → a`: the n with `add(b, n) === a`, in [-2^31, 2^31). */
export const diff = (a: number, b: number): number => (a - b) | 0

/** `a < b` in serial arithmetic. */
export const lt = (a: number, b: number): boolean => a !== b && diff(a, b) < 0 && diff(a, b) !== -0x80000000

/** `a > b` in serial arithmetic. */
export const gt = (a: number, b: number): boolean => a !== b && diff(a, b) > 0

/** `a <= b`. */
export const lte = (a: number, b: number): boolean => a === b || lt(a, b)

/** `a >= b`. */
export const gte = (a: number, b: number): boolean => a === b || gt(a, b)

/** The later of two serial numbers (`a` when they are equal or incomparable). */
export const max = (a: number, b: number): number => (gt(b, a) ? b : a)

/** `low <= x <= high` in serial arithmetic (a window that may wrap). */
export const inWindow = (x: number, low: number, high: number): boolean => {
  const span = diff(high, low)
  if (span < 0) return false
  const d = diff(x, low)
  return d >= 0 && d <= span
}

/**
 * Commands that may still be sent: `MaxCmdSN - ExpCmdSN + 1` (RFC 7143 §4.2.2.1). A negative value
 * means the numbers must be ignored; 0 means the window is closed.
 */
export const windowSize = (expCmdSN: number, maxCmdSN: number): number => diff(maxCmdSN, expCmdSN) + 1
