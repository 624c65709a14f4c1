/**
 * INQUIRY (SPC-5 §6.7): the CDB, standard inquiry data (§6.7.2) and the VPD pages
 * 00h Supported VPD Pages (§7.7.18), 80h Unit Serial Number (§7.7.19), 83h Device Identification
 * (§7.7.6, designators decoded), 85h Management Network Addresses, 86h Extended INQUIRY Data,
 * 87h Mode Page Policy, 88h SCSI Ports (SPC-5, the VPD pages of those names), B0h Block Limits
 * (SBC-4 §6.6.4), B1h Block Device Characteristics (SBC-4 §6.6.2) and B2h Logical Block
 * Provisioning (SBC-4 §6.6.7).
 *
 * ```
 * CDB (6): 0 12h | 1 EVPD(0) | 2 PAGE CODE | 3-4 ALLOCATION LENGTH | 5 CONTROL
 * Standard data: 0 PERIPHERAL QUALIFIER(7-5) DEVICE TYPE(4-0) | 1 RMB(7)
 *   2 VERSION | 3 NORMACA(5) HISUP(4) RESPONSE DATA FORMAT(3-0) | 4 ADDITIONAL LENGTH (n-4)
 *   5 SCCS(7) ACC(6) TPGS(5-4) 3PC(3) PROTECT(0) | 6 ENCSERV(6) MULTIP(4) | 7 CMDQUE(1)
 *   8-15 T10 VENDOR IDENTIFICATION | 16-31 PRODUCT IDENTIFICATION | 32-35 PRODUCT REVISION LEVEL
 *   58-73 VERSION DESCRIPTORS 1..8 (2 bytes each)
 * VPD page: 0 QUALIFIER/DEVICE TYPE | 1 PAGE CODE | 2-3 PAGE LENGTH (n-3) | 4.. page data
 * Designation descriptor (83h): 0 PROTOCOL IDENTIFIER(7-4) CODE SET(3-0)
 *   1 PIV(7) ASSOCIATION(5-4) DESIGNATOR TYPE(3-0) | 2 reserved | 3 DESIGNATOR LENGTH | 4.. DESIGNATOR
 * Network service descriptor (85h): 0 ASSOCIATION(6-5) SERVICE TYPE(4-0) | 1 reserved
 *   2-3 NETWORK ADDRESS LENGTH (n-3, a multiple of 4) | 4.. NETWORK ADDRESS (NUL-terminated URL)
 * Extended INQUIRY Data (86h), page bytes: 4 ACTIVATE MICROCODE(7-6) SPT(5-3) GRD_CHK(2) APP_CHK(1)
 *   REF_CHK(0) | 5 UASK_SUP(5) GROUP_SUP(4) PRIOR_SUP(3) HEADSUP(2) ORDSUP(1) SIMPSUP(0)
 *   6 WU_SUP(3) CRD_SUP(2) NV_SUP(1) V_SUP(0) | 7 NO_PI_CHK(5) P_I_I_SUP(4) LUICLR(0)
 *   8 LU_COLL_TYPE(7-5) R_SUP(4) RTD_SUP(3) HSSRELEF(1) CBCS(0) | 9 MULTI I_T NEXUS MICROCODE DOWNLOAD(3-0)
 *   10-11 EXTENDED SELF-TEST COMPLETION MINUTES | 12 POA_SUP(7) HRA_SUP(6) VSA_SUP(5)
 *   13 MAXIMUM SUPPORTED SENSE DATA LENGTH | 14 IBS(7) IAS(6) SAC(2) NRD1(1) NRD0(0)
 *   15-16 MAXIMUM INQUIRY CHANGE LOGS | 17-18 MAXIMUM MODE PAGE CHANGE LOGS
 * Mode page policy descriptor (87h): 0 POLICY PAGE CODE(5-0) | 1 POLICY SUBPAGE CODE
 *   2 MLUS(7) MODE PAGE POLICY(1-0) | 3 reserved
 * SCSI port designation descriptor (88h): 0-1 reserved | 2-3 RELATIVE PORT IDENTIFIER | 4-5 reserved
 *   6-7 INITIATOR PORT TRANSPORTID LENGTH (k) | 8.. TransportID | then 2 reserved
 *   2 TARGET PORT DESCRIPTORS LENGTH | target port designation descriptors (as in 83h)
 * iSCSI TransportID (SPC-5 §7.6.4.6): 0 FORMAT CODE(7-6) PROTOCOL IDENTIFIER(3-0) = 5
 *   1 reserved | 2-3 ADDITIONAL LENGTH | 4.. iSCSI NAME (format 01b: NAME,i,0xISID), NUL-terminated
 * ```
 * Every variable-length descriptor that overruns its page is a MalformedResponse.
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import * as ScsiError from "./ScsiError.ts"

type R<A> = Result.Result<A, ScsiError.ScsiError>

export const VpdPage = {
  SupportedPages: 0x00,
  UnitSerialNumber: 0x80,
  DeviceIdentification: 0x83,
  ManagementNetworkAddresses: 0x85,
  ExtendedInquiryData: 0x86,
  ModePagePolicy: 0x87,
  ScsiPorts: 0x88,
  BlockLimits: 0xb0,
  BlockDeviceCharacteristics: 0xb1,
  LogicalBlockProvisioning: 0xb2
} as const

export const cdb = (options?: {
  readonly evpd?: boolean | undefined
  readonly page?: number | undefined
  readonly allocationLength?: number | undefined
}): R<Uint8Array> =>
  B.build("INQUIRY", 6, (w) => {
    w.u8("opcode", 0, 0x12)
    w.flag(1, 0, options?.evpd)
    if (options?.evpd !== true && (options?.page ?? 0) !== 0) w.fail(`page code ${options?.page} needs EVPD`)
    w.u8("page code", 2, options?.page ?? 0)
    w.u16("allocation length", 3, options?.allocationLength ?? (options?.evpd === true ? 4096 : 96))
  })

export interface StandardInquiry {
  readonly peripheralQualifier: number
  readonly peripheralDeviceType: number
  readonly removable: boolean
  readonly version: number
  readonly normaca: boolean
  readonly hisup: boolean
  readonly responseDataFormat: number
  readonly sccs: boolean
  readonly acc: boolean
  readonly tpgs: number
  readonly threePc: boolean
  readonly protect: boolean
  readonly encserv: boolean
  readonly multip: boolean
  readonly cmdque: boolean
  readonly vendorId: string
  readonly productId: string
  readonly productRevision: string
  readonly versionDescriptors: ReadonlyArray<number>
}

export const decodeStandard = (data: Uint8Array): R<StandardInquiry> =>
  Result.map(B.need("standard INQUIRY data", data, 5), () => {
    const versionDescriptors: Array<number> = []
    const end = Math.min(data.length, 5 + data[4])
    for (let o = 58; o + 2 <= Math.min(end, 74); o += 2) {
      const v = B.u16(data, o)
      if (v !== 0) versionDescriptors.push(v)
    }
    return {
      peripheralQualifier: data[0] >> 5,
      peripheralDeviceType: data[0] & 0x1f,
      removable: (B.u8(data, 1) & 0x80) !== 0,
      version: B.u8(data, 2),
      normaca: (B.u8(data, 3) & 0x20) !== 0,
      hisup: (B.u8(data, 3) & 0x10) !== 0,
      responseDataFormat: B.u8(data, 3) & 0x0f,
      sccs: (B.u8(data, 5) & 0x80) !== 0,
      acc: (B.u8(data, 5) & 0x40) !== 0,
      tpgs: (B.u8(data, 5) >> 4) & 3,
      threePc: (B.u8(data, 5) & 0x08) !== 0,
      protect: (B.u8(data, 5) & 0x01) !== 0,
      encserv: (B.u8(data, 6) & 0x40) !== 0,
      multip: (B.u8(data, 6) & 0x10) !== 0,
      cmdque: (B.u8(data, 7) & 0x02) !== 0,
      vendorId: B.ascii(data, 8, 16),
      productId: B.ascii(data, 16, 32),
      productRevision: B.ascii(data, 32, 36),
      versionDescriptors
    }
  })

export interface VpdHeader {
  readonly peripheralQualifier: number
  readonly peripheralDeviceType: number
  readonly pageCode: number
  /** The page data after the 4-byte header, clipped to PAGE LENGTH. */
  readonly payload: Uint8Array
}

