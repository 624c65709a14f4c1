/**
 * The Node.js implementation of core's `Transport`: TCP (TCP_NODELAY) or TLS over
 * `@effect/platform-node`'s NodeSocket (deep import), as a `Channel` of received chunk batches and
 * corked vectored writes.
 *
 * Effect socket writes do not fail after the peer closed (they can hang waiting for a reconnect),
 * so the channel keeps its own `dead` state: once a pull failed, writes fail at once with
 * `ConnectionLost`. The session engine above keeps its own dead state as well.
 *
 * Plain TCP does not go through NodeSocket: it uses `net.connect` with `onread`, so the kernel
 * copies into one receive buffer instead of a new 64 KiB ArrayBuffer per read (which made V8 run
 * major GCs over the whole heap under load). During login `pull` hands out copies; then the session
 * switches the channel to push mode (`receive`): each read is framed and run through the engine
 * synchronously from the read callback, as a view of that buffer, and the commands this completes
 * are written as one batch when it returns. While the receiver places a large Data-In segment, the
 * next reads go straight into the task's buffer (`Receiver.nextBuffer`), and back into our own
 * buffer at once when that is revoked (`revokeBuffer`). Measured by `npm run bench`
 * (benchmark/RESULTS.md); see .patterns/transport.md.
 */
import * as IscsiError from "@effect-iscsi/core/IscsiError"
import { type Address, type Channel, type Receiver, Transport } from "@effect-iscsi/core/Transport"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import * as Net from "node:net"
import type * as Tls from "node:tls"

export interface Options {
  /** Dial timeout (default 10 s). */
  readonly connectTimeout?: number | undefined
  /** Use TLS (iSCSI over TLS is not standardized by RFC 7143; for tunnels and TLS-terminating proxies). */
  readonly tls?: Tls.ConnectionOptions | boolean | undefined
  /**
   * Plain TCP implementation: `"net"` (default: one reused receive buffer, push mode, synchronous batched writes) or
   * `"effect"` (Effect's NodeSocket, as TLS always uses). See .patterns/transport.md.
   */
  readonly socket?: "net" | "effect" | undefined
}

const lost = (message: string, cause?: unknown) => IscsiError.make(new IscsiError.ConnectionLost({ message, cause }))

const describe = (e: Socket.SocketError): string => {
  const r = e.reason as { _tag: string; cause?: unknown; code?: number }
  const c = r.cause as { code?: string; message?: string } | undefined
  return c?.code ?? c?.message ?? (r.code !== undefined ? `closed (${r.code})` : r._tag)
}

/** Size of each receive buffer of the plain TCP path (one socket read fills at most one). */
const RECV_BUFFER = 256 * 1024
/** Frames up to this size are coalesced into one buffer per batch (see `coalesce`). */
const SMALL_FRAME = 1024
/** Size of the slabs coalesced batches are carved from (and the most one batch coalesces). */
const OUT_SLAB = 256 * 1024

