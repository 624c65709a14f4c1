import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import { ScsiError, Sense } from "../src/index.ts"
import { fromHex } from "../src/internal/bytes.ts"
import { ascqEntryCount } from "../src/internal/ascq.ts"
import { interpret } from "../src/internal/runner.ts"

const decode = (hex: string) => Result.getOrThrow(Sense.decode(fromHex(hex)))

describe("Sense", () => {
  it("fixed format: ILLEGAL REQUEST / LBA OUT OF RANGE", () => {
    const s = decode("70 00 05 00000000 0a 00000000 21 00 00 000000")
    expect(s.format).toBe("fixed")
    expect(s.deferred).toBe(false)
    expect(s.senseKey).toBe(Sense.SenseKey.IllegalRequest)
    expect(s.senseKeyName).toBe("ILLEGAL REQUEST")
    expect([s.asc, s.ascq]).toEqual([0x21, 0x00])
    expect(s.description).toBe("LOGICAL BLOCK ADDRESS OUT OF RANGE")
    expect(s.information).toBeUndefined()
    expect(s.senseKeySpecific).toBeUndefined()
  })

  it("fixed format: VALID information, field pointer, deferred, ILI", () => {
    const s = decode("f1 00 25 00001234 0a 0000abcd 24 00 07 c0 0002")
    expect(s.deferred).toBe(true)
    expect(s.ili).toBe(true)
    expect(s.information).toBe(0x1234n)
    expect(s.commandSpecific).toBe(0xabcdn)
    expect(s.fieldReplaceableUnit).toBe(7)
    expect(s.senseKeySpecific).toEqual({ _tag: "FieldPointer", inCdb: true, bitPointer: undefined, fieldPointer: 2 })
    expect(s.description).toBe("INVALID FIELD IN CDB")
  })

  it("fixed format: progress indication on NOT READY", () => {
    const s = decode("70 00 02 00000000 0a 00000000 04 04 00 80 8000")
    expect(s.senseKeySpecific).toEqual({ _tag: "Progress", fraction: 0.5 })
  })

  it("fixed format truncated after the sense key still decodes the key", () => {
    const s = decode("70 00 06")
    expect(s.senseKey).toBe(6)
    expect([s.asc, s.ascq]).toEqual([0, 0])
  })

  it("descriptor format: information, sense-key specific, block commands", () => {
    const s = decode("72 05 24 00 000000 1c 00 0a 80 00 0000000000000010 02 06 0000 cb 0004 00 05 02 00 20 03 02 00 09")
    expect(s.format).toBe("descriptor")
    expect(s.senseKey).toBe(5)
    expect(s.information).toBe(16n)
    expect(s.senseKeySpecific).toEqual({ _tag: "FieldPointer", inCdb: true, bitPointer: 3, fieldPointer: 4 })
    expect(s.ili).toBe(true)
    expect(s.fieldReplaceableUnit).toBe(9)
    expect(s.descriptors.map((d) => d._tag)).toEqual([
      "Information",
      "SenseKeySpecific",
      "BlockCommands",
      "FieldReplaceableUnit"
    ])
  })

  it("descriptor format: unknown descriptor kept raw", () => {
    const s = decode("73 06 29 00 000000 04 80 02 aa bb")
    expect(s.deferred).toBe(true)
    expect(s.descriptors).toEqual([{ _tag: "Other", type: 0x80, bytes: fromHex("8002aabb") }])
    expect(s.description).toBe("POWER ON, RESET, OR BUS DEVICE RESET OCCURRED")
  })

  it("encoders round-trip", () => {
    const f = Result.getOrThrow(Sense.decode(Sense.encodeFixed({ senseKey: 0xe, asc: 0x1d, ascq: 0, information: 77 })))
    expect([f.senseKey, f.asc, f.ascq, f.information]).toEqual([0xe, 0x1d, 0, 77n])
    const d = Result.getOrThrow(
      Sense.decode(Sense.encodeDescriptor({ senseKey: 3, asc: 0x11, ascq: 0, information: 5n }))
    )
    expect([d.format, d.senseKey, d.asc, d.information]).toEqual(["descriptor", 3, 0x11, 5n])
  })

  it("malformed sense is a typed error", () => {
    for (const hex of ["", "7f 00 05", "70 00", "72 05"]) {
      const r = Sense.decode(fromHex(hex))
      expect(Result.isFailure(r) && r.failure.reason._tag).toBe("MalformedResponse")
    }
  })

  it("sense key names and ASC/ASCQ table, ranged entries and unknowns", () => {
    expect(Sense.senseKeyName(0x6)).toBe("UNIT ATTENTION")
    expect(Sense.senseKeyName(0xe)).toBe("MISCOMPARE")
    expect(Sense.describe(0x04, 0x01)).toBe("LOGICAL UNIT IS IN PROCESS OF BECOMING READY")
    expect(Sense.describe(0x1d, 0x00)).toBe("MISCOMPARE DURING VERIFY OPERATION")
    expect(Sense.describe(0x40, 0x85)).toBe("DIAGNOSTIC FAILURE ON COMPONENT 85")
    expect(Sense.describe(0x80, 0x01)).toBe("VENDOR SPECIFIC ASC/ASCQ 80/01")
    expect(ascqEntryCount()).toBeGreaterThan(700)
    expect(Sense.describe(0x4d, 0x2a)).toBe("TAGGED OVERLAPPED COMMANDS (NN = TASK TAG)".replace("NN", "2A"))
    expect(Sense.describe(0x3f, 0x0e)).toBe("REPORTED LUNS DATA HAS CHANGED")
    expect(Sense.describe(0x27, 0x07)).toBe("SPACE ALLOCATION FAILED WRITE PROTECT")
    expect(Sense.describe(0x7e, 0x01)).toBe("ASC/ASCQ 7E/01")
  })
})

