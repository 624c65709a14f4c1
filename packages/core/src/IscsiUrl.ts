/**
 * The iSCSI URL of libiscsi and its tools (`iscsi-ls`, `iscsi-inq`, …):
 *
 * ```text
 *   iscsi://[user[%secret]@]host[:port][/target-iqn[/lun]][?arg=value[&arg=value…]]
 *
 *   iscsi://192.0.2.1                                   portal only (discovery)
 *   iscsi://[2001:db8::1]:3261/                         IPv6 portal, explicit port
 *   iscsi://ronnie%password@iscsi.example.com/iqn.ronnie.test/1
 *   iscsi://u%s@host/iqn.x:y/0?target_user=t&target_password=ts&header_digest=crc32c-none
 *   iscsi://host/iqn.x:y/0?header_digest=crc32c&data_digest=crc32c
 * ```
 *
 * - `host`: DNS name, IPv4, or IPv6 in brackets (returned without brackets); port defaults to 3260.
 * - `user%secret`: the initiator's CHAP credentials (split at the first `%`); the secret is wrapped in
 *   `Redacted` at once.
 * - Query arguments (libiscsi): `target_user` / `target_password` for mutual CHAP, `header_digest`
 *   (`none`, `crc32c`, `none-crc32c`, `crc32c-none`, case-insensitive) and, ours, `data_digest`
 *   with the same values. Absent, the default offer applies (`None,CRC32C`: see
 *   `Negotiation.defaultOffer`). Any other argument (e.g. libiscsi's `iser`) is an error. Target
 *   credentials may also come through the `options`, which win.
 * - As in libiscsi, the query starts at the first `?`, so a secret containing `?` must be passed some
 *   other way; the credentials end at the last `@` (a secret may contain `@` or `/`).
 * - The LUN is a decimal integer 0–65535; a target without a LUN is accepted (`lun` absent).
 *
 * Malformed input is an `InvalidArgument` whose message never contains the URL's secrets.
 * {@link format} prints a URL back with every secret masked.
 */
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as IscsiError from "./IscsiError.ts"
import { failInvalid } from "./internal/textErrors.ts"
import { type DigestChoice, parseDigests } from "./Negotiation.ts"

export const DEFAULT_PORT = 3260

export interface IscsiUrl {
  readonly host: string
  readonly port: number
  readonly target?: string
  readonly lun?: number
  readonly user?: string
  readonly secret?: Redacted.Redacted<string>
  readonly targetUser?: string
  readonly targetSecret?: Redacted.Redacted<string>
  /** From `header_digest=…`: our HeaderDigest preference list. */
  readonly headerDigest?: ReadonlyArray<DigestChoice>
  /** From `data_digest=…`: our DataDigest preference list. */
  readonly dataDigest?: ReadonlyArray<DigestChoice>
}

export interface ParseOptions {
  readonly targetUser?: string
  readonly targetSecret?: Redacted.Redacted<string> | string
}

type R<A> = Result.Result<A, IscsiError.IscsiError>

const SCHEME = "iscsi://"
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/
const IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?$/
const TARGET = /^[A-Za-z0-9.:_-]+$/

/** A `header_digest` / `data_digest` value: `none`, `crc32c`, `none-crc32c` or `crc32c-none`. */
const urlDigests = (value: string): ReadonlyArray<DigestChoice> | undefined =>
  /^[a-z0-9]+(-[a-z0-9]+)?$/i.test(value) ? parseDigests(value) : undefined

const redact = (s: Redacted.Redacted<string> | string): Redacted.Redacted<string> =>
  typeof s === "string" ? Redacted.make(s) : s

