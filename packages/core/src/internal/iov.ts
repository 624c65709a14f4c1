/**
 * A scatter-gather list (`ScsiRequest.dataOutIov` / `readIntoIov`) as one logical byte range: the
 * pieces of `[offset, offset + length)` as views of the buffers (never a copy), the one view that
 * holds a range when a single buffer does, and copying in across buffer boundaries.
 *
 * Lookups are a binary search over the buffers' start offsets (a list of k buffers costs log k per
 * PDU, not per byte). Empty buffers take no room and are skipped.
 */

const EMPTY: ReadonlyArray<Uint8Array> = []

export class IoVector {
  /** The non-empty buffers, in order. */
  private readonly buffers: Array<Uint8Array> = []
  /** starts[i] = logical offset of buffers[i]. */
  private readonly starts: Array<number> = []
  /** Total bytes. */
  readonly length: number

  constructor(buffers: ReadonlyArray<Uint8Array>) {
    let at = 0
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i]!
      if (b.length === 0) continue
      this.buffers.push(b)
      this.starts.push(at)
      at += b.length
    }
    this.length = at
  }

  /** Index of the buffer holding logical byte `offset` (0 ≤ offset < length). */
  private locate(offset: number): number {
    const starts = this.starts
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (starts[mid]! <= offset) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /** The views covering `[offset, offset + length)` (clipped to the vector), in order. */
  slice(offset: number, length: number): ReadonlyArray<Uint8Array> {
    const end = Math.min(this.length, offset + length)
    if (offset >= end) return EMPTY
    const out: Array<Uint8Array> = []
    for (let i = this.locate(offset); i < this.buffers.length && this.starts[i]! < end; i++) {
      const b = this.buffers[i]!
      const s = this.starts[i]!
      out.push(b.subarray(Math.max(0, offset - s), Math.min(b.length, end - s)))
    }
    return out
  }

  /** The one view of `[offset, offset + length)` when a single buffer holds it all, else undefined. */
  view(offset: number, length: number): Uint8Array | undefined {
    if (length <= 0 || offset < 0 || offset + length > this.length) return undefined
    const i = this.locate(offset)
    const s = this.starts[i]!
    const b = this.buffers[i]!
    return offset + length - s <= b.length ? b.subarray(offset - s, offset + length - s) : undefined
  }

  /** Is `data` already the view of `[offset, offset + data.length)` (placed there by the framer)? */
  holds(data: Uint8Array, offset: number): boolean {
    if (data.length === 0 || offset < 0 || offset >= this.length) return false
    const i = this.locate(offset)
    const b = this.buffers[i]!
    return data.buffer === b.buffer && data.byteOffset === b.byteOffset + (offset - this.starts[i]!)
  }

  /** Copy `data` in at logical `offset`, across buffer boundaries (what lies beyond the vector is dropped). */
  write(data: Uint8Array, offset: number): void {
    if (this.holds(data, offset)) return
    let done = 0
    const end = Math.min(this.length, offset + data.length)
    for (let i = offset < this.length ? this.locate(offset) : this.buffers.length; i < this.buffers.length; i++) {
      const s = this.starts[i]!
      if (s >= end) break
      const b = this.buffers[i]!
      const from = offset + done - s
      const n = Math.min(b.length - from, end - (offset + done))
      b.set(data.subarray(done, done + n), from)
      done += n
    }
  }
}
