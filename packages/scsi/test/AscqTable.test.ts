import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import { Sense } from "../src/index.ts"
import { ascqEntryCount } from "../src/internal/ascq.ts"

// The raw "AAQQ TEXT" lines of the table, read from the module's source so order and duplicates can be checked
// (the parsed Map would hide both).
const source = Fs.readFileSync(new URL("../src/internal/ascq.ts", import.meta.url), "utf8")
const lines = source.split("\n").filter((l) => /^[0-9A-F]{4} \S/.test(l))
const codes = lines.map((l) => Number.parseInt(l.slice(0, 4), 16))

// Number of assigned exact (non-ranged) ASC/ASCQ pairs in the T10 asc-num list, SPC-6 era
// (21h/09h ATTEMPT TO ACCESS GAP ZONE and 3Bh/20h ELEMENT STATIC INFORMATION CHANGED included).
const T10_EXACT_ENTRIES = 760

describe("ASC/ASCQ table", () => {
  it("carries the whole T10 list of exact entries", () => {
    expect(lines.length).toBeGreaterThanOrEqual(T10_EXACT_ENTRIES)
    expect(ascqEntryCount()).toBe(lines.length)
  })

  it("has no duplicate (asc, ascq) pairs", () => {
    expect(new Set(codes).size).toBe(codes.length)
  })

  it("is sorted by ASC then ASCQ", () => {
    const sorted = [...codes].sort((a, b) => a - b)
    expect(codes).toEqual(sorted)
  })

  it("describes well-known codes with the T10 wording", () => {
    const cases: ReadonlyArray<readonly [number, number, string]> = [
      [0x00, 0x00, "NO ADDITIONAL SENSE INFORMATION"],
      [0x04, 0x01, "LOGICAL UNIT IS IN PROCESS OF BECOMING READY"],
      [0x04, 0x0a, "LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION"],
      [0x04, 0x25, "DEPOPULATION RESTORATION IN PROGRESS"],
      [0x0b, 0x14, "WARNING - PHYSICAL ELEMENT STATUS CHANGE"],
      [0x11, 0x00, "UNRECOVERED READ ERROR"],
      [0x1d, 0x00, "MISCOMPARE DURING VERIFY OPERATION"],
      [0x20, 0x00, "INVALID COMMAND OPERATION CODE"],
      [0x21, 0x00, "LOGICAL BLOCK ADDRESS OUT OF RANGE"],
      [0x21, 0x09, "ATTEMPT TO ACCESS GAP ZONE"],
      [0x24, 0x00, "INVALID FIELD IN CDB"],
      [0x25, 0x00, "LOGICAL UNIT NOT SUPPORTED"],
      [0x27, 0x07, "SPACE ALLOCATION FAILED WRITE PROTECT"],
      [0x29, 0x00, "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED"],
      [0x29, 0x07, "I_T NEXUS LOSS OCCURRED"],
      [0x2a, 0x09, "CAPACITY DATA HAS CHANGED"],
      [0x2c, 0x13, "WELL KNOWN LOGICAL UNIT ACCESS REQUIRED"],
      [0x38, 0x07, "THIN PROVISIONING SOFT THRESHOLD REACHED"],
      [0x3b, 0x20, "ELEMENT STATIC INFORMATION CHANGED"],
      [0x3f, 0x0e, "REPORTED LUNS DATA HAS CHANGED"],
      [0x44, 0x00, "INTERNAL TARGET FAILURE"],
      [0x47, 0x7f, "SOME COMMANDS CLEARED BY ISCSI PROTOCOL EVENT"],
      [0x55, 0x03, "INSUFFICIENT RESOURCES"],
      [0x5d, 0x73, "MEDIA IMPENDING FAILURE ENDURANCE LIMIT MET"],
      [0x5d, 0xff, "FAILURE PREDICTION THRESHOLD EXCEEDED (FALSE)"],
      [0x74, 0x79, "SECURITY CONFLICT IN TRANSLATED DEVICE"]
    ]
    for (const [asc, ascq, text] of cases) expect(Sense.describe(asc, ascq)).toBe(text)
  })

  it("covers the ranged entries and leaves unassigned codes generic", () => {
    expect(Sense.describe(0x40, 0x91)).toBe("DIAGNOSTIC FAILURE ON COMPONENT 91")
    expect(Sense.describe(0x4d, 0x05)).toBe("TAGGED OVERLAPPED COMMANDS (05 = TASK TAG)")
    expect(Sense.describe(0x70, 0x10)).toBe("DECOMPRESSION EXCEPTION SHORT ALGORITHM ID OF 10")
    expect(Sense.describe(0x0f, 0x00)).toBe("ASC/ASCQ 0F/00")
    expect(Sense.describe(0x21, 0x0a)).toBe("ASC/ASCQ 21/0A")
    expect(Sense.describe(0x80, 0x00)).toBe("VENDOR SPECIFIC ASC/ASCQ 80/00")
  })
})
