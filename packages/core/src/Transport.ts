/**
 * The byte transport under a connection: a service that dials `host:port` and returns a scoped
 * `Channel` (batches of received chunks, vectored writes). Implemented for Node by
 * `@effect-iscsi/node-transport` (TCP, optional TLS) and by the test harness (fault proxies, fake
 * targets); core itself never touches a socket.
 *
 * Also the platform services core needs but cannot implement without Node: hashing for CHAP,
 * random bytes, and a fast CRC32C for data digests (`Platform`).
 *
 * Not here: framing (that is `Framer`), iSCSI state (that is `Session`).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Crc32c from "./Crc32c.ts"
import type { IscsiError } from "./IscsiError.ts"

/** One open byte stream. Closing its scope closes it. */
export interface Channel {
  /**
   * The next batch of received chunks. Fails with `ConnectionLost` once the peer closed or the
   * socket failed (a clean close is also a failure: an iSCSI connection never ends by itself).
   * Chunks are fresh buffers that the transport never reuses, so views of them are safe to keep.
   */
  readonly pull: Effect.Effect<ReadonlyArray<Uint8Array>, IscsiError>
  /** Write the chunks in order as one batch (corked). */
  readonly writeAll: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, IscsiError>
  /** Destroy the socket now (the pending pull fails). */
  readonly destroy: Effect.Effect<void>
  /**
   * Optional: write the chunks now, from the calling code, without waiting for backpressure; the
   * writes of one event-loop turn go out as one corked batch. A failure surfaces as `pull`
   * failing. The session uses it instead of its writer fiber (one fiber hop less per PDU: npm run
   * bench, queue depth 1 latency).
   */
  readonly writeNow?: ((chunks: ReadonlyArray<Uint8Array>) => void) | undefined
  /**
   * Optional push mode: from this call on, the transport hands every received chunk to
   * `receiver.onChunk` synchronously from its own read callback, in order (chunks not yet pulled
   * first), and `pull` is no longer used. A chunk is a view valid only during the call. Frames
   * passed to `writeNow` while `onChunk` runs go out as one batch when it returns. `onClose` is
   * called once when the channel dies (peer closed, socket error, `destroy`, or `onChunk` threw).
   * The session uses it instead of its reader fiber (no fiber resume per socket read: npm run
   * bench, queue depth 1 latency).
   */
  readonly receive?: ((receiver: Receiver) => void) | undefined
  /**
   * Optional, with `receive`: forget the buffer `Receiver.nextBuffer` last gave (its owner gave it
   * up): the next read goes to the transport's own buffer. Called synchronously by the receiver.
   */
  readonly revokeBuffer?: (() => void) | undefined
}

/** The consumer of a push-mode channel (see `Channel.receive`). */
export interface Receiver {
  readonly onChunk: (chunk: Uint8Array) => void
  readonly onClose: (error: IscsiError) => void
  /**
   * Optional: asked after each `onChunk`, where the next read should go: a buffer of the receiver's
   * (a view of a task's memory, for a large data segment) or `undefined` for the transport's own.
   * The bytes a read puts there come to `onChunk` as a view of that buffer, so the receiver sees
   * they are already in place. A transport without direct reads ignores it.
   */
  readonly nextBuffer?: (() => Uint8Array | undefined) | undefined
  /**
   * Optional: asked when `nextBuffer` gave none, the most bytes the next read into the transport's
   * own buffer should take (0: no limit), so that a large data segment after them can be read in place.
   */
  readonly readLimit?: (() => number) | undefined
}

export interface Address {
  readonly host: string
  readonly port: number
}

export class Transport extends Context.Service<
  Transport,
  {
    readonly connect: (address: Address) => Effect.Effect<Channel, IscsiError, Scope.Scope>
  }
>()("@effect-iscsi/core/Transport") {}

export type HashAlgorithm = "MD5" | "SHA1" | "SHA256" | "SHA3-256"

export class Platform extends Context.Service<
  Platform,
  {
    /** A message digest (CHAP responses). */
    readonly hash: (algorithm: HashAlgorithm, data: Uint8Array) => Uint8Array
    /** Cryptographically strong random bytes (CHAP challenges, ISIDs). */
    readonly randomBytes: (n: number) => Uint8Array
    /** CRC32C for data digests (native where available). */
    readonly crc32c: Crc32c.Fn
  }
>()("@effect-iscsi/core/Platform") {}