/** Decode a VPD page header; fails when the page code is not `expected` (when given). */
export const decodeVpdHeader = (data: Uint8Array, expected?: number): R<VpdHeader> => {
  if (data.length < 4) return Result.fail(ScsiError.malformed("VPD page", `VPD page of ${data.length} bytes`))
  if (expected !== undefined && data[1] !== expected) {
    return Result.fail(
      ScsiError.malformed("VPD page", `asked for page 0x${expected.toString(16)}, got 0x${data[1].toString(16)}`)
    )
  }
  return Result.succeed({
    peripheralQualifier: data[0] >> 5,
    peripheralDeviceType: data[0] & 0x1f,
    pageCode: data[1],
    payload: data.subarray(4, Math.min(data.length, 4 + B.u16(data, 2)))
  })
}

/** 00h: the list of supported VPD page codes. */
export const decodeSupportedPages = (data: Uint8Array): R<ReadonlyArray<number>> =>
  Result.map(decodeVpdHeader(data, VpdPage.SupportedPages), (h) => Array.from(h.payload))

/** 80h: the product serial number (ASCII, trailing spaces removed; leading spaces too). */
export const decodeUnitSerialNumber = (data: Uint8Array): R<string> =>
  Result.map(decodeVpdHeader(data, VpdPage.UnitSerialNumber), (h) => B.ascii(h.payload, 0, h.payload.length).trim())

