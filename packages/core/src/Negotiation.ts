/**
 * Operational text-key negotiation as pure functions (RFC 7143 §6.2, §13).
 *
 * What it does:
 * - {@link keys}: every RFC 7143 §13 key with its result function, scope, phase and default.
 * - {@link make} / {@link propose}: build the keys we offer for the LoginOperationalNegotiation stage
 *   (shaped by the user's {@link Offer}; ErrorRecoveryLevel is always 0 because the engine implements
 *   ERL 0 only, MaxConnections is the configured value).
 * - {@link respond}: process one batch of keys from the target, both answers to our offers and keys
 *   the target proposes on its own, into our reply keys and an updated (immutable) state.
 * - {@link finish}: once the login reaches full feature phase, check every offer was answered and
 *   produce the one {@link OperationalParameters} record everything downstream reads. Nothing is
 *   applied before `finish` succeeds (§6.2: negotiations are atomic).
 *
 * Result functions (§6.2.2, §13):
 *
 * | type         | keys                                                            | result             |
 * |--------------|-----------------------------------------------------------------|--------------------|
 * | list         | HeaderDigest, DataDigest, TaskReporting (AuthMethod, CHAP_A: see LoginMachine) | first of the offerer's values the acceptor supports |
 * | boolean-and  | ImmediateData                                                   | offer AND answer (answer optional when offering No) |
 * | boolean-or   | InitialR2T, DataPDUInOrder, DataSequenceInOrder                 | offer OR answer (answer optional when offering Yes) |
 * | numeric-min  | MaxConnections, MaxBurstLength, FirstBurstLength, DefaultTime2Retain, MaxOutstandingR2T, ErrorRecoveryLevel, iSCSIProtocolLevel | min |
 * | numeric-max  | DefaultTime2Wait                                                | max                |
 * | declarative  | MaxRecvDataSegmentLength (per direction), TargetAlias, TargetPortalGroupTag, … | no answer |
 *
 * Special answers: `NotUnderstood` to an RFC key we offered is a `NegotiationFailed`; `Reject`
 * means the key keeps its RFC default (combined with our offer by the result function, and a
 * `NegotiationFailed` when that default is not acceptable to us); `Irrelevant` keeps our offered value (the
 * default for list keys, so no digest). An answer outside what we offered (a list value we never listed, a min-key above our offer,
 * AND-key Yes to our No, …) is a `NegotiationFailed` carrying the key. Keys the target proposes are
 * answered with our result value; unknown keys get `NotUnderstood`; the RFC 3720 marker keys get
 * `Reject` (§13.26); leading-only keys on a non-leading connection and session keys of a discovery
 * session get `Irrelevant`.
 *
 * MaxRecvDataSegmentLength is declarative and per direction: ours bounds what the target sends us,
 * the target's bounds every PDU we send (8192 when it never declares one, §13.12).
 *
 * Not here: AuthMethod and CHAP keys (the security stage is in `LoginMachine`), SendTargets.
 */
import * as Result from "effect/Result"
import type * as IscsiError from "./IscsiError.ts"
import { failInvalid, failNegotiation, failProtocol } from "./internal/textErrors.ts"
import type { Pair } from "./TextKeys.ts"

// ---------------------------------------------------------------------------------------------
// Key table
// ---------------------------------------------------------------------------------------------

export type KeyType = "list" | "boolean-and" | "boolean-or" | "numeric-min" | "numeric-max" | "declarative"
export type Scope = "session" | "connection"
/** Where a key may be negotiated: LO, login only (IO), the security stage, full feature phase only, or anywhere. */
export type Phase = "leading-only" | "login-only" | "security-only" | "full-feature-only" | "any"
/** Who may send the key: the initiator only, the target only, or both. */
export type Sender = "initiator" | "target" | "both"

export interface KeyDefinition {
  readonly name: string
  readonly type: KeyType
  readonly scope: Scope
  readonly phase: Phase
  readonly sender: Sender
  /** RFC default, when the key has one. */
  readonly default?: string
  /** Admissible numeric range (inclusive). */
  readonly range?: readonly [min: number, max: number]
  /** Irrelevant when SessionType=Discovery. */
  readonly irrelevantForDiscovery?: boolean
}

