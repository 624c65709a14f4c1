/**
 * Re-capture the byte-exact PDU goldens of packages/core/test/fixtures/goldens.ts from a real tgtd.
 *
 *   npx tsx --conditions=source scripts/capture-goldens.ts
 *
 * CI never runs this: the fixture is committed, and Goldens.test.ts only decodes it. Run it again
 * after a tgt or libiscsi upgrade, or to add a scenario, then review the diff of goldens.ts.
 *
 * How: it starts the private harness tgtd (`Tgt.start()`, loopback only), puts a recording TCP proxy
 * (node:net) between an initiator and tgtd, and records the raw bytes of every connection per
 * direction, exactly as the sockets delivered them. Scenarios:
 * - libiscsi 1.19 tools against tgt 1.0.85: `iscsi-inq` and `iscsi-readcapacity16` on the default
 *   target, `iscsi-ls -s` (its discovery session: SendTargets), `iscsi-inq` with one-way
 *   CHAP (the challenge is random, so the stream is just what was recorded), and `iscsi-inq` with
 *   `?header_digest=crc32c` on the tuned target (libiscsi supports header digests only).
 * - Data digests: libiscsi cannot negotiate DataDigest, so the data-digest golden is a session whose
 *   initiator side is scripted here with our own encoder (login with HeaderDigest=CRC32C and
 *   DataDigest=CRC32C, INQUIRY, READ(10) of 8 blocks, a NOP-Out ping with data, logout). Its
 *   target side is genuine tgtd output, including tgtd's own header and data digests.
 *
 * Login PDUs never carry digests: on a digest connection they start after the Login Response that
 * moves to full feature phase (the golden records the byte offsets where that happens).
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import { Framer, Pdu } from "@effect-iscsi/core"
import { Libiscsi, Recorder, Tgt } from "@effect-iscsi/testing"

const hex = (chunks: ReadonlyArray<Buffer>): string => Buffer.concat(chunks).toString("hex")

const text = (pairs: Record<string, string>): Uint8Array =>
  new TextEncoder().encode(
    Object.entries(pairs)
      .map(([k, v]) => `${k}=${v}\0`)
      .join("")
  )

/** A scripted initiator session with header and data digests (see the header comment). */
const scriptedDigestSession = async (port: number, iqn: string): Promise<void> => {
  const sock = Net.connect(port, "127.0.0.1")
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", () => resolve())
    sock.once("error", reject)
  })
  const framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 262144 })
  const queue: Array<Pdu.Pdu> = []
  let wake: (() => void) | undefined
  sock.on("data", (d) => {
    const r = framer.push(new Uint8Array(d))
    if (r._tag === "Failure") throw new Error(r.failure.message)
    queue.push(...r.success)
    wake?.()
  })
  const next = async (): Promise<Pdu.Pdu> => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r))
    const p = queue.shift()!
    if (process.env.CAPTURE_DEBUG) {
      console.log(
        "  <-",
        p._tag,
        JSON.stringify(p, (_, v) =>
          typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? new TextDecoder().decode(v) : v
        )
      )
    }
    return p
  }
  let digests: Pdu.DigestOptions = Pdu.noDigests
  const send = (p: Pdu.Pdu) => {
    if (process.env.CAPTURE_DEBUG) console.log("  ->", p._tag)
    sock.write(Pdu.encode(p, digests))
  }
  const isid = 0x80_12_34_56_00_01
  send({
    _tag: "LoginRequest",
    transit: true,
    continue: false,
    csg: 1,
    nsg: 3,
    versionMax: 0,
    versionMin: 0,
    isid,
    tsih: 0,
    itt: 1,
    cid: 0,
    cmdSN: 1,
    expStatSN: 0,
    data: text({
      InitiatorName: "iqn.2026-11.io.effect-iscsi:capture",
      TargetName: iqn,
      SessionType: "Normal",
      HeaderDigest: "CRC32C",
      DataDigest: "CRC32C",
      MaxRecvDataSegmentLength: "262144",
      ErrorRecoveryLevel: "0"
    })
  })
  let login = await next()
  // tgt declares its own keys first and answers T=0; an empty Login Request with T=1 completes it.
  for (
    let round = 0;
    login._tag === "LoginResponse" && login.statusClass === 0 && !login.transit && round < 4;
    round++
  ) {
    send({
      _tag: "LoginRequest",
      transit: true,
      continue: false,
      csg: 1,
      nsg: 3,
      versionMax: 0,
      versionMin: 0,
      isid,
      tsih: login.tsih,
      itt: 1,
      cid: 0,
      cmdSN: 1,
      expStatSN: (login.statSN + 1) >>> 0,
      data: new Uint8Array(0)
    })
    login = await next()
  }
  if (login._tag !== "LoginResponse" || login.statusClass !== 0 || !login.transit || login.nsg !== 3) {
    throw new Error(`login did not reach full feature phase: ${login._tag}`)
  }
  digests = { headerDigest: true, dataDigest: true }
  framer.setDigests(true, true)
  let statSN = login.statSN + 1
  const lun = 1n << 48n
  const cdbInquiry = new Uint8Array([0x12, 0, 0, 0, 96, 0])
  send({
    _tag: "ScsiCommand",
    immediate: false,
    final: true,
    read: true,
    write: false,
    attribute: "Simple",
    lun,
    itt: 2,
    expectedDataTransferLength: 96,
    cmdSN: 1,
    expStatSN: statSN,
    cdb: cdbInquiry,
    data: new Uint8Array(0)
  })
  for (let p = await next(); ; p = await next()) {
    if (p._tag === "ScsiResponse" || (p._tag === "ScsiDataIn" && p.statusPresent)) {
      statSN = (p.statSN + 1) >>> 0
      break
    }
  }
  const read10 = new Uint8Array([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0])
  send({
    _tag: "ScsiCommand",
    immediate: false,
    final: true,
    read: true,
    write: false,
    attribute: "Simple",
    lun,
    itt: 3,
    expectedDataTransferLength: 4096,
    cmdSN: 2,
    expStatSN: statSN,
    cdb: read10,
    data: new Uint8Array(0)
  })
  for (let p = await next(); ; p = await next()) {
    if (p._tag === "ScsiResponse" || (p._tag === "ScsiDataIn" && p.statusPresent)) {
      statSN = (p.statSN + 1) >>> 0
      break
    }
  }
  send({
    _tag: "NopOut",
    immediate: false,
    lun: 0n,
    itt: 4,
    ttt: 0xffffffff,
    cmdSN: 3,
    expStatSN: statSN,
    data: new TextEncoder().encode("ping!")
  })
  const nop = await next()
  if (nop._tag !== "NopIn") throw new Error("expected NOP-In")
  statSN = (nop.statSN + 1) >>> 0
  send({ _tag: "LogoutRequest", immediate: true, reason: 0, itt: 5, cid: 0, cmdSN: 4, expStatSN: statSN })
  await next()
  sock.end()
  await new Promise((r) => setTimeout(r, 100))
}