const designatorTypeNames: Record<number, string> = {
  0: "vendor-specific",
  1: "T10 vendor ID",
  2: "EUI-64",
  3: "NAA",
  4: "relative target port",
  5: "target port group",
  6: "logical unit group",
  7: "MD5 logical unit",
  8: "SCSI name string",
  9: "protocol-specific port",
  10: "UUID"
}
const associationNames = ["logical unit", "target port", "target device", "reserved"] as const

export interface Designator {
  readonly protocolIdentifier: number
  /** 1 binary, 2 ASCII, 3 UTF-8. */
  readonly codeSet: number
  readonly piv: boolean
  /** 0 logical unit, 1 target port, 2 target device. */
  readonly association: number
  readonly associationName: string
  readonly designatorType: number
  readonly designatorTypeName: string
  readonly value: Uint8Array
  /** ASCII/UTF-8 designators as text; binary ones as lower-case hex. */
  readonly text: string
  /** NAA designators: the NAA field (2, 3, 5 or 6). */
  readonly naa?: number | undefined
  /** Relative target port / target port group / logical unit group: the 16-bit number. */
  readonly number?: number | undefined
}

/** A run of designation descriptors (the 83h format) in `p`; `what` names the page in errors. */
const decodeDesignators = (p: Uint8Array, what: string): R<ReadonlyArray<Designator>> => {
  const out: Array<Designator> = []
  for (let o = 0; o + 4 <= p.length; ) {
    const len = p[o + 3]
    if (o + 4 + len > p.length) return Result.fail(ScsiError.malformed(what, "designator overruns the page"))
    const value = p.slice(o + 4, o + 4 + len)
    const codeSet = p[o] & 0x0f
    const type = p[o + 1] & 0x0f
    const association = (p[o + 1] >> 4) & 3
    const text =
      codeSet === 2 || codeSet === 3 ? new TextDecoder().decode(value).replace(/\0+$/, "").trim() : B.toHex(value)
    out.push({
      protocolIdentifier: p[o] >> 4,
      codeSet,
      piv: (p[o + 1] & 0x80) !== 0,
      association,
      associationName: associationNames[association],
      designatorType: type,
      designatorTypeName: designatorTypeNames[type] ?? "reserved",
      value,
      text,
      ...(type === 3 && len > 0 ? { naa: value[0] >> 4 } : {}),
      ...((type === 4 || type === 5 || type === 6) && len >= 4 ? { number: B.u16(value, 2) } : {})
    })
    o += 4 + len
  }
  return Result.succeed(out)
}

