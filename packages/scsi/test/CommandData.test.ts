/**
 * Decoders of what the task helpers of issue 19 return: REPORT SUPPORTED OPERATION CODES captured
 * from tgtd, the rest (which tgt refuses) as hand-built answers laid out byte by byte from the
 * tables in each module's JSDoc; then every decoder on random and truncated bytes (never throws,
 * a typed MalformedResponse when the data cannot be what it claims).
 *
 * The tgtd captures and their provenance are in support/captures.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { DefectData, ExtendedCopy, Inquiry, OperationCodes, ReadToc, TargetPortGroups } from "../src/index.ts"
import { fromHex, toHex } from "../src/internal/bytes.ts"
import { rsoc as tgt } from "./support/captures.ts"

const ok = <A, E>(r: Result.Result<A, E>): A => Result.getOrThrow(r)
const malformed = <A>(r: Result.Result<A, { readonly reason: { readonly _tag: string } }>): string =>
  Result.isFailure(r) ? r.failure.reason._tag : "success"

describe("REPORT SUPPORTED OPERATION CODES (tgtd)", () => {
  it("all commands: 50 descriptors, service actions only where SERVACTV", () => {
    const all = ok(OperationCodes.decodeAll(fromHex(tgt.rsocAll)))
    expect(all.length).toBe(404)
    expect(all.commands.length).toBe(50)
    expect(all.commands[0]).toEqual({
      opcode: 0x00,
      serviceAction: undefined,
      cdbLength: 6,
      cdlp: 0,
      timeouts: undefined
    })
    const key = (c: OperationCodes.CommandDescriptor) =>
      c.serviceAction === undefined ? c.opcode.toString(16) : `${c.opcode.toString(16)}/${c.serviceAction.toString(16)}`
    expect(all.commands.map(key)).toEqual(
      expect.arrayContaining(["28", "2a", "41", "42", "8b", "93", "9e/10", "9e/12", "a3/c", "5e/0", "5f/7", "16", "17"])
    )
    expect(all.commands.map(key)).not.toContain("48")
    expect(all.commands.find((c) => c.opcode === 0x88)?.cdbLength).toBe(16)
    expect(OperationCodes.name(0x9e, 0x12)).toBe("GET LBA STATUS")
    expect(OperationCodes.name(0x8b)).toBe("ORWRITE (16)")
    expect(OperationCodes.name(0xff)).toBe("OPCODE 0xff")
    expect(OperationCodes.name(0x9e, 0x1f)).toBe("SERVICE ACTION IN (16) / SA 0x1f")
  })

  it("with timeouts descriptors (RCTD), cut off by the allocation length", () => {
    const all = ok(OperationCodes.decodeAll(fromHex(tgt.rsocAllTimeoutsHead)))
    expect(all.length).toBe(1004)
    // 20-byte descriptors: 3 complete ones, the 4th cut off is left out
    expect(all.commands.map((c) => c.opcode)).toEqual([0x00, 0x03, 0x04])
    expect(all.commands[0]?.timeouts).toEqual({ commandSpecific: 0, nominal: 0, recommended: 0 })
  })

  it("LUN 0 (tgt's controller) answers a short list", () => {
    const all = ok(OperationCodes.decodeAll(fromHex(tgt.rsocLun0)))
    expect(all.commands.map((c) => c.opcode)).toEqual([0x00, 0x03, 0x12, 0x2f, 0x8f, 0xa0, 0xa3, 0xaf])
  })

  it("one command: SUPPORT, CDB usage data, timeouts", () => {
    const r10 = ok(OperationCodes.decodeOne(fromHex(tgt.rsocOneRead10)))
    expect(r10).toMatchObject({
      supportCode: 3,
      support: "supported",
      supported: true,
      cdbSize: 10,
      timeouts: undefined
    })
    expect(Array.from(r10.usage)).toEqual([0x28, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0x07])
    const t = ok(OperationCodes.decodeOne(fromHex(tgt.rsocOneRead10Timeouts)))
    expect(t.timeouts).toEqual({ commandSpecific: 0, nominal: 0, recommended: 0 })
    const rc16 = ok(OperationCodes.decodeOne(fromHex(tgt.rsocOneReadCapacity16)))
    expect([rc16.cdbSize, rc16.usage[0], rc16.usage[1]]).toEqual([16, 0x9e, 0x1f])
    expect(ok(OperationCodes.decodeOne(fromHex("00010000"))).support).toBe("not supported")
    expect(ok(OperationCodes.decodeOne(fromHex("00050000"))).supported).toBe(true)
  })

  it("malformed answers are typed", () => {
    expect(malformed(OperationCodes.decodeAll(fromHex("000000")))).toBe("MalformedResponse")
    // CTDP says 20 bytes, COMMAND DATA LENGTH holds 12
    expect(malformed(OperationCodes.decodeAll(fromHex("0000000c280000000002000a00000000")))).toBe("MalformedResponse")
    expect(malformed(OperationCodes.decodeOne(fromHex("0003000a28")))).toBe("MalformedResponse")
    expect(malformed(OperationCodes.decodeOne(fromHex("00830002280000")))).toBe("MalformedResponse")
  })
})

describe("REPORT TARGET PORT GROUPS", () => {
  // group 1: PREF, active/optimized, T_SUP U_SUP S_SUP AN_SUP AO_SUP, status 02h, ports 1 and 2
  const g1 = "808f000100020002" + "0000000100000002"
  // group 2: standby, same support, status 0, port 3
  const g2 = "028f000200000001" + "00000003"

  it("length-only format", () => {
    const r = ok(TargetPortGroups.decode(fromHex(`0000001c${g1}${g2}`)))
    expect([r.extended, r.implicitTransitionTime, r.length]).toEqual([false, undefined, 32])
    expect(r.groups).toEqual([
      {
        preferred: true,
        stateCode: 0,
        state: "active/optimized",
        supported: {
          transitioning: true,
          offline: false,
          logicalBlockDependent: false,
          unavailable: true,
          standby: true,
          activeNonOptimized: true,
          activeOptimized: true
        },
        id: 1,
        statusCode: 2,
        vendorSpecific: 0,
        targetPorts: [1, 2]
      },
      expect.objectContaining({ preferred: false, state: "standby", id: 2, statusCode: 0, targetPorts: [3] })
    ])
  })

  it("extended header, every state name", () => {
    const r = ok(TargetPortGroups.decode(fromHex(`00000020103c0000${g1}${g2}`)))
    expect([r.extended, r.implicitTransitionTime, r.groups.map((g) => g.id)]).toEqual([true, 60, [1, 2]])
    expect([0, 1, 2, 3, 4, 0xe, 0xf, 5].map(TargetPortGroups.accessStateName)).toEqual([
      "active/optimized",
      "active/non-optimized",
      "standby",
      "unavailable",
      "logical block dependent",
      "offline",
      "transitioning",
      "reserved"
    ])
  })

  it("a group cut off by the allocation length is left out; one overrunning the data length is malformed", () => {
    expect(ok(TargetPortGroups.decode(fromHex(`0000001c${g1}`))).groups.map((g) => g.id)).toEqual([1])
    expect(malformed(TargetPortGroups.decode(fromHex("00000010808f000100020005" + "0000000100000002")))).toBe(
      "MalformedResponse"
    )
  })
})

describe("RECEIVE COPY RESULTS", () => {
  it("operating parameters", () => {
    const data = fromHex(
      "0000002a01000000000200010000040000010000000000000000000000000000000000010109000000000002" + "02e4"
    )
    expect(ok(ExtendedCopy.decodeOperatingParameters(data))).toEqual({
      snlid: true,
      maximumCscdDescriptorCount: 2,
      maximumSegmentDescriptorCount: 1,
      maximumDescriptorListLength: 1024,
      maximumSegmentLength: 65536,
      maximumInlineDataLength: 0,
      heldDataLimit: 0,
      maximumStreamDeviceTransferSize: 0,
      totalConcurrentCopies: 1,
      maximumConcurrentCopies: 1,
      dataSegmentGranularity: 9,
      inlineDataGranularity: 0,
      heldDataGranularity: 0,
      implementedDescriptorTypeCodes: [0x02, 0xe4]
    })
    expect(malformed(ExtendedCopy.decodeOperatingParameters(data.subarray(0, 45)))).toBe("MalformedResponse")
  })

  it("copy status (LID1, LID4), failure details", () => {
    expect(ok(ExtendedCopy.decodeCopyStatus(fromHex("0000000881" + "0001" + "f1" + "00000008")))).toEqual({
      heldDataDiscarded: true,
      status: 1,
      state: "completed",
      segmentsProcessed: 1,
      transferCountUnits: 0xf1,
      transferCount: 8
    })
    expect(ExtendedCopy.transferCountUnit(0xf1)).toBe("logical blocks")
    const sense = "700005000000000a00000000260000000000"
    const lid4 = ok(
      ExtendedCopy.decodeCopyStatusLid4(
        fromHex(`0000002e01020005000003e8021212f1${"0000000000000010"}0001${"00".repeat(6)}${sense}`)
      )
    )
    expect(lid4).toMatchObject({
      responseToServiceAction: 1,
      heldDataDiscarded: false,
      status: 2,
      state: "completed with errors",
      operationCounter: 5,
      estimatedStatusUpdateDelay: 1000,
      completionStatus: 2,
      transferCountUnits: 0xf1,
      transferCount: 16,
      segmentsProcessed: 1
    })
    expect(Array.from(lid4.sense)).toEqual(Array.from(fromHex(sense)))
    const fd = ok(ExtendedCopy.decodeFailureDetails(fromHex(`0000004a${"00".repeat(52)}02000012${sense}`)))
    expect([fd.failed, fd.copyCommandStatus, fd.sense.length]).toEqual([true, 2, 18])
    expect(ok(ExtendedCopy.decodeFailureDetails(fromHex("00000000"))).failed).toBe(false)
    // SENSE DATA LENGTH larger than its field
    expect(
      malformed(ExtendedCopy.decodeCopyStatusLid4(fromHex(`0000001c0111${"00".repeat(7)}0412${"00".repeat(17)}`)))
    ).toBe("MalformedResponse")
  })
})

describe("READ DEFECT DATA", () => {
  it("(10) grown list, long block format; physical sector and extended formats", () => {
    const r = ok(DefectData.decode10(fromHex("000b0010" + "0000000000000100" + "0000000100000000")))
    expect(r).toEqual({
      primaryValid: false,
      grownValid: true,
      format: 3,
      generationCode: undefined,
      defects: [
        { _tag: "Block", lba: 0x100 },
        { _tag: "Block", lba: 0x1_0000_0000 }
      ],
      length: 20
    })
    expect(ok(DefectData.decode10(fromHex("001d0008" + "0001020300000004"))).defects).toEqual([
      { _tag: "PhysicalSector", cylinder: 0x102, head: 3, value: 4, mads: false }
    ])
    expect(ok(DefectData.decode10(fromHex("00190008" + "0001020380000004"))).defects).toEqual([
      { _tag: "BytesFromIndex", cylinder: 0x102, head: 3, value: 4, mads: true }
    ])
    expect(ok(DefectData.decode10(fromHex("001e0003abcdef"))).defects).toEqual([
      { _tag: "Vendor", bytes: fromHex("abcdef") }
    ])
  })

  it("(12) primary list, short block format, generation code; a truncated list says how long it is", () => {
    const r = ok(DefectData.decode12(fromHex("00100007" + "00000008" + "00000005" + "00000009")))
    expect([r.primaryValid, r.grownValid, r.format, r.generationCode, r.length]).toEqual([true, false, 0, 7, 16])
    expect(r.defects).toEqual([
      { _tag: "Block", lba: 5 },
      { _tag: "Block", lba: 9 }
    ])
    const cut = ok(DefectData.decode12(fromHex("00100007" + "00000100" + "00000005")))
    expect([cut.defects.length, cut.length]).toEqual([1, 264])
  })

  it("lengths that are not whole descriptors, and reserved formats, are malformed", () => {
    expect(malformed(DefectData.decode10(fromHex("00080005" + "0000000100")))).toBe("MalformedResponse")
    expect(malformed(DefectData.decode10(fromHex("000f0004" + "00000001")))).toBe("MalformedResponse")
    expect(malformed(DefectData.decode12(fromHex("0010")))).toBe("MalformedResponse")
  })
})

describe("READ TOC", () => {
  const toc = "001a0102" + "0014010000000000" + "0010020000001000" + "0014aa0000002000"

  it("format 0: tracks and lead-out, LBA or MSF", () => {
    const r = ok(ReadToc.decode(fromHex(toc)))
    expect([r.firstTrack, r.lastTrack]).toEqual([1, 2])
    expect(r.tracks.map((t) => [t.track, t.adr, t.control, t.data, t.lba])).toEqual([
      [1, 1, 4, true, 0],
      [2, 1, 0, false, 0x1000],
      [0xaa, 1, 4, true, 0x2000]
    ])
    const msf = ok(ReadToc.decode(fromHex("000a0101" + "0014010000000210"), { msf: true }))
    expect(msf.tracks[0]).toMatchObject({ lba: undefined, msf: { minute: 0, second: 2, frame: 0x10 } })
  })

  it("a data length that does not hold whole descriptors is malformed", () => {
    expect(malformed(ReadToc.decode(fromHex("000b0101" + "001401000000000000")))).toBe("MalformedResponse")
    expect(malformed(ReadToc.decode(fromHex("00")))).toBe("MalformedResponse")
  })
})

const ascii = (text: string) => toHex(new TextEncoder().encode(text))

describe("VPD 85h–88h (tgt serves none of them)", () => {
  it("85h management network addresses: association, service type, URL without its NUL padding", () => {
    const page = `00850020${"01000010"}${ascii("http://fake/cfg")}00${"22000008"}${ascii("diag")}00000000`
    expect(ok(Inquiry.decodeManagementNetworkAddresses(fromHex(page)))).toEqual([
      {
        association: 0,
        associationName: "logical unit",
        serviceType: 1,
        serviceTypeName: "storage configuration service",
        address: "http://fake/cfg"
      },
      {
        association: 1,
        associationName: "target port",
        serviceType: 2,
        serviceTypeName: "diagnostics",
        address: "diag"
      }
    ])
    expect(malformed(Inquiry.decodeManagementNetworkAddresses(fromHex("0085000801000010616263640000")))).toBe(
      "MalformedResponse"
    )
  })

  it("86h extended INQUIRY data, every field", () => {
    const payload = `ad3f0f313b030102e0fcc7001000200000${"00".repeat(43)}`
    expect(ok(Inquiry.decodeExtendedInquiryData(fromHex(`0086003c${payload}`)))).toEqual({
      activateMicrocode: 2,
      spt: 5,
      grdChk: true,
      appChk: false,
      refChk: true,
      uaskSup: true,
      groupSup: true,
      priorSup: true,
      headSup: true,
      ordSup: true,
      simpSup: true,
      wuSup: true,
      crdSup: true,
      nvSup: true,
      vSup: true,
      noPiChk: true,
      pIISup: true,
      luiclr: true,
      luCollType: 1,
      rSup: true,
      rtdSup: true,
      hssrelef: true,
      multiItNexusMicrocodeDownload: 3,
      extendedSelfTestCompletionMinutes: 0x0102,
      poaSup: true,
      hraSup: true,
      vsaSup: true,
      maximumSupportedSenseDataLength: 252,
      ibs: true,
      ias: true,
      sac: true,
      nrd1: true,
      nrd0: true,
      maximumInquiryChangeLogs: 16,
      maximumModePageChangeLogs: 32
    })
    // a short (older) page: the missing fields read as 0
    expect(ok(Inquiry.decodeExtendedInquiryData(fromHex("008600020007"))).simpSup).toBe(true)
  })

  it("87h mode page policy", () => {
    expect(ok(Inquiry.decodeModePagePolicy(fromHex("00870008" + "3fff0000" + "08008100")))).toEqual([
      { pageCode: 0x3f, subpageCode: 0xff, mlus: false, policyCode: 0, policy: "shared" },
      { pageCode: 0x08, subpageCode: 0, mlus: true, policyCode: 1, policy: "per target port" }
    ])
    expect(malformed(Inquiry.decodeModePagePolicy(fromHex("008700063fff00000800")))).toBe("MalformedResponse")
  })

  it("88h SCSI ports: relative port, the initiator's iSCSI TransportID, target port designators", () => {
    const tid = `05000010${ascii("iqn.2026-11.a:b")}00`
    const port1 = `00000001${"00000014"}${tid}00000008${"5194000400000001"}`
    const port2 = `00000002${"00000000"}0000000c${"53980008"}${ascii("iqn.t")}000000`
    const ports = ok(Inquiry.decodeScsiPorts(fromHex(`00880040${port1}${port2}`)))
    expect(
      ports.map((p) => [p.relativePortIdentifier, p.initiatorPort?.iscsiName, p.initiatorPort?.protocolIdentifier])
    ).toEqual([
      [1, "iqn.2026-11.a:b", 5],
      [2, undefined, undefined]
    ])
    expect(
      ports[0]?.targetPortDesignators.map((d) => [d.associationName, d.designatorTypeName, d.number, d.piv])
    ).toEqual([["target port", "relative target port", 1, true]])
    expect(ports[1]?.targetPortDesignators.map((d) => [d.designatorTypeName, d.text])).toEqual([
      ["SCSI name string", "iqn.t"]
    ])
    expect(malformed(Inquiry.decodeScsiPorts(fromHex(`0088000c${"00000001"}${"00000004"}0500`)))).toBe(
      "MalformedResponse"
    )
    expect(malformed(Inquiry.decodeScsiPorts(fromHex(`00880010${"00000001"}${"00000000"}00000008${"51940004"}`)))).toBe(
      "MalformedResponse"
    )
  })
})

/** Random bytes behind a plausible VPD header of `page` (PAGE LENGTH as random as the rest). */
const vpd =
  <A>(page: number, decode: (b: Uint8Array) => Result.Result<A, { reason: { _tag: string } }>) =>
  (b: Uint8Array) => {
    const d = new Uint8Array(b.length + 2)
    d[1] = page
    d.set(b, 2)
    return decode(d)
  }

