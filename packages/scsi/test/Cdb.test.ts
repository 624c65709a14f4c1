/**
 * Golden CDB bytes per option combination, computed by hand from the SBC-4 / SPC-5 tables in each
 * module's JSDoc, plus the typed InvalidArgument for fields that do not fit.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import {
  CompareAndWrite,
  DefectData,
  ExtendedCopy,
  GetLbaStatus,
  Inquiry,
  ModePages,
  OperationCodes,
  PersistentReservation,
  ReadCapacity,
  ReadToc,
  ReadWrite,
  ReportLuns,
  ReservationLegacy,
  Sanitize,
  type ScsiError,
  Sense,
  TargetPortGroups,
  UnitControl,
  Unmap,
  WriteSame
} from "../src/index.ts"
import { fromHex as fromHexStr, toHex } from "../src/internal/bytes.ts"

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

describe("CDB goldens of the libiscsi task helpers added for issue 19", () => {
  it("PRE-FETCH (10)/(16) per option", () => {
    expect(hex(ReadWrite.cdbPreFetch10(0x01020304, 0x0506))).toBe("34000102030400050600")
    expect(hex(ReadWrite.cdbPreFetch10(0x01020304, 0x0506, { immediate: true }))).toBe("34020102030400050600")
    expect(hex(ReadWrite.cdbPreFetch10(0x01020304, 0x0506, { group: 7 }))).toBe("34000102030407050600")
    expect(hex(ReadWrite.cdbPreFetch16(0x0102030405, 0x0a0b0c0d))).toBe("900000000001020304050a0b0c0d0000")
    expect(hex(ReadWrite.cdbPreFetch16(0x0102030405, 0x0a0b0c0d, { immediate: true, group: 3 }))).toBe(
      "900200000001020304050a0b0c0d0300"
    )
    expect(failTag(ReadWrite.cdbPreFetch10(0, 0x10000))).toBe("InvalidArgument")
    expect(failTag(ReadWrite.cdbPreFetch16(0, 1, { group: 32 }))).toBe("InvalidArgument")
  })

  it("PREVENT ALLOW MEDIUM REMOVAL", () => {
    expect(hex(UnitControl.cdbPreventAllowMediumRemoval(true))).toBe("1e0000000100")
    expect(hex(UnitControl.cdbPreventAllowMediumRemoval(false))).toBe("1e0000000000")
    expect(hex(UnitControl.cdbPreventAllowMediumRemoval(2))).toBe("1e0000000200")
    expect(failTag(UnitControl.cdbPreventAllowMediumRemoval(4))).toBe("InvalidArgument")
  })

  it("ORWRITE (16) per option", () => {
    expect(hex(ReadWrite.cdbOrWrite16(0x10, 8))).toBe("8b000000000000000010000000080000")
    expect(hex(ReadWrite.cdbOrWrite16(0x10, 8, { dpo: true, fua: true, protect: 1 }))).toBe(
      "8b380000000000000010000000080000"
    )
    expect(hex(ReadWrite.cdbOrWrite16(0x10, 8, { group: 4 }))).toBe("8b000000000000000010000000080400")
    expect(failTag(ReadWrite.cdbOrWrite16(0, 0x1_0000_0000))).toBe("InvalidArgument")
  })

  it("WRITE ATOMIC (16) per option", () => {
    expect(hex(ReadWrite.cdbWriteAtomic16(0x20, 4))).toBe("9c000000000000000020000000040000")
    expect(hex(ReadWrite.cdbWriteAtomic16(0x20, 4, { boundary: 2, fua: true }))).toBe(
      "9c080000000000000020000200040000"
    )
    expect(hex(ReadWrite.cdbWriteAtomic16(0x20, 4, { dpo: true, protect: 7, group: 31 }))).toBe(
      "9cf00000000000000020000000041f00"
    )
    expect(failTag(ReadWrite.cdbWriteAtomic16(0, 0x10000))).toBe("InvalidArgument")
    expect(failTag(ReadWrite.cdbWriteAtomic16(0, 1, { boundary: 0x10000 }))).toBe("InvalidArgument")
  })

  it("VERIFY (12), WRITE AND VERIFY (12) per option", () => {
    expect(hex(ReadWrite.cdbVerify12(0x01020304, 0x05060708))).toBe("af0001020304050607080000")
    expect(hex(ReadWrite.cdbVerify12(0x01020304, 0x05060708, { byteCheck: 1, dpo: true }))).toBe(
      "af1201020304050607080000"
    )
    expect(hex(ReadWrite.cdbVerify12(1, 2, { group: 9 }))).toBe("af0000000001000000020900")
    expect(hex(ReadWrite.cdbWriteAndVerify12(1, 2))).toBe("ae0000000001000000020000")
    expect(hex(ReadWrite.cdbWriteAndVerify12(1, 2, { protect: 2 }))).toBe("ae4000000001000000020000")
    expect(failTag(ReadWrite.cdbVerify12(0x1_0000_0000, 1))).toBe("InvalidArgument")
  })

  it("RESERVE (6), RELEASE (6)", () => {
    expect(hex(ReservationLegacy.cdbReserve6())).toBe("160000000000")
    expect(hex(ReservationLegacy.cdbRelease6())).toBe("170000000000")
  })

  it("SANITIZE: every service action, OVERWRITE parameter list", () => {
    expect(hex(Sanitize.cdb(Sanitize.ServiceAction.Overwrite, 8))).toBe("48010000000000000800")
    expect(hex(Sanitize.cdb(Sanitize.ServiceAction.BlockErase, 0, { immediate: true, ause: true }))).toBe(
      "48a20000000000000000"
    )
    expect(hex(Sanitize.cdb(Sanitize.ServiceAction.CryptographicErase))).toBe("48030000000000000000")
    expect(hex(Sanitize.cdb(Sanitize.ServiceAction.ExitFailureMode))).toBe("481f0000000000000000")
    expect(failTag(Sanitize.cdb(Sanitize.ServiceAction.BlockErase, 4))).toBe("InvalidArgument")
    const built = Result.getOrThrow(
      Sanitize.build({ _tag: "Overwrite", pattern: Uint8Array.of(0xde, 0xad), count: 3, invert: true })
    )
    expect([toHex(built.cdb), toHex(built.parameters)]).toEqual(["48010000000000000600", "83000002dead"])
    expect(toHex(Result.getOrThrow(Sanitize.encodeOverwrite({ pattern: Uint8Array.of(0), test: 2 })))).toBe(
      "4100000100"
    )
    const erase = Result.getOrThrow(Sanitize.build({ _tag: "BlockErase" }, { immediate: true }))
    expect([toHex(erase.cdb), erase.parameters.length]).toEqual(["48820000000000000000", 0])
    expect(failTag(Sanitize.encodeOverwrite({ pattern: new Uint8Array(0) }))).toBe("InvalidArgument")
    expect(failTag(Sanitize.encodeOverwrite({ pattern: Uint8Array.of(1), count: 0 }))).toBe("InvalidArgument")
    expect(failTag(Sanitize.encodeOverwrite({ pattern: Uint8Array.of(1), count: 32 }))).toBe("InvalidArgument")
  })

  it("EXTENDED COPY (LID1/LID4), RECEIVE COPY RESULTS per service action", () => {
    expect(hex(ExtendedCopy.cdb(0x5c))).toBe("830000000000000000000000005c0000")
    expect(hex(ExtendedCopy.cdb(0x5c, { lid4: true }))).toBe("830100000000000000000000005c0000")
    const rcr = ExtendedCopy.cdbReceiveCopyResults
    expect(hex(rcr(ExtendedCopy.ReceiveAction.OperatingParameters, 0, 1024))).toBe("84030000000000000000000004000000")
    expect(hex(rcr(ExtendedCopy.ReceiveAction.CopyStatus, 7, 64))).toBe("84000700000000000000000000400000")
    expect(hex(rcr(ExtendedCopy.ReceiveAction.FailureDetails, 7, 312))).toBe("84040700000000000000000001380000")
    expect(hex(rcr(ExtendedCopy.ReceiveAction.CopyStatusLid4, 0x01020304, 284))).toBe(
      "840501020304000000000000011c0000"
    )
    expect(failTag(rcr(ExtendedCopy.ReceiveAction.OperatingParameters, 1, 64))).toBe("InvalidArgument")
    expect(failTag(rcr(ExtendedCopy.ReceiveAction.CopyStatus, 256, 64))).toBe("InvalidArgument")
  })

  it("EXTENDED COPY parameter lists: identification CSCD, block→block segment, LID1 and LID4 headers", () => {
    const naa = { codeSet: 1, designatorType: 3, value: Uint8Array.of(0x60, 1, 2, 3, 4, 5, 6, 7) }
    const cscd = `e4000000010300086001020304050607${"00".repeat(12)}00000200`
    expect(hex(ExtendedCopy.encodeIdentificationCscd({ designation: naa, blockLength: 512 }))).toBe(cscd)
    expect(
      hex(
        ExtendedCopy.encodeIdentificationCscd({
          designation: { ...naa, association: 0 },
          blockLength: 4096,
          peripheralDeviceType: 0,
          relativeInitiatorPort: 2,
          nul: true
        })
      )
    ).toBe(`e4200002010300086001020304050607${"00".repeat(12)}00001000`)
    expect(
      failTag(
        ExtendedCopy.encodeIdentificationCscd({ designation: { ...naa, value: new Uint8Array(17) }, blockLength: 1 })
      )
    ).toBe("InvalidArgument")
    const segment = "020000180000000100000008" + "0000000000000010" + "0000000000000020"
    const seg = { source: 0, destination: 1, sourceLba: 0x10, destinationLba: 0x20, blocks: 8 }
    expect(hex(ExtendedCopy.encodeBlockSegment(seg))).toBe(segment)
    expect(hex(ExtendedCopy.encodeBlockSegment({ ...seg, destinationCount: true, cat: true }))).toBe(
      `020300180000000100000008${"0000000000000010"}${"0000000000000020"}`
    )
    expect(failTag(ExtendedCopy.encodeBlockSegment({ ...seg, blocks: 0x10000 }))).toBe("InvalidArgument")
    const c = fromHexStr(cscd)
    const s = fromHexStr(segment)
    expect(hex(ExtendedCopy.encodeLid1({ listId: 5, cscds: [c], segments: [s] }))).toBe(
      `05000020000000000000001c00000000${cscd}${segment}`
    )
    expect(
      hex(ExtendedCopy.encodeLid1({ listId: 5, listIdUsage: 3, priority: 1, str: true, cscds: [c], segments: [s] }))
    ).toBe(`05390020000000000000001c00000000${cscd}${segment}`)
    expect(
      hex(ExtendedCopy.encodeLid4({ listId: 0x01020304, immediate: true, gSense: true, cscds: [c], segments: [s] }))
    ).toBe(`01000020${"00".repeat(11)}03ff00000001020304${"00".repeat(18)}0020001c0000${cscd}${segment}`)
    expect(failTag(ExtendedCopy.encodeLid1({ listId: 256, cscds: [], segments: [] }))).toBe("InvalidArgument")
    expect(failTag(ExtendedCopy.encodeLid1({ listId: 1, immediate: true, cscds: [], segments: [] }))).toBe(
      "InvalidArgument"
    )
    const copy = Result.getOrThrow(
      ExtendedCopy.encodeBlockCopy({
        listId: 9,
        source: { designation: naa, blockLength: 512 },
        ranges: [{ sourceLba: 0x10, destinationLba: 0x20, blocks: 8 }]
      })
    )
    expect(toHex(copy)).toBe(`09000020000000000000001c00000000${cscd}${segment.replace("00000001", "00000000")}`)
  })

  it("REPORT SUPPORTED OPERATION CODES per reporting option", () => {
    expect(hex(OperationCodes.cdb())).toBe("a30c00000000000020000000")
    expect(hex(OperationCodes.cdb({ timeouts: true }))).toBe("a30c80000000000020000000")
    expect(hex(OperationCodes.cdb({ reportingOptions: 1, opcode: 0x28, allocationLength: 512 }))).toBe(
      "a30c01280000000002000000"
    )
    expect(
      hex(OperationCodes.cdb({ reportingOptions: 2, opcode: 0x9e, serviceAction: 0x10, allocationLength: 512 }))
    ).toBe("a30c029e0010000002000000")
    expect(hex(OperationCodes.cdb({ reportingOptions: 3, opcode: 0x5e, timeouts: true, allocationLength: 512 }))).toBe(
      "a30c835e0000000002000000"
    )
    expect(failTag(OperationCodes.cdb({ opcode: 0x28 }))).toBe("InvalidArgument")
    expect(failTag(OperationCodes.cdb({ reportingOptions: 1, opcode: 0x28, serviceAction: 1 }))).toBe("InvalidArgument")
    expect(failTag(OperationCodes.cdb({ reportingOptions: 8 }))).toBe("InvalidArgument")
  })

  it("REPORT TARGET PORT GROUPS", () => {
    expect(hex(TargetPortGroups.cdb())).toBe("a30a00000000000010000000")
    expect(hex(TargetPortGroups.cdb({ extended: true, allocationLength: 0x20 }))).toBe("a32a00000000000000200000")
  })

  it("READ DEFECT DATA (10)/(12) per option", () => {
    expect(hex(DefectData.cdb10())).toBe("37000300000000ffff00")
    expect(hex(DefectData.cdb10({ primary: true, grown: true, format: 0, allocationLength: 8 }))).toBe(
      "37001800000000000800"
    )
    expect(hex(DefectData.cdb12())).toBe("b70300000000000100000000")
    expect(
      hex(DefectData.cdb12({ grown: true, format: 5, addressDescriptorIndex: 0x10, allocationLength: 0x200 }))
    ).toBe("b70d00000010000002000000")
    expect(failTag(DefectData.cdb10({ format: 8 }))).toBe("InvalidArgument")
    expect(failTag(DefectData.cdb10({ allocationLength: 0x10000 }))).toBe("InvalidArgument")
  })

  it("READ TOC/PMA/ATIP per option", () => {
    expect(hex(ReadToc.cdb())).toBe("43000000000000032400")
    expect(hex(ReadToc.cdb({ msf: true, format: 1, track: 2, allocationLength: 12 }))).toBe("43020100000002000c00")
    expect(failTag(ReadToc.cdb({ format: 16 }))).toBe("InvalidArgument")
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
