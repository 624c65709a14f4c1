/**
 * From what the user typed to a logged-in session: iSCSI URLs in libiscsi's form
 * (`iscsi://[user[%secret]@]host[:port]/target-iqn/lun`), CHAP credentials from the URL or the
 * environment, portals and iSNS servers for discovery, and the session layer itself.
 *
 * | variable                  | meaning                                                            |
 * |---------------------------|--------------------------------------------------------------------|
 * | ISCSI_CHAP_USER           | initiator CHAP user (when the URL names none)                      |
 * | ISCSI_CHAP_SECRET         | initiator CHAP secret (when the URL carries none)                  |
 * | LIBISCSI_CHAP_PASSWORD    | libiscsi's name for the same secret (used when ISCSI_CHAP_SECRET is unset) |
 * | ISCSI_TARGET_CHAP_USER    | mutual CHAP: the target's user (or `?target_user=` in the URL)      |
 * | ISCSI_TARGET_CHAP_SECRET  | mutual CHAP: the target's secret (or `?target_password=`)          |
 * | ISCSI_INITIATOR_NAME      | our initiator IQN (default: derived from the host name)            |
 * | ISCSI_HEADER_DIGEST       | HeaderDigest offer when the URL has no `header_digest=`: `None`, `CRC32C`, `None,CRC32C` … (default `None,CRC32C`) |
 * | ISCSI_DATA_DIGEST         | DataDigest offer when the URL has no `data_digest=` (same values)   |
 *
 * Sessions come from core's `Pool`, whose ISIDs are unique per process (RFC 7143 §11.12.5, format
 * T=10b, with a per-process part), so two `iscsi` processes on the same target each get their own
 * session instead of reinstating (and so killing) each other's; within one invocation a target is
 * logged in to once (`SessionCache`), when the first command needs it.
 *
 * Not here: the protocol (core's `Pool`, `Discovery`), SCSI (`@effect-iscsi/scsi`).
 */
