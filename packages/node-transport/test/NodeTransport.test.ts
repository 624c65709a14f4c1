/**
 * NodeTransport's plain-TCP channel (net.Socket with `onread`, see issue 8 and npm run bench):
 * bytes arrive in order and intact through `pull` and then through push mode (`receive`, bytes
 * that arrived before it first), frames written from `onChunk` go out after it returns, in order,
 * `writeNow` and `writeAll` keep their order, and the failures are typed: a refused dial is
 * `ConnectFailed`, a peer close is `ConnectionLost` for pull, writes and `onClose` (once), and a
 * throwing `onChunk` ends the channel the same way.
 */
import type { IscsiError } from "@effect-iscsi/core/IscsiError"
import type { Channel } from "@effect-iscsi/core/Transport"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import * as NodeTransport from "../src/NodeTransport.ts"

/** A loopback server running `onConnection`; closed with the test's scope. */
const server = (onConnection: (socket: Net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.callback<Net.Server>((resume) => {
      const s = Net.createServer(onConnection)
      s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
    }),
    (s) =>
      Effect.callback<void>((resume) => {
        s.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((s) => ({ host: "127.0.0.1", port: (s.address() as Net.AddressInfo).port })))

const pattern = (n: number): Uint8Array => {
  const b = new Uint8Array(n)
  let x = 12345
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

/** Pull until `n` bytes arrived, comparing each batch with `expected` before pulling again. */
const receiveAndCheck = (pull: Channel["pull"], expected: Uint8Array) =>
  Effect.gen(function* () {
    let at = 0
    let mismatches = 0
    let batches = 0
    while (at < expected.length) {
      const chunks = yield* pull
      batches++
      for (const c of chunks) {
        for (let i = 0; i < c.length; i++) if (c[i] !== expected[at + i]) mismatches++
        at += c.length
      }
    }
    return { at, mismatches, batches }
  })

describe("NodeTransport (plain TCP)", () => {
  it.effect("delivers a large stream intact through pull", () =>
    Effect.gen(function* () {
      const data = pattern(8_000_000)
      const address = yield* server((socket) => socket.write(data))
      const channel = yield* NodeTransport.connect(address)
      const a = yield* receiveAndCheck(channel.pull, data)
      expect({ at: a.at, mismatches: a.mismatches }).toEqual({ at: data.length, mismatches: 0 })
    }).pipe(Effect.scoped)
  )

  it.live("push mode: bytes that arrived before receive come first, then the rest, intact", () =>
    Effect.gen(function* () {
      const first = pattern(200_000)
      const second = pattern(8_000_000).reverse()
      const address = yield* server((socket) => {
        // the client's go-ahead comes once it is in push mode
        socket.once("data", () => socket.write(second))
        socket.write(first)
      })
      const channel = yield* NodeTransport.connect(address)
      // let the first part arrive unpulled
      yield* Effect.sleep("100 millis")
      const expected = new Uint8Array(first.length + second.length)
      expected.set(first)
      expected.set(second, first.length)
      let at = 0
      let mismatches = 0
      let done: (() => void) | undefined
      expect(channel.receive).toBeDefined()
      channel.receive?.({
        onChunk: (c) => {
          for (let i = 0; i < c.length; i++) if (c[i] !== expected[at + i]) mismatches++
          at += c.length
          if (at >= expected.length) done?.()
        },
        onClose: () => {}
      })
      yield* channel.writeAll([new Uint8Array([1])])
      yield* Effect.callback<void>((resume) => {
        done = () => resume(Effect.void)
        if (at >= expected.length) done()
      })
      expect({ at, mismatches }).toEqual({ at: expected.length, mismatches: 0 })
    }).pipe(Effect.scoped)
  )

  it.effect("push mode: frames written from onChunk go out, in order, after earlier writes", () =>
    Effect.gen(function* () {
      let received: Array<number> = []
      let done: (() => void) | undefined
      const address = yield* server((socket) => {
        socket.on("data", (d) => {
          received = [...received, ...d]
          if (received.length === 1) socket.write(new Uint8Array([9]))
          if (received.length >= 4) done?.()
        })
      })
      const channel = yield* NodeTransport.connect(address)
      channel.receive?.({
        onChunk: () => {
          channel.writeNow?.([new Uint8Array([2])])
          channel.writeNow?.([new Uint8Array([3]), new Uint8Array([4])])
        },
        onClose: () => {}
      })
      channel.writeNow?.([new Uint8Array([1])])
      yield* Effect.callback<void>((resume) => {
        done = () => resume(Effect.void)
        if (received.length >= 4) done()
      })
      expect(received).toEqual([1, 2, 3, 4])
    }).pipe(Effect.scoped)
  )

  it.effect("push mode: a peer close calls onClose once with ConnectionLost; a throwing onChunk too", () =>
    Effect.gen(function* () {
      const closes = (onChunk: (c: Uint8Array) => void, onConnection: (socket: Net.Socket) => void) =>
        Effect.gen(function* () {
          const address = yield* server(onConnection)
          const channel = yield* NodeTransport.connect(address)
          const errors: Array<IscsiError> = []
          let bytes = 0
          yield* Effect.callback<void>((resume) => {
            channel.receive?.({
              onChunk: (c) => {
                bytes += c.length
                onChunk(c)
              },
              onClose: (e) => {
                errors.push(e)
                resume(Effect.void)
              }
            })
          })
          // a second chance to call onClose: destroy after the close
          yield* channel.destroy
          const writeError = yield* Effect.flip(channel.writeAll([new Uint8Array(1)]))
          return { bytes, tags: errors.map((e) => e.reason._tag), write: writeError.reason._tag }
        }).pipe(Effect.scoped)
      const peerClose = yield* closes(
        () => {},
        (socket) => socket.end(new Uint8Array([7, 7, 7]))
      )
      expect(peerClose).toEqual({ bytes: 3, tags: ["ConnectionLost"], write: "ConnectionLost" })
      const thrown = yield* closes(
        () => {
          throw new Error("bug in the receiver")
        },
        (socket) => socket.write(new Uint8Array([1, 2]))
      )
      expect(thrown).toEqual({ bytes: 2, tags: ["ConnectionLost"], write: "ConnectionLost" })
    })
  )

  it.effect("writeNow and writeAll keep their order", () =>
    Effect.gen(function* () {
      let received = new Uint8Array(0)
      let done: (() => void) | undefined
      const address = yield* server((socket) => {
        socket.on("data", (d) => {
          const next = new Uint8Array(received.length + d.length)
          next.set(received)
          next.set(d, received.length)
          received = next
          if (received.length >= 3 * 70_000) done?.()
        })
      })
      const channel = yield* NodeTransport.connect(address)
      const parts = [pattern(70_000), pattern(70_000).reverse(), pattern(70_000).map((x) => x ^ 0x55)]
      expect(channel.writeNow).toBeDefined()
      channel.writeNow?.([parts[0]!.subarray(0, 48), parts[0]!.subarray(48)])
      yield* channel.writeAll([parts[1]!])
      channel.writeNow?.([parts[2]!])
      yield* Effect.callback<void>((resume) => {
        done = () => resume(Effect.void)
        if (received.length >= 3 * 70_000) done()
      })
      const expected = new Uint8Array(3 * 70_000)
      for (let i = 0; i < parts.length; i++) expected.set(parts[i]!, i * 70_000)
      expect(received.length).toBe(expected.length)
      expect(received.every((x, i) => x === expected[i])).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.effect("a peer close fails pull and writes with ConnectionLost", () =>
    Effect.gen(function* () {
      const address = yield* server((socket) => socket.end(new Uint8Array([7, 7, 7])))
      const channel = yield* NodeTransport.connect(address)
      let bytes = 0
      const error = yield* Effect.flip(
        Effect.gen(function* () {
          for (;;) for (const c of yield* channel.pull) bytes += c.length
        })
      )
      expect(bytes).toBe(3)
      expect(error.reason._tag).toBe("ConnectionLost")
      const writeError = yield* Effect.flip(channel.writeAll([new Uint8Array(4)]))
      expect(writeError.reason._tag).toBe("ConnectionLost")
    }).pipe(Effect.scoped)
  )

  it.effect("a refused dial is ConnectFailed", () =>
    Effect.gen(function* () {
      const address = yield* Effect.scoped(server(() => {}))
      // the server is closed again: nothing listens on the port
      const error = yield* Effect.flip(Effect.scoped(NodeTransport.connect(address)))
      expect(error.reason._tag).toBe("ConnectFailed")
    })
  )
})
