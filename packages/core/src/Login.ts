/**
 * The effectful login driver (RFC 7143 §6.3, §11.12–11.13): dials the portal through `Transport`,
 * runs the pure `LoginMachine` (one outstanding Login Request, one ITT, continuation, CHAP,
 * negotiation) over the channel, follows redirects within a bound, and hands back the open channel,
 * its framer (holding any bytes that arrived after the final response) and the `LoginResult`.
 *
 * Digests are never used during login; the caller switches them on after it (per connection).
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

/** Connect and log in; the channel lives in the current scope. */
export const connect = Effect.fn("Login.connect")(function* (
  options: LoginOptions
): Effect.fn.Return<Connected, IscsiError.IscsiError, Transport | Platform | Scope.Scope> {
  const transport = yield* Transport
  const platform = yield* Platform
  const env: LoginMachine.Env = { hash: platform.hash, randomBytes: platform.randomBytes }
  const maxRedirects = options.maxRedirects ?? 4
  const timeoutMs = options.timeoutMs ?? 15_000
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
    if (outcome._tag === "Complete") return { channel, framer, result: outcome.result, address }
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
    yield* Effect.logDebug(`login redirected to ${outcome.host}:${outcome.port}`)
    address = { host: outcome.host, port: outcome.port }
  }
})