/** Plain TCP over `net.Socket` with `onread` (see the module comment). */
const connectNet = (address: Address, options: Options): Effect.Effect<Channel, IscsiError.IscsiError, Scope.Scope> =>
  Effect.gen(function* () {
    const openTimeout = options.connectTimeout ?? 10_000
    // one receive buffer that every socket read fills: push mode consumes each chunk before the
    // next read, pull mode (login) copies it out
    const recvBuffer = new Uint8Array(RECV_BUFFER)
    let pending: Array<Uint8Array> = []
    const takePending = (): ReadonlyArray<Uint8Array> => {
      const batch = pending
      pending = []
      return batch
    }
    let dead: IscsiError.IscsiError | undefined
    let waiter: ((effect: Effect.Effect<ReadonlyArray<Uint8Array>, IscsiError.IscsiError>) => void) | undefined
    const wake = () => {
      if (waiter === undefined) return
      if (pending.length > 0) {
        const w = waiter
        waiter = undefined
        w(Effect.succeed(takePending()))
      } else if (dead !== undefined) {
        const w = waiter
        waiter = undefined
        w(Effect.fail(dead))
      }
    }
    // push mode (`receive`): chunks go to the receiver from the read callback; the frames the
    // receiver writes meanwhile are collected in `batch` and flushed when it returns
    let receiver: Receiver | undefined
    let closeSent = false
    const sendClose = () => {
      if (receiver === undefined || closeSent || dead === undefined) return
      closeSent = true
      receiver.onClose(dead)
    }
    let inRead = false
    const batch: Array<Uint8Array> = []
    const die = (message: string, cause?: unknown) => {
      dead ??= lost(message, cause)
      sendClose()
      wake()
    }
    const deliver = (chunk: Uint8Array) => {
      inRead = true
      try {
        receiver!.onChunk(chunk)
      } catch (e) {
        die(`receiver failed: ${e instanceof Error ? e.message : String(e)}`, e)
      } finally {
        inRead = false
      }
      flushBatch()
    }
    const flushBatch = () => {
      const n = batch.length
      if (n === 0) return
      if (dead === undefined) {
        if (n === 1) socket.write(batch[0]!)
        else {
          let total = 0
          let small = true
          for (let i = 0; i < n; i++) {
            const len = batch[i]!.length
            total += len
            if (len > SMALL_FRAME) small = false
          }
          if (small && total <= OUT_SLAB) socket.write(coalesce(batch, total))
          else {
            socket.cork()
            for (let i = 0; i < n; i++) socket.write(batch[i]!)
            socket.uncork()
          }
        }
      }
      batch.length = 0
    }
    // small frames of one batch are copied into one buffer and written with one `socket.write`
    // (not corked `write`s: one Writable round and one iovec instead of one per frame). The
    // buffers are views of slabs that are never reused, so a write Node still holds stays intact.
    let outSlab = new Uint8Array(0)
    let outUsed = 0
    const coalesce = (frames: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
      if (outUsed + total > outSlab.length) {
        outSlab = new Uint8Array(OUT_SLAB)
        outUsed = 0
      }
      const view = outSlab.subarray(outUsed, outUsed + total)
      outUsed += total
      let o = 0
      for (let i = 0; i < frames.length; i++) {
        const f = frames[i]!
        view.set(f, o)
        o += f.length
      }
      return view
    }
    // the buffer the next read fills: `recvBuffer`, or a view of a task's buffer the receiver asked
    // for (`Receiver.nextBuffer`: the rest of a large Data-In segment, read where it belongs)
    let installed: Uint8Array = recvBuffer
    // views of the first n bytes of recvBuffer for small limits (one per n, made once)
    const limited: Array<Uint8Array | undefined> = []
    const limitedView = (n: number): Uint8Array => {
      if (n > 2048) return recvBuffer.subarray(0, n)
      return (limited[n] ??= recvBuffer.subarray(0, n))
    }
    const onread = {
      buffer: (): Uint8Array => {
        installed = recvBuffer
        if (receiver !== undefined && dead === undefined) {
          const direct = receiver.nextBuffer?.()
          if (direct !== undefined) installed = direct
          else {
            const limit = receiver.readLimit?.() ?? 0
            if (limit > 0 && limit < RECV_BUFFER) installed = limitedView(limit)
          }
        }
        return installed
      },
      callback: (n: number) => {
        // `installed`, not Node's own idea of the buffer: `revokeBuffer` may have swapped it
        const buf = installed
        if (receiver !== undefined) {
          if (dead === undefined) deliver(new Uint8Array(buf.buffer, buf.byteOffset, n))
          return true
        }
        pending.push(buf.slice(0, n))
        wake()
        return true
      }
    }
    const revokeBuffer = () => {
      if (installed.buffer === recvBuffer.buffer) return
      installed = recvBuffer
      // Node keeps the buffer it reads into in the socket's handle; replace it before the next read.
      // (Called from a read callback, the buffer returned when that callback ends goes to the
      // replaced listener; the next read then fills all of recvBuffer from offset 0, which is where
      // every view of it we hand out starts: `installed` still describes the bytes. No new
      // placement can start in the callback that revoked one: the framer places before the engine runs.)
      ;(socket as unknown as { _handle?: { useUserBuffer(b: Uint8Array): void } })._handle?.useUserBuffer(recvBuffer)
    }
    const socket = yield* Effect.acquireRelease(
      Effect.callback<Net.Socket, IscsiError.IscsiError>((resume) => {
        const s = Net.connect({ host: address.host, port: address.port, noDelay: true, onread })
        const timer = setTimeout(() => {
          s.destroy()
          fail(new Error("timeout"))
        }, openTimeout)
        const fail = (e: Error & { code?: string }) => {
          clearTimeout(timer)
          s.destroy()
          resume(
            Effect.fail(
              IscsiError.make(
                new IscsiError.ConnectFailed({
                  host: address.host,
                  port: address.port,
                  message: `cannot connect to ${address.host}:${address.port}: ${e.code ?? e.message}`,
                  cause: e
                })
              )
            )
          )
        }
        s.once("error", fail)
        s.once("connect", () => {
          clearTimeout(timer)
          s.off("error", fail)
          // from here on a failure ends the channel (listeners in place before any event can fire)
          s.on("error", (e: Error & { code?: string }) => die(`connection closed: ${e.code ?? e.message}`, e))
          s.on("end", () => die("connection closed: closed (1000)"))
          s.on("close", () => die("connection closed"))
          resume(Effect.succeed(s))
        })
        return Effect.sync(() => {
          clearTimeout(timer)
          s.destroy()
        })
      }),
      (s) => Effect.sync(() => s.destroy())
    )
    const pull: Channel["pull"] = Effect.callback((resume) => {
      // the previous batch is consumed: its buffers can take reads again
      if (pending.length > 0) return resume(Effect.succeed(takePending()))
      if (dead !== undefined) return resume(Effect.fail(dead))
      waiter = resume
      return Effect.sync(() => {
        if (waiter === resume) waiter = undefined
      })
    })
    const writeAll: Channel["writeAll"] = (chunks) =>
      Effect.suspend(() => {
        if (dead) return Effect.fail(dead)
        if (chunks.length === 0) return Effect.void
        let ok = true
        if (chunks.length === 1) ok = socket.write(chunks[0]!)
        else {
          socket.cork()
          for (let i = 0; i < chunks.length; i++) ok = socket.write(chunks[i]!) && ok
          socket.uncork()
        }
        if (ok) return Effect.void
        return Effect.callback<void, IscsiError.IscsiError>((resume) => {
          const onDrain = () => {
            socket.off("close", onClose)
            resume(Effect.void)
          }
          const onClose = () => {
            socket.off("drain", onDrain)
            resume(Effect.fail(dead ?? lost("connection closed")))
          }
          socket.once("drain", onDrain)
          socket.once("close", onClose)
          return Effect.sync(() => {
            socket.off("drain", onDrain)
            socket.off("close", onClose)
          })
        })
      })
    const destroy = Effect.sync(() => {
      dead ??= lost("connection closed locally")
      socket.destroy()
      sendClose()
      wake()
    })
    // writeNow: a lone frame opening a turn goes out at once (queue depth 1: no cork, one syscall);
    // anything more in the same turn is corked and flushed once the current code is done
    let inTurn = false
    let corked = false
    const endTurn = () => {
      inTurn = false
      if (corked) {
        corked = false
        socket.uncork()
      }
    }
    const writeNow = (chunks: ReadonlyArray<Uint8Array>) => {
      if (dead !== undefined) return
      if (inRead) {
        for (let i = 0; i < chunks.length; i++) batch.push(chunks[i]!)
        return
      }
      if (!inTurn) {
        inTurn = true
        process.nextTick(endTurn)
        if (chunks.length === 1) {
          socket.write(chunks[0]!)
          return
        }
      }
      if (!corked) {
        corked = true
        socket.cork()
      }
      for (let i = 0; i < chunks.length; i++) socket.write(chunks[i]!)
    }
    const receive = (r: Receiver) => {
      if (receiver !== undefined) throw new Error("Channel.receive called twice")
      receiver = r
      // what arrived before push mode (copies), in order
      const early = pending
      pending = []
      for (let i = 0; i < early.length && dead === undefined; i++) deliver(early[i]!)
      sendClose()
    }
    return { pull, writeAll, destroy, writeNow, receive, revokeBuffer }
  })

/** Dial one connection. The socket lives as long as the surrounding scope, or until `destroy`. */
export const connect = (
  address: Address,
  options: Options = {}
): Effect.Effect<Channel, IscsiError.IscsiError, Scope.Scope> =>
  options.tls || options.socket === "effect" ? connectNodeSocket(address, options) : connectNet(address, options)

const connectNodeSocket = (
  address: Address,
  options: Options
): Effect.Effect<Channel, IscsiError.IscsiError, Scope.Scope> =>
  Effect.gen(function* () {
    const parent = yield* Effect.scope
    const scope = yield* Scope.fork(parent)
    const openTimeout = options.connectTimeout ?? 10_000
    // loaded here, not with the module: it loads node:tls, and `require("tls")` alone adds 20-30 ms
    // of CPU to a process's start (perf stat, 2-core test machine), paid by every `iscsi` run
    // that never dials TLS
    const NodeSocket = yield* Effect.promise(() => import("@effect/platform-node/NodeSocket"))
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
