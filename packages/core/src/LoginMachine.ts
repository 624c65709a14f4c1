/**
 * The login phase as a pure state machine (RFC 7143 §6.3, §11.12, §11.13, §12.1.3, §13).
 *
 * The effectful driver (`Login`) calls {@link start} for the first Login Request, sends it, and
 * feeds every Login Response to {@link step}, which answers with the next request to send, a
 * redirect to follow, or the completed {@link LoginResult}. No I/O, no clock: hashing and random
 * bytes come in through {@link Env}.
 *
 * Stages (CSG/NSG): 0 SecurityNegotiation → 1 LoginOperationalNegotiation → 3 FullFeaturePhase.
 *
 * ```text
 *  AuthMethod=None:   [CSG0 T NSG1: names, AuthMethod=None] ─► [CSG0 T NSG1: AuthMethod=None, TPGT]
 *                     [CSG1 T NSG3: operational offers]    ─► [CSG1 T NSG3: answers]        ─► done
 *  CHAP (one-way):    [CSG0: names, AuthMethod=CHAP,None]  ─► [CSG0: AuthMethod=CHAP]
 *                     [CSG0: CHAP_A=…,5]                   ─► [CSG0: CHAP_A, CHAP_I, CHAP_C]
 *                     [CSG0 T NSG1: CHAP_N, CHAP_R]        ─► [CSG0 T NSG1]  then stage 1 as above
 *  mutual CHAP:       as one-way, AuthMethod=CHAP only; the 3rd request adds CHAP_I, CHAP_C and the
 *                     target's answer must carry CHAP_N (the configured target user) and a CHAP_R
 *                     that verifies against our challenge, else AuthenticationFailed.
 * ```
 *
 * Rules kept here:
 * - every login PDU carries the same ITT, ISID, TSIH, CID and CmdSN; ExpStatSN follows the target's
 *   StatSN (StatSN + 1 of the last response); the first request carries `config.expStatSN`;
 * - we always begin in the security stage (as libiscsi does); with no authentication we offer
 *   `AuthMethod=None` and ask to transit at once; with one-way CHAP we offer `CHAP,None` (None only
 *   weakens the target's check of us, which is its choice); with mutual CHAP we offer `CHAP` only;
 * - the target may transit only when we set T, only to the NSG we asked for, and never out of
 *   the security stage before authentication finished;
 * - a response with C=1 (text continues, T must be 0) is answered with an empty request and its
 *   data reassembled (bounded);
 * - Status-Class 1 becomes a `Redirect` step (TargetAddress parsed); any other non-zero status is the
 *   `LoginFailed` error of `LoginStatus.toError`;
 * - a target that wants CHAP from us when we have no credentials (AuthMethod=CHAP or Reject in
 *   answer to our None, or an AuthenticationFailure status) fails with {@link CHAP_REQUIRED}, which
 *   says how to pass credentials (`AuthenticationFailed`, or `LoginFailed` with that `hint`);
 * - our CHAP challenge is never equal to the target's; the target and initiator secrets must differ
 *   (§12.1.3); secrets never appear in errors;
 * - operational keys go through `Negotiation`; values apply only in the final `LoginResult`.
 * - the number of exchanges in one login is bounded ({@link MAX_EXCHANGES}).
 *
 * Not here: sockets, timeouts, redirect bounds (the driver's), splitting our own login text with
 * the C bit (our login texts are far below the 8192-byte default).
 */
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Chap from "./Chap.ts"
import type * as IscsiError from "./IscsiError.ts"
import { failAuth, failInvalid, failNegotiation, failProtocol } from "./internal/textErrors.ts"
import * as LoginStatus from "./LoginStatus.ts"
import * as Negotiation from "./Negotiation.ts"
import type { LoginRequest, LoginResponse } from "./PduTypes.ts"
import * as SendTargets from "./SendTargets.ts"
import * as TextKeys from "./TextKeys.ts"

