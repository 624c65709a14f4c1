/**
 * `iscsi inq --vpd PAGE`: page names and numbers, and each page fetched and decoded through
 * `@effect-iscsi/scsi` (SPC-5 §7.7: 00h supported pages, 80h unit serial number, 83h device
 * identification, 85h management network addresses, 86h extended INQUIRY data, 87h mode page
 * policy, 88h SCSI ports; SBC-4 §6.6: B0h block limits, B1h block device characteristics, B2h
 * logical block provisioning). Any other page is printed raw (hex) after its header was checked.
 *
 * Not here: the decoders themselves (`Inquiry` in @effect-iscsi/scsi).
 */
import type { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import * as Inquiry from "@effect-iscsi/scsi/Inquiry"
import * as Scsi from "@effect-iscsi/scsi/Scsi"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Format from "./Format.ts"

const names: ReadonlyArray<readonly [number, ReadonlyArray<string>, string]> = [
  [Inquiry.VpdPage.SupportedPages, ["supported", "sp"], "Supported VPD Pages"],
  [Inquiry.VpdPage.UnitSerialNumber, ["serial", "usn"], "Unit Serial Number"],
  [Inquiry.VpdPage.DeviceIdentification, ["devid", "di", "device-identification"], "Device Identification"],
  [Inquiry.VpdPage.ManagementNetworkAddresses, ["mna", "management-network-addresses"], "Management Network Addresses"],
  [Inquiry.VpdPage.ExtendedInquiryData, ["ei", "extended-inquiry"], "Extended INQUIRY Data"],
  [Inquiry.VpdPage.ModePagePolicy, ["mpp", "mode-page-policy"], "Mode Page Policy"],
  [Inquiry.VpdPage.ScsiPorts, ["ports", "scsi-ports"], "SCSI Ports"],
  [Inquiry.VpdPage.BlockLimits, ["block-limits", "bl"], "Block Limits"],
  [Inquiry.VpdPage.BlockDeviceCharacteristics, ["bdc", "block-device-characteristics"], "Block Device Characteristics"],
  [Inquiry.VpdPage.LogicalBlockProvisioning, ["lbp", "logical-block-provisioning"], "Logical Block Provisioning"]
]

/** The page's name, or `VPD page 0xNN`. */
export const pageName = (page: number): string =>
  names.find(([code]) => code === page)?.[2] ?? `VPD page ${Format.hexByte(page)}`

/** `0x83`, `83h`, `131`, or a name (`serial`, `devid`, `block-limits`, `bdc`, `lbp`, `supported`). */
export const parsePage = (text: string): Result.Result<number, string> => {
  const t = text.trim().toLowerCase()
  const named = names.find(([, aliases]) => aliases.includes(t))
  if (named !== undefined) return Result.succeed(named[0])
  const n = /^0x[0-9a-f]{1,2}$/.test(t)
    ? Number.parseInt(t.slice(2), 16)
    : /^[0-9a-f]{1,2}h$/.test(t)
      ? Number.parseInt(t.slice(0, -1), 16)
      : /^[0-9]{1,3}$/.test(t)
        ? Number(t)
        : Number.NaN
  if (Number.isInteger(n) && n >= 0 && n <= 0xff) return Result.succeed(n)
  return Result.fail(
    `bad VPD page ${JSON.stringify(text)}: give a number (0x83, 83h, 131) or one of ${names.map(([, a]) => a[0]).join(", ")}`
  )
}

/** A decoded page: `data` is JSON-ready, `text` the human rendering. */
export interface DecodedPage {
  readonly page: number
  readonly name: string
  readonly data: unknown
  readonly text: string
}

const designatorText = (d: Inquiry.Designator): string =>
  `${d.associationName} ${d.designatorTypeName}: ${d.text.length > 0 ? d.text : Format.hex(d.value)}`

const objectText = (o: object): string =>
  Format.fields(
    Object.entries(o).map(([k, v]) => [k, v instanceof Uint8Array ? Format.hex(v) : (v as string | number | boolean)])
  )

/** Fetch and decode one VPD page of `lun`. */
export const fetch = (lun: number, page: number): Effect.Effect<DecodedPage, Scsi.CommandError, ScsiTransport> =>
  Effect.gen(function* () {
    const name = pageName(page)
    switch (page) {
      case Inquiry.VpdPage.SupportedPages: {
        const pages = yield* Scsi.supportedVpdPages(lun)
        return {
          page,
          name,
          data: { pages: pages.map((p) => ({ page: p, hex: Format.hexByte(p), name: pageName(p) })) },
          text: pages.map((p) => `${Format.hexByte(p)}  ${pageName(p)}`).join("\n")
        }
      }
      case Inquiry.VpdPage.UnitSerialNumber: {
        const serial = yield* Scsi.unitSerialNumber(lun)
        return { page, name, data: { serialNumber: serial }, text: `Unit Serial Number: ${serial}` }
      }
      case Inquiry.VpdPage.DeviceIdentification: {
        const designators = yield* Scsi.deviceIdentification(lun)
        return { page, name, data: { designators }, text: designators.map(designatorText).join("\n") }
      }
      case Inquiry.VpdPage.ManagementNetworkAddresses: {
        const services = yield* Scsi.managementNetworkAddresses(lun)
        return {
          page,
          name,
          data: { services },
          text:
            services.length === 0
              ? "(no network services)"
              : services.map((x) => `${x.associationName} ${x.serviceTypeName}: ${x.address}`).join("\n")
        }
      }
      case Inquiry.VpdPage.ExtendedInquiryData: {
        const x = yield* Scsi.extendedInquiryData(lun)
        return { page, name, data: x, text: objectText(x) }
      }
      case Inquiry.VpdPage.ModePagePolicy: {
        const policies = yield* Scsi.modePagePolicy(lun)
        return {
          page,
          name,
          data: { policies },
          text: policies
            .map(
              (d) =>
                `page ${Format.hexByte(d.pageCode)} subpage ${Format.hexByte(d.subpageCode)}: ${d.policy}${d.mlus ? " (MLUS)" : ""}`
            )
            .join("\n")
        }
      }
      case Inquiry.VpdPage.ScsiPorts: {
        const ports = yield* Scsi.scsiPorts(lun)
        return {
          page,
          name,
          data: { ports },
          text: ports
            .map((p) =>
              [
                `relative port ${p.relativePortIdentifier}${
                  p.initiatorPort === undefined
                    ? ""
                    : `, initiator port ${p.initiatorPort.iscsiName ?? Format.hex(p.initiatorPort.bytes)}`
                }`,
                ...p.targetPortDesignators.map((d) => `  ${designatorText(d)}`)
              ].join("\n")
            )
            .join("\n")
        }
      }
      case Inquiry.VpdPage.BlockLimits: {
        const limits = yield* Scsi.blockLimits(lun)
        return { page, name, data: limits, text: objectText(limits) }
      }
      case Inquiry.VpdPage.BlockDeviceCharacteristics: {
        const c = yield* Scsi.blockDeviceCharacteristics(lun)
        return { page, name, data: c, text: objectText(c) }
      }
      case Inquiry.VpdPage.LogicalBlockProvisioning: {
        const p = yield* Scsi.logicalBlockProvisioning(lun)
        return { page, name, data: p, text: objectText(p) }
      }
      default: {
        const raw = yield* Scsi.inquiryVpd(lun, page)
        const header = Inquiry.decodeVpdHeader(raw, page)
        const payload = header._tag === "Success" ? header.success.payload : raw
        return { page, name, data: { payload: Format.hex(payload) }, text: Format.hex(payload) }
      }
    }
  })
