/**
 * Unit Attentions and asynchronous events as data: a UNIT ATTENTION sense (SAM-5 §5.14, SPC-5 §4.4;
 * the ASC/ASCQ assignments of SPC-5 Annex F) classified into a typed event with what it means for a
 * client that caches facts about the logical unit, and the iSCSI SCSI Async Event (RFC 7143
 * §11.9.1, AsyncEvent 0: the data segment is SenseLength (2 bytes) + sense data + iSCSI event
 * data) decoded into the same event.
 *
 * | ASC/ASCQ | kind                                 | action                 |
 * |----------|--------------------------------------|------------------------|
 * | 29/xx    | PowerOnReset (power on, resets, I_T nexus loss) | Reset       |
 * | 2A/00    | ParametersChanged                    | None                   |
 * | 2A/01    | ModeParametersChanged                | RereadModePages        |
 * | 2A/02    | LogParametersChanged                 | None                   |
 * | 2A/03–05 | ReservationsPreempted / ReservationsReleased / RegistrationsPreempted | None |
 * | 2A/06    | AsymmetricAccessStateChanged         | RereadTargetPortGroups |
 * | 2A/07    | ImplicitAsymmetricAccessStateTransitionFailed | RereadTargetPortGroups |
 * | 2A/08    | PriorityChanged                      | None                   |
 * | 2A/09    | CapacityDataChanged                  | RereadCapacity         |
 * | 2A/10    | TimestampChanged                     | None                   |
 * | 2F/xx    | CommandsCleared                      | None                   |
 * | 3F/00    | TargetOperatingConditionsChanged     | None                   |
 * | 3F/01    | MicrocodeChanged                     | RereadInquiry          |
 * | 3F/02    | ChangedOperatingDefinition           | RereadInquiry          |
 * | 3F/03    | InquiryDataChanged                   | RereadInquiry          |
 * | 3F/05    | DeviceIdentifierChanged              | RereadInquiry          |
 * | 3F/0E    | ReportedLunsDataChanged              | RereadLuns             |
 * | 28/00    | MediumMayHaveChanged                 | RereadCapacity         |
 * | 38/07    | ThinProvisioningSoftThresholdReached | None                   |
 * | other    | Other                                | None                   |
 *
 * `OnUnitAttention` is the hook the command runner calls with every UNIT ATTENTION it saw on a
 * command it retries (the retry absorbs it; the target has cleared the condition by reporting it,
 * so this is the only place it is seen). Default: nothing. A pool provides it to publish the events
 * and act on them; nothing here acts.
 *
 * Not here: publishing (the session's events stream belongs to core's Pool), re-reading anything.
 */
import * as Lun from "@effect-iscsi/core/Lun"
import type { AsyncMessage } from "@effect-iscsi/core/PduTypes"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import * as ScsiError from "./ScsiError.ts"
import * as Sense from "./Sense.ts"

export type Kind =
  | "PowerOnReset"
  | "ParametersChanged"
  | "ModeParametersChanged"
  | "LogParametersChanged"
  | "ReservationsPreempted"
  | "ReservationsReleased"
  | "RegistrationsPreempted"
  | "AsymmetricAccessStateChanged"
  | "ImplicitAsymmetricAccessStateTransitionFailed"
  | "PriorityChanged"
  | "CapacityDataChanged"
  | "TimestampChanged"
  | "CommandsCleared"
  | "TargetOperatingConditionsChanged"
  | "MicrocodeChanged"
  | "ChangedOperatingDefinition"
  | "InquiryDataChanged"
  | "DeviceIdentifierChanged"
  | "ReportedLunsDataChanged"
  | "MediumMayHaveChanged"
  | "ThinProvisioningSoftThresholdReached"
  | "Other"

/** What a client that caches facts about the logical unit should do about it. */
export type Action =
  | "Reset"
  | "RereadCapacity"
  | "RereadLuns"
  | "RereadModePages"
  | "RereadInquiry"
  | "RereadTargetPortGroups"
  | "None"

const changed2A: Record<number, Kind> = {
  0x00: "ParametersChanged",
  0x01: "ModeParametersChanged",
  0x02: "LogParametersChanged",
  0x03: "ReservationsPreempted",
  0x04: "ReservationsReleased",
  0x05: "RegistrationsPreempted",
  0x06: "AsymmetricAccessStateChanged",
  0x07: "ImplicitAsymmetricAccessStateTransitionFailed",
  0x08: "PriorityChanged",
  0x09: "CapacityDataChanged",
  0x10: "TimestampChanged"
}

const changed3F: Record<number, Kind> = {
  0x00: "TargetOperatingConditionsChanged",
  0x01: "MicrocodeChanged",
  0x02: "ChangedOperatingDefinition",
  0x03: "InquiryDataChanged",
  0x05: "DeviceIdentifierChanged",
  0x0e: "ReportedLunsDataChanged"
}

/** The kind of a unit attention condition from its ASC/ASCQ. */
export const kindOf = (asc: number, ascq: number): Kind => {
  switch (asc) {
    case 0x29:
      return "PowerOnReset"
    case 0x2a:
      return changed2A[ascq] ?? "ParametersChanged"
    case 0x2f:
      return "CommandsCleared"
    case 0x3f:
      return changed3F[ascq] ?? "TargetOperatingConditionsChanged"
    case 0x28:
      return ascq === 0x00 ? "MediumMayHaveChanged" : "Other"
    case 0x38:
      return ascq === 0x07 ? "ThinProvisioningSoftThresholdReached" : "Other"
    default:
      return "Other"
  }
}