/** The only iSCSI version (RFC 7143 §11.12.4). */
export const VERSION = 0
/** Upper bound on Login Request/Response exchanges in one login. */
export const MAX_EXCHANGES = 32
/** Upper bound on a reassembled login text (C bit). */
export const MAX_LOGIN_TEXT_BYTES = 64 * 1024

export type Stage = 0 | 1 | 3

/** Stage numbers (§11.12.3). */
export const Stage = {
  SecurityNegotiation: 0,
  LoginOperationalNegotiation: 1,
  FullFeaturePhase: 3
} as const

export interface ChapAuth {
  readonly _tag: "Chap"
  readonly user: string
  readonly secret: Redacted.Redacted<string>
  /** Mutual CHAP: the target's expected name and secret. */
  readonly mutual?: { readonly user: string; readonly secret: Redacted.Redacted<string> }
  /** Algorithms to offer in preference order (default: `Chap.allAlgorithms`); MD5 is always added. */
  readonly algorithms?: ReadonlyArray<Chap.Algorithm>
}

export type Auth = { readonly _tag: "None" } | ChapAuth

export interface Config {
  readonly initiatorName: string
  readonly initiatorAlias?: string
  readonly sessionType: "Normal" | "Discovery"
  /** Required for Normal sessions. */
  readonly targetName?: string
  readonly isid: number
  /** 0 for a new session; the session's TSIH to add a connection. */
  readonly tsih: number
  readonly cid: number
  readonly itt: number
  readonly cmdSN: number
  readonly expStatSN: number
  readonly auth: Auth
  readonly offer: Negotiation.Offer
  /** First connection of the session: session-wide keys are negotiated here only. */
  readonly leading: boolean
  /** For a non-leading connection: the session's negotiated record (session-wide values are kept). */
  readonly session?: Negotiation.OperationalParameters
}

export interface Env {
  readonly hash: Chap.Hash
  readonly randomBytes: (n: number) => Uint8Array
}

/** What a successful login hands to the session. */
export interface LoginResult {
  readonly params: Negotiation.OperationalParameters
  readonly tsih: number
  /** StatSN of the final Login Response: the next response will carry StatSN + 1. */
  readonly statSN: number
  readonly expCmdSN: number
  readonly maxCmdSN: number
  readonly targetPortalGroupTag?: number
  readonly targetAlias?: string
  readonly authMethod: "None" | "CHAP"
}

/** Where authentication stands. */
export type AuthState =
  | { readonly _tag: "NoneOffered" }
  | { readonly _tag: "ChapOffered" }
  | { readonly _tag: "AlgorithmsSent"; readonly algorithms: ReadonlyArray<Chap.Algorithm> }
  | {
      readonly _tag: "ResponseSent"
      readonly mutual?: { readonly algorithm: Chap.Algorithm; readonly id: number; readonly challenge: Uint8Array }
    }
  | { readonly _tag: "Done"; readonly method: "None" | "CHAP" }

/** The machine's state between two responses. Immutable. */
export interface State {
  readonly config: Config
  readonly env: Env
  /** Our current stage (CSG). */
  readonly stage: 0 | 1
  /** Whether our current round asked to transit (T bit of our last request other than a C-bit acknowledgement). */
  readonly transit: boolean
  /** NSG we asked for (when `transit`). */
  readonly nsg: 1 | 3
  readonly auth: AuthState
  readonly negotiation: Negotiation.State
  /** Data of a response still being continued (C bit). */
  readonly partial: Uint8Array
  readonly expStatSN: number
  readonly exchanges: number
}

export type Step =
  | { readonly _tag: "Send"; readonly state: State; readonly request: LoginRequest }
  | { readonly _tag: "Redirect"; readonly host: string; readonly port: number; readonly temporary: boolean }
  | { readonly _tag: "Complete"; readonly result: LoginResult }

type R<A> = Result.Result<A, IscsiError.IscsiError>

