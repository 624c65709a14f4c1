/**
 * The pool configuration read from Effect `Config` (environment variables by default), so that
 * `IscsiLive` works with no code: an iSCSI URL, or host/port/target, CHAP credentials and tuning.
 *
 * | key                                  | meaning                                              | default |
 * |--------------------------------------|------------------------------------------------------|---------|
 * | ISCSI_URL                            | `iscsi://[user[%secret]@]host[:port]/target-iqn[/lun]` | –     |
 * | ISCSI_HOST, ISCSI_PORT, ISCSI_TARGET | instead of ISCSI_URL                                 | –, 3260 |
 * | ISCSI_INITIATOR_NAME                 | our iSCSI name                                       | iqn.2026-11.io.effect-iscsi:initiator |
 * | ISCSI_CHAP_USER / ISCSI_CHAP_SECRET  | one-way CHAP (also from the URL)                     | –       |
 * | ISCSI_TARGET_CHAP_USER / ISCSI_TARGET_CHAP_SECRET | mutual CHAP: the target's name and secret | –   |
 * | ISCSI_HEADER_DIGEST / ISCSI_DATA_DIGEST | `CRC32C`, `None`, or a list (`CRC32C,None`, `crc32c-none`), any case | None,CRC32C |
 * | ISCSI_CONNECTIONS                    | MC/S connections                                     | 1       |
 * | ISCSI_MAX_RECV_DATA_SEGMENT_LENGTH, ISCSI_MAX_BURST_LENGTH, ISCSI_FIRST_BURST_LENGTH | offers | see Negotiation.defaultOffer |
 * | ISCSI_COMMAND_TIMEOUT_MS, ISCSI_LOGIN_TIMEOUT_MS | deadlines                                 | 60000, 15000 |
 * | ISCSI_RECOVERY                       | session recovery on connection loss                  | true    |
 *
 * Secrets are read as `Redacted` and stay redacted.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as IscsiError from "./IscsiError.ts"
import * as IscsiUrl from "./IscsiUrl.ts"
import * as Negotiation from "./Negotiation.ts"
import type * as Pool from "./Pool.ts"

export const DEFAULT_INITIATOR_NAME = "iqn.2026-11.io.effect-iscsi:initiator"

/** A digest list from a variable; malformed is an `InvalidArgument` naming the variable (never ignored). */
const digestList = (
  name: string,
  s: string
): Effect.Effect<ReadonlyArray<Negotiation.DigestChoice>, IscsiError.IscsiError> => {
  const d = Negotiation.parseDigests(s)
  return d !== undefined
    ? Effect.succeed(d)
    : Effect.fail(
        IscsiError.make(
          new IscsiError.InvalidArgument({ message: `${name} must be None, CRC32C or a list of them (None,CRC32C)` })
        )
      )
}

/** Options that shape a pool besides the URL. */
export interface Options {
  readonly initiatorName?: string | undefined
  /**
   * 48-bit ISID. Default: stable per (initiator name, target), so a reconnect or recovery reuses the
   * I_T nexus. Two processes with the same initiator name on the same target then replace each
   * other's sessions (the target reinstates the ISID): give each its own ISID or initiator name.
   */
  readonly isid?: number | undefined
  readonly chap?: { readonly user: string; readonly secret: Redacted.Redacted<string> } | undefined
  readonly targetChap?: { readonly user: string; readonly secret: Redacted.Redacted<string> } | undefined
  readonly offer?: Partial<Negotiation.Offer> | undefined
  readonly connections?: number | undefined
  readonly commandTimeoutMs?: number | undefined
  readonly loginTimeoutMs?: number | undefined
  readonly keepaliveIntervalMs?: number | undefined
  readonly keepaliveTimeoutMs?: number | undefined
  readonly recovery?: Pool.Config["recovery"]
}

/** A pool config from a URL and options (credentials in the URL win over none; options win over the URL). */
export const fromUrl = (url: string, options: Options = {}): Effect.Effect<Pool.Config, IscsiError.IscsiError> =>
  Effect.gen(function* () {
    const parsed = IscsiUrl.parse(url)
    if (parsed._tag === "Failure") return yield* Effect.fail(parsed.failure)
    const u = parsed.success
    if (u.target === undefined) {
      return yield* Effect.fail(
        IscsiError.make(new IscsiError.InvalidArgument({ message: `the URL names no target: ${IscsiUrl.format(u)}` }))
      )
    }
    const chap =
      options.chap ?? (u.user !== undefined && u.secret !== undefined ? { user: u.user, secret: u.secret } : undefined)
    const targetChap =
      options.targetChap ??
      (u.targetUser !== undefined && u.targetSecret !== undefined
        ? { user: u.targetUser, secret: u.targetSecret }
        : undefined)
    if (targetChap !== undefined && chap === undefined) {
      return yield* Effect.fail(
        IscsiError.make(
          new IscsiError.InvalidArgument({ message: "mutual CHAP needs the initiator's CHAP credentials too" })
        )
      )
    }
    const offer: Negotiation.Offer = {
      ...Negotiation.defaultOffer,
      ...(u.headerDigest !== undefined ? { headerDigest: u.headerDigest } : {}),
      ...(u.dataDigest !== undefined ? { dataDigest: u.dataDigest } : {}),
      ...options.offer
    }
    const valid = Negotiation.validateOffer(offer)
    if (valid._tag === "Failure") return yield* Effect.fail(valid.failure)
    return {
      address: { host: u.host, port: u.port },
      initiatorName: options.initiatorName ?? DEFAULT_INITIATOR_NAME,
      ...(options.isid !== undefined ? { isid: options.isid } : {}),
      targetName: u.target,
      auth:
        chap === undefined
          ? { _tag: "None" as const }
          : {
              _tag: "Chap" as const,
              user: chap.user,
              secret: chap.secret,
              ...(targetChap !== undefined ? { mutual: targetChap } : {})
            },
      offer: valid.success,
      connections: options.connections,
      commandTimeoutMs: options.commandTimeoutMs,
      loginTimeoutMs: options.loginTimeoutMs,
      keepaliveIntervalMs: options.keepaliveIntervalMs,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs,
      recovery: options.recovery
    } satisfies Pool.Config
  })

