/**
 * Golden CDB bytes per option combination, computed by hand from the SBC-4 / SPC-5 tables in each
 * module's JSDoc, plus the typed InvalidArgument for fields that do not fit.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import {
  CompareAndWrite,
  GetLbaStatus,
  Inquiry,
  ModePages,
  PersistentReservation,
  ReadCapacity,
  ReadWrite,
  ReportLuns,
  type ScsiError,
  Sense,
  UnitControl,
  Unmap,
  WriteSame
} from "../src/index.ts"
import { toHex } from "../src/internal/bytes.ts"

const hex = (r: Result.Result<Uint8Array, ScsiError.ScsiError>): string => toHex(Result.getOrThrow(r))
const failTag = (r: Result.Result<Uint8Array, ScsiError.ScsiError>): string =>
  Result.isFailure(r) ? r.failure.reason._tag : "success"

describe("CDB goldens", () => {
  it("TEST UNIT READY, START STOP UNIT", () => {
    expect(hex(UnitControl.cdbTestUnitReady())).toBe("000000000000")
    expect(hex(UnitControl.cdbStartStopUnit())).toBe("1b0000000100")
    expect(hex(UnitControl.cdbStartStopUnit({ start: false }))).toBe("1b0000000000")
    expect(hex(UnitControl.cdbStartStopUnit({ start: true, loadEject: true, immediate: true }))).toBe("1b0100000300")
    expect(hex(UnitControl.cdbStartStopUnit({ powerCondition: 3, powerConditionModifier: 1, noFlush: true }))).toBe(
      "1b0000013500"
    )
    expect(failTag(UnitControl.cdbStartStopUnit({ powerCondition: 16 }))).toBe("InvalidArgument")
  })

  it("INQUIRY", () => {
    expect(hex(Inquiry.cdb())).toBe("120000006000")
    expect(hex(Inquiry.cdb({ allocationLength: 255 }))).toBe("12000000ff00")
    expect(hex(Inquiry.cdb({ evpd: true, page: 0x83 }))).toBe("120183100000")
    expect(hex(Inquiry.cdb({ evpd: true, page: 0xb0, allocationLength: 64 }))).toBe("1201b0004000")
    expect(failTag(Inquiry.cdb({ page: 0x80 }))).toBe("InvalidArgument")
    expect(failTag(Inquiry.cdb({ evpd: true, page: 0x100 }))).toBe("InvalidArgument")
    expect(failTag(Inquiry.cdb({ allocationLength: 0x10000 }))).toBe("InvalidArgument")
  })

  it("READ CAPACITY (10)/(16)", () => {
    expect(hex(ReadCapacity.cdb10())).toBe("25000000000000000000")
    expect(hex(ReadCapacity.cdb16())).toBe("9e100000000000000000000000200000")
  })

  it("READ/WRITE (6)", () => {
    expect(hex(ReadWrite.cdbRead6(0x12345, 8))).toBe("080123450800")
    expect(hex(ReadWrite.cdbRead6(0x1fffff, 256))).toBe("081fffff0000")
    expect(hex(ReadWrite.cdbWrite6(0, 1))).toBe("0a0000000100")
    expect(failTag(ReadWrite.cdbRead6(0x200000, 1))).toBe("InvalidArgument")
    expect(failTag(ReadWrite.cdbRead6(0, 0))).toBe("InvalidArgument")
    expect(failTag(ReadWrite.cdbWrite6(0, 257))).toBe("InvalidArgument")
  })

  it("READ/WRITE (10) per option", () => {
    expect(hex(ReadWrite.cdbRead10(0x01020304, 0x0506))).toBe("28000102030400050600")
    expect(hex(ReadWrite.cdbRead10(0x01020304, 0x0506, { dpo: true }))).toBe("28100102030400050600")
    expect(hex(ReadWrite.cdbRead10(0x01020304, 0x0506, { fua: true }))).toBe("28080102030400050600")
    expect(hex(ReadWrite.cdbRead10(0x01020304, 0x0506, { dpo: true, fua: true }))).toBe("28180102030400050600")
    expect(hex(ReadWrite.cdbRead10(0, 1, { protect: 3, group: 5 }))).toBe("28600000000005000100")
    expect(hex(ReadWrite.cdbWrite10(0xffffffff, 0xffff, { fua: true }))).toBe("2a08ffffffff00ffff00")
    expect(failTag(ReadWrite.cdbRead10(0x1_0000_0000, 1))).toBe("InvalidArgument")
    expect(failTag(ReadWrite.cdbRead10(0, 0x10000))).toBe("InvalidArgument")
    expect(failTag(ReadWrite.cdbRead10(0, 1, { group: 32 }))).toBe("InvalidArgument")
    expect(failTag(ReadWrite.cdbRead10(0, 1, { protect: 8 }))).toBe("InvalidArgument")
    expect(failTag(ReadWrite.cdbRead10(-1, 1))).toBe("InvalidArgument")
    expect(failTag(ReadWrite.cdbRead10(1.5, 1))).toBe("InvalidArgument")
  })

  it("READ/WRITE (12)", () => {
    expect(hex(ReadWrite.cdbRead12(0x01020304, 0x05060708))).toBe("a80001020304050607080000")
    expect(hex(ReadWrite.cdbWrite12(1, 2, { dpo: true, fua: true, group: 1 }))).toBe("aa1800000001000000020100")
  })

  it("READ/WRITE (16)", () => {
    expect(hex(ReadWrite.cdbRead16(0x1_0000_0001, 0x10))).toBe("88000000000100000001000000100000")
    expect(hex(ReadWrite.cdbWrite16(0x1_0000_0001, 0x10, { fua: true }))).toBe("8a080000000100000001000000100000")
    expect(hex(ReadWrite.cdbWrite16(7, 0x0102_0304, { dpo: true, group: 0x1f }))).toBe(
      "8a100000000000000007010203041f00"
    )
  })

  it("WRITE AND VERIFY, VERIFY", () => {
    expect(hex(ReadWrite.cdbWriteAndVerify10(0x10, 2))).toBe("2e000000001000000200")
    expect(hex(ReadWrite.cdbWriteAndVerify10(0x10, 2, { dpo: true }))).toBe("2e100000001000000200")
    expect(hex(ReadWrite.cdbWriteAndVerify16(0x10, 2))).toBe("8e000000000000000010000000020000")
    expect(hex(ReadWrite.cdbVerify10(0x10, 2))).toBe("2f000000001000000200")
    expect(hex(ReadWrite.cdbVerify10(0x10, 2, { byteCheck: 1 }))).toBe("2f020000001000000200")
    expect(hex(ReadWrite.cdbVerify16(0x10, 2, { byteCheck: 1, dpo: true }))).toBe("8f120000000000000010000000020000")
  })

  it("SYNCHRONIZE CACHE", () => {
    expect(hex(ReadWrite.cdbSynchronizeCache10())).toBe("35000000000000000000")
    expect(hex(ReadWrite.cdbSynchronizeCache10(0x10, 0x20, { immediate: true }))).toBe("35020000001000002000")
    expect(hex(ReadWrite.cdbSynchronizeCache16())).toBe("91000000000000000000000000000000")
    expect(hex(ReadWrite.cdbSynchronizeCache16(0x1_0000_0000, 8, { immediate: true }))).toBe(
      "91020000000100000000000000080000"
    )
  })

  it("REPORT LUNS, REQUEST SENSE", () => {
    expect(hex(ReportLuns.cdb({ allocationLength: 0x1000, selectReport: 2 }))).toBe("a0000200000000001000" + "0000")
    expect(hex(Sense.cdbRequestSense())).toBe("03000000fc00")
    expect(hex(Sense.cdbRequestSense({ descriptorFormat: true, allocationLength: 18 }))).toBe("030100001200")
  })

  it("MODE SENSE / MODE SELECT", () => {
    expect(hex(ModePages.cdbModeSense6({ page: 0x08, dbd: true }))).toBe("1a080800ff00")
    expect(hex(ModePages.cdbModeSense6({ pageControl: 1 }))).toBe("1a007f00ff00")
    expect(hex(ModePages.cdbModeSense6({ page: 0x0a, pageControl: 2, subpage: 1, allocationLength: 0x40 }))).toBe(
      "1a008a014000"
    )
    expect(hex(ModePages.cdbModeSense10({ page: 0x0a, llbaa: true, dbd: true, allocationLength: 0x200 }))).toBe(
      "5a180a00000000020000"
    )
    expect(hex(ModePages.cdbModeSense10({ pageControl: 3 }))).toBe("5a00ff00000000100000")
    expect(hex(ModePages.cdbModeSelect6(24, { sp: true }))).toBe("151100001800")
    expect(hex(ModePages.cdbModeSelect6(24, { pf: false }))).toBe("150000001800")
    expect(hex(ModePages.cdbModeSelect10(28))).toBe("55100000000000001c00")
    expect(failTag(ModePages.cdbModeSense6({ page: 0x40 }))).toBe("InvalidArgument")
    expect(failTag(ModePages.cdbModeSense6({ llbaa: true }))).toBe("InvalidArgument")
  })

  it("UNMAP", () => {
    expect(hex(Unmap.cdb(24))).toBe("42000000000000001800")
    expect(hex(Unmap.cdb(24, { anchor: true, group: 3 }))).toBe("42010000000003001800")
    expect(hex(Unmap.encodeParameterList([{ lba: 0x100, blocks: 8 }]))).toBe(
      "0016001000000000" + "0000000000000100" + "0000000800000000"
    )
    const two = Result.getOrThrow(
      Unmap.encodeParameterList([
        { lba: 1, blocks: 2 },
        { lba: 3, blocks: 4 }
      ])
    )
    expect(Result.getOrThrow(Unmap.decodeParameterList(two))).toEqual([
      { lba: 1, blocks: 2 },
      { lba: 3, blocks: 4 }
    ])
  })

  it("WRITE SAME", () => {
    expect(hex(WriteSame.cdb10(0x20, 4))).toBe("41000000002000000400")
    expect(hex(WriteSame.cdb10(0x20, 4, { unmap: true }))).toBe("41080000002000000400")
    expect(hex(WriteSame.cdb10(0x20, 4, { unmap: true, anchor: true }))).toBe("41180000002000000400")
    expect(hex(WriteSame.cdb16(0x20, 4, { unmap: true }))).toBe("93080000000000000020000000040000")
    expect(hex(WriteSame.cdb16(0x20, 4, { unmap: true, ndob: true, anchor: true }))).toBe(
      "93190000000000000020000000040000"
    )
    expect(failTag(WriteSame.cdb10(0, 1, { ndob: true }))).toBe("InvalidArgument")
  })

  it("COMPARE AND WRITE", () => {
    expect(hex(CompareAndWrite.cdb(5, 1))).toBe("89000000000000000005000000010000")
    expect(hex(CompareAndWrite.cdb(5, 1, { fua: true, dpo: true }))).toBe("89180000000000000005000000010000")
    expect(failTag(CompareAndWrite.cdb(5, 256))).toBe("InvalidArgument")
  })

  it("PERSISTENT RESERVE IN/OUT", () => {
    expect(hex(PersistentReservation.cdbIn(PersistentReservation.InAction.ReadKeys, 0x100))).toBe(
      "5e000000000000010000"
    )
    expect(hex(PersistentReservation.cdbIn(PersistentReservation.InAction.ReportCapabilities, 8))).toBe(
      "5e020000000000000800"
    )
    expect(
      hex(
        PersistentReservation.cdbOut(PersistentReservation.OutAction.Reserve, {
          type: PersistentReservation.Type.ExclusiveAccess
        })
      )
    ).toBe("5f010300000000001800")
    expect(
      hex(
        PersistentReservation.encodeOutParameters({
          reservationKey: 0x1122334455667788n,
          serviceActionReservationKey: 1n,
          aptpl: true
        })
      )
    ).toBe("1122334455667788" + "0000000000000001" + "00000000" + "01000000")
  })

  it("GET LBA STATUS", () => {
    expect(hex(GetLbaStatus.cdb(0x40, { allocationLength: 0x410 }))).toBe("9e120000000000000040000004100000")
  })
})

describe("CDB properties", () => {
  const be = (b: Uint8Array, o: number, n: number) => b.subarray(o, o + n).reduce((v, x) => v * 256 + x, 0)

  it("READ/WRITE (10)/(16) carry LBA and transfer length exactly", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.boolean(),
        fc.boolean(),
        (lba, n, dpo, fua) => {
          const c10 = Result.getOrThrow(ReadWrite.cdbWrite10(lba, n, { dpo, fua }))
          expect([c10[0], be(c10, 2, 4), be(c10, 7, 2), c10[1]]).toEqual([
            0x2a,
            lba,
            n,
            (dpo ? 0x10 : 0) | (fua ? 0x08 : 0)
          ])
        }
      )
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (lba, n) => {
          const c16 = Result.getOrThrow(ReadWrite.cdbRead16(lba, n))
          expect([c16.length, be(c16, 2, 8), be(c16, 10, 4)]).toEqual([16, lba, n])
        }
      )
    )
  })

  it("UNMAP parameter lists round-trip", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            lba: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
            blocks: fc.integer({ min: 0, max: 0xffff_ffff })
          }),
          {
            maxLength: 64
          }
        ),
        (ranges) => {
          expect(
            Result.getOrThrow(Unmap.decodeParameterList(Result.getOrThrow(Unmap.encodeParameterList(ranges))))
          ).toEqual(ranges)
        }
      )
    )
  })

  it("fixed and descriptor sense round-trip key, ASC/ASCQ and information", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (senseKey, asc, ascq, information) => {
          const f = Result.getOrThrow(Sense.decode(Sense.encodeFixed({ senseKey, asc, ascq, information })))
          const d = Result.getOrThrow(
            Sense.decode(Sense.encodeDescriptor({ senseKey, asc, ascq, information: BigInt(information) }))
          )
          for (const s of [f, d])
            expect([s.senseKey, s.asc, s.ascq, s.information]).toEqual([senseKey, asc, ascq, BigInt(information)])
          expect(typeof f.description).toBe("string")
        }
      )
    )
  })
})