/**
 * What to do when a target requires CHAP and we offered none: how to pass credentials to the
 * library and to the `iscsi` command.
 */
export const CHAP_REQUIRED =
  "the target requires CHAP authentication and no credentials were given: pass them in the URL " +
  "(iscsi://user%secret@host[:port]/target-iqn/lun), in ISCSI_CHAP_USER and ISCSI_CHAP_SECRET, or as " +
  "the `chap` option ({ user, secret: Redacted.make(secret) }) of IscsiClient.layer / IscsiConfig.fromUrl"

const makeRequest = (
  state: State,
  pairs: ReadonlyArray<TextKeys.Pair>,
  transit: boolean = state.transit
): LoginRequest => ({
  _tag: "LoginRequest",
  transit,
  continue: false,
  csg: state.stage,
  // NSG is meaningful only with T=1 (§11.12.3); reserved (0) otherwise.
  nsg: transit ? state.nsg : 0,
  versionMax: VERSION,
  versionMin: VERSION,
  isid: state.config.isid,
  tsih: state.config.tsih,
  itt: state.config.itt,
  cid: state.config.cid,
  cmdSN: state.config.cmdSN,
  expStatSN: state.expStatSN,
  data: TextKeys.encode(pairs)
})

const validate = (config: Config): R<void> => {
  if (config.initiatorName.length === 0) return failInvalid("initiatorName is required")
  if (config.sessionType === "Normal" && (config.targetName === undefined || config.targetName.length === 0)) {
    return failInvalid("targetName is required for a Normal session")
  }
  if (!Number.isInteger(config.isid) || config.isid < 0 || config.isid > 0xffffffffffff) {
    return failInvalid("isid must be a 48-bit unsigned integer")
  }
  if (!config.leading && config.tsih === 0) return failInvalid("a non-leading connection needs the session's TSIH")
  if (config.auth._tag === "Chap") {
    if (config.auth.user.length === 0) return failInvalid("CHAP user name is required")
    if (Redacted.value(config.auth.secret).length === 0) return failInvalid("CHAP secret is required")
    const mutual = config.auth.mutual
    if (mutual !== undefined) {
      if (mutual.user.length === 0) return failInvalid("mutual CHAP target user name is required")
      if (Redacted.value(mutual.secret).length === 0) return failInvalid("mutual CHAP target secret is required")
      // §12.1.3: a secret used to authenticate the initiator must not authenticate the target.
      if (Redacted.value(mutual.secret) === Redacted.value(config.auth.secret)) {
        return failInvalid("the mutual CHAP target secret must differ from the initiator secret")
      }
    }
  }
  const offer = Negotiation.validateOffer(config.offer)
  if (Result.isFailure(offer)) return Result.fail(offer.failure)
  return Result.succeed(undefined)
}

