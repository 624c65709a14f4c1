/**
 * The SPC ASC/ASCQ assignments (SPC-5 Annex F / T10 asc-num list) as data, with ranged entries
 * ("DIAGNOSTIC FAILURE ON COMPONENT NN") as patterns. Written from the published T10 list.
 */

/** One "AAQQ TEXT" per line; AA = ASC, QQ = ASCQ, both hex. */
const table = `
0000 NO ADDITIONAL SENSE INFORMATION
0401 LOGICAL UNIT IS IN PROCESS OF BECOMING READY
2000 INVALID COMMAND OPERATION CODE
2100 LOGICAL BLOCK ADDRESS OUT OF RANGE
2400 INVALID FIELD IN CDB
2500 LOGICAL UNIT NOT SUPPORTED
2900 POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
1D00 MISCOMPARE DURING VERIFY OPERATION
`

/** Ranged entries: ASC with any ASCQ in [from, to]; "NN" in the text becomes the ASCQ in hex. */
const ranges: ReadonlyArray<readonly [asc: number, from: number, to: number, text: string]> = [
  [0x40, 0x80, 0xff, "DIAGNOSTIC FAILURE ON COMPONENT NN"],
  [0x4d, 0x00, 0xff, "TAGGED OVERLAPPED COMMANDS (NN = TASK TAG)"],
  [0x70, 0x00, 0xff, "DECOMPRESSION EXCEPTION SHORT ALGORITHM ID OF NN"]
]

const map = new Map<number, string>()
for (const line of table.split("\n")) {
  const t = line.trim()
  if (t.length < 6) continue
  map.set(Number.parseInt(t.slice(0, 4), 16), t.slice(5))
}

/** Number of exact ASC/ASCQ entries carried. */
export const ascqEntryCount = (): number => map.size

export const describeAscq = (asc: number, ascq: number): string | undefined => {
  const exact = map.get((asc << 8) | ascq)
  if (exact !== undefined) return exact
  for (const [a, from, to, text] of ranges) {
    if (a === asc && ascq >= from && ascq <= to) return text.replace("NN", ascq.toString(16).toUpperCase().padStart(2, "0"))
  }
  return undefined
}