const optional = <A>(c: Config.Config<A>) => Config.option(c)
const get = <A>(o: Option.Option<A>): A | undefined => (Option.isSome(o) ? o.value : undefined)

/** Read the pool config from Effect Config (environment variables by default). */
export const fromConfig: Effect.Effect<Pool.Config, IscsiError.IscsiError | Config.ConfigError> = Effect.gen(
  function* () {
    const url = get(yield* optional(Config.String("ISCSI_URL")))
    const host = get(yield* optional(Config.String("ISCSI_HOST")))
    const port = yield* Config.Port("ISCSI_PORT").pipe(Config.withDefault(3260))
    const target = get(yield* optional(Config.String("ISCSI_TARGET")))
    const initiatorName = get(yield* optional(Config.String("ISCSI_INITIATOR_NAME")))
    const chapUser = get(yield* optional(Config.String("ISCSI_CHAP_USER")))
    const chapSecret = get(yield* optional(Config.Redacted("ISCSI_CHAP_SECRET")))
    const tUser = get(yield* optional(Config.String("ISCSI_TARGET_CHAP_USER")))
    const tSecret = get(yield* optional(Config.Redacted("ISCSI_TARGET_CHAP_SECRET")))
    const hd = get(yield* optional(Config.String("ISCSI_HEADER_DIGEST")))
    const dd = get(yield* optional(Config.String("ISCSI_DATA_DIGEST")))
    const connections = get(yield* optional(Config.Int("ISCSI_CONNECTIONS")))
    const mrdsl = get(yield* optional(Config.Int("ISCSI_MAX_RECV_DATA_SEGMENT_LENGTH")))
    const mbl = get(yield* optional(Config.Int("ISCSI_MAX_BURST_LENGTH")))
    const fbl = get(yield* optional(Config.Int("ISCSI_FIRST_BURST_LENGTH")))
    const commandTimeoutMs = get(yield* optional(Config.Int("ISCSI_COMMAND_TIMEOUT_MS")))
    const loginTimeoutMs = get(yield* optional(Config.Int("ISCSI_LOGIN_TIMEOUT_MS")))
    const recovery = yield* Config.Boolean("ISCSI_RECOVERY").pipe(Config.withDefault(true))
    const theUrl =
      url ??
      (host !== undefined && target !== undefined
        ? `iscsi://${host.includes(":") ? `[${host}]` : host}:${port}/${target}`
        : undefined)
    if (theUrl === undefined) {
      return yield* Effect.fail(
        IscsiError.make(
          new IscsiError.InvalidArgument({ message: "set ISCSI_URL, or ISCSI_HOST and ISCSI_TARGET (and ISCSI_PORT)" })
        )
      )
    }
    const offer: Partial<Negotiation.Offer> = {
      ...(hd !== undefined ? { headerDigest: yield* digestList("ISCSI_HEADER_DIGEST", hd) } : {}),
      ...(dd !== undefined ? { dataDigest: yield* digestList("ISCSI_DATA_DIGEST", dd) } : {}),
      ...(mrdsl !== undefined ? { maxRecvDataSegmentLength: mrdsl } : {}),
      ...(mbl !== undefined ? { maxBurstLength: mbl } : {}),
      ...(fbl !== undefined ? { firstBurstLength: fbl } : {}),
      ...(connections !== undefined ? { maxConnections: connections } : {})
    }
    return yield* fromUrl(theUrl, {
      initiatorName,
      chap: chapUser !== undefined && chapSecret !== undefined ? { user: chapUser, secret: chapSecret } : undefined,
      targetChap: tUser !== undefined && tSecret !== undefined ? { user: tUser, secret: tSecret } : undefined,
      offer,
      connections,
      commandTimeoutMs,
      loginTimeoutMs,
      recovery: recovery ? {} : false
    })
  }
)

export { Redacted }