/** Validate the configuration and build the first Login Request. */
export const start = (config: Config, env: Env): R<{ readonly state: State; readonly request: LoginRequest }> => {
  const v = validate(config)
  if (Result.isFailure(v)) return Result.fail(v.failure)
  const pairs: Array<TextKeys.Pair> = [["InitiatorName", config.initiatorName]]
  if (config.initiatorAlias !== undefined) pairs.push(["InitiatorAlias", config.initiatorAlias])
  if (config.leading) pairs.push(["SessionType", config.sessionType])
  if (config.targetName !== undefined && config.sessionType === "Normal") pairs.push(["TargetName", config.targetName])
  let auth: AuthState
  let transit: boolean
  if (config.auth._tag === "None") {
    pairs.push(["AuthMethod", "None"])
    auth = { _tag: "NoneOffered" }
    transit = true
  } else {
    pairs.push(["AuthMethod", config.auth.mutual === undefined ? "CHAP,None" : "CHAP"])
    auth = { _tag: "ChapOffered" }
    transit = false
  }
  const state: State = {
    config,
    env,
    stage: 0,
    transit,
    nsg: 1,
    auth,
    negotiation: Negotiation.make(config.offer, {
      sessionType: config.sessionType,
      leading: config.leading,
      ...(config.session !== undefined ? { session: config.session } : {})
    }),
    partial: new Uint8Array(0),
    expStatSN: config.expStatSN,
    exchanges: 0
  }
  return Result.succeed({ state, request: makeRequest(state, pairs) })
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

interface AuthOutcome {
  readonly auth: AuthState
  readonly reply: ReadonlyArray<TextKeys.Pair>
  /** Whether our next request asks to leave the security stage. */
  readonly transit: boolean
}

const getKey = (pairs: ReadonlyArray<TextKeys.Pair>, key: string) => TextKeys.get(pairs, key)

/** The security-stage step: AuthMethod and the CHAP exchange. */
const authStep = (state: State, sec: ReadonlyArray<TextKeys.Pair>): R<AuthOutcome> => {
  const config = state.config
  const auth = state.auth
  const authMethod = getKey(sec, "AuthMethod")
  const hasChapKeys = sec.some(([k]) => k.startsWith("CHAP_"))
  switch (auth._tag) {
    case "NoneOffered": {
      if (authMethod === "CHAP" || authMethod === "Reject") {
        // it wants CHAP (answered as if offered, or our None refused): say how to give credentials
        return failAuth(`${CHAP_REQUIRED} (it answered AuthMethod=${authMethod} to our AuthMethod=None)`)
      }
      if (authMethod !== undefined && authMethod !== "None") {
        return failNegotiation(
          "AuthMethod",
          `the target requires AuthMethod=${authMethod}, which we do not support (we offer CHAP or None)`
        )
      }
      if (hasChapKeys) return failProtocol("CHAP keys without CHAP authentication")
      return Result.succeed({ auth: { _tag: "Done", method: "None" }, reply: [], transit: true })
    }
    case "ChapOffered": {
      const chap = config.auth as ChapAuth
      if (hasChapKeys) return failProtocol("CHAP keys before AuthMethod=CHAP was agreed")
      if (authMethod === "CHAP") {
        const algorithms = Chap.offeredAlgorithms(chap.algorithms)
        return Result.succeed({
          auth: { _tag: "AlgorithmsSent", algorithms },
          reply: [["CHAP_A", algorithms.map((a) => Chap.algorithmNumber[a]).join(",")]],
          transit: false
        })
      }
      if (authMethod === "None" && chap.mutual === undefined) {
        return Result.succeed({ auth: { _tag: "Done", method: "None" }, reply: [], transit: true })
      }
      return failNegotiation("AuthMethod", "the target did not agree to CHAP")
    }
    case "AlgorithmsSent": {
      const chap = config.auth as ChapAuth
      const a = getKey(sec, "CHAP_A")
      const i = getKey(sec, "CHAP_I")
      const c = getKey(sec, "CHAP_C")
      if (a === undefined || i === undefined || c === undefined) {
        return failAuth("the target's CHAP challenge lacks CHAP_A, CHAP_I or CHAP_C")
      }
      const aNum = Chap.decodeNumber(a)
      const algorithm = Result.isSuccess(aNum) ? Chap.algorithmFromNumber(aNum.success) : undefined
      if (algorithm === undefined || !auth.algorithms.includes(algorithm)) {
        return failNegotiation("CHAP_A", "the target chose a CHAP algorithm we did not offer")
      }
      const id = Chap.decodeNumber(i)
      if (Result.isFailure(id) || id.success > 255) return failAuth("invalid CHAP_I")
      const challenge = Chap.decodeBinary(c)
      if (Result.isFailure(challenge) || challenge.success.length === 0) return failAuth("invalid CHAP_C")
      const ours = Chap.response(
        state.env.hash,
        algorithm,
        id.success,
        Chap.secretBytes(chap.secret),
        challenge.success
      )
      const reply: Array<TextKeys.Pair> = [
        ["CHAP_N", chap.user],
        ["CHAP_R", Chap.encodeHex(ours)]
      ]
      if (chap.mutual === undefined) {
        return Result.succeed({ auth: { _tag: "ResponseSent" }, reply, transit: true })
      }
      // Our challenge for the target: never equal to the one it sent us.
      let mine = state.env.randomBytes(Chap.digestLength[algorithm])
      if (Chap.equalBytes(mine, challenge.success)) mine = state.env.randomBytes(Chap.digestLength[algorithm])
      if (Chap.equalBytes(mine, challenge.success))
        return failAuth("could not make a challenge distinct from the target's")
      const myId = state.env.randomBytes(1)[0]!
      reply.push(["CHAP_I", String(myId)], ["CHAP_C", Chap.encodeHex(mine)])
      return Result.succeed({
        auth: { _tag: "ResponseSent", mutual: { algorithm, id: myId, challenge: mine } },
        reply,
        transit: true
      })
    }
    case "ResponseSent": {
      const chap = config.auth as ChapAuth
      if (auth.mutual === undefined || chap.mutual === undefined) {
        // One-way CHAP: nothing more to check (stray CHAP keys are ignored).
        return Result.succeed({ auth: { _tag: "Done", method: "CHAP" }, reply: [], transit: true })
      }
      const n = getKey(sec, "CHAP_N")
      const r = getKey(sec, "CHAP_R")
      if (n === undefined || r === undefined) return failAuth("the target did not answer our mutual CHAP challenge")
      if (n !== chap.mutual.user) return failAuth("the target's CHAP_N is not the configured target user")
      const theirs = Chap.decodeBinary(r)
      if (Result.isFailure(theirs)) return failAuth("invalid CHAP_R from the target")
      const expected = Chap.response(
        state.env.hash,
        auth.mutual.algorithm,
        auth.mutual.id,
        Chap.secretBytes(chap.mutual.secret),
        auth.mutual.challenge
      )
      if (!Chap.equalBytes(expected, theirs.success))
        return failAuth("the target's mutual CHAP response did not verify")
      return Result.succeed({ auth: { _tag: "Done", method: "CHAP" }, reply: [], transit: true })
    }
    case "Done":
      if (authMethod !== undefined || hasChapKeys) return failProtocol("security keys after authentication finished")
      return Result.succeed({ auth, reply: [], transit: true })
  }
}

const redirect = (response: LoginResponse): R<Step> => {
  const pairs = TextKeys.decode(response.data)
  if (Result.isFailure(pairs)) return Result.fail(pairs.failure)
  const address = TextKeys.get(pairs.success, "TargetAddress")
  if (address === undefined) return failProtocol("login redirect without TargetAddress")
  const portal = SendTargets.parseAddress(address)
  if (Result.isFailure(portal)) return Result.fail(portal.failure)
  return Result.succeed({
    _tag: "Redirect",
    host: portal.success.host,
    port: portal.success.port,
    temporary: LoginStatus.isTemporaryRedirect(response.statusDetail)
  })
}

/** Feed one Login Response. */
export const step = (state: State, response: LoginResponse): R<Step> => {
  const config = state.config
  if (response.itt !== config.itt) return failProtocol("Login Response with a foreign ITT")
  if (response.statusClass !== 0) {
    if (LoginStatus.isRedirect(response.statusClass)) return redirect(response)
    // tgt refuses AuthMethod=None on a CHAP target with "authentication failure": we sent no credentials
    const noCredentials =
      response.statusClass === LoginStatus.StatusClass.InitiatorError &&
      response.statusDetail === 0x01 &&
      config.auth._tag === "None"
    return Result.fail(
      LoginStatus.toError(response.statusClass, response.statusDetail, noCredentials ? CHAP_REQUIRED : undefined)
    )
  }
  if (response.versionActive !== VERSION) return failProtocol("Login Response with an unsupported VersionActive")
  if (response.isid !== config.isid) return failProtocol("Login Response for another ISID")
  if (response.csg !== state.stage) return failProtocol("Login Response in a different stage (CSG)")
  const exchanges = state.exchanges + 1
  if (exchanges > MAX_EXCHANGES) return failProtocol(`login did not finish within ${MAX_EXCHANGES} exchanges`)
  const expStatSN = (response.statSN + 1) >>> 0

  // C bit: the target's text continues; answer with an empty request in the same stage.
  if (response.continue) {
    if (response.transit) return failProtocol("Login Response with both C and T set")
    const partial = concat(state.partial, response.data)
    if (partial.length > MAX_LOGIN_TEXT_BYTES) return failProtocol("login text exceeds its bound")
    // The acknowledgement carries T=0; our earlier wish to transit (state.transit) still stands.
    const next: State = { ...state, partial, expStatSN, exchanges }
    return Result.succeed({ _tag: "Send", state: next, request: makeRequest(next, [], false) })
  }
  const decoded = TextKeys.decode(concat(state.partial, response.data))
  if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
  const sec = decoded.success.filter(([k]) => Negotiation.securityKeys.has(k))
  const ops = decoded.success.filter(([k]) => !Negotiation.securityKeys.has(k))

  if (response.transit) {
    if (!state.transit) return failProtocol("the target transited without our T bit")
    if (response.nsg !== state.nsg) return failProtocol("the target transited to a stage we did not ask for")
  }

  let auth = state.auth
  let reply: Array<TextKeys.Pair> = []
  let wantTransit = true
  if (state.stage === 0) {
    const a = authStep(state, sec)
    if (Result.isFailure(a)) return Result.fail(a.failure)
    auth = a.success.auth
    reply = [...a.success.reply]
    wantTransit = a.success.transit
  } else if (sec.length > 0) {
    return failProtocol("security keys in the operational stage")
  }
  const negotiated = Negotiation.respond(state.negotiation, ops)
  if (Result.isFailure(negotiated)) return Result.fail(negotiated.failure)
  reply = [...reply, ...negotiated.success.reply]
  let negotiation = negotiated.success.state

  const base: State = {
    ...state,
    auth,
    negotiation,
    partial: new Uint8Array(0),
    expStatSN,
    exchanges
  }

  if (!response.transit) {
    // Same stage: send our reply (and ask again to transit when we are ready).
    const next: State = { ...base, transit: wantTransit }
    return Result.succeed({ _tag: "Send", state: next, request: makeRequest(next, reply) })
  }

  if (state.stage === 0) {
    if (auth._tag !== "Done") return failAuth("the target left the security stage before authentication finished")
    const proposed = Negotiation.propose(negotiation)
    negotiation = proposed.state
    const next: State = { ...base, negotiation, stage: 1, transit: true, nsg: 3 }
    return Result.succeed({ _tag: "Send", state: next, request: makeRequest(next, [...reply, ...proposed.pairs]) })
  }

  // Stage 1 → full feature phase.
  if (reply.length > 0) return failProtocol("the target proposed keys while entering full feature phase")
  const params = Negotiation.finish(negotiation)
  if (Result.isFailure(params)) return Result.fail(params.failure)
  if (response.tsih === 0) return failProtocol("final Login Response without a TSIH")
  if (config.tsih !== 0 && response.tsih !== config.tsih) return failProtocol("final Login Response with another TSIH")
  const p = params.success
  return Result.succeed({
    _tag: "Complete",
    result: {
      params: p,
      tsih: response.tsih,
      statSN: response.statSN,
      expCmdSN: response.expCmdSN,
      maxCmdSN: response.maxCmdSN,
      ...(p.targetPortalGroupTag !== undefined ? { targetPortalGroupTag: p.targetPortalGroupTag } : {}),
      ...(p.targetAlias !== undefined ? { targetAlias: p.targetAlias } : {}),
      authMethod: auth._tag === "Done" ? auth.method : "None"
    }
  })
}