const MAX_24 = 16777215

const def = (d: KeyDefinition): readonly [string, KeyDefinition] => [d.name, d]

/** Every key of RFC 7143 §12–13 (plus the RFC 3720 markers it obsoletes, §13.26). */
export const keys: ReadonlyMap<string, KeyDefinition> = new Map([
  def({
    name: "AuthMethod",
    type: "list",
    scope: "connection",
    phase: "security-only",
    sender: "both",
    default: "None"
  }),
  def({ name: "CHAP_A", type: "list", scope: "connection", phase: "security-only", sender: "both" }),
  def({ name: "CHAP_I", type: "declarative", scope: "connection", phase: "security-only", sender: "both" }),
  def({ name: "CHAP_C", type: "declarative", scope: "connection", phase: "security-only", sender: "both" }),
  def({ name: "CHAP_N", type: "declarative", scope: "connection", phase: "security-only", sender: "both" }),
  def({ name: "CHAP_R", type: "declarative", scope: "connection", phase: "security-only", sender: "both" }),
  def({
    name: "HeaderDigest",
    type: "list",
    scope: "connection",
    phase: "login-only",
    sender: "both",
    default: "None"
  }),
  def({ name: "DataDigest", type: "list", scope: "connection", phase: "login-only", sender: "both", default: "None" }),
  def({
    name: "MaxConnections",
    type: "numeric-min",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "1",
    range: [1, 65535],
    irrelevantForDiscovery: true
  }),
  def({ name: "SendTargets", type: "declarative", scope: "session", phase: "full-feature-only", sender: "initiator" }),
  def({ name: "TargetName", type: "declarative", scope: "session", phase: "any", sender: "both" }),
  def({ name: "InitiatorName", type: "declarative", scope: "session", phase: "login-only", sender: "initiator" }),
  def({ name: "TargetAlias", type: "declarative", scope: "session", phase: "any", sender: "target" }),
  def({ name: "InitiatorAlias", type: "declarative", scope: "session", phase: "any", sender: "initiator" }),
  def({ name: "TargetAddress", type: "declarative", scope: "session", phase: "any", sender: "target" }),
  def({
    name: "TargetPortalGroupTag",
    type: "declarative",
    scope: "session",
    phase: "login-only",
    sender: "target",
    range: [0, 65535]
  }),
  def({
    name: "InitialR2T",
    type: "boolean-or",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "Yes",
    irrelevantForDiscovery: true
  }),
  def({
    name: "ImmediateData",
    type: "boolean-and",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "Yes",
    irrelevantForDiscovery: true
  }),
  def({
    name: "MaxRecvDataSegmentLength",
    type: "declarative",
    scope: "connection",
    phase: "any",
    sender: "both",
    default: "8192",
    range: [512, MAX_24]
  }),
  def({
    name: "MaxBurstLength",
    type: "numeric-min",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "262144",
    range: [512, MAX_24],
    irrelevantForDiscovery: true
  }),
  def({
    name: "FirstBurstLength",
    type: "numeric-min",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "65536",
    range: [512, MAX_24],
    irrelevantForDiscovery: true
  }),
  def({
    name: "DefaultTime2Wait",
    type: "numeric-max",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "2",
    range: [0, 3600]
  }),
  def({
    name: "DefaultTime2Retain",
    type: "numeric-min",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "20",
    range: [0, 3600]
  }),
  def({
    name: "MaxOutstandingR2T",
    type: "numeric-min",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "1",
    range: [1, 65535],
    irrelevantForDiscovery: true
  }),
  def({
    name: "DataPDUInOrder",
    type: "boolean-or",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "Yes",
    irrelevantForDiscovery: true
  }),
  def({
    name: "DataSequenceInOrder",
    type: "boolean-or",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "Yes",
    irrelevantForDiscovery: true
  }),
  def({
    name: "ErrorRecoveryLevel",
    type: "numeric-min",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "0",
    range: [0, 2]
  }),
  def({
    name: "SessionType",
    type: "declarative",
    scope: "session",
    phase: "leading-only",
    sender: "initiator",
    default: "Normal"
  }),
  def({
    name: "TaskReporting",
    type: "list",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "RFC3720",
    irrelevantForDiscovery: true
  }),
  def({
    name: "iSCSIProtocolLevel",
    type: "numeric-min",
    scope: "session",
    phase: "leading-only",
    sender: "both",
    default: "1",
    range: [0, 31],
    irrelevantForDiscovery: true
  }),
  def({ name: "X-NodeArchitecture", type: "list", scope: "session", phase: "leading-only", sender: "both" })
])