describe("decoders on random bytes", () => {
  const decoders: ReadonlyArray<
    readonly [string, (b: Uint8Array) => Result.Result<unknown, { reason: { _tag: string } }>]
  > = [
    ["OperationCodes.decodeAll", OperationCodes.decodeAll],
    ["OperationCodes.decodeOne", OperationCodes.decodeOne],
    ["TargetPortGroups.decode", TargetPortGroups.decode],
    ["ExtendedCopy.decodeOperatingParameters", ExtendedCopy.decodeOperatingParameters],
    ["ExtendedCopy.decodeCopyStatus", ExtendedCopy.decodeCopyStatus],
    ["ExtendedCopy.decodeCopyStatusLid4", ExtendedCopy.decodeCopyStatusLid4],
    ["ExtendedCopy.decodeFailureDetails", ExtendedCopy.decodeFailureDetails],
    ["DefectData.decode10", DefectData.decode10],
    ["DefectData.decode12", DefectData.decode12],
    ["ReadToc.decode", (b) => ReadToc.decode(b)],
    ["ReadToc.decode msf", (b) => ReadToc.decode(b, { msf: true })],
    ["Inquiry.decodeManagementNetworkAddresses", vpd(0x85, Inquiry.decodeManagementNetworkAddresses)],
    ["Inquiry.decodeExtendedInquiryData", vpd(0x86, Inquiry.decodeExtendedInquiryData)],
    ["Inquiry.decodeModePagePolicy", vpd(0x87, Inquiry.decodeModePagePolicy)],
    ["Inquiry.decodeScsiPorts", vpd(0x88, Inquiry.decodeScsiPorts)]
  ]

  it("never throw; fail only with MalformedResponse", () => {
    for (const [, decode] of decoders) {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          const r = decode(bytes)
          if (Result.isFailure(r)) expect(r.failure.reason._tag).toBe("MalformedResponse")
        }),
        { numRuns: 400 }
      )
    }
  })

  it("every prefix of a valid answer decodes or fails typed", () => {
    const valid: ReadonlyArray<readonly [number, string]> = [
      [0, tgt.rsocAll],
      [1, tgt.rsocOneRead10Timeouts],
      [2, "0000001c808f00010002000200000001000000020" + "28f000200000001" + "00000003"]
    ]
    for (const [i, h] of valid) {
      const bytes = fromHex(h)
      for (let n = 0; n <= bytes.length; n++) {
        const r = decoders[i]![1](bytes.subarray(0, n))
        if (Result.isFailure(r)) expect(r.failure.reason._tag).toBe("MalformedResponse")
      }
    }
  })
})
