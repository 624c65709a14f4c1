/**
 * A loopback TCP fault proxy between an initiator and a real target (tgtd), for recovery and soak
 * tests. Each accepted connection dials the upstream and gets a fault plan (chosen by the test per
 * connection index): drop the connection at byte offset N of either direction, reset it (RST) there,
 * stall the direction for T ms from offset N, flip one byte at offset N, or split every write of a
 * direction into small pieces. Counters record what was injected.
 *
 * Offsets count the bytes of one direction of one connection from its first byte ("up" is
 * initiator → target, "down" is target → initiator), login included.
 *
 * Whole-path faults, for multipath tests: `kill()` resets every open connection and refuses new
 * ones (accepted, then reset at once) until `restore()`; `freeze()` holds every byte in both
 * directions of the open connections (a path that went silent) until `thaw()` or `kill()`.
 *
 * Not here: anything iSCSI (the proxy never parses PDUs), traffic to anything but loopback.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"

export type Direction = "up" | "down"

export type Fault =
  | { readonly _tag: "Drop"; readonly direction: Direction; readonly offset: number }
  | { readonly _tag: "Reset"; readonly direction: Direction; readonly offset: number }
  | { readonly _tag: "Stall"; readonly direction: Direction; readonly offset: number; readonly ms: number }
  | { readonly _tag: "Flip"; readonly direction: Direction; readonly offset: number; readonly xor?: number }
  | { readonly _tag: "Split"; readonly direction: Direction; readonly maxChunk: number }

/** The faults of one connection, by connection index (0, 1, …). */
export type Plan = (index: number) => ReadonlyArray<Fault>

export interface Counters {
  connections: number
  /** Connections refused (reset at once) while killed. */
  refused: number
  drops: number
  resets: number
  stalls: number
  flips: number
  splits: number
  bytesUp: number
  bytesDown: number
}

export interface Options {
  readonly upstream: { readonly host: string; readonly port: number }
  readonly plan?: Plan | undefined
}

/** One direction of one proxied connection. */
class Pipe {
  offset = 0
  private queue: Array<Uint8Array> = []
  private stalledUntil = 0
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly direction: Direction,
    readonly from: Net.Socket,
    readonly to: Net.Socket,
    readonly faults: Array<Fault>,
    readonly proxy: FaultProxy,
    readonly kill: (reset: boolean) => void
  ) {}

  push(chunk: Uint8Array): void {
    if (this.proxy.frozen || this.timer !== undefined || Date.now() < this.stalledUntil) {
      this.queue.push(chunk)
      return
    }
    this.forward(chunk)
  }

  private forward(chunk: Uint8Array): void {
    let data = chunk
    while (data.length > 0) {
      if (this.to.destroyed) return
      // the next positional fault inside this chunk
      let next: Fault | undefined
      for (const f of this.faults) {
        if (f._tag === "Split") continue
        if (f.offset >= this.offset && f.offset < this.offset + data.length) {
          if (next === undefined || (next._tag !== "Split" && f.offset < next.offset)) next = f
        }
      }
      if (next === undefined || next._tag === "Split") {
        this.write(data)
        return
      }
      const at = next.offset - this.offset
      this.faults.splice(this.faults.indexOf(next), 1)
      switch (next._tag) {
        case "Flip": {
          const copy = new Uint8Array(data)
          copy[at] = copy[at]! ^ (next.xor ?? 0x01)
          this.proxy.counters.flips++
          data = copy
          continue
        }
        case "Drop":
        case "Reset": {
          if (at > 0) this.write(data.subarray(0, at))
          if (next._tag === "Drop") this.proxy.counters.drops++
          else this.proxy.counters.resets++
          this.kill(next._tag === "Reset")
          return
        }
        case "Stall": {
          if (at > 0) this.write(data.subarray(0, at))
          this.proxy.counters.stalls++
          this.stalledUntil = Date.now() + next.ms
          this.queue.unshift(data.subarray(at))
          this.timer = setTimeout(() => {
            this.timer = undefined
            this.stalledUntil = 0
            const q = this.queue
            this.queue = []
            for (const c of q) this.push(c)
          }, next.ms)
          return
        }
      }
    }
  }

  private write(data: Uint8Array): void {
    const split = this.faults.find((f) => f._tag === "Split")
    this.offset += data.length
    if (this.direction === "up") this.proxy.counters.bytesUp += data.length
    else this.proxy.counters.bytesDown += data.length
    if (split !== undefined && split._tag === "Split" && data.length > split.maxChunk) {
      this.proxy.counters.splits++
      for (let o = 0; o < data.length; o += split.maxChunk) {
        this.to.write(data.subarray(o, Math.min(o + split.maxChunk, data.length)))
      }
      return
    }
    this.to.write(data)
  }

  /** Forward what a freeze held back. */
  flush(): void {
    if (this.timer !== undefined || Date.now() < this.stalledUntil) return
    const q = this.queue
    this.queue = []
    for (const c of q) this.push(c)
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.queue = []
  }
}

