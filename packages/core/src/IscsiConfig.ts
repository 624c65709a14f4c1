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
 * | ISCSI_CONNECTIONS                    | MC/S connections to keep (asks the target for as many) | 1     |
 * | ISCSI_CHAP_ALGORITHMS                | CHAP algorithms to offer, in order (`SHA3-256,SHA256,SHA1,MD5`) | all |
 * | ISCSI_MAX_RECV_DATA_SEGMENT_LENGTH, ISCSI_MAX_BURST_LENGTH, ISCSI_FIRST_BURST_LENGTH | offers | see Negotiation.defaultOffer |
 * | ISCSI_COMMAND_TIMEOUT_MS             | total deadline of one command call, retries included | 60000 |
 * | ISCSI_COMMAND_RETRIES                | attempts after the first for retryable errors        | 5       |
 * | ISCSI_LOGIN_TIMEOUT_MS               | deadline of one login                                | 15000   |
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
import type * as Chap from "./Chap.ts"
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
   * 48-bit ISID. Default: the pool allocates one per session (unique in this process, kept across
   * recoveries). Give one only to keep the same I_T nexus across restarts of the program.
   */
  readonly isid?: number | undefined
  readonly chap?: { readonly user: string; readonly secret: Redacted.Redacted<string> } | undefined
  readonly targetChap?: { readonly user: string; readonly secret: Redacted.Redacted<string> } | undefined
  /** CHAP algorithms to offer, in preference order (default: all we support, strongest first; MD5 is always added). */
  readonly chapAlgorithms?: ReadonlyArray<Chap.Algorithm> | undefined
  readonly offer?: Partial<Negotiation.Offer> | undefined
  /** MC/S connections to keep; MaxConnections is offered accordingly (the target may grant fewer). */
  readonly connections?: number | undefined
  /** Total deadline of one command call, every retry included (default 60 000 ms). */
  readonly commandTimeoutMs?: number | undefined
  /** Attempts after the first for retryable errors (default 5). */
  readonly commandRetries?: number | undefined
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
    const connections = options.connections
    if (connections !== undefined && (!Number.isInteger(connections) || connections < 1 || connections > 65535)) {
      return yield* Effect.fail(
        IscsiError.make(
          new IscsiError.InvalidArgument({
            message: `connections must be an integer from 1 to 65535, not ${connections}`
          })
        )
      )
    }
    const offer: Negotiation.Offer = {
      ...Negotiation.defaultOffer,
      ...(u.headerDigest !== undefined ? { headerDigest: u.headerDigest } : {}),
      ...(connections !== undefined
        ? { maxConnections: Math.max(connections, Negotiation.defaultOffer.maxConnections) }
        : {}),
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
              ...(targetChap !== undefined ? { mutual: targetChap } : {}),
              ...(options.chapAlgorithms !== undefined ? { algorithms: options.chapAlgorithms } : {})
            },
      offer: valid.success,
      connections,
      commandTimeoutMs: options.commandTimeoutMs,
      ...(options.commandTimeoutMs !== undefined || options.commandRetries !== undefined
        ? {
            policy: {
              ...(options.commandTimeoutMs !== undefined ? { timeoutMs: options.commandTimeoutMs } : {}),
              ...(options.commandRetries !== undefined ? { retries: options.commandRetries } : {})
            }
          }
        : {}),
      ...(u.lun !== undefined ? { lun: u.lun } : {}),
      loginTimeoutMs: options.loginTimeoutMs,
      keepaliveIntervalMs: options.keepaliveIntervalMs,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs,
      recovery: options.recovery
    } satisfies Pool.Config
  })

const ALGORITHMS: Readonly<Record<string, Chap.Algorithm>> = {
  MD5: "MD5",
  SHA1: "SHA1",
  SHA256: "SHA256",
  SHA3256: "SHA3-256"
}

/** `SHA-256,MD5` (dashes and case optional) → the CHAP algorithms, or a typed error naming the ones we know. */
export const parseAlgorithms = (text: string): Effect.Effect<ReadonlyArray<Chap.Algorithm>, IscsiError.IscsiError> => {
  const names = text
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0)
  const parsed = names.map((n) => ALGORITHMS[n.toUpperCase().replace(/-/g, "")])
  const bad = names.filter((_, i) => parsed[i] === undefined)
  return bad.length > 0 || names.length === 0
    ? Effect.fail(
        IscsiError.make(
          new IscsiError.InvalidArgument({
            message: `unknown CHAP algorithm ${bad.join(", ") || "(none given)"}: use one or more of SHA3-256, SHA256, SHA1, MD5`
          })
        )
      )
    : Effect.succeed(parsed as ReadonlyArray<Chap.Algorithm>)
}

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
    const commandRetries = get(yield* optional(Config.Int("ISCSI_COMMAND_RETRIES")))
    const chapAlgorithms = get(yield* optional(Config.String("ISCSI_CHAP_ALGORITHMS")))
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
      ...(fbl !== undefined ? { firstBurstLength: fbl } : {})
    }
    const algorithms = chapAlgorithms === undefined ? undefined : yield* parseAlgorithms(chapAlgorithms)
    return yield* fromUrl(theUrl, {
      initiatorName,
      chap: chapUser !== undefined && chapSecret !== undefined ? { user: chapUser, secret: chapSecret } : undefined,
      targetChap: tUser !== undefined && tSecret !== undefined ? { user: tUser, secret: tSecret } : undefined,
      offer,
      connections,
      commandTimeoutMs,
      commandRetries,
      chapAlgorithms: algorithms,
      loginTimeoutMs,
      recovery: recovery ? {} : false
    })
  }
)

export { Redacted }
