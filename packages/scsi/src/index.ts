/**
 * @effect-iscsi/scsi: the SCSI command set (SPC-5 / SBC-4) over effect-iscsi.
 *
 * Pure CDB builders and data decoders (one module per command family), sense data, the `ScsiError`
 * type, the commands as Effect programs (`Scsi`) and a block-device helper (`BlockDevice`).
 *
 * ```ts
 * import { Scsi } from "@effect-iscsi/scsi"
 * Effect.runPromise(Scsi.read10(lun, lba, n).pipe(Effect.provide(IscsiLive)))
 * ```
 */
export * as BlockDevice from "./BlockDevice.ts"
export * as Capabilities from "./Capabilities.ts"
export * as CompareAndWrite from "./CompareAndWrite.ts"
export * as DefectData from "./DefectData.ts"
export * as ExtendedCopy from "./ExtendedCopy.ts"
export * as GetLbaStatus from "./GetLbaStatus.ts"
export * as Inquiry from "./Inquiry.ts"
export * as ModePages from "./ModePages.ts"
export * as Multipath from "./Multipath.ts"
export * as OperationCodes from "./OperationCodes.ts"
export * as PersistentReservation from "./PersistentReservation.ts"
export * as ReadCapacity from "./ReadCapacity.ts"
export * as ReadToc from "./ReadToc.ts"
export * as ReadWrite from "./ReadWrite.ts"
export * as ReportLuns from "./ReportLuns.ts"
export * as ReservationLegacy from "./ReservationLegacy.ts"
export * as Sanitize from "./Sanitize.ts"
export * as Scsi from "./Scsi.ts"
export * as ScsiError from "./ScsiError.ts"
export * as Sense from "./Sense.ts"
export * as TargetPortGroups from "./TargetPortGroups.ts"
export * as UnitAttention from "./UnitAttention.ts"
export * as UnitControl from "./UnitControl.ts"
export * as Unmap from "./Unmap.ts"
export * as WriteSame from "./WriteSame.ts"
