/**
 * An iSNS client (RFC 4171) as Effect programs over core's `Transport`: one TCP connection to the
 * server (port 3205), one request at a time, each answered by the response with its transaction
 * ID; and `targets`, which lists every iSCSI target the server knows with all its portals and
 * portal group tags: what a multipath initiator needs, since a target's SendTargets answer only
 * names the portal it was asked on.
 *
 * How `targets` asks (unregistered, as the iSCSI name `sourceName`; a server that only answers
 * registered nodes says "Source Unknown" and that is an `IsnsRejected` error):
 * 1. DevGetNext over iSCSI Name (§5.6.5.3), starting from a NIL key, asking for each node's
 *    iSCSI Node Type and Alias, until the server answers "No Such Entry". Nodes whose type has no
 *    Target bit (§6.4.2) are skipped. The walk must advance: a name seen twice, or more than
 *    `maxNodes` names, is a `ProtocolError`.
 * 2. DevAttrQry keyed by each target's iSCSI Name (§5.6.5.2), asking for the node, its portals
 *    (§6.3) and its portal groups (§6.5). `portalsFromAnswer` makes the portal list:
 *    - each portal group of this node with a PG Tag, a TCP port and an address is a portal with
 *      that tag; a portal group whose PGT is NIL (or absent) means the portal may not be used for
 *      that node (RFC 4171, Portal Group object), so it is skipped, as are UDP ports;
 *    - a node with no portal group at all (a server that keeps none) is reachable through every
 *      TCP portal of its entity, with the default tag 1 (as SendTargets assumes without a tag);
 *    - duplicates are dropped; the server's order is kept.
 *    A target that vanished between the two steps ("No Such Entry") is left out.
 *
 * IPv4 portals come back as `a.b.c.d` whether the server sent `::ffff:a.b.c.d` or, as open-isns
 * does, `::a.b.c.d` (`Isns.formatAddress`).
 *
 * Errors are `IscsiError`s like the rest of discovery: `ConnectFailed`, `ConnectionLost`,
 * `Timeout` (each request, and the connect, within `timeoutMs`), `ProtocolError` (a malformed or
 * hostile answer), `IsnsRejected` (a status other than Successful).
 *
 * Not here: the byte codec (`Isns`), registration (DevAttrReg), State Change Notifications (the
 * client ignores messages it did not ask for, such as a server's SCN or ESI).
 */
import * as Effect from "effect/Effect"
import * as Semaphore from "effect/Semaphore"
import type * as Scope from "effect/Scope"
import * as IscsiError from "./IscsiError.ts"
import * as Isns from "./Isns.ts"
import * as SendTargets from "./SendTargets.ts"
import { Transport } from "./Transport.ts"

export interface Options {
  /** The iSNS server; port default 3205. */
  readonly server: { readonly host: string; readonly port?: number | undefined }
  /** The iSCSI name the requests come from (the Source attribute, §5.6.1): our initiator name. */
  readonly sourceName: string
  /** Deadline of the connect and of each request (default 10 s). */
  readonly timeoutMs?: number | undefined
  /** Largest answer accepted (default `Isns.DEFAULT_MAX_MESSAGE_LENGTH`). */
  readonly maxMessageLength?: number | undefined
  /** Most nodes a DevGetNext walk may return (default 100,000). */
  readonly maxNodes?: number | undefined
}

/** One request: function, message key and operating attributes (the source is added). */
export interface Call {
  readonly functionId: number
  readonly keys: ReadonlyArray<Isns.Attribute>
  readonly operating?: ReadonlyArray<Isns.Attribute> | undefined
}

/** An open connection to an iSNS server. */
export interface Client {
  /** Send one request and wait for its response, whatever its status. */
  readonly call: (call: Call) => Effect.Effect<Isns.Response, IscsiError.IscsiError>
}

/** An iSCSI target as the server lists it: the SendTargets shape plus alias and node type. */
export interface Target extends SendTargets.Target {
  readonly alias: string | undefined
  /** iSCSI Node Type bits (`Isns.NodeType`). */
  readonly nodeType: number
}

const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_MAX_NODES = 100_000

const protocol = (message: string) => IscsiError.make(new IscsiError.ProtocolError({ message: `iSNS: ${message}` }))

const timeout = (operation: string, ms: number) =>
  IscsiError.make(new IscsiError.Timeout({ operation, message: `${operation} did not complete within ${ms} ms` }))

/** The `IsnsRejected` error for a response's status. */
export const rejected = (response: Isns.Response): IscsiError.IscsiError => {
  const fn = Isns.functionName(response.functionId & ~Isns.RESPONSE)
  const statusName = Isns.statusName(response.status)
  return IscsiError.make(
    new IscsiError.IsnsRejected({
      function: fn,
      status: response.status,
      statusName,
      message: `the iSNS server answered ${fn} with ${statusName} (status ${response.status})`
    })
  )
}

