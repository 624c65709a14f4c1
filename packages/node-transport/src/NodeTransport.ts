/**
 * The Node.js implementation of core's `Transport`: TCP (TCP_NODELAY) or TLS over
 * `@effect/platform-node`'s NodeSocket (deep import), as a `Channel` of received chunk batches and
 * corked vectored writes.
 *
 * Effect socket writes do not fail after the peer closed (they can hang waiting for a reconnect),
 * so the channel keeps its own `dead` state: once a pull failed, writes fail at once with
 * `ConnectionLost`. The session engine above keeps its own dead state as well.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as IscsiError from "@effect-iscsi/core/IscsiError"
import { type Address, type Channel, Transport } from "@effect-iscsi/core/Transport"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import type * as Tls from "node:tls"

export interface Options {
  /** Dial timeout (default 10 s). */
  readonly connectTimeout?: number | undefined
  /** Use TLS (iSCSI over TLS is not standardized by RFC 7143; for tunnels and TLS-terminating proxies). */
  readonly tls?: Tls.ConnectionOptions | boolean | undefined
}

const lost = (message: string, cause?: unknown) => IscsiError.make(new IscsiError.ConnectionLost({ message, cause }))

const describe = (e: Socket.SocketError): string => {
  const r = e.reason as { _tag: string; cause?: unknown; code?: number }
  const c = r.cause as { code?: string; message?: string } | undefined
  return c?.code ?? c?.message ?? (r.code !== undefined ? `closed (${r.code})` : r._tag)
}

/** Dial one connection. The socket lives as long as the surrounding scope, or until `destroy`. */
export const connect = (
  address: Address,
  options: Options = {}
): Effect.Effect<Channel, IscsiError.IscsiError, Scope.Scope> =>
  Effect.gen(function* () {
    const parent = yield* Effect.scope
    const scope = yield* Scope.fork(parent)
    const openTimeout = options.connectTimeout ?? 10_000
    const socket = options.tls
      ? yield* NodeSocket.makeTls({
          ...(typeof options.tls === "object" ? options.tls : {}),
          host: address.host,
          port: address.port,
          openTimeout,
          chunkSize: Number.POSITIVE_INFINITY
        })
      : yield* NodeSocket.makeNet({
          host: address.host,
          port: address.port,
          noDelay: true,
          openTimeout,
          chunkSize: Number.POSITIVE_INFINITY
        })
    const pull0 = yield* Socket.readerBytes(socket).pipe(
      Scope.provide(scope),
      Effect.mapError((e) =>
        IscsiError.make(
          new IscsiError.ConnectFailed({
            host: address.host,
            port: address.port,
            message: `cannot connect to ${address.host}:${address.port}: ${describe(e)}`,
            cause: e
          })
        )
      )
    )
    const writer = yield* socket.writer.pipe(Scope.provide(scope))
    let dead: IscsiError.IscsiError | undefined
    const pull: Channel["pull"] = Effect.suspend(() =>
      dead
        ? Effect.fail(dead)
        : Effect.mapError(pull0, (e) => {
            dead = lost(`connection closed: ${describe(e)}`, e)
            return dead
          })
    )
    const writeAll: Channel["writeAll"] = (chunks) =>
      Effect.suspend(() => {
        if (dead) return Effect.fail(dead)
        if (chunks.length === 0) return Effect.void
        return Effect.mapError(
          writer.writeAll(chunks as unknown as readonly [Uint8Array, ...Array<Uint8Array>]),
          (e) => {
            dead = lost(`write failed: ${describe(e)}`, e)
            return dead
          }
        )
      })
    const destroy = Effect.suspend(() => {
      dead ??= lost("connection closed locally")
      return Scope.close(scope, Exit.void)
    })
    return { pull, writeAll, destroy }
  })

/** core's `Transport` over Node TCP (or TLS). */
export const layer = (options: Options = {}): Layer.Layer<Transport> =>
  Layer.succeed(Transport, Transport.of({ connect: (address) => connect(address, options) }))