const actions: Partial<Record<Kind, Action>> = {
  PowerOnReset: "Reset",
  ModeParametersChanged: "RereadModePages",
  AsymmetricAccessStateChanged: "RereadTargetPortGroups",
  ImplicitAsymmetricAccessStateTransitionFailed: "RereadTargetPortGroups",
  CapacityDataChanged: "RereadCapacity",
  MediumMayHaveChanged: "RereadCapacity",
  MicrocodeChanged: "RereadInquiry",
  ChangedOperatingDefinition: "RereadInquiry",
  InquiryDataChanged: "RereadInquiry",
  DeviceIdentifierChanged: "RereadInquiry",
  ReportedLunsDataChanged: "RereadLuns"
}

/** What to do about a kind of unit attention. */
export const actionOf = (kind: Kind): Action => actions[kind] ?? "None"

/** A unit attention condition (or a SCSI asynchronous event), as data. */
export interface UnitAttention {
  readonly _tag: "UnitAttention"
  readonly kind: Kind
  readonly action: Action
  /** Absorbed from a command's CHECK CONDITION, or reported by an iSCSI Async Message (AsyncEvent 0). */
  readonly origin: "Command" | "AsyncEvent"
  /** The logical unit it concerns, when known. */
  readonly lun: number | undefined
  /** UNIT ATTENTION (6), except for asynchronous events that report another condition (a deferred error). */
  readonly senseKey: number
  readonly asc: number
  readonly ascq: number
  /** The SPC description of ASC/ASCQ. */
  readonly description: string
  readonly sense: Sense.SenseData
  /** The sense bytes as received, when known. */
  readonly raw: Uint8Array | undefined
}

/** The event for decoded sense data; undefined when it is not a UNIT ATTENTION (and `any` is not set). */
export const fromSense = (
  sense: Sense.SenseData,
  options?: {
    readonly lun?: number | undefined
    readonly raw?: Uint8Array | undefined
    readonly origin?: "Command" | "AsyncEvent" | undefined
    /** Classify whatever the sense key (asynchronous events). */
    readonly any?: boolean | undefined
  }
): UnitAttention | undefined => {
  if (sense.senseKey !== Sense.SenseKey.UnitAttention && options?.any !== true) return undefined
  const kind = kindOf(sense.asc, sense.ascq)
  return {
    _tag: "UnitAttention",
    kind,
    action: actionOf(kind),
    origin: options?.origin ?? "Command",
    lun: options?.lun,
    senseKey: sense.senseKey,
    asc: sense.asc,
    ascq: sense.ascq,
    description: sense.description,
    sense,
    raw: options?.raw
  }
}

/** Decode raw sense bytes; succeeds with undefined when they are not a UNIT ATTENTION. */
export const decode = (
  raw: Uint8Array,
  options?: { readonly lun?: number | undefined }
): Result.Result<UnitAttention | undefined, ScsiError.ScsiError> =>
  Result.map(Sense.decode(raw), (sense) => fromSense(sense, { lun: options?.lun, raw: raw.slice() }))

/** The event of a command's CHECK CONDITION error; undefined for any other error. */
export const fromError = (error: unknown, lun?: number): UnitAttention | undefined => {
  if (!ScsiError.isScsiError(error) || error.reason._tag !== "CheckCondition") return undefined
  return fromSense(error.reason.sense, { lun, raw: error.reason.senseBytes })
}

/**
 * The SCSI asynchronous event of an iSCSI Async Message: AsyncEvent 0 decoded (classified whatever
 * its sense key; its LUN from the PDU's LUN field), undefined for the other (iSCSI) async events,
 * a MalformedResponse when AsyncEvent 0 carries no decodable sense data.
 */
export const fromAsyncMessage = (
  message: AsyncMessage
): Result.Result<UnitAttention | undefined, ScsiError.ScsiError> => {
  if (message.asyncEvent !== 0) return Result.succeed(undefined)
  const data = message.data
  const length = data.length >= 2 ? B.u16(data, 0) : 0
  if (length === 0 || 2 + length > data.length) {
    return Result.fail(ScsiError.malformed("SCSI async event", "AsyncEvent 0 without sense data"))
  }
  const raw = data.slice(2, 2 + length)
  const lun = Lun.decode(message.lun)
  return Result.map(Sense.decode(raw), (sense) =>
    fromSense(sense, {
      lun: Result.isSuccess(lun) ? lun.success : undefined,
      raw,
      origin: "AsyncEvent",
      any: true
    })
  )
}

/**
 * Called by the command runner with every UNIT ATTENTION it saw on a command it retries (default:
 * nothing). Provide it to publish the events: `Effect.provideService(UnitAttention.OnUnitAttention,
 * (ua) => PubSub.publish(events, ua))`. It runs only after a failure, never on the success path.
 */
export const OnUnitAttention = Context.Reference<(event: UnitAttention) => Effect.Effect<void>>(
  "@effect-iscsi/scsi/UnitAttention/OnUnitAttention",
  { defaultValue: () => () => Effect.void }
)
