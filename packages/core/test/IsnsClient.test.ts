/**
 * The iSNS client over an in-memory `Transport` with a scripted server: answers split into many
 * small PDUs and odd chunks, unrelated messages in between (a server SCN, a stale response), the
 * node-type filter, and every failure as its typed error: a status (IsnsRejected, retryable only
 * when Busy), a walk that does not advance, garbage, a server that closes, one that never answers
 * (Timeout, on the TestClock).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import { TestClock } from "effect/testing"
import * as IscsiError from "../src/IscsiError.ts"
import * as Isns from "../src/Isns.ts"
import * as IsnsClient from "../src/IsnsClient.ts"
import { type Channel, Transport } from "../src/Transport.ts"

type Answer = ReadonlyArray<Uint8Array> | "silent" | "close"

interface Seen {
  readonly requests: Array<Isns.Request>
  readonly connects: Array<string>
}

/** A Transport whose one peer is `serve`: each request (decoded) gets the bytes it returns. */
const fakeTransport = (serve: (request: Isns.Request) => Answer, seen: Seen) =>
  Layer.succeed(Transport, {
    connect: (address) =>
      Effect.gen(function* () {
        seen.connects.push(`${address.host}:${address.port}`)
        const incoming = yield* Queue.unbounded<Uint8Array | "close">()
        const reader = Isns.makeReader()
        const channel: Channel = {
          pull: Effect.flatMap(Queue.take(incoming), (c) =>
            c === "close"
              ? Effect.fail(IscsiError.make(new IscsiError.ConnectionLost({ message: "closed by the server" })))
              : Effect.succeed([c])
          ),
          writeAll: (chunks) =>
            Effect.sync(() => {
              for (const chunk of chunks) {
                for (const m of Result.getOrThrow(reader.push(chunk))) {
                  const request = Result.getOrThrow(Isns.decode(m))
                  if (request._tag !== "Request") throw new Error("the client sent a response")
                  seen.requests.push(request)
                  const answer = serve(request)
                  if (answer === "silent") continue
                  if (answer === "close") Queue.offerUnsafe(incoming, "close")
                  else for (const c of answer) Queue.offerUnsafe(incoming, c)
                }
              }
            }),
          destroy: Effect.void
        }
        return channel
      })
  })

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Cut bytes into chunks of 1..13 bytes. */
const chop = (bytes: Uint8Array): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let o = 0, i = 0; o < bytes.length; i++) {
    const n = 1 + ((i * 7) % 13)
    out.push(bytes.subarray(o, o + n))
    o += n
  }
  return out
}

const respond = (
  request: Isns.Request,
  status: number,
  attributes: ReadonlyArray<Isns.Attribute>,
  maxPduPayload = 8
): Array<Uint8Array> =>
  Isns.encode(
    {
      _tag: "Response",
      functionId: request.functionId | Isns.RESPONSE,
      transactionId: request.transactionId,
      flags: Isns.Flag.Server,
      status,
      attributes
    },
    { maxPduPayload }
  )

interface Node {
  readonly name: string
  readonly type: number
  readonly alias?: string
  readonly groups: ReadonlyArray<{ readonly host: string; readonly port: number; readonly tag: number | undefined }>
}

const directory: ReadonlyArray<Node> = [
  { name: "iqn.2026-11.test:a-initiator", type: Isns.NodeType.Initiator, groups: [] },
  {
    name: "iqn.2026-11.test:b-disk",
    type: Isns.NodeType.Target,
    alias: "disk",
    groups: [
      { host: "192.0.2.1", port: 3260, tag: 1 },
      { host: "2001:db8::1", port: 3260, tag: 2 },
      { host: "192.0.2.9", port: 3260, tag: undefined }
    ]
  },
  {
    name: "iqn.2026-11.test:c-both",
    type: Isns.NodeType.Target | Isns.NodeType.Initiator,
    groups: [{ host: "192.0.2.2", port: 3261, tag: 5 }]
  }
]

