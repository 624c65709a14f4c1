#!/usr/bin/env node
// The `iscsi` command.
// - Published package: runs the bundle ../dist/bin/main.js (scripts/bundle.mjs: one minified module
//   graph, the library loaded only when a subcommand runs), with Node's compile cache on. Startup
//   against the module tree of dist/: `npm run bench`, startup rows.
// - Repository checkout (../tsconfig.json is there; it is not published): runs the TypeScript source
//   through tsx, resolving the workspace packages with the `source` export condition (their
//   `exports` point "source" at src/*.ts), so a stale dist/ from an earlier build is never used.
//   ISCSI_CLI_DIST=1 runs the build anyway (to try it): the bundle when it is newer than every
//   package's last `tsc -b`, else dist/main.js.
import { existsSync, statSync } from "node:fs"
import * as Module from "node:module"
import { fileURLToPath } from "node:url"

const here = (path) => fileURLToPath(new URL(path, import.meta.url))
const bundle = new URL("../dist/bin/main.js", import.meta.url)
const dist = new URL("../dist/main.js", import.meta.url)
const checkout = existsSync(here("../tsconfig.json")) && existsSync(here("../src/main.ts"))

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs
  } catch {
    return Number.POSITIVE_INFINITY
  }
}
/** In a checkout: the bundle is at least as new as the last build of every package it holds. */
const bundleFresh = () => {
  const built = mtime(fileURLToPath(bundle))
  return ["cli", "core", "scsi", "node-transport"].every((p) => mtime(here(`../../${p}/dist/.tsbuildinfo`)) <= built)
}

const hasBundle = existsSync(fileURLToPath(bundle))
const hasDist = existsSync(fileURLToPath(dist))
if ((hasBundle || hasDist) && (!checkout || process.env.ISCSI_CLI_DIST === "1")) {
  // V8's code cache for the bundle in os.tmpdir() (NODE_DISABLE_COMPILE_CACHE=1 turns it off)
  Module.enableCompileCache?.()
  const useBundle = hasBundle && (!checkout || !hasDist || bundleFresh())
  await import((useBundle ? bundle : dist).href)
} else {
  const { register: registerTsx } = await import("tsx/esm/api")
  registerTsx()
  // Registered after tsx, so it runs first: add the "source" condition, then let tsx resolve.
  const hook = [
    "export async function resolve(specifier, context, next) {",
    "  const conditions = context.conditions.includes('source') ? context.conditions : [...context.conditions, 'source']",
    "  return next(specifier, { ...context, conditions })",
    "}"
  ].join("\n")
  Module.register(`data:text/javascript,${encodeURIComponent(hook)}`, import.meta.url)
  await import(new URL("../src/main.ts", import.meta.url).href)
}
