/**
 * The two discovery sources of an initiator, with one result shape (target name, portals with
 * their portal group tags):
 *
 * - `discover`: SendTargets (RFC 7143 §4.3, §11.10, Appendix C): a Discovery session on a portal,
 *   `SendTargets=All` (or one target name) with Text continuation until F=1, parsed into every
 *   TargetName with all its TargetAddress entries (IPv4, `[IPv6]`, port, portal group tag); then
 *   logout. A target may list only the portal it was asked on (tgt does).
 * - `isns`: an iSNS server (RFC 4171), which knows every registered portal of every target: the
 *   source for a multipath initiator that needs all paths (see `IsnsClient`).
 */
import * as Effect from "effect/Effect"
import type * as IscsiError from "./IscsiError.ts"
import * as IsnsClient from "./IsnsClient.ts"
import type * as LoginMachine from "./LoginMachine.ts"
import * as Negotiation from "./Negotiation.ts"
import * as SendTargets from "./SendTargets.ts"
import * as Session from "./Session.ts"
import type { Address, Platform, Transport } from "./Transport.ts"

export interface Options {
  readonly address: Address
  readonly initiatorName: string
  readonly auth?: LoginMachine.Config["auth"] | undefined
  /** `All` (default) or one target name. */
  readonly sendTargets?: string | undefined
  readonly loginTimeoutMs?: number | undefined
}

/** Discover the targets behind a portal. */
export const discover = Effect.fn("Discovery.discover")(function* (
  options: Options
): Effect.fn.Return<ReadonlyArray<SendTargets.Target>, IscsiError.IscsiError, Transport | Platform> {
  return yield* Effect.scoped(
    Effect.gen(function* () {
      const session = yield* Session.make({
        address: options.address,
        initiatorName: options.initiatorName,
        sessionType: "Discovery",
        isid: 0x80 * 2 ** 40 + Math.floor(Math.random() * 2 ** 40),
        auth: options.auth ?? { _tag: "None" },
        // digests as for any session (None,CRC32C): a portal that insists on CRC32C gets it
        offer: Negotiation.defaultOffer,
        keepaliveIntervalMs: 0,
        loginTimeoutMs: options.loginTimeoutMs
      })
      const pairs = yield* session.text([["SendTargets", options.sendTargets ?? "All"]])
      const targets = SendTargets.parse(pairs)
      yield* session.logout.pipe(Effect.ignore)
      if (targets._tag === "Failure") return yield* Effect.fail(targets.failure)
      return targets.success
    })
  )
})

/**
 * Discover targets through an iSNS server: every iSCSI target it lists, with all its portals and
 * portal group tags (and alias and node type; a `SendTargets.Target` otherwise). `sourceName` is
 * our initiator name (the iSNS Source attribute); the server's port defaults to 3205.
 */
export const isns = Effect.fn("Discovery.isns")(function* (
  options: IsnsClient.Options
): Effect.fn.Return<ReadonlyArray<IsnsClient.Target>, IscsiError.IscsiError, Transport> {
  return yield* IsnsClient.targets(options)
})
