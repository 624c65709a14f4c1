/**
 * What one logical unit can do, as a pure value: the commands it reports with REPORT SUPPORTED
 * OPERATION CODES (SPC-5 §6.35) when it answers that, and the facts that decide whether the
 * provisioning commands do anything on it — VPD B2h Logical Block Provisioning (SBC-4 §6.6.7:
 * LBPU, LBPWS, LBPWS10), VPD B0h Block Limits (§6.6.4) and READ CAPACITY (16)'s LBPME (§5.21).
 *
 * Every answer is one of three, never a guess:
 * - `supported`: the device says so (its operation code list has the command and, for UNMAP and
 *   WRITE SAME with UNMAP, LBPME and the B2h bit are set);
 * - `unsupported`: the device says it is not (missing from its complete list, LBPME 0, the B2h bit
 *   clear, a zero limit in B0h);
 * - `unknown`: the device does not say.
 * Without REPORT SUPPORTED OPERATION CODES (`source: "derived"`) only what VPD and READ CAPACITY
 * say is known: UNMAP / WRITE SAME (16)/(10) with UNMAP from B2h and LBPME, GET LBA STATUS from
 * LBPME (SBC-4 requires it of a logical unit with provisioning management), COMPARE AND WRITE and
 * WRITE ATOMIC from their B0h limits; every other command is `unknown`. tgt answers REPORT
 * SUPPORTED OPERATION CODES, and lists UNMAP and WRITE SAME for every LUN: its VPD B2h (LBPU 0 on
 * a LUN that is not thin) is what makes them `unsupported` there.
 *
 * Not here: acting on it (`BlockDevice.capabilities`, `iscsi inq --opcodes`, the dd copy loop).
 */