/** RFC 3720 marker keys obsoleted by RFC 7143 §13.26: answered with `Reject`, never `NotUnderstood`. */
export const obsoleteKeys: ReadonlySet<string> = new Set(["IFMarker", "OFMarker", "IFMarkInt", "OFMarkInt"])

/** Keys handled by the security stage (LoginMachine), not by this module. */
export const securityKeys: ReadonlySet<string> = new Set([
  "AuthMethod",
  "CHAP_A",
  "CHAP_I",
  "CHAP_C",
  "CHAP_N",
  "CHAP_R"
])

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/** The negotiated operational parameters of one connection (session-wide values included). */
export interface OperationalParameters {
  readonly headerDigest: boolean
  readonly dataDigest: boolean
  /** What WE accept: our declared MaxRecvDataSegmentLength. */
  readonly maxRecvDataSegmentLength: number
  /** The target's declared MaxRecvDataSegmentLength: every PDU we send is bounded by it; 8192 if never declared. */
  readonly maxXmitDataSegmentLength: number
  readonly maxBurstLength: number
  readonly firstBurstLength: number
  readonly initialR2T: boolean
  readonly immediateData: boolean
  readonly maxConnections: number
  readonly maxOutstandingR2T: number
  readonly defaultTime2Wait: number
  readonly defaultTime2Retain: number
  readonly errorRecoveryLevel: number
  readonly dataPDUInOrder: boolean
  readonly dataSequenceInOrder: boolean
  readonly targetPortalGroupTag?: number
  readonly targetAlias?: string
  /**
   * Keys of ours the target answered `Reject` (they keep their RFC default, §6.2); present only when
   * there are some. A target that rejected `HeaderDigest=None` and then sends digests anyway is
   * caught by the session's framer (`Framer.checkUndeclaredDigests`), which names the key.
   */
  readonly rejectedKeys?: ReadonlyArray<string>
}

export type DigestChoice = "CRC32C" | "None"

/** What we offer. User configuration shapes only this; the result comes from the target's answers. */
export interface Offer {
  /** Preference order; tgt answers with the first one it supports. */
  readonly headerDigest: ReadonlyArray<DigestChoice>
  readonly dataDigest: ReadonlyArray<DigestChoice>
  readonly maxRecvDataSegmentLength: number
  readonly maxBurstLength: number
  readonly firstBurstLength: number
  readonly initialR2T: boolean
  readonly immediateData: boolean
  readonly maxConnections: number
  readonly maxOutstandingR2T: number
  readonly defaultTime2Wait: number
  readonly defaultTime2Retain: number
  readonly dataPDUInOrder: boolean
  readonly dataSequenceInOrder: boolean
}

/**
 * Good defaults: immediate and unsolicited data on, large PDUs and bursts, one connection, and
 * digests `None,CRC32C` as libiscsi offers them: a target that supports both answers with our first
 * choice (no digest; tgt does so), one that insists on CRC32C gets it.
 */
export const defaultOffer: Offer = {
  headerDigest: ["None", "CRC32C"],
  dataDigest: ["None", "CRC32C"],
  maxRecvDataSegmentLength: 262144,
  // 16 MiB − 1 KiB: the largest multiple of 1 KiB within the RFC's 2^24−1.
  maxBurstLength: 16776192,
  firstBurstLength: 262144,
  initialR2T: false,
  immediateData: true,
  maxConnections: 1,
  // the engine serves any number of R2Ts in flight per task
  maxOutstandingR2T: 16,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  dataPDUInOrder: true,
  dataSequenceInOrder: true
}

/**
 * A digest preference from text: `None`, `CRC32C`, a comma list (`None,CRC32C`) or libiscsi's URL
 * forms (`none-crc32c`, `crc32c-none`), case-insensitive. Undefined when malformed (an unknown
 * value, an empty or repeated one).
 */
