/**
 * Zero runs in a buffer: which granules (4 KiB by default, like qemu-img's `-S 4k`) of a piece hold
 * data, so a copy can leave the zero runs out (a hole in a fresh file, a deallocated range on a
 * thin LUN) and write only the rest.
 *
 * Cost (measured on 1 MiB pieces): a piece of zeros is settled by one native `memcmp` against a
 * zero page (~23 µs/MiB); random data by the first word of each granule (~1 µs/MiB); a granule
 * whose first words are zero is compared natively (~110 ns per 4 KiB), never word by word in
 * JavaScript (~87 µs/MiB).
 *
 * Not here: deciding whether zero runs may be left out (the copy asks the destination).
 */

const ZERO = Buffer.alloc(1 << 20)

const asBuffer = (data: Uint8Array): Buffer =>
  Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)

/** True when every byte of `data` is zero. */
export const isZero = (data: Uint8Array): boolean => {
  const b = asBuffer(data)
  for (let at = 0; at < b.length; at += ZERO.length) {
    const end = Math.min(b.length, at + ZERO.length)
    if (ZERO.compare(b, at, end, 0, end - at) !== 0) return false
  }
  return true
}

/**
 * The runs of `data` that hold a non-zero byte, as `[start, end)` byte offsets in order, found per
 * `granule` bytes (a run's ends are multiples of `granule`, or the end of `data`); neighbouring data
 * granules are one run. Empty when all of `data` is zero.
 */
export const dataRuns = (data: Uint8Array, granule: number): Array<readonly [number, number]> => {
  const runs: Array<[number, number]> = []
  const b = asBuffer(data)
  if (isZero(b)) return runs
  const aligned = b.byteOffset % 4 === 0 && granule % 32 === 0
  const words = aligned ? new Int32Array(b.buffer, b.byteOffset, b.length >> 2) : undefined
  let open = -1
  for (let at = 0; at < b.length; at += granule) {
    const end = Math.min(b.length, at + granule)
    let zero: boolean
    if (words !== undefined && end - at === granule) {
      // the first 32 bytes decide most granules of data without a call into native code
      const w = at >> 2
      zero =
        (words[w]! |
          words[w + 1]! |
          words[w + 2]! |
          words[w + 3]! |
          words[w + 4]! |
          words[w + 5]! |
          words[w + 6]! |
          words[w + 7]!) ===
          0 && ZERO.compare(b, at, end, 0, end - at) === 0
    } else {
      zero = ZERO.compare(b, at, end, 0, end - at) === 0
    }
    if (!zero && open < 0) open = at
    else if (zero && open >= 0) {
      runs.push([open, at])
      open = -1
    }
  }
  if (open >= 0) runs.push([open, b.length])
  return runs
}
