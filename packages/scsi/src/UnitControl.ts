/**
 * Unit-level control CDBs: TEST UNIT READY (SPC-5 §6.47), START STOP UNIT (SBC-4 §5.25) and
 * PREVENT ALLOW MEDIUM REMOVAL (SBC-4).
 *
 * ```
 * TEST UNIT READY (6):  0 OPERATION CODE 00h | 1-4 reserved | 5 CONTROL
 * START STOP UNIT (6):  0 OPERATION CODE 1Bh | 1 IMMED(0) | 2 reserved
 *                       3 POWER CONDITION MODIFIER(3-0)
 *                       4 POWER CONDITION(7-4) NO_FLUSH(2) LOEJ(1) START(0) | 5 CONTROL
 * PREVENT ALLOW MEDIUM REMOVAL (6): 0 1Eh | 1-3 reserved | 4 PREVENT(1-0) | 5 CONTROL
 * ```
 * Not here: running them (see `Scsi.testUnitReady`, `Scsi.startStopUnit`,
 * `Scsi.preventAllowMediumRemoval`).
 */
import type * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

export const cdbTestUnitReady = (): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("TEST UNIT READY", 6, () => {})

export interface StartStopOptions {
  readonly start?: boolean | undefined
  readonly loadEject?: boolean | undefined
  readonly immediate?: boolean | undefined
  readonly noFlush?: boolean | undefined
  /** POWER CONDITION (0 = START_VALID: obey START/LOEJ). */
  readonly powerCondition?: number | undefined
  readonly powerConditionModifier?: number | undefined
}

export const cdbStartStopUnit = (options: StartStopOptions = {}): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("START STOP UNIT", 6, (w) => {
    w.u8("opcode", 0, 0x1b)
    w.flag(1, 0, options.immediate)
    w.bits("power condition modifier", 3, 0, 4, options.powerConditionModifier ?? 0)
    w.bits("power condition", 4, 4, 4, options.powerCondition ?? 0)
    w.flag(4, 2, options.noFlush)
    w.flag(4, 1, options.loadEject)
    w.flag(4, 0, options.start ?? true)
  })

/**
 * PREVENT ALLOW MEDIUM REMOVAL (SBC-4): 0 1Eh | 1-3 reserved | 4 PREVENT(1-0) | 5 CONTROL.
 * `prevent` true (01b) locks the medium in; false (00b) allows removal; 0..3 for the raw field.
 */
export const cdbPreventAllowMediumRemoval = (
  prevent: boolean | number
): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("PREVENT ALLOW MEDIUM REMOVAL", 6, (w) => {
    w.u8("opcode", 0, 0x1e)
    w.bits("prevent", 4, 0, 2, typeof prevent === "boolean" ? (prevent ? 1 : 0) : prevent)
  })
