/**
 * `npm run test:consumer`: the packages as someone else's app gets them. CI runs it after the tests.
 *
 * 1. `npm pack` core, scsi, node-transport and cli (their `prepack` builds them) and check each
 *    tarball: built JS, `.d.ts`, LICENSE, README, CHANGELOG; no tests, no build caches.
 * 2. Create a project in a temporary directory outside the repository and install the tarballs with
 *    the newest effect 4.x (and @effect/platform-node 4.x) the registry serves, not the repository's
 *    pinned version; `npm ls` must report a valid tree with one copy of effect.
 * 3. Type-check the consumer program (scripts/consumer/main.ts: the used-by line verbatim,
 *    `IscsiClient.layer`, `BlockDevice`, errors matched by reason tag) with `tsc --noEmit`, our
 *    TypeScript and TypeScript 5.9, with `skipLibCheck: false`.
 * 4. Compile it and run the JavaScript with plain `node` against a private tgtd; compare what it
 *    read with the target's backing file.
 * 5. Run the installed CLI (`npx iscsi readcap … --json`) and check its output.
 * 6. The internals are not importable (`@effect-iscsi/core/internal/engine`).
 *
 * Fails (exit 1) when any step fails. `--keep` leaves the temporary project for a look.
 */
import { Tgt } from "@effect-iscsi/testing"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
const PACKAGES = ["core", "scsi", "node-transport", "cli"] as const
const keep = process.argv.includes("--keep")
const TYPESCRIPT_5 = "5.9"

const step = (s: string) => console.log(`\n== ${s}`)
const fail = (s: string): never => {
  throw new Error(s)
}

/** Run a command; its output is returned (and shown when it fails). */
const run = (cmd: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = process.env): string => {
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
  if (r.status !== 0) {
    process.stdout.write(r.stdout ?? "")
    process.stderr.write(r.stderr ?? "")
    fail(`${cmd} ${args.join(" ")} exited with ${r.status ?? r.signal} (in ${cwd})`)
  }
  return r.stdout
}

/** The newest version of `name` with major 4 that the registry serves. */
const newest4 = (name: string): string => {
  const out = JSON.parse(run("npm", ["view", `${name}@4`, "version", "--json"], ROOT)) as string | Array<string>
  const all = (Array.isArray(out) ? out : [out]).filter((v) => /^4\.\d+\.\d+$/.test(v))
  const sorted = all.sort((a, b) => {
    const [x, y] = [a.split(".").map(Number), b.split(".").map(Number)]
    return x[1]! - y[1]! || x[2]! - y[2]!
  })
  return sorted.at(-1) ?? fail(`no 4.x release of ${name} on the registry`)
}

