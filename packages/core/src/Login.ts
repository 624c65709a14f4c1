/**
 * The effectful login driver (RFC 7143 §6.3, §11.12–11.13): dials the portal through `Transport`,
 * runs the pure `LoginMachine` (one outstanding Login Request, one ITT, continuation, CHAP,
 * negotiation) over the channel, follows redirects within a bound, and hands back the open channel,
 * its framer (holding any bytes that arrived after the final response) and the `LoginResult`.
 *
 * Digests are never used during login; the caller switches them on after it (per connection).
 *
 * Observability: every login is a `Login.connect` span with the target, portal, ISID, CID and
 * session type, the negotiated keys once it succeeds and the failure's status when it does not,
 * and an Info log line with the negotiated keys; a redirect is an Info line and a span event. No
 * secret ever goes to either (CHAP names and secrets stay in `LoginMachine`).
 *
 * Not here: the negotiation rules and CHAP math (pure, in `LoginMachine`, `Negotiation`, `Chap`),
 * full-feature traffic (that is `Session`).
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Framer from "./Framer.ts"
import * as IscsiError from "./IscsiError.ts"
import * as LoginMachine from "./LoginMachine.ts"
import * as Pdu from "./Pdu.ts"
import type * as P from "./PduTypes.ts"
import { type Address, type Channel, Platform, Transport } from "./Transport.ts"

/** During login the target's MaxRecvDataSegmentLength is not known yet: RFC default 8192; we accept up to this much. */
const LOGIN_MAX_SEGMENT = 65536

export interface Connected {
  readonly channel: Channel
  readonly framer: Framer.Framer
  readonly result: LoginMachine.LoginResult
  /** Where we finally logged in (after redirects). */
  readonly address: Address
}

/** Read PDUs from a channel one at a time, outside the full-feature reader (login, tests). */
export const makePduReader = (channel: Channel, framer: Framer.Framer) => {
  const pending: Array<P.Pdu> = []
  const next: Effect.Effect<P.Pdu, IscsiError.IscsiError> = Effect.suspend(function loop(): Effect.Effect<
    P.Pdu,
    IscsiError.IscsiError
  > {
    const p = pending.shift()
    if (p !== undefined) return Effect.succeed(p)
    return Effect.flatMap(channel.pull, (chunks) => {
      for (const chunk of chunks) {
        const r = framer.push(chunk)
        if (r._tag === "Failure") return Effect.fail(r.failure)
        for (const pdu of r.success) pending.push(pdu)
      }
      return loop()
    })
  })
  return { next, pending }
}

const exchange = (
  channel: Channel,
  framer: Framer.Framer,
  start: { state: LoginMachine.State; request: P.LoginRequest }
): Effect.Effect<
  | { readonly _tag: "Complete"; readonly result: LoginMachine.LoginResult }
  | { readonly _tag: "Redirect"; readonly host: string; readonly port: number },
  IscsiError.IscsiError
> =>
  Effect.gen(function* () {
    const reader = makePduReader(channel, framer)
    let state = start.state
    let request = start.request
    for (;;) {
      yield* channel.writeAll([Pdu.encode(request)])
      const pdu = yield* reader.next
      if (pdu._tag !== "LoginResponse") {
        return yield* Effect.fail(
          IscsiError.make(new IscsiError.ProtocolError({ message: `expected a Login Response, got ${pdu._tag}` }))
        )
      }
      const step = LoginMachine.step(state, pdu)
      if (step._tag === "Failure") return yield* Effect.fail(step.failure)
      const s = step.success
      if (s._tag === "Send") {
        state = s.state
        request = s.request
        continue
      }
      if (s._tag === "Redirect") return { _tag: "Redirect", host: s.host, port: s.port } as const
      if (reader.pending.length > 0) {
        return yield* Effect.fail(
          IscsiError.make(new IscsiError.ProtocolError({ message: "target sent PDUs before login completed" }))
        )
      }
      return { _tag: "Complete", result: s.result } as const
    }
  })

export interface LoginOptions {
  readonly address: Address
  readonly config: LoginMachine.Config
  /** Redirects followed at most (default 4). */
  readonly maxRedirects?: number | undefined
  /** Deadline for the whole login, each attempt (default 15 s). */
  readonly timeoutMs?: number | undefined
}

const portalOf = (a: Address) => `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`