/** 83h: the designation descriptors. */
export const decodeDeviceIdentification = (data: Uint8Array): R<ReadonlyArray<Designator>> =>
  Result.flatMap(decodeVpdHeader(data, VpdPage.DeviceIdentification), (h) => decodeDesignators(h.payload, "VPD 83h"))

const serviceTypeNames: Record<number, string> = {
  0x00: "unspecified",
  0x01: "storage configuration service",
  0x02: "diagnostics",
  0x03: "status",
  0x04: "logging",
  0x05: "code download",
  0x06: "copy service",
  0x07: "administrative configuration service"
}

export interface NetworkService {
  /** 0 logical unit, 1 target port, 2 target device. */
  readonly association: number
  readonly associationName: string
  readonly serviceType: number
  readonly serviceTypeName: string
  /** The URL, without its NUL padding. */
  readonly address: string
}

/** 85h Management Network Addresses: the network services (URLs) of the logical unit, port or device. */
export const decodeManagementNetworkAddresses = (data: Uint8Array): R<ReadonlyArray<NetworkService>> =>
  Result.flatMap(decodeVpdHeader(data, VpdPage.ManagementNetworkAddresses), (h) => {
    const p = h.payload
    const out: Array<NetworkService> = []
    for (let o = 0; o + 4 <= p.length; ) {
      const len = B.u16(p, o + 2)
      if (o + 4 + len > p.length)
        return Result.fail(ScsiError.malformed("VPD 85h", "network address overruns the page"))
      const association = (p[o] >> 5) & 3
      const serviceType = p[o] & 0x1f
      out.push({
        association,
        associationName: associationNames[association],
        serviceType,
        serviceTypeName: serviceTypeNames[serviceType] ?? "reserved",
        address: B.ascii(p, o + 4, o + 4 + len).replace(/\0.*$/, "")
      })
      o += 4 + len
    }
    return Result.succeed(out)
  })

export interface ExtendedInquiryData {
  readonly activateMicrocode: number
  /** SPT: supported protection types (with the standard data's PROTECT). */
  readonly spt: number
  readonly grdChk: boolean
  readonly appChk: boolean
  readonly refChk: boolean
  readonly uaskSup: boolean
  readonly groupSup: boolean
  readonly priorSup: boolean
  /** HEAD OF QUEUE, ORDERED and SIMPLE task attributes supported. */
  readonly headSup: boolean
  readonly ordSup: boolean
  readonly simpSup: boolean
  readonly wuSup: boolean
  readonly crdSup: boolean
  /** Non-volatile and volatile caches. */
  readonly nvSup: boolean
  readonly vSup: boolean
  readonly noPiChk: boolean
  readonly pIISup: boolean
  /** Logical unit I_T nexus clear: unit attentions are per I_T nexus and cleared with it. */
  readonly luiclr: boolean
  readonly luCollType: number
  readonly rSup: boolean
  readonly rtdSup: boolean
  readonly hssrelef: boolean
  readonly multiItNexusMicrocodeDownload: number
  readonly extendedSelfTestCompletionMinutes: number
  readonly poaSup: boolean
  readonly hraSup: boolean
  readonly vsaSup: boolean
  readonly maximumSupportedSenseDataLength: number
  readonly ibs: boolean
  readonly ias: boolean
  readonly sac: boolean
  readonly nrd1: boolean
  readonly nrd0: boolean
  readonly maximumInquiryChangeLogs: number
  readonly maximumModePageChangeLogs: number
}