const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-iscsi-consumer-"))
let target: Tgt.TgtInstance | undefined
let failed = false
try {
  // ---- 1. pack ------------------------------------------------------------------------------------
  step("npm pack (prepack builds each package)")
  const packDir = Path.join(work, "tarballs")
  Fs.mkdirSync(packDir)
  const packed = JSON.parse(
    run(
      "npm",
      ["pack", "--json", "--pack-destination", packDir, ...PACKAGES.flatMap((p) => ["-w", `packages/${p}`])],
      ROOT
    )
  ) as Array<{ name: string; filename: string; files: Array<{ path: string }> }>
  for (const p of packed) {
    const files = p.files.map((f) => f.path)
    const must = [
      "package.json",
      "LICENSE",
      "README.md",
      "CHANGELOG.md",
      "dist/index.js",
      "dist/index.d.ts",
      // the bundle the installed `iscsi` runs (packages/cli/scripts/bundle.mjs, run by prepack)
      ...(p.name === "@effect-iscsi/cli" ? ["dist/bin/main.js"] : [])
    ]
    for (const f of must) if (!files.includes(f)) fail(`${p.name}: the tarball has no ${f}`)
    const bad = files.filter((f) =>
      /(^|\/)test\/|\.test\.|tsbuildinfo|(^|\/)\.tsbuild\/|vitest\.config|tsconfig/.test(f)
    )
    if (bad.length > 0) fail(`${p.name}: the tarball ships ${bad.join(", ")}`)
    for (const f of files.filter((f) => f.startsWith("src/") && !f.startsWith("src/internal/"))) {
      const js = f.replace(/^src\//, "dist/").replace(/\.ts$/, ".js")
      if (!files.includes(js) || !files.includes(js.replace(/\.js$/, ".d.ts"))) fail(`${p.name}: ${f} was not built`)
    }
    console.log(`${p.filename}: ${files.length} files`)
  }
  const tarballs = packed.map((p) => Path.join(packDir, p.filename))

  // ---- 2. install with the newest effect 4.x ------------------------------------------------------
  const effect = newest4("effect")
  const platformNode = newest4("@effect/platform-node")
  const repoPkg = JSON.parse(Fs.readFileSync(Path.join(ROOT, "package.json"), "utf8")) as {
    devDependencies: Record<string, string>
  }
  step(
    `install the tarballs with effect ${effect}, @effect/platform-node ${platformNode} (the repository pins ${repoPkg.devDependencies.effect})`
  )
  const app = Path.join(work, "app")
  Fs.mkdirSync(app)
  Fs.writeFileSync(
    Path.join(app, "package.json"),
    JSON.stringify({ name: "consumer-app", private: true, type: "module" }, null, 2)
  )
  run(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      ...tarballs,
      `effect@${effect}`,
      `@effect/platform-node@${platformNode}`,
      `typescript@${repoPkg.devDependencies.typescript}`,
      `@types/node@${repoPkg.devDependencies["@types/node"]}`
    ],
    app
  )
  run("npm", ["ls", "--all"], app)
  const effects = run("npm", ["ls", "effect", "--all", "--parseable"], app)
    .split("\n")
    .filter((l) => l.endsWith("node_modules/effect"))
  const unique = [...new Set(effects)]
  if (unique.length !== 1) fail(`expected one copy of effect, found ${unique.length}: ${unique.join(", ")}`)
  const installed = JSON.parse(Fs.readFileSync(Path.join(unique[0]!, "package.json"), "utf8")).version
  if (installed !== effect) fail(`effect ${installed} was installed, not ${effect}`)
  console.log(`npm ls: valid tree, one effect (${installed})`)

  // ---- 3. type-check --------------------------------------------------------------------------------
  for (const f of ["main.ts", "tsconfig.json"])
    Fs.copyFileSync(Path.join(ROOT, "scripts/consumer", f), Path.join(app, f))
  step(`tsc --noEmit (TypeScript ${repoPkg.devDependencies.typescript}, skipLibCheck false)`)
  run(Path.join(app, "node_modules/.bin/tsc"), ["--noEmit", "-p", "."], app)
  step(`tsc --noEmit (TypeScript ${TYPESCRIPT_5})`)
  run("npx", ["--yes", "-p", `typescript@${TYPESCRIPT_5}`, "tsc", "--noEmit", "-p", "."], app)
  step("the first program of every package README type-checks")
  const snippets = Path.join(app, "readme")
  Fs.mkdirSync(snippets)
  for (const p of PACKAGES) {
    const readme = Fs.readFileSync(Path.join(ROOT, "packages", p, "README.md"), "utf8")
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
    if (blocks.length === 0 && p !== "cli") fail(`packages/${p}/README.md shows no program`)
    for (const [i, b] of blocks.entries()) Fs.writeFileSync(Path.join(snippets, `${p}-${i}.ts`), b)
  }
  const tsconfig = JSON.parse(Fs.readFileSync(Path.join(app, "tsconfig.json"), "utf8"))
  Fs.writeFileSync(
    Path.join(snippets, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { ...tsconfig.compilerOptions, noEmit: true }, include: ["*.ts"] })
  )
  run(Path.join(app, "node_modules/.bin/tsc"), ["-p", "readme"], app)

  // ---- 4. run the compiled program against tgtd ------------------------------------------------------
  step("compile, then run with plain node against a private tgtd")
  run(Path.join(app, "node_modules/.bin/tsc"), ["-p", "."], app)
  target = await Tgt.start({ targets: ["disk"] })
  const disk = target.info.targets.disk
  const lun = disk.luns.find((l) => l.lun === 1 && l.kind === "file")!
  const pattern = randomBytes(16 * lun.blockSize)
  const fd = Fs.openSync(lun.path!, "r+")
  Fs.writeSync(fd, pattern, 0, pattern.length, 0)
  Fs.closeSync(fd)
  const url = `iscsi://${target.info.host}:${target.info.port}/${disk.iqn}`
  const env = { ...process.env, ISCSI_URL: url, CONSUMER_LUN: String(lun.lun), NODE_OPTIONS: "" }
  const out = run(process.execPath, [Path.join(app, "out/main.js")], app, env)
  const seen = JSON.parse(out.trim().split("\n").at(-1)!) as {
    usedBy: string
    viaDevice: { blockSize: number; blockCount: number; data: string; outOfRange: string; onTheWire: string }
    badTarget: string
  }
  const expect = (what: string, got: unknown, want: unknown) => {
    if (got !== want) fail(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
    console.log(`ok: ${what}`)
  }
  expect("used-by line read LBA 0..7", seen.usedBy, pattern.subarray(0, 8 * lun.blockSize).toString("hex"))
  expect("BlockDevice read LBA 8..15", seen.viaDevice.data, pattern.subarray(8 * lun.blockSize).toString("hex"))
  expect("BlockDevice block size", seen.viaDevice.blockSize, lun.blockSize)
  expect("BlockDevice block count", seen.viaDevice.blockCount, lun.size / lun.blockSize)
  expect("a read past the end (device)", seen.viaDevice.outOfRange, "OutOfRange")
  expect("a read past the end (target)", seen.viaDevice.onTheWire, "CheckCondition/ILLEGAL REQUEST")
  expect("a missing target", seen.badTarget, "LoginFailed")

  // ---- 5. the installed CLI -------------------------------------------------------------------------
  step("npx iscsi readcap … --json (the installed bin)")
  const cap = JSON.parse(run("npx", ["--no-install", "iscsi", "readcap", `${url}/${lun.lun}`, "--json"], app, env))
  console.log(JSON.stringify(cap))
  expect("iscsi readcap blockSize", cap.blockSize, lun.blockSize)
  expect("iscsi readcap blocks", cap.blocks, lun.size / lun.blockSize)

  // ---- 6. internals stay internal -----------------------------------------------------------------
  step("internal modules are not importable")
  const probe = spawnSync(
    process.execPath,
    [
      "-e",
      "import('@effect-iscsi/core/internal/engine').then(()=>process.exit(0),e=>{console.log(e.code);process.exit(3)})"
    ],
    {
      cwd: app,
      encoding: "utf8"
    }
  )
  expect("import @effect-iscsi/core/internal/engine", probe.stdout.trim(), "ERR_PACKAGE_PATH_NOT_EXPORTED")
  console.log("\nconsumer test passed")
} catch (error) {
  failed = true
  console.error(`\nconsumer test failed: ${error instanceof Error ? error.message : String(error)}`)
} finally {
  await target?.stop()
  if (keep) console.log(`left ${work}`)
  else Fs.rmSync(work, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
