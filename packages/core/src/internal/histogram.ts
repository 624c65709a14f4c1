/**
 * A plain, synchronous histogram: fixed bucket boundaries, one `observe` per value (a binary search
 * and a few additions, no allocation), read as Effect's `Metric.HistogramState` when metrics are
 * exported. The hot paths (the command runner, the NOP pinger) record here; `Telemetry` exposes
 * these as Effect metrics whose values are read at export time (`Metric.registerUnsafe`).
 */
import type * as Metric from "effect/Metric"

/** Latency buckets, in seconds: 20 µs to 60 s in 1-2-5 steps (every command fits one). */
export const LATENCY_BOUNDARIES: ReadonlyArray<number> = [
  20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 60
]

export class Histogram {
  /** Observations per bucket (not cumulative); the last one is above the highest boundary. */
  readonly counts: Float64Array
  private readonly bounds: Float64Array
  count = 0
  sum = 0
  min = Number.MAX_VALUE
  max = -Number.MAX_VALUE

  constructor(readonly boundaries: ReadonlyArray<number> = LATENCY_BOUNDARIES) {
    this.bounds = Float64Array.from(boundaries)
    this.counts = new Float64Array(boundaries.length + 1)
  }

  observe(value: number): void {
    const b = this.bounds
    let lo = 0
    let hi = b.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (value <= b[mid]!) hi = mid
      else lo = mid + 1
    }
    this.counts[lo]!++
    this.count++
    this.sum += value
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }

  /** Add another histogram with the same boundaries into this one. */
  add(other: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!
    this.count += other.count
    this.sum += other.sum
    if (other.min < this.min) this.min = other.min
    if (other.max > this.max) this.max = other.max
  }
}

/** The Effect metric state of the sum of `histograms` (all with `boundaries`). */
export const state = (boundaries: ReadonlyArray<number>, histograms: Iterable<Histogram>): Metric.HistogramState => {
  const sum = new Histogram(boundaries)
  for (const h of histograms) sum.add(h)
  const buckets: Array<[number, number]> = []
  let cumulative = 0
  for (let i = 0; i < boundaries.length; i++) {
    cumulative += sum.counts[i]!
    buckets.push([boundaries[i]!, cumulative])
  }
  return { buckets, count: sum.count, min: sum.min, max: sum.max, sum: sum.sum }
}