export class FaultProxy {
  readonly counters: Counters = {
    connections: 0,
    refused: 0,
    drops: 0,
    resets: 0,
    stalls: 0,
    flips: 0,
    splits: 0,
    bytesUp: 0,
    bytesDown: 0
  }
  port = 0
  readonly host = "127.0.0.1"
  plan: Plan
  /** While true, new connections are reset as they arrive (`kill`, `restore`). */
  refusing = false
  /** While true, no byte moves on the open connections (`freeze`, `thaw`). */
  frozen = false
  private readonly sockets = new Set<Net.Socket>()
  private readonly pipes = new Set<Pipe>()

  constructor(
    readonly options: Options,
    readonly server: Net.Server
  ) {
    this.plan = options.plan ?? (() => [])
  }

  get address(): { readonly host: string; readonly port: number } {
    return { host: this.host, port: this.port }
  }

  /** Faults injected so far (drops, resets, stalls, flips; splits are not faults of their own). */
  get injected(): number {
    const c = this.counters
    return c.drops + c.resets + c.stalls + c.flips
  }

  /** Replace the plan for the connections accepted from now on. */
  setPlan(plan: Plan): void {
    this.plan = plan
  }

  /** Drop every open connection now (both directions). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy()
  }

  /** The path dies: reset every open connection (RST) and refuse new ones until `restore()`. */
  kill(): void {
    this.refusing = true
    this.frozen = false
    for (const s of this.sockets) if (!s.destroyed) s.resetAndDestroy()
  }

  /** The path is back: accept connections again. */
  restore(): void {
    this.refusing = false
  }

  /** The path goes silent: hold every byte of the open connections (new ones too) until `thaw()`. */
  freeze(): void {
    this.frozen = true
  }

  /** Let the held bytes through, in order. */
  thaw(): void {
    this.frozen = false
    for (const p of this.pipes) p.flush()
  }

  /** @internal */
  accept(client: Net.Socket): void {
    if (this.refusing) {
      this.counters.refused++
      client.on("error", () => {})
      client.resetAndDestroy()
      return
    }
    const index = this.counters.connections++
    const faults = [...this.plan(index)]
    const upstream = Net.connect({ host: this.options.upstream.host, port: this.options.upstream.port })
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    this.sockets.add(client)
    this.sockets.add(upstream)
    let dead = false
    const kill = (reset: boolean) => {
      if (dead) return
      dead = true
      up.stop()
      down.stop()
      this.pipes.delete(up)
      this.pipes.delete(down)
      for (const s of [client, upstream]) {
        if (s.destroyed) continue
        if (reset) s.resetAndDestroy()
        else s.destroy()
      }
    }
    const up = new Pipe(
      "up",
      client,
      upstream,
      faults.filter((f) => f.direction === "up"),
      this,
      kill
    )
    const down = new Pipe(
      "down",
      upstream,
      client,
      faults.filter((f) => f.direction === "down"),
      this,
      kill
    )
    this.pipes.add(up)
    this.pipes.add(down)
    client.on("data", (c: Buffer) => up.push(c))
    upstream.on("data", (c: Buffer) => down.push(c))
    for (const s of [client, upstream]) {
      s.on("error", () => kill(false))
      s.on("close", () => {
        this.sockets.delete(s)
        kill(false)
      })
    }
  }

  close(): Promise<void> {
    this.dropAll()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/** Start a proxy to `options.upstream` on a free loopback port. */
export const start = (options: Options): Promise<FaultProxy> =>
  new Promise((resolve, reject) => {
    if (!/^127\.\d+\.\d+\.\d+$/.test(options.upstream.host) && options.upstream.host !== "localhost") {
      reject(new Error("the fault proxy only forwards to loopback"))
      return
    }
    const server = Net.createServer()
    const proxy = new FaultProxy(options, server)
    server.on("connection", (s) => proxy.accept(s))
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const a = server.address()
      proxy.port = typeof a === "object" && a !== null ? a.port : 0
      resolve(proxy)
    })
  })

/** A proxy for the current scope. */
export const make = (options: Options): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (p) => Effect.promise(() => p.close())
  )

/** A small seeded PRNG (mulberry32) for reproducible random offsets. */
export const rng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