/** A well-behaved server over `directory`, with noise before every answer. */
const server = (request: Isns.Request): Answer => {
  const { keys } = Isns.sections(request)
  const noise = [
    // a server-to-client SCN with its own transaction ID, and a stale response to an old request
    ...Isns.encode({
      _tag: "Request",
      functionId: Isns.FunctionId.SCN,
      transactionId: request.transactionId,
      flags: Isns.Flag.Server,
      attributes: [Isns.string(Isns.Tag.IscsiName, "iqn.2026-11.test:x")]
    }),
    ...respond({ ...request, transactionId: (request.transactionId + 100) & 0xffff }, 0, [Isns.delimiter])
  ]
  const key = Isns.stringOf(keys, Isns.Tag.IscsiName)
  let answer: Array<Uint8Array>
  if (request.functionId === Isns.FunctionId.DevGetNext) {
    const next = directory.find((n) => key === undefined || n.name > key)
    answer =
      next === undefined
        ? respond(request, Isns.Status.NoSuchEntry, [])
        : respond(request, 0, [
            Isns.string(Isns.Tag.IscsiName, next.name),
            Isns.delimiter,
            Isns.uint32(Isns.Tag.IscsiNodeType, next.type),
            ...(next.alias !== undefined ? [Isns.string(Isns.Tag.IscsiAlias, next.alias)] : [])
          ])
  } else {
    const node = directory.find((n) => n.name === key)!
    answer = respond(request, 0, [
      Isns.string(Isns.Tag.IscsiName, node.name),
      Isns.delimiter,
      Isns.string(Isns.Tag.IscsiName, node.name),
      Isns.uint32(Isns.Tag.IscsiNodeType, node.type),
      ...node.groups.flatMap((g) => [
        Isns.string(Isns.Tag.PgIscsiName, node.name),
        Isns.address(Isns.Tag.PgPortalIpAddress, Isns.parseAddress(g.host)!),
        Isns.uint32(Isns.Tag.PgPortalPort, g.port),
        g.tag === undefined ? Isns.nil(Isns.Tag.PgTag) : Isns.uint32(Isns.Tag.PgTag, g.tag)
      ])
    ])
  }
  return chop(concat([...noise, ...answer]))
}

const options: IsnsClient.Options = { server: { host: "isns.test" }, sourceName: "iqn.2026-11.test:me" }

const run = <A>(serve: (r: Isns.Request) => Answer, program: Effect.Effect<A, IscsiError.IscsiError, Transport>) => {
  const seen: Seen = { requests: [], connects: [] }
  return Effect.map(Effect.provide(program, fakeTransport(serve, seen)), (a) => ({ a, seen }))
}