/** Parse an iSCSI URL. */
export const parse = (url: string, options?: ParseOptions): R<IscsiUrl> => {
  if (!url.toLowerCase().startsWith(SCHEME)) return failInvalid("iSCSI URL must start with iscsi://")
  let rest = url.slice(SCHEME.length)
  let query: string | undefined
  const q = rest.indexOf("?")
  if (q >= 0) {
    query = rest.slice(q + 1)
    rest = rest.slice(0, q)
  }
  // Credentials end at the last '@' (a secret may contain '@'); the host part has none.
  let user: string | undefined
  let secret: Redacted.Redacted<string> | undefined
  const at = rest.lastIndexOf("@")
  if (at >= 0) {
    const userinfo = rest.slice(0, at)
    rest = rest.slice(at + 1)
    const pct = userinfo.indexOf("%")
    user = pct >= 0 ? userinfo.slice(0, pct) : userinfo
    if (pct >= 0) secret = Redacted.make(userinfo.slice(pct + 1))
    if (user.length === 0) return failInvalid("iSCSI URL: empty user name before '@'")
    if (secret !== undefined && Redacted.value(secret).length === 0) return failInvalid("iSCSI URL: empty secret")
  }
  const slash = rest.indexOf("/")
  const authority = slash >= 0 ? rest.slice(0, slash) : rest
  const path = slash >= 0 ? rest.slice(slash + 1) : ""

  let host: string
  let portText: string | undefined
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]")
    if (close < 0) return failInvalid("iSCSI URL: unterminated '[' in host")
    host = authority.slice(1, close)
    if (!host.includes(":") || !IPV6.test(host)) return failInvalid("iSCSI URL: bad IPv6 address")
    const after = authority.slice(close + 1)
    if (after.length > 0) {
      if (!after.startsWith(":")) return failInvalid("iSCSI URL: junk after IPv6 address")
      portText = after.slice(1)
    }
  } else {
    const colon = authority.indexOf(":")
    host = colon >= 0 ? authority.slice(0, colon) : authority
    if (colon >= 0) portText = authority.slice(colon + 1)
    if (host.length === 0) return failInvalid("iSCSI URL: missing host")
    if (!HOSTNAME.test(host)) return failInvalid("iSCSI URL: bad host name (IPv6 addresses need brackets)")
  }
  let port = DEFAULT_PORT
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return failInvalid("iSCSI URL: bad port")
    }
    port = Number(portText)
  }

  let target: string | undefined
  let lun: number | undefined
  if (path.length > 0) {
    const parts = path.split("/")
    if (parts.length > 3 || (parts.length === 3 && parts[2] !== ""))
      return failInvalid("iSCSI URL: too many path parts")
    target = parts[0]!
    if (target.length === 0 || target.length > 223 || !TARGET.test(target)) {
      return failInvalid("iSCSI URL: bad target name")
    }
    const lunText = parts[1]
    if (lunText !== undefined && lunText !== "") {
      if (!/^[0-9]{1,5}$/.test(lunText) || Number(lunText) > 65535) return failInvalid("iSCSI URL: bad LUN")
      lun = Number(lunText)
    }
  }

  let targetUser: string | undefined
  let targetSecret: Redacted.Redacted<string> | undefined
  let headerDigest: ReadonlyArray<DigestChoice> | undefined
  let dataDigest: ReadonlyArray<DigestChoice> | undefined
  if (query !== undefined && query.length > 0) {
    const seen = new Set<string>()
    for (const arg of query.split("&")) {
      if (arg.length === 0) continue
      const eq = arg.indexOf("=")
      const name = eq >= 0 ? arg.slice(0, eq) : arg
      const value = eq >= 0 ? arg.slice(eq + 1) : ""
      if (seen.has(name)) return failInvalid(`iSCSI URL: argument ${name} given twice`)
      seen.add(name)
      switch (name) {
        case "target_user":
          if (value.length === 0) return failInvalid("iSCSI URL: empty target_user")
          targetUser = value
          break
        case "target_password":
          if (value.length === 0) return failInvalid("iSCSI URL: empty target_password")
          targetSecret = Redacted.make(value)
          break
        case "header_digest":
        case "data_digest": {
          const d = urlDigests(value)
          if (d === undefined) return failInvalid(`iSCSI URL: ${name} must be none, crc32c, none-crc32c or crc32c-none`)
          if (name === "header_digest") headerDigest = d
          else dataDigest = d
          break
        }
        default:
          return failInvalid(
            "iSCSI URL: unsupported argument (supported: target_user, target_password, header_digest, data_digest)"
          )
      }
    }
  }
  if (options?.targetUser !== undefined) targetUser = options.targetUser
  if (options?.targetSecret !== undefined) targetSecret = redact(options.targetSecret)
  if ((targetUser === undefined) !== (targetSecret === undefined)) {
    return failInvalid("iSCSI URL: mutual CHAP needs both the target user and the target secret")
  }
  if (targetUser !== undefined && user === undefined) {
    return failInvalid("iSCSI URL: mutual CHAP needs the initiator's CHAP credentials too")
  }

  return Result.succeed({
    host,
    port,
    ...(target !== undefined ? { target } : {}),
    ...(lun !== undefined ? { lun } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(secret !== undefined ? { secret } : {}),
    ...(targetUser !== undefined ? { targetUser } : {}),
    ...(targetSecret !== undefined ? { targetSecret } : {}),
    ...(headerDigest !== undefined ? { headerDigest } : {}),
    ...(dataDigest !== undefined ? { dataDigest } : {})
  })
}

const MASK = "***"

/** Print a URL back (libiscsi syntax) with every secret masked. */
export const format = (url: IscsiUrl): string => {
  let s = SCHEME
  if (url.user !== undefined) s += `${url.user}${url.secret !== undefined ? `%${MASK}` : ""}@`
  s += url.host.includes(":") ? `[${url.host}]` : url.host
  if (url.port !== DEFAULT_PORT) s += `:${url.port}`
  s += "/"
  if (url.target !== undefined) {
    s += url.target
    if (url.lun !== undefined) s += `/${url.lun}`
  }
  const args: Array<string> = []
  if (url.targetUser !== undefined) args.push(`target_user=${url.targetUser}`)
  if (url.targetSecret !== undefined) args.push(`target_password=${MASK}`)
  if (url.headerDigest !== undefined) args.push(`header_digest=${url.headerDigest.join("-").toLowerCase()}`)
  if (url.dataDigest !== undefined) args.push(`data_digest=${url.dataDigest.join("-").toLowerCase()}`)
  if (args.length > 0) s += `?${args.join("&")}`
  return s
}