/** 86h Extended INQUIRY Data. Fields past PAGE LENGTH read as 0. */
export const decodeExtendedInquiryData = (data: Uint8Array): R<ExtendedInquiryData> =>
  Result.map(decodeVpdHeader(data, VpdPage.ExtendedInquiryData), (h) => {
    const p = h.payload
    const bit = (o: number, b: number) => (B.u8(p, o - 4) & (1 << b)) !== 0
    const at = (o: number) => B.u8(p, o - 4)
    return {
      activateMicrocode: at(4) >> 6,
      spt: (at(4) >> 3) & 7,
      grdChk: bit(4, 2),
      appChk: bit(4, 1),
      refChk: bit(4, 0),
      uaskSup: bit(5, 5),
      groupSup: bit(5, 4),
      priorSup: bit(5, 3),
      headSup: bit(5, 2),
      ordSup: bit(5, 1),
      simpSup: bit(5, 0),
      wuSup: bit(6, 3),
      crdSup: bit(6, 2),
      nvSup: bit(6, 1),
      vSup: bit(6, 0),
      noPiChk: bit(7, 5),
      pIISup: bit(7, 4),
      luiclr: bit(7, 0),
      luCollType: at(8) >> 5,
      rSup: bit(8, 4),
      rtdSup: bit(8, 3),
      hssrelef: bit(8, 1),
      multiItNexusMicrocodeDownload: at(9) & 0x0f,
      extendedSelfTestCompletionMinutes: B.u16(p, 10 - 4),
      poaSup: bit(12, 7),
      hraSup: bit(12, 6),
      vsaSup: bit(12, 5),
      maximumSupportedSenseDataLength: at(13),
      ibs: bit(14, 7),
      ias: bit(14, 6),
      sac: bit(14, 2),
      nrd1: bit(14, 1),
      nrd0: bit(14, 0),
      maximumInquiryChangeLogs: B.u16(p, 15 - 4),
      maximumModePageChangeLogs: B.u16(p, 17 - 4)
    }
  })

export type ModePagePolicy = "shared" | "per target port" | "per initiator port (obsolete)" | "per I_T nexus"

const policies: ReadonlyArray<ModePagePolicy> = [
  "shared",
  "per target port",
  "per initiator port (obsolete)",
  "per I_T nexus"
]

export interface ModePagePolicyDescriptor {
  /** 3Fh with subpage FFh: every page and subpage not listed otherwise. */
  readonly pageCode: number
  readonly subpageCode: number
  /** MLUS: the policy holds for every logical unit of the target. */
  readonly mlus: boolean
  readonly policyCode: number
  readonly policy: ModePagePolicy
}

/** 87h Mode Page Policy. */
export const decodeModePagePolicy = (data: Uint8Array): R<ReadonlyArray<ModePagePolicyDescriptor>> =>
  Result.flatMap(decodeVpdHeader(data, VpdPage.ModePagePolicy), (h) => {
    const p = h.payload
    if (p.length % 4 !== 0) return Result.fail(ScsiError.malformed("VPD 87h", `page length ${p.length} is not 4n`))
    const out: Array<ModePagePolicyDescriptor> = []
    for (let o = 0; o + 4 <= p.length; o += 4) {
      out.push({
        pageCode: p[o] & 0x3f,
        subpageCode: p[o + 1],
        mlus: (p[o + 2] & 0x80) !== 0,
        policyCode: p[o + 2] & 0x03,
        policy: policies[p[o + 2] & 0x03]
      })
    }
    return Result.succeed(out)
  })

export interface TransportId {
  /** 5 = iSCSI. */
  readonly protocolIdentifier: number
  readonly formatCode: number
  /** iSCSI: the initiator's name (and `,i,0x` ISID with format 01b). */
  readonly iscsiName: string | undefined
  readonly bytes: Uint8Array
}

/** A TransportID (SPC-5 §7.6.4), the iSCSI name decoded. */
export const decodeTransportId = (b: Uint8Array): TransportId => {
  const protocolIdentifier = B.u8(b, 0) & 0x0f
  const iscsi = protocolIdentifier === 5 && b.length >= 4
  return {
    protocolIdentifier,
    formatCode: B.u8(b, 0) >> 6,
    iscsiName: iscsi ? B.ascii(b, 4, Math.min(b.length, 4 + B.u16(b, 2))).replace(/\0.*$/, "") : undefined,
    bytes: b.slice()
  }
}

