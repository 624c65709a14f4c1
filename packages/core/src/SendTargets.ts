/**
 * Parsing the answer to `SendTargets` (RFC 7143 §13.3, Appendix C) and `TargetAddress` values
 * (§13.8, also used by login redirects §11.13.5).
 *
 * The answer is a flat key list in which each `TargetName` opens a record and the
 * `TargetAddress` keys that follow belong to it:
 *
 * ```text
 *   TargetName=iqn.2026-11.test:disk
 *   TargetAddress=127.0.0.1:3260,1
 *   TargetAddress=[2001:db8::1]:3260,1
 *   TargetName=iqn.2026-11.test:chap
 *   TargetAddress=storage.example.com,2
 * ```
 *
 * `TargetAddress=domainname[:port],portal-group-tag` where domainname is a DNS name, a dotted IPv4
 * address or an IPv6 address in brackets. Decisions where the RFC leaves room:
 * - missing port → 3260 (the well-known iSCSI port);
 * - missing portal group tag (the RFC grammar requires it, some targets omit it) → 1, the tag tgt
 *   and LIO give their first portal group;
 * - a target with no TargetAddress is reachable through the portal that answered (§13.3); it is
 *   returned with an empty `portals` list and the caller substitutes the discovery portal;
 * - an unbracketed address with several colons is taken as a bare IPv6 address without a port.
 * Keys other than TargetName/TargetAddress (e.g. TargetAlias from some targets) are ignored.
 *
 * Not here: sending the request or the Text continuation (see `TextExchange`).
 */
import * as Result from "effect/Result"
import type * as IscsiError from "./IscsiError.ts"
import { failProtocol } from "./internal/textErrors.ts"
import type { Pair } from "./TextKeys.ts"

/** The well-known iSCSI port. */
export const DEFAULT_PORT = 3260
/** Portal group tag assumed when a TargetAddress carries none. */
export const DEFAULT_TPGT = 1

export interface Portal {
  readonly host: string
  readonly port: number
  readonly tpgt: number
}

export interface Target {
  readonly name: string
  readonly portals: ReadonlyArray<Portal>
}

const parsePort = (s: string): number | undefined => (/^[0-9]{1,5}$/.test(s) ? Number(s) : undefined)

const HOST = /^[A-Za-z0-9._-]+$/
const IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?$/

/** Parse one `TargetAddress` value. */
export const parseAddress = (value: string): Result.Result<Portal, IscsiError.IscsiError> => {
  let rest = value.trim()
  let tpgt = DEFAULT_TPGT
  const comma = rest.lastIndexOf(",")
  if (comma >= 0) {
    const tag = rest.slice(comma + 1)
    if (!/^[0-9]{1,5}$/.test(tag) || Number(tag) > 65535) return failProtocol("TargetAddress: bad portal group tag")
    tpgt = Number(tag)
    rest = rest.slice(0, comma)
  }
  let host: string
  let port = DEFAULT_PORT
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]")
    if (close < 0) return failProtocol("TargetAddress: unterminated IPv6 bracket")
    host = rest.slice(1, close)
    if (!IPV6.test(host) || !host.includes(":")) return failProtocol("TargetAddress: bad IPv6 address")
    const after = rest.slice(close + 1)
    if (after.length > 0) {
      if (!after.startsWith(":")) return failProtocol("TargetAddress: junk after IPv6 address")
      const p = parsePort(after.slice(1))
      if (p === undefined) return failProtocol("TargetAddress: bad port")
      port = p
    }
  } else {
    const colons = rest.split(":").length - 1
    if (colons > 1) {
      if (!IPV6.test(rest)) return failProtocol("TargetAddress: bad address")
      host = rest
    } else if (colons === 1) {
      const i = rest.indexOf(":")
      host = rest.slice(0, i)
      const p = parsePort(rest.slice(i + 1))
      if (p === undefined) return failProtocol("TargetAddress: bad port")
      port = p
    } else {
      host = rest
    }
    if (colons <= 1 && !HOST.test(host)) return failProtocol("TargetAddress: bad host name")
  }
  if (port < 1 || port > 65535) return failProtocol("TargetAddress: port out of range")
  return Result.succeed({ host, port, tpgt })
}

/** Parse a SendTargets answer into targets with their portals, in the order received. */
export const parse = (pairs: ReadonlyArray<Pair>): Result.Result<ReadonlyArray<Target>, IscsiError.IscsiError> => {
  const targets: Array<{ name: string; portals: Array<Portal> }> = []
  for (const [key, value] of pairs) {
    if (key === "TargetName") {
      if (value.length === 0) return failProtocol("SendTargets: empty TargetName")
      targets.push({ name: value, portals: [] })
    } else if (key === "TargetAddress") {
      const current = targets[targets.length - 1]
      if (current === undefined) return failProtocol("SendTargets: TargetAddress before any TargetName")
      const portal = parseAddress(value)
      if (Result.isFailure(portal)) return Result.fail(portal.failure)
      current.portals.push(portal.success)
    }
  }
  return Result.succeed(targets)
}