export const parseDigests = (text: string): ReadonlyArray<DigestChoice> | undefined => {
  const parts = text.split(/[,-]/).map((x) => x.trim().toLowerCase())
  const out: Array<DigestChoice> = []
  for (const p of parts) {
    const choice: DigestChoice | undefined = p === "none" ? "None" : p === "crc32c" ? "CRC32C" : undefined
    if (choice === undefined || out.includes(choice)) return undefined
    out.push(choice)
  }
  return out.length > 0 ? out : undefined
}

/** The ErrorRecoveryLevel the engine implements. Never offer more. */
export const ERROR_RECOVERY_LEVEL = 0
/** The iSCSIProtocolLevel we answer with (RFC 7143 = 1). */
export const PROTOCOL_LEVEL = 1
/** The target's MaxRecvDataSegmentLength when it declares none (§13.12). */
export const DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH = 8192

/** The RFC defaults as a record (what a session has before any negotiation). */
export const rfcDefaults: OperationalParameters = {
  headerDigest: false,
  dataDigest: false,
  maxRecvDataSegmentLength: DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH,
  maxXmitDataSegmentLength: DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
  initialR2T: true,
  immediateData: true,
  maxConnections: 1,
  maxOutstandingR2T: 1,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  errorRecoveryLevel: 0,
  dataPDUInOrder: true,
  dataSequenceInOrder: true
}

const inRange = (n: number, [min, max]: readonly [number, number]) => Number.isInteger(n) && n >= min && n <= max

