/**
 * Decoders against responses captured from tgtd.
 *
 * Provenance: Debian tgt 1.0.85 (`tgtd -f`, started by the test harness, target "disk": LUN 1 =
 * 64 MiB file with 512 B blocks, LUN 4 = the same with thin_provisioning=1), captured on
 * 2026-11-25 through effect-iscsi (`Scsi.raw` / `Scsi.inquiryVpd` over IscsiClient.layer) and
 * cross-checked field by field against libiscsi 1.19's `iscsi-inq -e 1 -c <page>` and
 * `iscsi-readcapacity16` on the same LUN (their decoded output is quoted in the assertions).
 * To re-capture: run a scratch vitest file that prints `toHex` of each response.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import { GetLbaStatus, Inquiry, ModePages, ReadCapacity, ReportLuns } from "../src/index.ts"
import { fromHex } from "../src/internal/bytes.ts"

const tgt = {
  standardInquiry:
    "000005123d00000249455420202020205649525455414c2d4449534b20202020303030310000000000000000000000000000000000000000000004c0096003000000",
  vpd00: "00000006008083b0b1b2",
  vpd80: "00800024202020202020202020202020202020202020202020202020202020202020626561663134",
  vpd83:
    "00830048020100244945542020202020303030313030303400000000000000000000000000000000000000000103000830000001000000040103001060000000000000000e00000000010004",
  vpdB0:
    "00b0003c00800000000000000000000000000000ffffffffffffffff000000000000000000000000000000000000000000000000000000000000000000000000",
  vpdB1:
    "00b1004000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
  vpdB2: "00b2000400e40200",
  readCapacity16: "000000000001ffff000002000003c00000000000000000000000000000000000",
  modeSense6:
    "6900100800000000000002000000020e8080000a0000000000000000000008121400ffff0000ffffffff80140000000000000a0a021000000000000002004a01001c040000000000000000000000000000000000000000000000000000001c0a08000000000000000000",
  modeSense10:
    "006c00100000000800000000000002000000020e8080000a0000000000000000000008121400ffff0000ffffffff80140000000000000a0a021000000000000002004a01001c040000000000000000000000000000000000000000000000000000001c0a08000000000000000000",
  reportLuns: "000000280000000000000000000000000001000000000000000200000000000000030000000000000004000000000000",
  getLbaStatus: "000000140000000000000000000000640001ff9c01000000"
}

const ok = <A, E>(r: Result.Result<A, E>): A => Result.getOrThrow(r)

describe("decoders on tgtd responses", () => {
  it("standard INQUIRY (iscsi-inq: Version 5 SPC-3, HiSup 1, RDF 2, CmdQue 1, IET VIRTUAL-DISK 0001)", () => {
    const s = ok(Inquiry.decodeStandard(fromHex(tgt.standardInquiry)))
    expect(s).toMatchObject({
      peripheralQualifier: 0,
      peripheralDeviceType: 0,
      removable: false,
      version: 5,
      normaca: false,
      hisup: true,
      responseDataFormat: 2,
      tpgs: 0,
      threePc: false,
      protect: false,
      multip: false,
      cmdque: true,
      vendorId: "IET",
      productId: "VIRTUAL-DISK",
      productRevision: "0001"
    })
    expect(s.versionDescriptors).toEqual([0x04c0, 0x0960, 0x0300])
  })

  it("VPD 00h, 80h", () => {
    expect(ok(Inquiry.decodeSupportedPages(fromHex(tgt.vpd00)))).toEqual([0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2])
    expect(ok(Inquiry.decodeUnitSerialNumber(fromHex(tgt.vpd80)))).toBe("beaf14")
  })

  it("VPD 83h designators (iscsi-inq: NAA binary ×2, T10 vendor ID ASCII 'IET     00010004')", () => {
    const d = ok(Inquiry.decodeDeviceIdentification(fromHex(tgt.vpd83)))
    expect(d.map((x) => [x.codeSet, x.piv, x.association, x.designatorType])).toEqual([
      [2, false, 0, 1],
      [1, false, 0, 3],
      [1, false, 0, 3]
    ])
    expect(d[0].designatorTypeName).toBe("T10 vendor ID")
    expect(d[0].text.startsWith("IET     00010004")).toBe(true)
    expect([d[1].naa, d[1].text]).toEqual([3, "3000000100000004"])
    expect([d[2].naa, d[2].text]).toEqual([6, "60000000000000000e00000000010004"])
    expect(d[2].associationName).toBe("logical unit")
  })

  it("VPD B0h (iscsi-inq: max compare and write 128, max unmap LBA count and descriptor count 4294967295)", () => {
    const b = ok(Inquiry.decodeBlockLimits(fromHex(tgt.vpdB0)))
    expect(b).toMatchObject({
      wsnz: false,
      maximumCompareAndWriteLength: 128,
      maximumTransferLength: 0,
      optimalTransferLength: 0,
      maximumUnmapLbaCount: 4294967295,
      maximumUnmapBlockDescriptorCount: 4294967295,
      optimalUnmapGranularity: 0,
      unmapGranularityAlignmentValid: false,
      maximumWriteSameLength: 0
    })
  })

  it("VPD B1h (iscsi-inq: Medium Rotation Rate 0), B2h (lbpu, lbpws, lbpws10, lbprz 1, provisioning type 2)", () => {
    expect(ok(Inquiry.decodeBlockDeviceCharacteristics(fromHex(tgt.vpdB1))).mediumRotationRate).toBe(0)
    expect(ok(Inquiry.decodeLogicalBlockProvisioning(fromHex(tgt.vpdB2)))).toEqual({
      thresholdExponent: 0,
      lbpu: true,
      lbpws: true,
      lbpws10: true,
      lbprz: 1,
      ancSup: false,
      dp: false,
      minimumPercentage: 0,
      provisioningType: 2,
      thresholdPercentage: 0
    })
  })

  it("VPD page code mismatch and short pages are typed errors", () => {
    const r = Inquiry.decodeBlockLimits(fromHex(tgt.vpdB2))
    expect(Result.isFailure(r) && r.failure.reason._tag).toBe("MalformedResponse")
    const s = Inquiry.decodeVpdHeader(fromHex("00b0"))
    expect(Result.isFailure(s) && s.failure.reason._tag).toBe("MalformedResponse")
  })

  it("READ CAPACITY (16) (iscsi-readcapacity16: LBA 131071, 512 B, exponent 3, LBPME 1, LBPRZ 1)", () => {
    expect(ok(ReadCapacity.decode16(fromHex(tgt.readCapacity16)))).toEqual({
      lastLba: 131071,
      blockSize: 512,
      blockCount: 131072,
      protectionEnabled: false,
      protectionType: 0,
      logicalBlocksPerPhysicalBlockExponent: 3,
      lbpme: true,
      lbprz: true,
      lowestAlignedLba: 0
    })
    expect(ok(ReadCapacity.decode10(fromHex("0001ffff00000200")))).toEqual({
      lastLba: 131071,
      blockSize: 512,
      blockCount: 131072,
      needs16: false
    })
    expect(ok(ReadCapacity.decode10(fromHex("ffffffff00000200"))).needs16).toBe(true)
  })

  it("MODE SENSE (6) and (10): block descriptor, caching (DISC, WCE) and control (GLTSD, QAM 1) pages", () => {
    for (const m of [
      ok(ModePages.decodeModeSense6(fromHex(tgt.modeSense6))),
      ok(ModePages.decodeModeSense10(fromHex(tgt.modeSense10)))
    ]) {
      // tgt leaves NUMBER OF LOGICAL BLOCKS at 0 in its block descriptor.
      expect(m.blockDescriptors).toEqual([{ blocks: 0, blockLength: 512 }])
      expect(m.writeProtected).toBe(false)
      expect(m.dpofua).toBe(true)
      // tgt's empty vendor page 00h, Disconnect-Reconnect, Caching, Control, Control Extension
      // (0Ah/01h, SPF format), Informational Exceptions.
      expect(m.pages.map((p) => [p.pageCode, p.subpage])).toEqual([
        [0, 0],
        [0x02, 0],
        [0x08, 0],
        [0x0a, 0],
        [0x0a, 1],
        [0x1c, 0]
      ])
      expect(m.caching).toMatchObject({
        wce: true,
        rcd: false,
        disablePrefetchTransferLength: 0xffff,
        maximumPrefetch: 0xffff
      })
      expect(m.caching?.disc).toBe(true)
      expect(m.control).toMatchObject({ tst: 0, dSense: false, gltsd: true, qerr: 0, tas: false, busyTimeoutPeriod: 0 })
      expect(m.control?.extendedSelfTestCompletionTime).toBe(0x0200)
      expect(m.control?.queueAlgorithmModifier).toBe(1)
    }
    const c = ok(ModePages.decodeModeSense6(fromHex(tgt.modeSense6))).caching!
    expect(ModePages.decodeCaching(ModePages.encodeCaching(c))).toEqual(c)
    const ctl = ok(ModePages.decodeModeSense6(fromHex(tgt.modeSense6))).control!
    expect(ModePages.decodeControl(ModePages.encodeControl(ctl))).toEqual(ctl)
  })

  it("REPORT LUNS: LUNs 0..4", () => {
    const r = ok(ReportLuns.decode(fromHex(tgt.reportLuns)))
    expect(r.total).toBe(5)
    expect(r.luns.map((l) => [l.addressMethod, l.lun])).toEqual([0, 1, 2, 3, 4].map((n) => ["peripheral", n]))
    expect(ReportLuns.decodeLun(fromHex("4123000000000000"))).toEqual({
      addressMethod: "flat",
      lun: 0x123,
      raw: "4123000000000000"
    })
  })

  it("GET LBA STATUS on an unwritten thin LUN: deallocated from LBA 100 to the end", () => {
    expect(ok(GetLbaStatus.decode(fromHex(tgt.getLbaStatus)))).toEqual([
      { lba: 100, blocks: 0x1ff9c, provisioningStatus: 1, status: "deallocated", additionalStatus: 0 }
    ])
  })
})
