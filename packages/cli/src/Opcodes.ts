/**
 * `iscsi inq --opcodes`: what a LUN supports (`Capabilities` of @effect-iscsi/scsi: REPORT SUPPORTED
 * OPERATION CODES, SPC-5 §6.35, with the provisioning facts of VPD B0h/B2h and READ CAPACITY (16))
 * as text and as one JSON document. The features are the questions a copy tool asks (may I UNMAP,
 * WRITE SAME with UNMAP, GET LBA STATUS here?), each answered supported / unsupported / unknown.
 *
 * Pure functions; fetching is `Capabilities.discover`.
 */
import type * as Capabilities from "@effect-iscsi/scsi/Capabilities"
import * as OperationCodes from "@effect-iscsi/scsi/OperationCodes"
import * as Format from "./Format.ts"

const opcodeText = (opcode: number, serviceAction: number | undefined) =>
  serviceAction === undefined ? Format.hexByte(opcode) : `${Format.hexByte(opcode)}/${Format.hexByte(serviceAction)}`

/** The JSON document: source, features, LBPME and the commands with their names. */
export const toJson = (c: Capabilities.Capabilities) => ({
  source: c.source,
  lbpme: c.lbpme,
  features: c.features,
  commands: c.commands.map((d) => ({
    opcode: d.opcode,
    ...(d.serviceAction !== undefined ? { serviceAction: d.serviceAction } : {}),
    name: OperationCodes.name(d.opcode, d.serviceAction),
    cdbLength: d.cdbLength,
    ...(d.timeouts !== undefined ? { timeouts: d.timeouts } : {})
  }))
})

/** The text rendering: where the answers come from, the features, then one line per command. */
export const text = (c: Capabilities.Capabilities): string => {
  const source =
    c.source === "rsoc"
      ? `REPORT SUPPORTED OPERATION CODES (${c.commands.length} commands)`
      : "derived from VPD B0h/B2h and READ CAPACITY (16): the LUN does not answer REPORT SUPPORTED OPERATION CODES"
  const features = Format.fields(Object.entries(c.features).map(([k, v]) => [`  ${k}`, v]))
  const width = c.commands.reduce((w, d) => Math.max(w, opcodeText(d.opcode, d.serviceAction).length), 0)
  const commands = c.commands.map(
    (d) =>
      `  ${opcodeText(d.opcode, d.serviceAction).padEnd(width)}  ${OperationCodes.name(d.opcode, d.serviceAction)} (${d.cdbLength}-byte CDB)`
  )
  return [`Source: ${source}`, "Features:", features, ...(commands.length > 0 ? ["Commands:", ...commands] : [])].join(
    "\n"
  )
}
