/**
 * SANITIZE (SBC-4, "SANITIZE command"): the CDB for its four service actions and the
 * OVERWRITE parameter list.
 *
 * ```
 * CDB (10):   0 48h | 1 IMMED(7) AUSE(5) SERVICE ACTION(4-0) | 2-6 reserved
 *             7-8 PARAMETER LIST LENGTH | 9 CONTROL
 * Service actions: 01h OVERWRITE | 02h BLOCK ERASE | 03h CRYPTOGRAPHIC ERASE | 1Fh EXIT FAILURE MODE
 * OVERWRITE parameter list:
 *             0 INVERT(7) TEST(6-5) OVERWRITE COUNT(4-0) | 1 reserved
 *             2-3 INITIALIZATION PATTERN LENGTH (n-3) | 4..n INITIALIZATION PATTERN
 * ```
 * Only OVERWRITE carries parameter data (PARAMETER LIST LENGTH = 4 + pattern length; the pattern
 * is 1 byte up to one logical block); the other service actions send none (length 0). AUSE lets
 * the device leave the failure mode with EXIT FAILURE MODE if the sanitize fails. With IMMED the
 * command returns at once and the progress shows in REQUEST SENSE (NOT READY, 04/1B SANITIZE IN
 * PROGRESS, with a progress indication).
 *
 * Not here: running it (`Scsi.sanitize`), the block size check (the device checks the pattern
 * length against its logical block length).
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

/** SANITIZE service actions. */
export const ServiceAction = {
  Overwrite: 0x01,
  BlockErase: 0x02,
  CryptographicErase: 0x03,
  ExitFailureMode: 0x1f
} as const

export interface Options {
  /** Return before the sanitize completes. */
  readonly immediate?: boolean | undefined
  /** Allow unrestricted sanitize exit: EXIT FAILURE MODE may end a failed sanitize. */
  readonly ause?: boolean | undefined
}

export interface OverwriteParameters {
  /** Written to every block, repeated (1 byte up to the logical block length). */
  readonly pattern: Uint8Array
  /** Overwrite passes (1..31, default 1). */
  readonly count?: number | undefined
  /** Invert the pattern between passes. */
  readonly invert?: boolean | undefined
  /** TEST (0..3, vendor specific; default 0). */
  readonly test?: number | undefined
}

/** What to sanitize with. */
export type Action =
  | ({ readonly _tag: "Overwrite" } & OverwriteParameters)
  | { readonly _tag: "BlockErase" }
  | { readonly _tag: "CryptographicErase" }
  | { readonly _tag: "ExitFailureMode" }

/** The CDB for `serviceAction` with `parameterListLength` bytes of parameter data. */
export const cdb = (
  serviceAction: number,
  parameterListLength = 0,
  options?: Options
): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("SANITIZE", 10, (w) => {
    w.u8("opcode", 0, 0x48)
    w.flag(1, 7, options?.immediate)
    w.flag(1, 5, options?.ause)
    w.bits("service action", 1, 0, 5, serviceAction)
    if (serviceAction !== ServiceAction.Overwrite && parameterListLength !== 0)
      w.fail("only OVERWRITE carries parameter data")
    w.u16("parameter list length", 7, parameterListLength)
  })

/** The OVERWRITE parameter list. */
export const encodeOverwrite = (p: OverwriteParameters): Result.Result<Uint8Array, ScsiError.ScsiError> => {
  const n = p.pattern.length
  return B.build("SANITIZE OVERWRITE parameter list", 4 + n, (w) => {
    if (n === 0) w.fail("the initialization pattern is empty")
    w.flag(0, 7, p.invert)
    w.bits("test", 0, 5, 2, p.test ?? 0)
    const count = p.count ?? 1
    if (count === 0) w.fail("overwrite count 0")
    w.bits("overwrite count", 0, 0, 5, count)
    w.u16("initialization pattern length", 2, n)
    w.bytes.set(p.pattern, 4)
  })
}

/** The CDB and parameter data (empty for all but OVERWRITE) of `action`. */
export const build = (
  action: Action,
  options?: Options
): Result.Result<{ readonly cdb: Uint8Array; readonly parameters: Uint8Array }, ScsiError.ScsiError> => {
  if (action._tag !== "Overwrite") {
    return Result.map(cdb(ServiceAction[action._tag], 0, options), (c) => ({ cdb: c, parameters: new Uint8Array(0) }))
  }
  return Result.flatMap(encodeOverwrite(action), (parameters) =>
    Result.map(cdb(ServiceAction.Overwrite, parameters.length, options), (c) => ({ cdb: c, parameters }))
  )
}