import type { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import * as Effect from "effect/Effect"
import type * as Inquiry from "./Inquiry.ts"
import type { CommandError } from "./internal/runner.ts"
import * as OperationCodes from "./OperationCodes.ts"
import * as Scsi from "./Scsi.ts"
import * as ScsiError from "./ScsiError.ts"

export type Support = "supported" | "unsupported" | "unknown"

/** The features a copy or provisioning tool asks about, by name. */
export interface Features {
  /** UNMAP deallocates blocks. */
  readonly unmap: Support
  /** WRITE SAME (16) with the UNMAP bit deallocates blocks. */
  readonly writeSame16Unmap: Support
  /** WRITE SAME (10) with the UNMAP bit deallocates blocks. */
  readonly writeSame10Unmap: Support
  readonly writeSame16: Support
  readonly writeSame10: Support
  readonly getLbaStatus: Support
  readonly compareAndWrite: Support
  readonly writeAtomic16: Support
  readonly orWrite16: Support
  readonly extendedCopy: Support
  readonly sanitize: Support
  readonly read16: Support
  readonly write16: Support
  readonly synchronizeCache16: Support
}

export interface Capabilities {
  /** `rsoc`: the device listed its commands; `derived`: it did not, only VPD/capacity facts are known. */
  readonly source: "rsoc" | "derived"
  /** The operation codes it listed (empty when derived). */
  readonly commands: ReadonlyArray<OperationCodes.CommandDescriptor>
  /** READ CAPACITY (16) LBPME, when known. */
  readonly lbpme: boolean | undefined
  readonly provisioning: Inquiry.LogicalBlockProvisioning | undefined
  readonly blockLimits: Inquiry.BlockLimits | undefined
  readonly features: Features
}

export interface Facts {
  /** REPORT SUPPORTED OPERATION CODES (all commands), when the device answered it. */
  readonly commands?: ReadonlyArray<OperationCodes.CommandDescriptor> | undefined
  readonly lbpme?: boolean | undefined
  readonly provisioning?: Inquiry.LogicalBlockProvisioning | undefined
  readonly blockLimits?: Inquiry.BlockLimits | undefined
}

const listed = (
  commands: ReadonlyArray<OperationCodes.CommandDescriptor> | undefined,
  opcode: number,
  serviceAction?: number
): Support =>
  commands === undefined
    ? "unknown"
    : commands.some((c) => c.opcode === opcode && (serviceAction === undefined || c.serviceAction === serviceAction))
      ? "supported"
      : "unsupported"

/** A provisioning feature: the command listed (or not known), LBPME and its B2h bit. */
const provisioning = (command: Support, lbpme: boolean | undefined, bit: boolean | undefined): Support => {
  if (command === "unsupported" || lbpme === false || bit === false) return "unsupported"
  if (bit === true) return "supported"
  return command === "supported" && lbpme === true ? "supported" : "unknown"
}

/** From a B0h limit where 0 means "not supported". */
const limit = (command: Support, value: number | undefined): Support =>
  command !== "unknown" ? command : value === undefined ? "unknown" : value > 0 ? "supported" : "unsupported"

const O = OperationCodes.Opcode
const SA = OperationCodes.ServiceAction

/** The capabilities these facts establish. */
export const make = (facts: Facts): Capabilities => {
  const c = facts.commands
  const lbp = facts.provisioning
  const bl = facts.blockLimits
  const getLbaStatus = listed(c, O.ServiceActionIn16, SA.GetLbaStatus)
  return {
    source: c === undefined ? "derived" : "rsoc",
    commands: c ?? [],
    lbpme: facts.lbpme,
    provisioning: lbp,
    blockLimits: bl,
    features: {
      unmap: provisioning(listed(c, O.Unmap), facts.lbpme, lbp?.lbpu),
      writeSame16Unmap: provisioning(listed(c, O.WriteSame16), facts.lbpme, lbp?.lbpws),
      writeSame10Unmap: provisioning(listed(c, O.WriteSame10), facts.lbpme, lbp?.lbpws10),
      writeSame16: listed(c, O.WriteSame16),
      writeSame10: listed(c, O.WriteSame10),
      getLbaStatus: getLbaStatus !== "unknown" ? getLbaStatus : facts.lbpme === true ? "supported" : "unknown",
      compareAndWrite: limit(listed(c, O.CompareAndWrite), bl?.maximumCompareAndWriteLength),
      writeAtomic16: limit(listed(c, O.WriteAtomic16), bl?.maximumAtomicTransferLength),
      orWrite16: listed(c, O.OrWrite16),
      extendedCopy: listed(c, O.ExtendedCopy),
      sanitize: listed(c, O.Sanitize),
      read16: listed(c, O.Read16),
      write16: listed(c, O.Write16),
      synchronizeCache16: listed(c, O.SynchronizeCache16)
    }
  }
}

/**
 * Whether the device supports `opcode` (with `serviceAction`, for opcodes that have them): from its
 * list when it gave one, else `unknown` (see `features` for what VPD establishes without a list).
 */
export const support = (capabilities: Capabilities, opcode: number, serviceAction?: number): Support =>
  capabilities.source === "rsoc" ? listed(capabilities.commands, opcode, serviceAction) : "unknown"

/** True only when the device says it supports `opcode` (`support(…) === "supported"`). */
export const supports = (capabilities: Capabilities, opcode: number, serviceAction?: number): boolean =>
  support(capabilities, opcode, serviceAction) === "supported"

const illegalRequest = (e: CommandError): boolean =>
  ScsiError.isCheckCondition(e, 0x05) || (e._tag === "ScsiError" && e.reason._tag === "MalformedResponse")

/** `eff`, or undefined when the device refuses it (ILLEGAL REQUEST) or answers nonsense. */
const optional = <A>(eff: Effect.Effect<A, CommandError, ScsiTransport>) =>
  Effect.catchIf(eff, illegalRequest, () => Effect.succeed(undefined))

/**
 * Ask `lun`: REPORT SUPPORTED OPERATION CODES, the supported VPD pages and B0h/B2h among them, and
 * READ CAPACITY (16) unless `lbpme` is given. What the device refuses becomes "not known"; transport
 * failures and other errors fail.
 */
export const discover = Effect.fn("Capabilities.discover")(function* (
  lun: number,
  options?: { readonly lbpme?: boolean | undefined }
) {
  const all = yield* optional(Scsi.reportSupportedOperationCodes(lun))
  const pages = (yield* optional(Scsi.supportedVpdPages(lun))) ?? []
  const blockLimits = pages.includes(0xb0) ? yield* optional(Scsi.blockLimits(lun)) : undefined
  const lbp = pages.includes(0xb2) ? yield* optional(Scsi.logicalBlockProvisioning(lun)) : undefined
  const lbpme = options?.lbpme ?? (yield* optional(Scsi.readCapacity16(lun)))?.lbpme
  return make({ commands: all?.commands, lbpme, provisioning: lbp, blockLimits })
})