import * as Discovery from "@effect-iscsi/core/Discovery"
import * as IscsiConfig from "@effect-iscsi/core/IscsiConfig"
import type * as IscsiError from "@effect-iscsi/core/IscsiError"
import * as IscsiUrl from "@effect-iscsi/core/IscsiUrl"
import * as Isns from "@effect-iscsi/core/Isns"
import * as Negotiation from "@effect-iscsi/core/Negotiation"
import * as Pool from "@effect-iscsi/core/Pool"
import type { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import type * as SendTargets from "@effect-iscsi/core/SendTargets"
import * as IscsiClient from "@effect-iscsi/node-transport/IscsiClient"
import * as BlockDevice from "@effect-iscsi/scsi/BlockDevice"
import type * as Scsi from "@effect-iscsi/scsi/Scsi"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { UsageError } from "./Failure.ts"

/** Environment variables, as `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>

export interface Credentials {
  readonly chap?: { readonly user: string; readonly secret: Redacted.Redacted<string> } | undefined
  readonly targetChap?: { readonly user: string; readonly secret: Redacted.Redacted<string> } | undefined
}

/** Digest offers from the URL or the environment (absent: the library's default, `None,CRC32C`). */
export interface Digests {
  readonly headerDigest?: ReadonlyArray<Negotiation.DigestChoice>
  readonly dataDigest?: ReadonlyArray<Negotiation.DigestChoice>
}

/** A parsed URL that names a target (and maybe a LUN), with credentials and digests resolved. */
export interface TargetUrl {
  readonly url: IscsiUrl.IscsiUrl
  readonly target: string
  readonly lun: number | undefined
  readonly credentials: Credentials
  readonly digests?: Digests | undefined
}

const nonEmpty = (s: string | undefined): string | undefined => (s === undefined || s.length === 0 ? undefined : s)

/** Parse an iSCSI URL; a malformed one is a usage error (exit 2). */
export const parseUrl = (text: string): Effect.Effect<IscsiUrl.IscsiUrl, UsageError> => {
  const r = IscsiUrl.parse(text)
  return r._tag === "Success"
    ? Effect.succeed(r.success)
    : Effect.fail(new UsageError({ message: `bad URL: ${r.failure.reason.message}` }))
}

/**
 * Credentials for a URL: the URL's own `user%secret@` and `?target_user=&target_password=` first,
 * then the environment. A CHAP user with no secret anywhere is a usage error.
 */
export const credentials = (url: IscsiUrl.IscsiUrl, env: Env): Effect.Effect<Credentials, UsageError> => {
  const user = url.user ?? nonEmpty(env.ISCSI_CHAP_USER)
  const secretText = nonEmpty(env.ISCSI_CHAP_SECRET) ?? nonEmpty(env.LIBISCSI_CHAP_PASSWORD)
  const secret = url.secret ?? (secretText !== undefined ? Redacted.make(secretText) : undefined)
  const tUser = url.targetUser ?? nonEmpty(env.ISCSI_TARGET_CHAP_USER)
  const tSecretText = nonEmpty(env.ISCSI_TARGET_CHAP_SECRET)
  const tSecret = url.targetSecret ?? (tSecretText !== undefined ? Redacted.make(tSecretText) : undefined)
  if (user !== undefined && secret === undefined) {
    return Effect.fail(
      new UsageError({
        message: `CHAP user ${user} has no secret: put it in the URL (user%secret@) or set ISCSI_CHAP_SECRET`
      })
    )
  }
  if ((tUser === undefined) !== (tSecret === undefined)) {
    return Effect.fail(
      new UsageError({ message: "mutual CHAP needs both ISCSI_TARGET_CHAP_USER and ISCSI_TARGET_CHAP_SECRET" })
    )
  }
  if (tUser !== undefined && user === undefined) {
    return Effect.fail(new UsageError({ message: "mutual CHAP needs the initiator's CHAP credentials too" }))
  }
  return Effect.succeed({
    chap: user !== undefined && secret !== undefined ? { user, secret } : undefined,
    targetChap: tUser !== undefined && tSecret !== undefined ? { user: tUser, secret: tSecret } : undefined
  })
}

const envDigest = (
  name: "ISCSI_HEADER_DIGEST" | "ISCSI_DATA_DIGEST",
  env: Env
): Effect.Effect<ReadonlyArray<Negotiation.DigestChoice> | undefined, UsageError> => {
  const text = nonEmpty(env[name])
  if (text === undefined) return Effect.succeed(undefined)
  const d = Negotiation.parseDigests(text)
  return d !== undefined
    ? Effect.succeed(d)
    : Effect.fail(new UsageError({ message: `${name}=${text}: give None, CRC32C or a list of them (None,CRC32C)` }))
}

/** Digest offers for a URL: its `header_digest=` / `data_digest=` first, then ISCSI_HEADER_DIGEST / ISCSI_DATA_DIGEST. */
export const digests = (url: IscsiUrl.IscsiUrl, env: Env): Effect.Effect<Digests, UsageError> =>
  Effect.gen(function* () {
    const headerDigest = url.headerDigest ?? (yield* envDigest("ISCSI_HEADER_DIGEST", env))
    const dataDigest = url.dataDigest ?? (yield* envDigest("ISCSI_DATA_DIGEST", env))
    return {
      ...(headerDigest !== undefined ? { headerDigest } : {}),
      ...(dataDigest !== undefined ? { dataDigest } : {})
    }
  })

/** A URL that must name a target; `needLun` also requires the LUN. */
export const parseTargetUrl = (
  text: string,
  env: Env,
  options: { readonly needLun: boolean }
): Effect.Effect<TargetUrl, UsageError> =>
  Effect.gen(function* () {
    const url = yield* parseUrl(text)
    if (url.target === undefined) {
      return yield* new UsageError({ message: `the URL names no target: ${IscsiUrl.format(url)}` })
    }
    if (options.needLun && url.lun === undefined) {
      return yield* new UsageError({
        message: `the URL names no LUN (iscsi://host[:port]/target-iqn/LUN): ${IscsiUrl.format(url)}`
      })
    }
    return {
      url,
      target: url.target,
      lun: url.lun,
      credentials: yield* credentials(url, env),
      digests: yield* digests(url, env)
    }
  })

/**
 * A portal for discovery or `ls`: `host`, `host:port`, `[v6]:port`, or an `iscsi://` URL (only its
 * host, port and credentials are used).
 */
export const parsePortal = (text: string): Effect.Effect<IscsiUrl.IscsiUrl, UsageError> =>
  parseUrl(text.toLowerCase().startsWith("iscsi://") ? text : `iscsi://${text}`)

/** Our initiator name: ISCSI_INITIATOR_NAME or one derived from the host name. */
export const initiatorName = (env: Env): string =>
  nonEmpty(env.ISCSI_INITIATOR_NAME) ?? IscsiClient.defaultInitiatorName()

/** Session tuning from the command line. */
export interface SessionOptions {
  readonly connections?: number | undefined
  readonly commandTimeoutMs?: number | undefined
}

/** The text URL of a target (no LUN, no secrets) for `IscsiConfig.fromUrl`. */
const targetOnlyUrl = (t: TargetUrl): string => {
  const host = t.url.host.includes(":") ? `[${t.url.host}]` : t.url.host
  return `iscsi://${host}:${t.url.port}/${t.target}`
}

/** The session layer for a target: `Pool | ScsiTransport` over Node TCP. */
export const sessionLayer = (
  t: TargetUrl,
  env: Env,
  options: SessionOptions = {}
): Layer.Layer<Pool.Pool | ScsiTransport, IscsiError.IscsiError> =>
  Layer.unwrap(
    Effect.map(
      IscsiConfig.fromUrl(targetOnlyUrl(t), {
        initiatorName: initiatorName(env),
        chap: t.credentials.chap,
        targetChap: t.credentials.targetChap,
        offer: t.digests,
        connections: options.connections,
        commandTimeoutMs: options.commandTimeoutMs,
        // A command-line tool reports a lost connection rather than waiting for a reinstatement.
        recovery: false
      }),
      (config) => Pool.layerTarget(config)
    )
  ).pipe(Layer.provide(IscsiClient.nodeLayer()))

/** A session on a target for the rest of the enclosing scope (it logs in when the first command needs it). */
export const openSession = (
  t: TargetUrl,
  env: Env,
  options: SessionOptions = {}
): Effect.Effect<Context.Context<Pool.Pool | ScsiTransport>, IscsiError.IscsiError, Scope.Scope> =>
  Layer.build(sessionLayer(t, env, options))

/** One login per target within a scope, shared by every LUN of it (`dd` from one LUN to another). */
export interface SessionCache {
  readonly get: (
    t: TargetUrl
  ) => Effect.Effect<Context.Context<Pool.Pool | ScsiTransport>, IscsiError.IscsiError, Scope.Scope>
}

const cacheKey = (t: TargetUrl) =>
  `${t.url.host}\u0000${t.url.port}\u0000${t.target}\u0000${t.credentials.chap?.user ?? ""}`

export const makeSessionCache = (env: Env, options: SessionOptions = {}): SessionCache => {
  const sessions = new Map<string, Context.Context<Pool.Pool | ScsiTransport>>()
  return {
    get: (t) =>
      Effect.suspend(() => {
        const key = cacheKey(t)
        const hit = sessions.get(key)
        if (hit !== undefined) return Effect.succeed(hit)
        return Effect.tap(openSession(t, env, options), (ctx) => Effect.sync(() => sessions.set(key, ctx)))
      })
  }
}

/** Log in and open the LUN of a URL as a block device (capacity discovered). */
export const openDevice = (
  t: TargetUrl,
  sessions: SessionCache,
  options?: BlockDevice.MakeOptions
): Effect.Effect<BlockDevice.BlockDevice, Scsi.CommandError, Scope.Scope> =>
  Effect.flatMap(sessions.get(t), (ctx) => Effect.provideContext(BlockDevice.make(t.lun ?? 0, options), ctx))

/** SendTargets discovery on a portal, with CHAP from the URL or environment when given. */
export const discover = (
  portal: IscsiUrl.IscsiUrl,
  env: Env
): Effect.Effect<ReadonlyArray<SendTargets.Target>, IscsiError.IscsiError | UsageError> =>
  Effect.gen(function* () {
    const creds = yield* credentials(portal, env)
    return yield* Discovery.discover({
      address: { host: portal.host, port: portal.port },
      initiatorName: initiatorName(env),
      auth:
        creds.chap === undefined
          ? { _tag: "None" }
          : {
              _tag: "Chap",
              user: creds.chap.user,
              secret: creds.chap.secret,
              ...(creds.targetChap !== undefined ? { mutual: creds.targetChap } : {})
            }
    }).pipe(Effect.provide(IscsiClient.nodeLayer()))
  })

/** An iSNS server: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; port 3205 by default. */
export const parseIsnsServer = (text: string): Effect.Effect<{ host: string; port: number }, UsageError> => {
  const bad = new UsageError({ message: `bad iSNS server ${JSON.stringify(text)}: give HOST[:PORT] or [IPv6][:PORT]` })
  const m =
    /^\[([0-9A-Fa-f:.]+(?:%[A-Za-z0-9._-]+)?)\](?::([0-9]{1,5}))?$/.exec(text) ??
    /^([A-Za-z0-9._-]+)(?::([0-9]{1,5}))?$/.exec(text) ??
    (/^[0-9A-Fa-f:.]+$/.test(text) && text.split(":").length > 2 ? [text, text, undefined] : null)
  if (m === null) return Effect.fail(bad)
  const port = m[2] === undefined ? Isns.DEFAULT_PORT : Number(m[2])
  if (m[1]!.length === 0 || port < 1 || port > 65535) return Effect.fail(bad)
  return Effect.succeed({ host: m[1]!, port })
}

/** iSNS discovery: every target the server lists, asked as our initiator name. */
export const discoverIsns = (
  server: { readonly host: string; readonly port: number },
  env: Env
): Effect.Effect<ReadonlyArray<SendTargets.Target>, IscsiError.IscsiError> =>
  Discovery.isns({ server, sourceName: initiatorName(env) }).pipe(Effect.provide(IscsiClient.nodeLayer()))
