// The `iscsi` executable as one minified ES module graph (dist/bin/): the compiled dist/main.js and
// everything it imports — Effect, @effect/platform-node and the @effect-iscsi packages — bundled by
// esbuild, split where Cli.ts loads the subcommands lazily (help, version and parse errors never load
// the iSCSI library). bin/iscsi.js runs it. Startup from the bundle against the module tree of dist/:
// `npm run bench` (startup rows) and benchmark/RESULTS.md.
//
// @node-rs/crc32 stays outside (a native addon, loaded only when a session negotiates data digests).
// Run after `tsc -b` (the package's build and prepack scripts do).
import * as esbuild from "esbuild"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const outdir = Path.join(root, "dist/bin")
Fs.rmSync(outdir, { recursive: true, force: true })
const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { main: "dist/main.js" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  minify: true,
  chunkNames: "chunk-[hash]",
  external: ["@node-rs/crc32"],
  logLevel: "warning",
  metafile: true
})
const bytes = Object.entries(result.metafile.outputs)
  .filter(([file]) => file.endsWith(".js"))
  .map(([file, o]) => `${Path.basename(file)} ${Math.round(o.bytes / 1024)} KiB`)
// stderr: `npm pack --json` prints its JSON on stdout while prepack runs this
console.error(`bundled dist/bin: ${bytes.join(", ")}`)
