/** Shared helpers for the fake-target, hostile, recovery and security tests. */
import { Negotiation, Pool, type Session } from "@effect-iscsi/core"
import type { FakeTarget } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type * as Metric from "effect/Metric"
import * as References from "effect/References"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"

export const INITIATOR = "iqn.2026-11.io.effect-iscsi:reliability"

let isidCounter = 1
/** A fresh random-format ISID per session. */
export const freshIsid = (): number =>
  0x80 * 2 ** 40 + (((Date.now() & 0xffffff) * 2 ** 16 + isidCounter++ * 7919) % 2 ** 40)

export const fakeConfig = (t: FakeTarget.FakeTarget, extra: Partial<Session.Config> = {}): Session.Config => ({
  address: t.address,
  initiatorName: INITIATOR,
  targetName: t.targetName,
  isid: freshIsid(),
  auth: { _tag: "None" },
  offer: Negotiation.defaultOffer,
  keepaliveIntervalMs: 0,
  loginTimeoutMs: 3000,
  commandTimeoutMs: 5000,
  windowPingMs: 50,
  drainTimeoutMs: 200,
  ...extra
})

export const cdbRw10 = (op: 0x28 | 0x2a, lba: number, blocks: number): Uint8Array => {
  const c = new Uint8Array(10)
  c[0] = op
  c[2] = lba >>> 24
  c[3] = lba >>> 16
  c[4] = lba >>> 8
  c[5] = lba
  c[7] = blocks >> 8
  c[8] = blocks
  return c
}

export const read10 = (lun: number | bigint, lba: number, blocks: number, bs = 512) => ({
  lun,
  cdb: cdbRw10(0x28, lba, blocks),
  direction: "read" as const,
  readLength: blocks * bs
})

export const write10 = (lun: number | bigint, lba: number, data: Uint8Array, bs = 512) => ({
  lun,
  cdb: cdbRw10(0x2a, lba, data.length / bs),
  direction: "write" as const,
  dataOut: data
})

export const cdbRw16 = (op: 0x88 | 0x8a, lba: number, blocks: number): Uint8Array => {
  const c = new Uint8Array(16)
  const v = new DataView(c.buffer)
  c[0] = op
  v.setUint32(2, Math.floor(lba / 2 ** 32))
  v.setUint32(6, lba >>> 0)
  v.setUint32(10, blocks)
  return c
}

export const read16 = (lun: number | bigint, lba: number, blocks: number, bs = 512) => ({
  lun,
  cdb: cdbRw16(0x88, lba, blocks),
  direction: "read" as const,
  readLength: blocks * bs
})

export const write16 = (lun: number | bigint, lba: number, data: Uint8Array, bs = 512) => ({
  lun,
  cdb: cdbRw16(0x8a, lba, data.length / bs),
  direction: "write" as const,
  dataOut: data
})

/** READ CAPACITY (10): 8 bytes of data. */
export const readCapacity10 = (lun: number | bigint) => ({
  lun,
  cdb: Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0),
  direction: "read" as const,
  readLength: 8
})

/** READ CAPACITY (16) (SERVICE ACTION IN 9Eh/10h): 32 bytes of data. */
export const readCapacity16 = (lun: number | bigint) => ({
  lun,
  cdb: Uint8Array.of(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0),
  direction: "read" as const,
  readLength: 32
})

/** Collect a stream's elements into an array in the background (scoped); waits until subscribed. */
export const collect = <A>(stream: Stream.Stream<A>) =>
  Effect.gen(function* () {
    const out: Array<A> = []
    yield* Effect.forkScoped(Stream.runForEach(stream, (a) => Effect.sync(() => out.push(a))))
    yield* Effect.sleep("30 millis")
    return out
  })

/** Poll `cond` every 10 ms for at most `ms`. */
export const eventually = (cond: () => boolean, ms = 3000) =>
  Effect.gen(function* () {
    const until = Date.now() + ms
    while (!cond()) {
      if (Date.now() > until) return false
      yield* Effect.sleep("10 millis")
    }
    return true
  })

/** Deterministic block content for (lba, seed). */
export const pattern = (lba: number, bytes: number, seed: number): Uint8Array => {
  const b = new Uint8Array(bytes)
  let x = (lba * 2654435761 + seed * 40503 + 1) >>> 0
  for (let i = 0; i < bytes; i += 4) {
    x = (x * 1664525 + 1013904223) >>> 0
    b[i] = x
    b[i + 1] = x >>> 8
    b[i + 2] = x >>> 16
    b[i + 3] = x >>> 24
  }
  return b
}

/** One target's managed session from a fresh pool (scoped): what `Pool.target` hands to programs. */
export const openTarget = (target: Pool.Target) => Effect.flatMap(Pool.make(), (pool) => pool.acquire(target))

/** A tracer that keeps every span it makes (and a JSON dump of them: names, attributes, events, exits). */
export const recordingTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  const dump = () =>
    JSON.stringify(
      spans.map((s) => ({
        name: s.name,
        attributes: [...(s._attributes ?? new Map()).entries()].map(([k, v]) => [k, String(v)]),
        events: (s._events ?? []).map(([n, , a]) => [
          n,
          JSON.stringify(a, (_k, v) => (typeof v === "bigint" ? String(v) : v))
        ]),
        status: s.status._tag === "Ended" ? String(s.status.exit) : "open"
      }))
    )
  /** The attributes of a span as a plain object. */
  const attributes = (s: Tracer.NativeSpan): Record<string, unknown> => Object.fromEntries(s._attributes ?? new Map())
  return { tracer, spans, dump, attributes }
}

export interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** A logger that keeps every line (level, message, annotations), and the lines as text. */
export const recordingLogger = () => {
  const lines: Array<LogLine> = []
  const logger = Logger.make((options) => {
    const m = options.message
    const message = Array.isArray(m) ? m.map(String).join(" ") : String(m)
    lines.push({
      level: options.logLevel,
      message,
      annotations: { ...(options.fiber.getRef(References.CurrentLogAnnotations) as Record<string, unknown>) }
    })
  })
  const dump = () => JSON.stringify(lines)
  return { logger, lines, dump }
}

/**
 * The value of the series `id` whose labels include `labels` in a metrics snapshot: a counter's
 * count, a gauge's value, a histogram's state; undefined when there is none.
 */
export const metricValue = (
  snapshot: ReadonlyArray<Metric.Metric.Snapshot>,
  id: string,
  labels: Readonly<Record<string, string>>
  // biome-ignore lint/suspicious/noExplicitAny: the state's shape depends on the metric's type
): any => {
  const found = snapshot.filter((s) => s.id === id && Object.entries(labels).every(([k, v]) => s.attributes?.[k] === v))
  if (found.length > 1) throw new Error(`${id} ${JSON.stringify(labels)}: ${found.length} series`)
  const s = found[0]
  if (s === undefined) return undefined
  switch (s.type) {
    case "Counter":
      return (s.state as Metric.CounterState<number>).count
    case "Gauge":
      return (s.state as Metric.GaugeState<number>).value
    default:
      return s.state
  }
}