/** Connect to the server for the rest of the scope. */
export const connect = Effect.fn("IsnsClient.connect")(function* (
  options: Options
): Effect.fn.Return<Client, IscsiError.IscsiError, Transport | Scope.Scope> {
  const transport = yield* Transport
  const ms = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const address = { host: options.server.host, port: options.server.port ?? Isns.DEFAULT_PORT }
  const channel = yield* transport
    .connect(address)
    .pipe(Effect.timeoutOrElse({ duration: ms, orElse: () => Effect.fail(timeout("iSNS connect", ms)) }))
  const reader = Isns.makeReader({ maxMessageLength: options.maxMessageLength })
  const inbox: Array<Isns.Message> = []
  const lock = yield* Semaphore.make(1)
  let nextTransaction = 1

  /** The message answering (transaction, function); anything else the server sends is dropped. */
  const receive = (transactionId: number, functionId: number): Effect.Effect<Isns.Message, IscsiError.IscsiError> =>
    Effect.suspend(function loop(): Effect.Effect<Isns.Message, IscsiError.IscsiError> {
      while (inbox.length > 0) {
        const m = inbox.shift()!
        if (m.transactionId === transactionId && m.functionId === (functionId | Isns.RESPONSE)) {
          return Effect.succeed(m)
        }
      }
      return Effect.flatMap(channel.pull, (chunks) => {
        for (const chunk of chunks) {
          const r = reader.push(chunk)
          if (r._tag === "Failure") return Effect.fail(r.failure)
          inbox.push(...r.success)
        }
        return loop()
      })
    })

  const call = (c: Call): Effect.Effect<Isns.Response, IscsiError.IscsiError> =>
    lock.withPermit(
      Effect.gen(function* () {
        const transactionId = nextTransaction
        nextTransaction = (nextTransaction % 0xffff) + 1
        const request = Isns.makeRequest({
          functionId: c.functionId,
          transactionId,
          source: options.sourceName,
          keys: c.keys,
          operating: c.operating
        })
        yield* channel.writeAll(Isns.encode(request))
        const message = yield* receive(transactionId, c.functionId)
        const decoded = Isns.decode(message)
        if (decoded._tag === "Failure") return yield* Effect.fail(decoded.failure)
        if (decoded.success._tag !== "Response")
          return yield* Effect.fail(protocol("a request where a response was due"))
        return decoded.success
      }).pipe(
        Effect.timeoutOrElse({
          duration: ms,
          orElse: () => Effect.fail(timeout(`iSNS ${Isns.functionName(c.functionId)}`, ms))
        })
      )
    )

  return { call }
})

/** A node named by a DevGetNext walk. */
export interface NodeName {
  readonly name: string
  /** iSCSI Node Type bits, when the server gave them. */
  readonly nodeType: number | undefined
  readonly alias: string | undefined
}

const nonEmpty = (s: string | undefined): string | undefined => (s === undefined || s.length === 0 ? undefined : s)

/** Walk every iSCSI node with DevGetNext (see the module comment, step 1). */
export const nodes = (
  client: Client,
  options: { readonly maxNodes?: number | undefined } = {}
): Effect.Effect<ReadonlyArray<NodeName>, IscsiError.IscsiError> =>
  Effect.gen(function* () {
    const maxNodes = options.maxNodes ?? DEFAULT_MAX_NODES
    const out: Array<NodeName> = []
    const seen = new Set<string>()
    let key: Isns.Attribute = Isns.nil(Isns.Tag.IscsiName)
    for (;;) {
      const answer = yield* client.call({
        functionId: Isns.FunctionId.DevGetNext,
        keys: [key],
        operating: [Isns.nil(Isns.Tag.IscsiNodeType), Isns.nil(Isns.Tag.IscsiAlias)]
      })
      if (answer.status === Isns.Status.NoSuchEntry) return out
      if (answer.status !== Isns.Status.Successful) return yield* Effect.fail(rejected(answer))
      const { keys, operating } = Isns.sections(answer)
      const name = Isns.stringOf(keys, Isns.Tag.IscsiName)
      if (name === undefined || name.length === 0) {
        return yield* Effect.fail(protocol("a DevGetNext answer without an iSCSI Name key"))
      }
      if (seen.has(name)) return yield* Effect.fail(protocol(`DevGetNext returned ${name} twice`))
      if (out.length >= maxNodes) return yield* Effect.fail(protocol(`more than ${maxNodes} nodes`))
      seen.add(name)
      out.push({
        name,
        nodeType: Isns.uint32Of(operating, Isns.Tag.IscsiNodeType),
        alias: nonEmpty(Isns.stringOf(operating, Isns.Tag.IscsiAlias))
      })
      key = Isns.string(Isns.Tag.IscsiName, name)
    }
  })

