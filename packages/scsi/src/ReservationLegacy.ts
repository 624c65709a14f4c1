/**
 * The SPC-2 reservations: RESERVE (6) and RELEASE (6) (SPC-2 §7.21 and §7.17; SPC-3 made them
 * obsolete in favour of PERSISTENT RESERVE, see `PersistentReservation`). A RESERVE (6) reserves the
 * whole logical unit for the I_T nexus that sends it; commands from any other I_T nexus then end
 * with RESERVATION CONFLICT until that nexus sends RELEASE (6), or the reservation is cleared by a
 * reset (or, for iSCSI, by losing the session). Reserving again from the holder succeeds; RELEASE
 * from a nexus that holds nothing succeeds and changes nothing.
 *
 * ```
 * RESERVE (6): 0 16h | 1 obsolete (3RDPTY, THIRD PARTY DEVICE ID; written 0) | 2 obsolete
 *              3-4 obsolete (EXTENT LIST LENGTH; 0) | 5 CONTROL
 * RELEASE (6): 0 17h | 1 obsolete | 2 obsolete | 3-4 reserved | 5 CONTROL
 * ```
 * Extents and third-party reservations (SCSI-2) are not built: both CDBs are the whole-unit form.
 *
 * Not here: running them (`Scsi.reserve6`, `Scsi.release6`), persistent reservations.
 */
import type * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

/** RESERVE (6) of the whole logical unit. */
export const cdbReserve6 = (): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("RESERVE (6)", 6, (w) => w.u8("opcode", 0, 0x16))

/** RELEASE (6) of this nexus' reservation. */
export const cdbRelease6 = (): Result.Result<Uint8Array, ScsiError.ScsiError> =>
  B.build("RELEASE (6)", 6, (w) => w.u8("opcode", 0, 0x17))
