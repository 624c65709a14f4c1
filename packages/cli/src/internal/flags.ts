/**
 * The flags and arguments of every `iscsi` subcommand (`effect/cli` configs), apart from what the
 * subcommands do: `Cli.ts` builds the command tree from them without loading the library, and
 * `handlers.ts` takes their parsed values.
 */
import * as Argument from "effect/cli/Argument"
import * as Flag from "effect/cli/Flag"
import * as Observability from "../Observability.ts"

const jsonFlag = Flag.Boolean("json").pipe(
  Flag.withDescription("print one JSON document on stdout and nothing else"),
  Flag.withDefault(false)
)

const urlArg = Argument.String("url").pipe(
  Argument.withDescription("iscsi://[user[%secret]@]host[:port]/target-iqn/lun")
)

const bytesFlag = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

export const discover = {
  portal: Argument.String("portal").pipe(
    Argument.withDescription("HOST[:PORT] (or iscsi://HOST[:PORT]/)"),
    Argument.optional
  ),
  isns: Flag.String("isns").pipe(
    Flag.withDescription("ask an iSNS server HOST[:PORT] (port 3205 by default) instead of a portal"),
    Flag.optional
  ),
  json: jsonFlag
}

export const ls = {
  portal: Argument.String("portal").pipe(Argument.withDescription("iscsi://HOST[:PORT]/ (or HOST[:PORT])")),
  json: jsonFlag
}

export const inq = {
  url: urlArg,
  vpd: Flag.String("vpd").pipe(
    Flag.withDescription(
      "a VPD page: 0x80, 83h, 176, or serial, devid, mna, ei, mpp, ports, block-limits, bdc, lbp, supported"
    ),
    Flag.optional
  ),
  opcodes: Flag.Boolean("opcodes").pipe(
    Flag.withDescription(
      "what the LUN supports: REPORT SUPPORTED OPERATION CODES and the UNMAP / WRITE SAME / GET LBA STATUS features"
    ),
    Flag.withDefault(false)
  ),
  json: jsonFlag
}

export const readcap = { url: urlArg, json: jsonFlag }

export const read = {
  url: urlArg,
  lba: Flag.Int("lba").pipe(Flag.withDescription("first logical block")),
  blocks: Flag.Int("blocks").pipe(Flag.withDescription("number of blocks")),
  output: Flag.String("output").pipe(
    Flag.withAlias("o"),
    Flag.withDescription("write the data to FILE (default: stdout)"),
    Flag.optional
  )
}

export const write = {
  url: urlArg,
  lba: Flag.Int("lba").pipe(Flag.withDescription("first logical block")),
  input: Flag.String("input").pipe(
    Flag.withAlias("i"),
    Flag.withDescription("read the data from FILE (default: stdin); a whole number of blocks"),
    Flag.optional
  ),
  json: jsonFlag
}

export const dd = {
  src: Flag.String("if").pipe(Flag.withDescription("source: an iSCSI URL or a file")),
  dst: Flag.String("of").pipe(Flag.withDescription("destination: an iSCSI URL or a file (created or truncated)")),
  bs: bytesFlag("bs", "bytes per transfer (default 1M); a multiple of every LUN's block size"),
  count: Flag.Int("count").pipe(Flag.withDescription("transfers to copy (default: the whole source)"), Flag.optional),
  skip: Flag.Int("skip").pipe(
    Flag.withDescription("transfers to skip at the start of the source"),
    Flag.withDefault(0)
  ),
  seek: Flag.Int("seek").pipe(
    Flag.withDescription("transfers to skip at the start of the destination"),
    Flag.withDefault(0)
  ),
  qd: Flag.Int("qd").pipe(Flag.withDescription("transfers in flight (default 8)"), Flag.optional),
  sparse: Flag.Boolean("sparse").pipe(
    Flag.withDescription(
      "leave zero runs out where the destination reads them back as zeros: holes in the new file, WRITE SAME with UNMAP on a thin LUN with LBPRZ; deallocated ranges of a thin source are not read (default on; --no-sparse writes every byte)"
    ),
    Flag.withDefault(true)
  ),
  progress: Flag.Boolean("progress").pipe(
    Flag.withDescription("draw the progress line on stderr (default: when stderr is a terminal)"),
    Flag.optional
  ),
  json: jsonFlag,
  metricsPort: Observability.metricsPortFlag,
  metricsLinger: Observability.metricsLingerFlag,
  spans: Observability.spansFlag
}

export const bench = {
  url: urlArg,
  qd: Flag.Int("qd").pipe(Flag.withDescription("commands in flight (default 16)"), Flag.withDefault(16)),
  bs: bytesFlag("bs", "bytes per command (default 4k)"),
  random: Flag.Boolean("random").pipe(
    Flag.withDescription("random offsets (default sequential)"),
    Flag.withDefault(false)
  ),
  write: Flag.Boolean("write").pipe(
    Flag.withDescription("WRITE instead of READ: overwrites data on this LUN"),
    Flag.withDefault(false)
  ),
  duration: Flag.Finite("duration").pipe(Flag.withDescription("seconds to run (default 5)"), Flag.withDefault(5)),
  json: jsonFlag,
  metricsPort: Observability.metricsPortFlag,
  metricsLinger: Observability.metricsLingerFlag,
  spans: Observability.spansFlag
}