/** Check an offer against the RFC ranges (InvalidArgument on a bad configuration). */
export const validateOffer = (offer: Offer): Result.Result<Offer, IscsiError.IscsiError> => {
  const checkList = (name: string, list: ReadonlyArray<DigestChoice>) =>
    list.length === 0 || new Set(list).size !== list.length || list.some((v) => v !== "CRC32C" && v !== "None")
      ? `${name} must be a non-empty list of distinct CRC32C / None`
      : undefined
  const checkNum = (name: string, n: number) => {
    const range = keys.get(name)!.range!
    return inRange(n, range) ? undefined : `${name} must be an integer in ${range[0]}..${range[1]}`
  }
  const problem =
    checkList("HeaderDigest", offer.headerDigest) ??
    checkList("DataDigest", offer.dataDigest) ??
    checkNum("MaxRecvDataSegmentLength", offer.maxRecvDataSegmentLength) ??
    checkNum("MaxBurstLength", offer.maxBurstLength) ??
    checkNum("FirstBurstLength", offer.firstBurstLength) ??
    checkNum("MaxConnections", offer.maxConnections) ??
    checkNum("MaxOutstandingR2T", offer.maxOutstandingR2T) ??
    checkNum("DefaultTime2Wait", offer.defaultTime2Wait) ??
    checkNum("DefaultTime2Retain", offer.defaultTime2Retain) ??
    (offer.firstBurstLength > offer.maxBurstLength ? "FirstBurstLength must not exceed MaxBurstLength" : undefined)
  return problem === undefined ? Result.succeed(offer) : failInvalid(problem)
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/** Where this negotiation happens. */
export interface Context {
  readonly sessionType: "Normal" | "Discovery"
  /** First connection of the session: leading-only keys are negotiated here only. */
  readonly leading: boolean
  /** For a non-leading connection: the session's record, whose session-wide values are kept. */
  readonly session?: OperationalParameters
}

/** The negotiation in progress. Immutable: every step returns a new state. */
export interface State {
  readonly offer: Offer
  readonly context: Context
  /** Our proposals still waiting for an answer: key → the value we sent. */
  readonly pending: ReadonlyMap<string, string>
  /** Every key we proposed in this negotiation. */
  readonly proposed: ReadonlySet<string>
  /** Keys settled in this negotiation (answered or proposed by the target). */
  readonly settled: ReadonlySet<string>
  /** Negotiated values (wire strings) of settled keys. */
  readonly values: ReadonlyMap<string, string>
  /** The target's declared MaxRecvDataSegmentLength. */
  readonly targetMaxRecvDataSegmentLength?: number
  readonly targetPortalGroupTag?: number
  readonly targetAlias?: string
  /** Our keys the target answered `Reject`. */
  readonly rejected?: ReadonlySet<string>
}

/** Start a negotiation. */
export const make = (offer: Offer, context: Context): State => ({
  offer,
  context,
  pending: new Map(),
  proposed: new Set(),
  settled: new Set(),
  values: new Map()
})

const yesNo = (b: boolean): string => (b ? "Yes" : "No")

/** Our value for a key, as we would offer it (undefined: we have no opinion on this key). */
const ourValue = (offer: Offer, key: string): string | undefined => {
  switch (key) {
    case "HeaderDigest":
      return offer.headerDigest.join(",")
    case "DataDigest":
      return offer.dataDigest.join(",")
    case "MaxRecvDataSegmentLength":
      return String(offer.maxRecvDataSegmentLength)
    case "MaxBurstLength":
      return String(offer.maxBurstLength)
    case "FirstBurstLength":
      return String(offer.firstBurstLength)
    case "InitialR2T":
      return yesNo(offer.initialR2T)
    case "ImmediateData":
      return yesNo(offer.immediateData)
    case "MaxConnections":
      return String(offer.maxConnections)
    case "MaxOutstandingR2T":
      return String(offer.maxOutstandingR2T)
    case "DefaultTime2Wait":
      return String(offer.defaultTime2Wait)
    case "DefaultTime2Retain":
      return String(offer.defaultTime2Retain)
    case "DataPDUInOrder":
      return yesNo(offer.dataPDUInOrder)
    case "DataSequenceInOrder":
      return yesNo(offer.dataSequenceInOrder)
    case "ErrorRecoveryLevel":
      return String(ERROR_RECOVERY_LEVEL)
    case "TaskReporting":
      return "RFC3720"
    case "iSCSIProtocolLevel":
      return String(PROTOCOL_LEVEL)
    default:
      return undefined
  }
}

/** The keys we propose for the given context, in order. */
export const proposalKeys = (context: Context): ReadonlyArray<string> => {
  const connection = ["HeaderDigest", "DataDigest", "MaxRecvDataSegmentLength"]
  if (!context.leading) return connection
  if (context.sessionType === "Discovery") {
    return [...connection, "DefaultTime2Wait", "DefaultTime2Retain", "ErrorRecoveryLevel"]
  }
  return [
    ...connection,
    "InitialR2T",
    "ImmediateData",
    "MaxBurstLength",
    "FirstBurstLength",
    "DefaultTime2Wait",
    "DefaultTime2Retain",
    "MaxOutstandingR2T",
    "DataPDUInOrder",
    "DataSequenceInOrder",
    "ErrorRecoveryLevel",
    "MaxConnections"
  ]
}

/** Build our proposals and remember them as pending. Keys already settled are not proposed again. */
export const propose = (state: State): { readonly state: State; readonly pairs: ReadonlyArray<Pair> } => {
  const pending = new Map(state.pending)
  const proposed = new Set(state.proposed)
  const pairs: Array<Pair> = []
  for (const key of proposalKeys(state.context)) {
    if (proposed.has(key)) continue
    // A key the target already proposed (and we answered) is settled; declaratives are ours to state anyway.
    if (state.settled.has(key) && keys.get(key)!.type !== "declarative") continue
    const value = ourValue(state.offer, key)!
    pending.set(key, value)
    proposed.add(key)
    pairs.push([key, value])
  }
  return { state: { ...state, pending, proposed }, pairs }
}

// ---------------------------------------------------------------------------------------------
// Processing the target's keys
// ---------------------------------------------------------------------------------------------

type R<A> = Result.Result<A, IscsiError.IscsiError>

const parseNumber = (key: string, value: string, range: readonly [number, number] | undefined): R<number> => {
  let n: number
  if (/^[0-9]{1,16}$/.test(value)) n = Number.parseInt(value, 10)
  else if (/^0[xX][0-9a-fA-F]{1,13}$/.test(value)) n = Number.parseInt(value.slice(2), 16)
  else return failNegotiation(key, `${key}: not a number`)
  if (range !== undefined && !inRange(n, range)) return failNegotiation(key, `${key}: ${n} is out of range`)
  return Result.succeed(n)
}

const parseBool = (key: string, value: string): R<boolean> =>
  value === "Yes"
    ? Result.succeed(true)
    : value === "No"
      ? Result.succeed(false)
      : failNegotiation(key, `${key}: not Yes/No`)

/** Our acceptable list values for a list key. */
const ourList = (offer: Offer, key: string): ReadonlyArray<string> => {
  switch (key) {
    case "HeaderDigest":
      return offer.headerDigest
    case "DataDigest":
      return offer.dataDigest
    case "TaskReporting":
      return ["RFC3720"]
    default:
      return []
  }
}

/**
 * Combine our value with the target's by the key's result function. `answer`: the target answered
 * our offer (so its value must be admissible); otherwise the target proposed and we compute the answer.
 */
const combine = (state: State, d: KeyDefinition, theirs: string, answer: boolean): R<string> => {
  const key = d.name
  const ours = ourValue(state.offer, key)
  switch (d.type) {
    case "list": {
      const acceptable = ourList(state.offer, key)
      if (answer) {
        return acceptable.includes(theirs)
          ? Result.succeed(theirs)
          : failNegotiation(key, `${key}: the target chose a value we did not offer`)
      }
      const choice = theirs.split(",").find((v) => acceptable.includes(v))
      return choice === undefined ? Result.succeed("Reject") : Result.succeed(choice)
    }
    case "boolean-and":
    case "boolean-or": {
      const t = parseBool(key, theirs)
      if (Result.isFailure(t)) return Result.fail(t.failure)
      const o = ours === "Yes"
      if (d.type === "boolean-and") {
        if (answer && !o && t.success) return failNegotiation(key, `${key}: answered Yes to our No`)
        return Result.succeed(yesNo(o && t.success))
      }
      if (answer && o && !t.success) return failNegotiation(key, `${key}: answered No to our Yes`)
      return Result.succeed(yesNo(o || t.success))
    }
    case "numeric-min":
    case "numeric-max": {
      const t = parseNumber(key, theirs, d.range)
      if (Result.isFailure(t)) return Result.fail(t.failure)
      const o = Number(ours)
      if (d.type === "numeric-min") {
        if (answer && t.success > o) return failNegotiation(key, `${key}: answer ${t.success} exceeds our ${o}`)
        return Result.succeed(String(Math.min(o, t.success)))
      }
      if (answer && t.success < o) return failNegotiation(key, `${key}: answer ${t.success} is below our ${o}`)
      return Result.succeed(String(Math.max(o, t.success)))
    }
    case "declarative":
      return Result.succeed(theirs)
  }
}

const settle = (state: State, key: string, value: string): State => {
  const settled = new Set(state.settled)
  settled.add(key)
  const values = new Map(state.values)
  values.set(key, value)
  const pending = new Map(state.pending)
  pending.delete(key)
  return { ...state, settled, values, pending }
}

/** A declarative key from the target (no answer is sent). */
const declare = (state: State, key: string, value: string): R<State> => {
  switch (key) {
    case "MaxRecvDataSegmentLength": {
      const n = parseNumber(key, value, keys.get(key)!.range)
      if (Result.isFailure(n)) return Result.fail(n.failure)
      const s = settle(state, key, value)
      return Result.succeed({ ...s, targetMaxRecvDataSegmentLength: n.success })
    }
    case "TargetPortalGroupTag": {
      const n = parseNumber(key, value, keys.get(key)!.range)
      if (Result.isFailure(n)) return Result.fail(n.failure)
      return Result.succeed({ ...settle(state, key, value), targetPortalGroupTag: n.success })
    }
    case "TargetAlias":
      return Result.succeed({ ...settle(state, key, value), targetAlias: value })
    default:
      // TargetAddress, TargetName echoes: recorded, no answer.
      return Result.succeed(settle(state, key, value))
  }
}

/** Process an answer to one of our offers. */
const answerToOffer = (state: State, d: KeyDefinition, value: string): R<State> => {
  const key = d.name
  if (value === "NotUnderstood") return failNegotiation(key, `${key}: the target did not understand an RFC key`)
  if (value === "Irrelevant") {
    // The value does not matter here: list keys fall back to their default (e.g. no digest), others keep ours.
    const kept = d.type === "list" && d.default !== undefined ? d.default : ourValue(state.offer, key)!
    return Result.succeed(settle(state, key, kept))
  }
  if (d.type === "declarative") return declare(state, key, value)
  if (value === "Reject") {
    // §6.2: the key keeps its RFC default, combined with our offer by the result function.
    if (d.default === undefined) return failNegotiation(key, `${key}: rejected`)
    const rejected = new Set(state.rejected)
    rejected.add(key)
    const s = { ...state, rejected }
    if (d.type === "list") {
      return ourList(state.offer, key).includes(d.default)
        ? Result.succeed(settle(s, key, d.default))
        : failNegotiation(key, `${key}: rejected, and its default ${d.default} is not in our offer`)
    }
    const r = combine(s, d, d.default, false)
    return Result.map(r, (v) => settle(s, key, v))
  }
  return Result.map(combine(state, d, value, true), (v) => settle(state, key, v))
}

/** Process a key the target proposes on its own; returns the reply pair, if any. */
const targetProposal = (
  state: State,
  d: KeyDefinition,
  value: string
): R<{ readonly state: State; readonly reply?: Pair }> => {
  const key = d.name
  if (value === "NotUnderstood" || value === "Irrelevant" || value === "Reject") {
    return failProtocol(`${key}=${value} from the target answers nothing we offered`)
  }
  if (d.sender === "initiator") return failNegotiation(key, `${key} may only be sent by the initiator`)
  if (d.type === "declarative") return Result.map(declare(state, key, value), (s) => ({ state: s }))
  if (d.phase === "leading-only" && !state.context.leading) {
    // A session-wide key on a non-leading connection: the session's value stands. tgt echoes every
    // session-wide key on each new connection and fails the login ("initiator error") when answered
    // with Irrelevant, so it is taken silently (its value is never applied: see `finish`).
    return Result.succeed({ state: settle(state, key, "Irrelevant") })
  }
  if (d.irrelevantForDiscovery === true && state.context.sessionType === "Discovery") {
    return Result.succeed({ state: settle(state, key, "Irrelevant"), reply: [key, "Irrelevant"] as const })
  }
  if (d.name === "X-NodeArchitecture") {
    return Result.succeed({ state: settle(state, key, "Reject"), reply: [key, "Reject"] as const })
  }
  const r = combine(state, d, value, false)
  if (Result.isFailure(r)) return Result.fail(r.failure)
  const answer = r.success
  if (answer === "Reject") {
    // No common list value: the default applies, and must be acceptable to us.
    if (d.default === undefined || !ourList(state.offer, key).includes(d.default)) {
      return failNegotiation(key, `${key}: no acceptable value in the target's list`)
    }
    return Result.succeed({ state: settle(state, key, d.default), reply: [key, "Reject"] as const })
  }
  return Result.succeed({ state: settle(state, key, answer), reply: [key, answer] as const })
}

/**
 * Process the target's operational keys (answers and proposals). Returns our reply keys (answers to
 * the target's proposals) and the new state. Security keys must be filtered out by the caller.
 */
export const respond = (
  state: State,
  pairs: ReadonlyArray<Pair>
): R<{ readonly state: State; readonly reply: ReadonlyArray<Pair> }> => {
  let s = state
  const reply: Array<Pair> = []
  const seen = new Set<string>()
  for (const [key, value] of pairs) {
    const declarative = keys.get(key)?.type === "declarative"
    if (seen.has(key) || (!declarative && s.settled.has(key) && !s.pending.has(key))) {
      return failNegotiation(key, `${key} sent twice in one negotiation`)
    }
    seen.add(key)
    if (obsoleteKeys.has(key)) {
      reply.push([key, "Reject"])
      continue
    }
    const d = keys.get(key)
    if (d === undefined) {
      reply.push([key, "NotUnderstood"])
      continue
    }
    if (securityKeys.has(key)) return failProtocol(`${key} outside the security stage`)
    if (s.pending.has(key)) {
      const r = answerToOffer(s, d, value)
      if (Result.isFailure(r)) return Result.fail(r.failure)
      s = r.success
    } else {
      const r = targetProposal(s, d, value)
      if (Result.isFailure(r)) return Result.fail(r.failure)
      s = r.success.state
      if (r.success.reply !== undefined) reply.push(r.success.reply)
    }
  }
  return Result.succeed({ state: s, reply })
}

/** Keys whose answer may be omitted: AND offered No, OR offered Yes (§6.2.2), and declaratives. */
const answerOptional = (key: string, offered: string): boolean => {
  const d = keys.get(key)
  if (d === undefined) return true
  if (d.type === "declarative") return true
  if (d.type === "boolean-and") return offered === "No"
  if (d.type === "boolean-or") return offered === "Yes"
  return false
}

/**
 * Finish: every offer answered (or optional), then the record. For a non-leading connection the
 * session-wide values come from `context.session`.
 */
export const finish = (state: State): R<OperationalParameters> => {
  for (const [key, offered] of state.pending) {
    if (!answerOptional(key, offered)) return failNegotiation(key, `${key}: the target never answered`)
  }
  const base = state.context.leading ? rfcDefaults : (state.context.session ?? rfcDefaults)
  const values = new Map(state.values)
  // Optional answers take our offered value.
  for (const [key, offered] of state.pending) if (!values.has(key)) values.set(key, offered)
  const isSession = (key: string) => keys.get(key)?.scope === "session"
  const usable = (key: string) => {
    const v = values.get(key)
    return v !== undefined && v !== "Irrelevant" && v !== "Reject" && (state.context.leading || !isSession(key))
      ? v
      : undefined
  }
  const num = (key: string, fallback: number) => {
    const v = usable(key)
    return v === undefined ? fallback : Number(v)
  }
  const bool = (key: string, fallback: boolean) => {
    const v = usable(key)
    return v === undefined ? fallback : v === "Yes"
  }
  const digest = (key: string, fallback: boolean) => {
    const v = usable(key)
    return v === undefined ? fallback : v === "CRC32C"
  }
  const maxBurstLength = num("MaxBurstLength", base.maxBurstLength)
  const params: OperationalParameters = {
    headerDigest: digest("HeaderDigest", false),
    dataDigest: digest("DataDigest", false),
    maxRecvDataSegmentLength: state.proposed.has("MaxRecvDataSegmentLength")
      ? state.offer.maxRecvDataSegmentLength
      : DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH,
    maxXmitDataSegmentLength: state.targetMaxRecvDataSegmentLength ?? DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH,
    maxBurstLength,
    // FirstBurstLength must not exceed MaxBurstLength (§13.14).
    firstBurstLength: Math.min(num("FirstBurstLength", base.firstBurstLength), maxBurstLength),
    initialR2T: bool("InitialR2T", base.initialR2T),
    immediateData: bool("ImmediateData", base.immediateData),
    maxConnections: num("MaxConnections", base.maxConnections),
    maxOutstandingR2T: num("MaxOutstandingR2T", base.maxOutstandingR2T),
    defaultTime2Wait: num("DefaultTime2Wait", base.defaultTime2Wait),
    defaultTime2Retain: num("DefaultTime2Retain", base.defaultTime2Retain),
    errorRecoveryLevel: num("ErrorRecoveryLevel", base.errorRecoveryLevel),
    dataPDUInOrder: bool("DataPDUInOrder", base.dataPDUInOrder),
    dataSequenceInOrder: bool("DataSequenceInOrder", base.dataSequenceInOrder),
    ...(state.targetPortalGroupTag !== undefined ? { targetPortalGroupTag: state.targetPortalGroupTag } : {}),
    ...(state.targetAlias !== undefined ? { targetAlias: state.targetAlias } : {}),
    ...(state.rejected !== undefined && state.rejected.size > 0 ? { rejectedKeys: [...state.rejected] } : {})
  }
  if (params.errorRecoveryLevel > ERROR_RECOVERY_LEVEL) {
    return failNegotiation("ErrorRecoveryLevel", "ErrorRecoveryLevel above what the engine implements")
  }
  return Result.succeed(params)
}