/** The negotiated keys (RFC 7143 names) as log annotations and span attributes. */
export const negotiatedKeys = (result: LoginMachine.LoginResult): Record<string, string | number> => {
  const p = result.params
  const yesNo = (b: boolean) => (b ? "Yes" : "No")
  return {
    HeaderDigest: p.headerDigest ? "CRC32C" : "None",
    DataDigest: p.dataDigest ? "CRC32C" : "None",
    MaxRecvDataSegmentLength: p.maxRecvDataSegmentLength,
    MaxXmitDataSegmentLength: p.maxXmitDataSegmentLength,
    FirstBurstLength: p.firstBurstLength,
    MaxBurstLength: p.maxBurstLength,
    InitialR2T: yesNo(p.initialR2T),
    ImmediateData: yesNo(p.immediateData),
    MaxOutstandingR2T: p.maxOutstandingR2T,
    MaxConnections: p.maxConnections,
    ErrorRecoveryLevel: p.errorRecoveryLevel,
    DefaultTime2Wait: p.defaultTime2Wait,
    DefaultTime2Retain: p.defaultTime2Retain,
    DataPDUInOrder: yesNo(p.dataPDUInOrder),
    DataSequenceInOrder: yesNo(p.dataSequenceInOrder),
    AuthMethod: result.authMethod,
    ...(result.targetPortalGroupTag !== undefined ? { TargetPortalGroupTag: result.targetPortalGroupTag } : {}),
    ...(result.targetAlias !== undefined ? { TargetAlias: result.targetAlias } : {}),
    ...(p.rejectedKeys !== undefined ? { RejectedKeys: p.rejectedKeys.join(",") } : {})
  }
}

const prefixed = (prefix: string, fields: Record<string, unknown>) => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(fields)) out[`${prefix}${k}`] = v
  return out
}

/** Connect and log in; the channel lives in the current scope. */
export const connect = Effect.fn("Login.connect")(
  function* (
    options: LoginOptions
  ): Effect.fn.Return<Connected, IscsiError.IscsiError, Transport | Platform | Scope.Scope> {
    const transport = yield* Transport
    const platform = yield* Platform
    const env: LoginMachine.Env = { hash: platform.hash, randomBytes: platform.randomBytes }
    const maxRedirects = options.maxRedirects ?? 4
    const timeoutMs = options.timeoutMs ?? 15_000
    const c = options.config
    const who = { target: c.targetName ?? "(discovery)", isid: c.isid.toString(16).padStart(12, "0"), cid: c.cid }
    yield* Effect.annotateCurrentSpan({
      "iscsi.target": who.target,
      "iscsi.portal": portalOf(options.address),
      "iscsi.initiator": c.initiatorName,
      "iscsi.isid": who.isid,
      "iscsi.cid": c.cid,
      "iscsi.session_type": c.sessionType,
      "iscsi.leading": c.leading,
      "iscsi.auth": c.auth._tag
    })
    let address = options.address
    for (let redirects = 0; ; redirects++) {
      const started = LoginMachine.start(options.config, env)
      if (started._tag === "Failure") return yield* Effect.fail(started.failure)
      const channel = yield* transport.connect(address)
      const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: LOGIN_MAX_SEGMENT })
      const outcome = yield* exchange(channel, framer, started.success).pipe(
        Effect.timeoutOrElse({
          duration: timeoutMs,
          orElse: () =>
            Effect.fail(
              IscsiError.make(
                new IscsiError.Timeout({ operation: "login", message: `login did not complete within ${timeoutMs} ms` })
              )
            )
        }),
        Effect.tapError(() => channel.destroy)
      )
      if (outcome._tag === "Complete") {
        const keys = negotiatedKeys(outcome.result)
        yield* Effect.annotateCurrentSpan({
          ...prefixed("iscsi.login.", keys),
          "iscsi.login.outcome": "ok",
          "iscsi.tsih": outcome.result.tsih,
          "iscsi.portal": portalOf(address),
          "iscsi.redirects": redirects
        })
        yield* Effect.logInfo("logged in").pipe(
          Effect.annotateLogs({ ...who, portal: portalOf(address), tsih: outcome.result.tsih, ...keys })
        )
        return { channel, framer, result: outcome.result, address } satisfies Connected
      }
      yield* channel.destroy
      if (redirects >= maxRedirects) {
        return yield* Effect.fail(
          IscsiError.make(
            new IscsiError.LoginFailed({
              statusClass: 1,
              statusDetail: 0,
              status: "TooManyRedirects",
              message: `more than ${maxRedirects} login redirects`
            })
          )
        )
      }
      const to = { host: outcome.host, port: outcome.port }
      yield* Effect.logInfo("login redirected").pipe(
        Effect.annotateLogs({ ...who, portal: portalOf(address), to: portalOf(to) })
      )
      yield* Effect.currentSpan.pipe(
        Effect.tap((span) =>
          Effect.sync(() =>
            span.event("redirect", BigInt(Date.now()) * 1_000_000n, { from: portalOf(address), to: portalOf(to) })
          )
        ),
        Effect.ignore
      )
      address = to
    }
  },
  (self) =>
    Effect.tapError(self, (e) =>
      Effect.annotateCurrentSpan({
        "iscsi.login.outcome": e.reason._tag === "LoginFailed" ? e.reason.status : e.reason._tag
      })
    )
)