export interface ScsiPort {
  readonly relativePortIdentifier: number
  /** The initiator port's TransportID, when the device reports one. */
  readonly initiatorPort: TransportId | undefined
  /** The target port's designators. */
  readonly targetPortDesignators: ReadonlyArray<Designator>
}

/** 88h SCSI Ports: every port of the device through which the logical unit is reached. */
export const decodeScsiPorts = (data: Uint8Array): R<ReadonlyArray<ScsiPort>> =>
  Result.flatMap(decodeVpdHeader(data, VpdPage.ScsiPorts), (h) => {
    const p = h.payload
    const out: Array<ScsiPort> = []
    for (let o = 0; o + 8 <= p.length; ) {
      const tidLength = B.u16(p, o + 6)
      const t = o + 8 + tidLength
      if (t + 4 > p.length) return Result.fail(ScsiError.malformed("VPD 88h", "port descriptor overruns the page"))
      const tpdLength = B.u16(p, t + 2)
      if (t + 4 + tpdLength > p.length) {
        return Result.fail(ScsiError.malformed("VPD 88h", "target port descriptors overrun the page"))
      }
      const designators = decodeDesignators(p.subarray(t + 4, t + 4 + tpdLength), "VPD 88h")
      if (Result.isFailure(designators)) return Result.fail(designators.failure)
      out.push({
        relativePortIdentifier: B.u16(p, o + 2),
        initiatorPort: tidLength > 0 ? decodeTransportId(p.subarray(o + 8, o + 8 + tidLength)) : undefined,
        targetPortDesignators: designators.success
      })
      o = t + 4 + tpdLength
    }
    return Result.succeed(out)
  })

export interface BlockLimits {
  readonly wsnz: boolean
  readonly maximumCompareAndWriteLength: number
  readonly optimalTransferLengthGranularity: number
  readonly maximumTransferLength: number
  readonly optimalTransferLength: number
  readonly maximumPrefetchLength: number
  readonly maximumUnmapLbaCount: number
  readonly maximumUnmapBlockDescriptorCount: number
  readonly optimalUnmapGranularity: number
  readonly unmapGranularityAlignmentValid: boolean
  readonly unmapGranularityAlignment: number
  readonly maximumWriteSameLength: number
  readonly maximumAtomicTransferLength: number
  readonly atomicAlignment: number
  readonly atomicTransferLengthGranularity: number
}

/**
 * B0h Block Limits. Offsets in the full page: 4 WSNZ(0) | 5 MAXIMUM COMPARE AND WRITE LENGTH |
 * 6-7 OPTIMAL TRANSFER LENGTH GRANULARITY | 8-11 MAXIMUM TRANSFER LENGTH | 12-15 OPTIMAL TRANSFER LENGTH |
 * 16-19 MAXIMUM PREFETCH LENGTH | 20-23 MAXIMUM UNMAP LBA COUNT | 24-27 MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT |
 * 28-31 OPTIMAL UNMAP GRANULARITY | 32-35 UGAVALID(7) UNMAP GRANULARITY ALIGNMENT |
 * 36-43 MAXIMUM WRITE SAME LENGTH | 44-47 MAXIMUM ATOMIC TRANSFER LENGTH | 48-51 ATOMIC ALIGNMENT |
 * 52-55 ATOMIC TRANSFER LENGTH GRANULARITY. Fields past PAGE LENGTH read as 0.
 */
