/**
 * Re-capture the byte-exact iSNS goldens of packages/core/test/fixtures/isns-goldens.ts from a real
 * open-isns `isnsd`.
 *
 *   npx tsx --conditions=source scripts/capture-isns-goldens.ts
 *
 * CI never runs this: the fixture is committed, and IsnsGoldens.test.ts only decodes it. Run it
 * again after an open-isns upgrade, or to add a scenario, then review the diff of the fixture.
 *
 * How: it starts the private harness isnsd (`Isns.start()`, loopback only, needs root for
 * `isnsadm --local`), registers one entity over the local control socket (two portals,
 * 127.0.0.1:3260 and 127.0.0.2:3260, and two targets, one with an alias; no tgtd is needed, isnsd
 * does not check portals), puts a recording TCP proxy (node:net) in front of it and records the
 * raw bytes of every connection per direction, exactly as the sockets delivered them. Scenarios:
 * - open-isns's own client, `isnsadm` over TCP (not `--local`): `--register` of an initiator
 *   (DevAttrReg), `--query iscsi-name` (DevAttrQry of every node, all attributes),
 *   `--list nodes` (a DevGetNext walk up to "No Such Entry");
 * - our `IsnsClient.targets` (DevGetNext asking for node type and alias, then one DevAttrQry per
 *   target asking for its portals and portal groups);
 * - error statuses from our encoder's requests: DevGetNext keyed by a node type (not a key
 *   attribute: "Invalid Query"), DevAttrQry for a name nobody registered.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { execFile, execFileSync } from "node:child_process"
import { Isns as IsnsCodec, IsnsClient } from "@effect-iscsi/core"
import { IscsiClient } from "@effect-iscsi/node-transport"
import { Isns, Recorder } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"

interface Golden {
  readonly name: string
  readonly description: string
  readonly toServer: string
  readonly fromServer: string
}

const SOURCE = "iqn.2026-11.io.effect-iscsi:capture"

const main = async () => {
  const isnsd = await Isns.start()
  const proxy = await Recorder.start(isnsd.info.port)
  const goldens: Array<Golden> = []
  const add = (name: string, description: string, recorded: ReadonlyArray<Recorder.Recorded>) => {
    if (recorded.length !== 1) throw new Error(`${name}: ${recorded.length} connections, expected 1`)
    const r = recorded[0]!
    goldens.push({
      name,
      description,
      toServer: Buffer.concat(r.toServer).toString("hex"),
      fromServer: Buffer.concat(r.fromServer).toString("hex")
    })
    console.log(`${name}: ${Buffer.concat(r.toServer).length} + ${Buffer.concat(r.fromServer).length} bytes`)
  }
  try {
    isnsd.register({
      entity: "capture-entity",
      portals: [
        { host: "127.0.0.1", port: 3260 },
        { host: "127.0.0.2", port: 3260 }
      ],
      targets: [
        { name: "iqn.2026-11.io.effect-iscsi:disk" },
        { name: "iqn.2026-11.io.effect-iscsi:tuned", alias: "tuned" }
      ]
    })
    const clientConfig = Path.join(isnsd.info.workDir, "client.conf")
    Fs.writeFileSync(clientConfig, `ServerAddress = 127.0.0.1:${proxy.port}\nSourceName = ${SOURCE}\nSecurity = 0\n`)
    // asynchronous: the recording proxy runs in this process's event loop
    const isnsadm = (args: ReadonlyArray<string>) =>
      new Promise<string>((resolve, reject) =>
        execFile("isnsadm", ["-c", clientConfig, ...args], { encoding: "utf8", timeout: 20_000 }, (e, out) =>
          e === null ? resolve(out) : reject(e)
        )
      )

    await isnsadm(["--register", "entity=capture-host", `initiator=${SOURCE}`])
    add("isnsadm-register", "isnsadm --register entity=capture-host initiator=… (DevAttrReg)", await proxy.take())
    await isnsadm(["--query", "iscsi-name"])
    add("isnsadm-query", "isnsadm --query iscsi-name: DevAttrQry of every node, all attributes", await proxy.take())
    await isnsadm(["--list", "nodes"])
    add("isnsadm-list-nodes", "isnsadm --list nodes: a DevGetNext walk up to No Such Entry", await proxy.take())

    const server = { host: "127.0.0.1", port: proxy.port }
    const run = <A>(effect: Effect.Effect<A, unknown, never>) => Effect.runPromise(effect)
    await run(IsnsClient.targets({ server, sourceName: SOURCE }).pipe(Effect.provide(IscsiClient.nodeLayer())))
    add(
      "client-targets",
      "IsnsClient.targets: DevGetNext (node type, alias) to No Such Entry, then DevAttrQry per target",
      await proxy.take()
    )
    await run(
      Effect.scoped(
        Effect.gen(function* () {
          const client = yield* IsnsClient.connect({ server, sourceName: SOURCE })
          yield* client.call({
            functionId: IsnsCodec.FunctionId.DevGetNext,
            keys: [IsnsCodec.uint32(IsnsCodec.Tag.IscsiNodeType, IsnsCodec.NodeType.Target)]
          })
          yield* client.call({
            functionId: IsnsCodec.FunctionId.DevAttrQry,
            keys: [IsnsCodec.string(IsnsCodec.Tag.IscsiName, "iqn.2026-11.io.effect-iscsi:nobody")],
            operating: [IsnsCodec.nil(IsnsCodec.Tag.IscsiName)]
          })
        })
      ).pipe(Effect.provide(IscsiClient.nodeLayer()))
    )
    add(
      "client-errors",
      "our encoder: DevGetNext keyed by iSCSI Node Type (not a key: Invalid Query), DevAttrQry for an unregistered name",
      await proxy.take()
    )
  } finally {
    await proxy.close()
    await isnsd.stop()
  }
  // "open-isns-server\t0.101-0.2+b1"
  const version = execFileSync("dpkg-query", ["-W", "open-isns-server"], { encoding: "utf8" }).trim().split("\t")[1]
  const out = `/**
 * Byte-exact iSNSP streams recorded between iSNS clients and a real isnsd over loopback.
 *
 * Provenance: captured ${new Date().toISOString().slice(0, 10)} by scripts/capture-isns-goldens.ts (see its
 * header for how to re-capture; CI does not run it) with open-isns ${version} (Debian bookworm packages
 * open-isns-server and open-isns-utils), isnsd from @effect-iscsi/testing's Isns (Security = 0,
 * DefaultDiscoveryDomain = 1), one entity registered with two portals (127.0.0.1:3260,
 * 127.0.0.2:3260) and two targets (…:disk, …:tuned with alias "tuned"); isnsd added a portal group
 * with tag 1 for each pair. Each entry is one TCP connection: \`toServer\`/\`fromServer\` are the
 * bytes per direction as hex. Timestamps and indexes are what isnsd had at the time.
 */

export interface IsnsGolden {
  readonly name: string
  readonly description: string
  readonly toServer: string
  readonly fromServer: string
}

export const isnsGoldens: ReadonlyArray<IsnsGolden> = ${JSON.stringify(goldens, null, 2)}
`
  const file = Path.join(import.meta.dirname, "..", "packages", "core", "test", "fixtures", "isns-goldens.ts")
  Fs.writeFileSync(file, out)
  console.log(`wrote ${goldens.length} goldens to ${file}`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