const main = async () => {
  const tgt = await Tgt.start({ lunSize: 1024 * 1024 })
  console.log(`tgtd on port ${tgt.info.port}`)
  const info = tgt.info
  const proxy = await Recorder.start(info.port)
  const portal = `127.0.0.1:${proxy.port}`
  const goldens: Array<Record<string, unknown>> = []
  const add = (
    name: string,
    description: string,
    digest: { header: boolean; data: boolean },
    recs: Array<Recorder.Recorded>
  ) => {
    recs.forEach((r, i) => {
      goldens.push({
        name: recs.length > 1 ? `${name}#${i}` : name,
        description,
        headerDigest: digest.header,
        dataDigest: digest.data,
        toTarget: hex(r.toServer),
        fromTarget: hex(r.fromServer),
        toTargetChunks: r.toServer.map((c) => c.length),
        fromTargetChunks: r.fromServer.map((c) => c.length)
      })
    })
  }
  const tool = async (
    name: string,
    description: string,
    cmd: string,
    args: Array<string>,
    digest = { header: false, data: false }
  ) => {
    console.log(`${name}: ${cmd} ${args.join(" ")}`)
    const r = await Libiscsi.run(cmd, args)
    if (r.code !== 0) throw new Error(`${cmd} failed: ${r.stderr}`)
    add(name, description, digest, await proxy.take())
  }
  try {
    const disk = info.targets.disk
    const chap = info.targets.chap
    const tuned = info.targets.tuned
    await tool("inq", "iscsi-inq on the default target, LUN 1", "iscsi-inq", [`iscsi://${portal}/${disk.iqn}/1`])
    await tool("readcapacity16", "iscsi-readcapacity16 on the default target, LUN 1", "iscsi-readcapacity16", [
      `iscsi://${portal}/${disk.iqn}/1`
    ])
    await tool(
      "ls",
      "iscsi-ls -s: the discovery session (SendTargets=All); its per-target logins go to the TargetAddress tgt returns, past the proxy",
      "iscsi-ls",
      ["-s", `iscsi://${chap.chap!.user}%${chap.chap!.secret}@${portal}/`]
    )
    await tool("chap-inq", "iscsi-inq with one-way CHAP (random challenge as recorded)", "iscsi-inq", [
      `iscsi://${chap.chap!.user}%${chap.chap!.secret}@${portal}/${chap.iqn}/1`
    ])
    await tool(
      "header-digest-inq",
      "iscsi-inq with HeaderDigest=CRC32C on the tuned target (digests after login)",
      "iscsi-inq",
      [`iscsi://${portal}/${tuned.iqn}/1?header_digest=crc32c`],
      { header: true, data: false }
    )
    console.log("data-digest-session: scripted")
    await scriptedDigestSession(proxy.port, tuned.iqn)
    add(
      "data-digest-session",
      "scripted initiator (our encoder), HeaderDigest and DataDigest CRC32C: INQUIRY, READ(10) 8 blocks (tgt sent the 4096 bytes, then CHECK CONDITION with UNIT ATTENTION 29h/00h sense), NOP-Out ping with data, logout",
      { header: true, data: true },
      await proxy.take()
    )
  } finally {
    await proxy.close()
    await tgt.stop()
  }
  const tgtVersion = "1.0.85 (Debian bookworm package tgt)"
  const out = `/**
 * Byte-exact PDU streams recorded between an initiator and a real tgtd over loopback.
 *
 * Provenance: captured ${new Date().toISOString().slice(0, 10)} by scripts/capture-goldens.ts (see its header
 * for how to re-capture; CI does not run it) with tgt ${tgtVersion} and libiscsi 1.19
 * (Debian libiscsi-bin), harness targets from @effect-iscsi/testing's Tgt (tgt defaults except the
 * tuned target: HeaderDigest/DataDigest CRC32C accepted, MaxRecvDataSegmentLength 262144).
 * Each entry is one TCP connection: \`toTarget\`/\`fromTarget\` are the bytes per direction as hex,
 * \`*Chunks\` the sizes of the socket reads as recorded. On digest connections the login phase has
 * no digests; digests start after the final Login Response (and the final Login Request).
 * The CHAP challenge and the ISIDs are random: the streams are just what was recorded.
 * The data-digest session's initiator side is our own encoder (libiscsi cannot negotiate DataDigest);
 * its target side is genuine tgtd output.
 */

export interface Golden {
  readonly name: string
  readonly description: string
  readonly headerDigest: boolean
  readonly dataDigest: boolean
  readonly toTarget: string
  readonly fromTarget: string
  readonly toTargetChunks: ReadonlyArray<number>
  readonly fromTargetChunks: ReadonlyArray<number>
}

export const goldens: ReadonlyArray<Golden> = ${JSON.stringify(goldens, null, 2)}
`
  const file = Path.join(import.meta.dirname, "..", "packages", "core", "test", "fixtures", "goldens.ts")
  Fs.writeFileSync(file, out)
  console.log(`wrote ${goldens.length} goldens to ${file}`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
