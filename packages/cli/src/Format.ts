/**
 * Text and JSON output of the `iscsi` command: peripheral device type names (SPC-5 §6.7.2,
 * table 148), human sizes and rates, hex, and a JSON encoder that writes byte arrays as hex strings
 * and 64-bit integers as numbers when they are safe (strings otherwise).
 *
 * Pure functions; nothing here writes anywhere.
 */

/** SPC-5 peripheral device types, in the names libiscsi's `iscsi-ls` prints. */
const deviceTypes: Record<number, string> = {
  0x00: "DIRECT_ACCESS",
  0x01: "SEQUENTIAL_ACCESS",
  0x02: "PRINTER",
  0x03: "PROCESSOR",
  0x04: "WRITE_ONCE",
  0x05: "MMC",
  0x06: "SCANNER",
  0x07: "OPTICAL_MEMORY",
  0x08: "MEDIUM_CHANGER",
  0x09: "COMMUNICATIONS",
  0x0c: "STORAGE_ARRAY_CONTROLLER",
  0x0d: "ENCLOSURE_SERVICES",
  0x0e: "SIMPLIFIED_DIRECT_ACCESS",
  0x0f: "OPTICAL_CARD_READER",
  0x11: "OBJECT_STORAGE",
  0x12: "AUTOMATION_DRIVE_INTERFACE",
  0x13: "HOST_MANAGED_ZONED_BLOCK",
  0x1e: "WELL_KNOWN_LUN",
  0x1f: "UNKNOWN"
}

/** The name of a peripheral device type (`DIRECT_ACCESS`, …; `TYPE_0xNN` when reserved). */
export const deviceTypeName = (type: number): string =>
  deviceTypes[type] ?? `TYPE_0x${type.toString(16).padStart(2, "0")}`

const units = ["", "K", "M", "G", "T", "P", "E"] as const

/** Binary size like `iscsi-ls -s`: `64M`, `1.5G`, `512`. */
export const size = (bytes: number): string => {
  let v = bytes
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  const text = Number.isInteger(v) ? String(v) : v.toFixed(v >= 100 ? 0 : 1)
  return `${text}${units[i]}`
}

/** `12.3 MB/s` (decimal megabytes, like dd and iscsi-perf). */
export const rate = (bytesPerSecond: number): string => `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`

/** `1m05s`, `42s`, `3.2s`. */
export const duration = (seconds: number): string => {
  if (!Number.isFinite(seconds) || seconds < 0) return "--"
  if (seconds < 10) return `${seconds.toFixed(1)}s`
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`
}

/** Lower-case hex without separators. */
export const hex = (bytes: Uint8Array): string => {
  let s = ""
  for (const b of bytes) s += b.toString(16).padStart(2, "0")
  return s
}

/** `0x83` */
export const hexByte = (n: number): string => `0x${n.toString(16).padStart(2, "0")}`

const replacer = (_key: string, value: unknown): unknown => {
  if (value instanceof Uint8Array) return hex(value)
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()
  return value
}

/** One JSON document (byte arrays as hex, bigints as numbers when safe). */
export const json = (value: unknown, pretty = true): string => JSON.stringify(value, replacer, pretty ? 2 : undefined)

/** Left-aligned `key: value` lines, keys padded to one column. */
export const fields = (rows: ReadonlyArray<readonly [string, string | number | boolean]>): string => {
  const width = rows.reduce((w, [k]) => Math.max(w, k.length), 0)
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${String(v)}`).join("\n")
}

/** A byte count given as `4096`, `4k`, `1M`, `2MiB` (binary multiples). */
export const parseBytes = (text: string): number | undefined => {
  const m = /^([0-9]+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim())
  if (m === null) return undefined
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2].toLowerCase() as "" | "k" | "m" | "g" | "t"
  ]
  const n = Number(m[1]) * mult
  return Number.isSafeInteger(n) ? n : undefined
}