export const decodeBlockLimits = (data: Uint8Array): R<BlockLimits> =>
  Result.map(decodeVpdHeader(data, VpdPage.BlockLimits), (h) => {
    const p = h.payload
    const at = (o: number) => o - 4
    return {
      wsnz: (B.u8(p, at(4)) & 1) !== 0,
      maximumCompareAndWriteLength: B.u8(p, at(5)),
      optimalTransferLengthGranularity: B.u16(p, at(6)),
      maximumTransferLength: B.u32(p, at(8)),
      optimalTransferLength: B.u32(p, at(12)),
      maximumPrefetchLength: B.u32(p, at(16)),
      maximumUnmapLbaCount: B.u32(p, at(20)),
      maximumUnmapBlockDescriptorCount: B.u32(p, at(24)),
      optimalUnmapGranularity: B.u32(p, at(28)),
      unmapGranularityAlignmentValid: (B.u8(p, at(32)) & 0x80) !== 0,
      unmapGranularityAlignment: B.u32(p, at(32)) & 0x7fff_ffff,
      maximumWriteSameLength: B.u64n(p, at(36)),
      maximumAtomicTransferLength: B.u32(p, at(44)),
      atomicAlignment: B.u32(p, at(48)),
      atomicTransferLengthGranularity: B.u32(p, at(52))
    }
  })

export interface BlockDeviceCharacteristics {
  /** 0 not reported, 1 non-rotating (SSD), else rpm. */
  readonly mediumRotationRate: number
  readonly productType: number
  readonly wabereq: number
  readonly wacereq: number
  readonly nominalFormFactor: number
  readonly zoned: number
  readonly fuab: boolean
  readonly vbuls: boolean
}

/** B1h: 4-5 MEDIUM ROTATION RATE | 6 PRODUCT TYPE | 7 WABEREQ(7-6) WACEREQ(5-4) NOMINAL FORM FACTOR(3-0) | 8 ZONED(5-4) FUAB(1) VBULS(0) */
export const decodeBlockDeviceCharacteristics = (data: Uint8Array): R<BlockDeviceCharacteristics> =>
  Result.map(decodeVpdHeader(data, VpdPage.BlockDeviceCharacteristics), (h) => {
    const p = h.payload
    return {
      mediumRotationRate: B.u16(p, 0),
      productType: B.u8(p, 2),
      wabereq: B.u8(p, 3) >> 6,
      wacereq: (B.u8(p, 3) >> 4) & 3,
      nominalFormFactor: B.u8(p, 3) & 0x0f,
      zoned: (B.u8(p, 4) >> 4) & 3,
      fuab: (B.u8(p, 4) & 2) !== 0,
      vbuls: (B.u8(p, 4) & 1) !== 0
    }
  })

export interface LogicalBlockProvisioning {
  readonly thresholdExponent: number
  /** UNMAP supported. */
  readonly lbpu: boolean
  /** WRITE SAME (16) with UNMAP supported. */
  readonly lbpws: boolean
  /** WRITE SAME (10) with UNMAP supported. */
  readonly lbpws10: boolean
  readonly lbprz: number
  readonly ancSup: boolean
  readonly dp: boolean
  readonly minimumPercentage: number
  /** 0 not reported / fully provisioned, 1 resource provisioned, 2 thin provisioned. */
  readonly provisioningType: number
  readonly thresholdPercentage: number
}

/** B2h: 4 THRESHOLD EXPONENT | 5 LBPU(7) LBPWS(6) LBPWS10(5) LBPRZ(4-2) ANC_SUP(1) DP(0) | 6 MINIMUM PERCENTAGE(7-3) PROVISIONING TYPE(2-0) | 7 THRESHOLD PERCENTAGE */
export const decodeLogicalBlockProvisioning = (data: Uint8Array): R<LogicalBlockProvisioning> =>
  Result.map(decodeVpdHeader(data, VpdPage.LogicalBlockProvisioning), (h) => {
    const p = h.payload
    const f = B.u8(p, 1)
    return {
      thresholdExponent: B.u8(p, 0),
      lbpu: (f & 0x80) !== 0,
      lbpws: (f & 0x40) !== 0,
      lbpws10: (f & 0x20) !== 0,
      lbprz: (f >> 2) & 7,
      ancSup: (f & 2) !== 0,
      dp: (f & 1) !== 0,
      minimumPercentage: B.u8(p, 2) >> 3,
      provisioningType: B.u8(p, 2) & 7,
      thresholdPercentage: B.u8(p, 3)
    }
  })