describe("IsnsClient", () => {
  it.effect("lists targets with their portal groups through split answers and unrelated messages", () =>
    Effect.gen(function* () {
      const { a: targets, seen } = yield* run(server, IsnsClient.targets(options))
      expect(targets).toEqual([
        {
          name: "iqn.2026-11.test:b-disk",
          alias: "disk",
          nodeType: 1,
          portals: [
            { host: "192.0.2.1", port: 3260, tpgt: 1 },
            { host: "2001:db8::1", port: 3260, tpgt: 2 }
          ]
        },
        {
          name: "iqn.2026-11.test:c-both",
          alias: undefined,
          nodeType: 3,
          portals: [{ host: "192.0.2.2", port: 3261, tpgt: 5 }]
        }
      ])
      expect(seen.connects).toEqual(["isns.test:3205"])
      // a DevGetNext walk of 4 steps, then one DevAttrQry per target (none for the initiator)
      expect(seen.requests.map((r) => Isns.functionName(r.functionId))).toEqual([
        "DevGetNext",
        "DevGetNext",
        "DevGetNext",
        "DevGetNext",
        "DevAttrQry",
        "DevAttrQry"
      ])
      expect(new Set(seen.requests.map((r) => r.transactionId)).size).toBe(seen.requests.length)
      for (const r of seen.requests) expect(Isns.sections(r).source).toEqual(Isns.string(32, options.sourceName))
    })
  )

  it.effect("a status is a typed IsnsRejected; only Busy and Internal Error are retryable", () =>
    Effect.gen(function* () {
      for (const [status, retryable] of [
        [Isns.Status.SourceUnknown, false],
        [Isns.Status.Busy, true],
        [Isns.Status.InternalError, true]
      ] as const) {
        const e = yield* Effect.flip(run((r) => respond(r, status, []), IsnsClient.targets(options)))
        expect(e.reason._tag).toBe("IsnsRejected")
        expect(e.reason._tag === "IsnsRejected" && e.reason.status).toBe(status)
        expect(e.reason._tag === "IsnsRejected" && e.reason.function).toBe("DevGetNext")
        expect(e.isRetryable).toBe(retryable)
      }
    })
  )

  it.effect("a walk that does not advance, or has no key, is a ProtocolError", () =>
    Effect.gen(function* () {
      const same = (r: Isns.Request) =>
        respond(r, 0, [Isns.string(Isns.Tag.IscsiName, "iqn.2026-11.test:loop"), Isns.delimiter])
      const e1 = yield* Effect.flip(run(same, IsnsClient.targets(options)))
      expect(e1.reason._tag).toBe("ProtocolError")
      const e2 = yield* Effect.flip(run((r) => respond(r, 0, [Isns.delimiter]), IsnsClient.targets(options)))
      expect(e2.reason._tag).toBe("ProtocolError")
      let n = 0
      const endless = (r: Isns.Request) =>
        respond(r, 0, [Isns.string(Isns.Tag.IscsiName, `iqn.2026-11.test:n${n++}`), Isns.delimiter])
      const e3 = yield* Effect.flip(run(endless, IsnsClient.targets({ ...options, maxNodes: 50 })))
      expect(e3.reason._tag).toBe("ProtocolError")
      expect(n).toBe(51)
    })
  )

  it.effect("garbage is a ProtocolError; a closed connection is ConnectionLost", () =>
    Effect.gen(function* () {
      const e1 = yield* Effect.flip(
        run(() => [Uint8Array.of(0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)], IsnsClient.targets(options))
      )
      expect(e1.reason._tag).toBe("ProtocolError")
      const e2 = yield* Effect.flip(run(() => "close", IsnsClient.targets(options)))
      expect(e2.reason._tag).toBe("ConnectionLost")
      expect(e2.isRetryable).toBe(true)
    })
  )

  it.effect("a server that never answers is a Timeout after timeoutMs", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(
        Effect.flip(run(() => "silent", IsnsClient.targets({ ...options, timeoutMs: 2000 })))
      )
      yield* TestClock.adjust("1999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const e = yield* Fiber.join(fiber)
      expect(e.reason._tag).toBe("Timeout")
      expect(e.reason._tag === "Timeout" && e.reason.operation).toBe("iSNS DevGetNext")
    })
  )

  it.effect("call answers whatever status, and requests carry source, keys, delimiter, operating", () =>
    Effect.gen(function* () {
      const { a: answer, seen } = yield* run(
        (r) => respond(r, Isns.Status.NoSuchEntry, [], Isns.MAX_PDU_PAYLOAD),
        Effect.scoped(
          Effect.flatMap(IsnsClient.connect(options), (c) =>
            c.call({ functionId: Isns.FunctionId.DevAttrQry, keys: [Isns.nil(32)], operating: [Isns.nil(16)] })
          )
        )
      )
      expect(answer.status).toBe(Isns.Status.NoSuchEntry)
      expect(seen.requests[0]!.attributes).toEqual([
        Isns.string(32, options.sourceName),
        Isns.nil(32),
        Isns.delimiter,
        Isns.nil(16)
      ])
      expect(seen.requests[0]!.flags).toBe(Isns.Flag.Client)
    })
  )
})