describe("status and sense → ScsiError", () => {
  const result = (status: number, sense?: Uint8Array) => ({
    status,
    data: new Uint8Array(0),
    sense,
    response: 0,
    underflow: false,
    overflow: false,
    residualCount: 0,
    bidiUnderflow: false,
    bidiOverflow: false,
    bidiResidualCount: 0
  })
  const cmd = { lun: 1, cdb: Result.succeed(new Uint8Array(6)), direction: "none" as const }
  const reason = (status: number, sense?: Uint8Array) => {
    const r = interpret(cmd, result(status, sense))
    if (Result.isSuccess(r)) throw new Error("expected failure")
    return r.failure.reason
  }
  const fixed = (senseKey: number, asc: number, ascq: number, information?: number) =>
    Sense.encodeFixed({ senseKey, asc, ascq, information })

  it("maps statuses to tagged reasons with retryability", () => {
    const cases: Array<[number, Uint8Array | undefined, string, boolean]> = [
      [0x02, fixed(6, 0x29, 0), "CheckCondition", true],
      [0x02, fixed(2, 0x04, 0x01), "CheckCondition", true],
      [0x02, fixed(2, 0x04, 0x02), "CheckCondition", false],
      [0x02, fixed(0xb, 0x47, 0), "CheckCondition", true],
      [0x02, fixed(5, 0x21, 0), "CheckCondition", false],
      [0x02, fixed(3, 0x11, 0), "CheckCondition", false],
      [0x02, fixed(0xe, 0x1d, 0, 12), "Miscompare", false],
      [0x02, undefined, "NoSense", false],
      [0x08, undefined, "Busy", true],
      [0x28, undefined, "TaskSetFull", true],
      [0x18, undefined, "ReservationConflict", false],
      [0x40, undefined, "TaskAborted", true],
      [0x30, undefined, "UnexpectedStatus", false]
    ]
    for (const [status, sense, tag, retryable] of cases) {
      const r = reason(status, sense)
      expect([r._tag, r.isRetryable]).toEqual([tag, retryable])
    }
    const m = reason(0x02, fixed(0xe, 0x1d, 0, 12))
    expect(m._tag === "Miscompare" && m.offset).toBe(12)
    const cc = reason(0x02, fixed(5, 0x21, 0))
    expect(cc._tag === "CheckCondition" && [cc.senseKey, cc.asc, cc.ascq, cc.description]).toEqual([
      5,
      0x21,
      0,
      "LOGICAL BLOCK ADDRESS OUT OF RANGE"
    ])
    expect(ScsiError.isCheckCondition(ScsiError.make(cc), 5, 0x21)).toBe(true)
  })

  it("residual underflow only where the whole transfer is needed", () => {
    const under = { ...result(0), underflow: true, residualCount: 512 }
    expect(Result.isSuccess(interpret({ ...cmd, direction: "read", readLength: 1024 }, under))).toBe(true)
    const r = interpret({ ...cmd, direction: "read", readLength: 1024, exactTransfer: true }, under)
    expect(Result.isFailure(r) && r.failure.reason._tag).toBe("Residual")
  })

  it("iSCSI response 'target failure' is UnexpectedStatus", () => {
    const r = interpret(cmd, { ...result(0), response: 1 })
    expect(Result.isFailure(r) && r.failure.reason._tag).toBe("UnexpectedStatus")
  })
})