/** The attributes `targets` asks a DevAttrQry for. */
export const queryAttributes: ReadonlyArray<number> = [
  Isns.Tag.IscsiName,
  Isns.Tag.IscsiNodeType,
  Isns.Tag.IscsiAlias,
  Isns.Tag.PortalIpAddress,
  Isns.Tag.PortalPort,
  Isns.Tag.PgIscsiName,
  Isns.Tag.PgPortalIpAddress,
  Isns.Tag.PgPortalPort,
  Isns.Tag.PgTag
]

/** A TCP port attribute's port, or undefined for UDP, absent or 0. */
const tcpPort = (spec: number | undefined): number | undefined =>
  spec === undefined || (spec & Isns.PORT_UDP) !== 0 || (spec & 0xffff) === 0 ? undefined : spec & 0xffff

/**
 * The target `name` as described by a DevAttrQry answer's operating attributes (see the module
 * comment, step 2), or undefined when the answer does not list that node.
 */
export const targetFromAnswer = (name: string, operating: ReadonlyArray<Isns.Attribute>): Target | undefined => {
  const objects = Isns.objects(operating)
  const node = objects.find((o) => o.type === "Node" && Isns.stringOf(o, Isns.Tag.IscsiName) === name)
  if (node === undefined) return undefined
  const portals: Array<SendTargets.Portal> = []
  const add = (host: string | undefined, port: number | undefined, tpgt: number | undefined) => {
    if (host === undefined || port === undefined || tpgt === undefined || tpgt > 0xffff) return
    if (portals.some((p) => p.host === host && p.port === port && p.tpgt === tpgt)) return
    portals.push({ host, port, tpgt })
  }
  const groups = objects.filter((o) => o.type === "PortalGroup" && Isns.stringOf(o, Isns.Tag.PgIscsiName) === name)
  if (groups.length > 0) {
    for (const g of groups) {
      add(
        Isns.addressOf(g, Isns.Tag.PgPortalIpAddress),
        tcpPort(Isns.uint32Of(g, Isns.Tag.PgPortalPort)),
        Isns.uint32Of(g, Isns.Tag.PgTag)
      )
    }
  } else {
    for (const p of objects) {
      if (p.type !== "Portal") continue
      add(
        Isns.addressOf(p, Isns.Tag.PortalIpAddress),
        tcpPort(Isns.uint32Of(p, Isns.Tag.PortalPort)),
        SendTargets.DEFAULT_TPGT
      )
    }
  }
  return {
    name,
    alias: nonEmpty(Isns.stringOf(node, Isns.Tag.IscsiAlias)),
    nodeType: Isns.uint32Of(node, Isns.Tag.IscsiNodeType) ?? 0,
    portals
  }
}

/** Ask for one node (step 2); undefined when the server no longer has it. */
export const target = (client: Client, name: string): Effect.Effect<Target | undefined, IscsiError.IscsiError> =>
  Effect.gen(function* () {
    const answer = yield* client.call({
      functionId: Isns.FunctionId.DevAttrQry,
      keys: [Isns.string(Isns.Tag.IscsiName, name)],
      operating: queryAttributes.map(Isns.nil)
    })
    if (answer.status === Isns.Status.NoSuchEntry) return undefined
    if (answer.status !== Isns.Status.Successful) return yield* Effect.fail(rejected(answer))
    return targetFromAnswer(name, Isns.sections(answer).operating)
  })

/** Every iSCSI target the server lists, with all its portals and portal group tags. */
export const targets = Effect.fn("IsnsClient.targets")(function* (
  options: Options
): Effect.fn.Return<ReadonlyArray<Target>, IscsiError.IscsiError, Transport> {
  return yield* Effect.scoped(
    Effect.gen(function* () {
      const client = yield* connect(options)
      const out: Array<Target> = []
      for (const n of yield* nodes(client, { maxNodes: options.maxNodes })) {
        if (n.nodeType !== undefined && (n.nodeType & Isns.NodeType.Target) === 0) continue
        const t = yield* target(client, n.name)
        if (t === undefined) continue
        // what DevAttrQry left out, DevGetNext may have said
        const nodeType = t.nodeType !== 0 ? t.nodeType : (n.nodeType ?? 0)
        if ((nodeType & Isns.NodeType.Target) === 0) continue
        out.push({ ...t, nodeType, alias: t.alias ?? n.alias })
      }
      return out
    })
  )
})
