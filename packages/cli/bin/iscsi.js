#!/usr/bin/env node
// The `iscsi` command.
// - Published package: runs the compiled ../dist/main.js.
// - Repository checkout (../tsconfig.json is there; it is not published): runs the TypeScript source
//   through tsx, resolving the workspace packages with the `source` export condition (their
//   `exports` point "source" at src/*.ts), so a stale dist/ from an earlier build is never used.
//   ISCSI_CLI_DIST=1 runs dist/ anyway (to try the build).
import { existsSync } from "node:fs"
import { register } from "node:module"
import { fileURLToPath } from "node:url"

const here = (path) => fileURLToPath(new URL(path, import.meta.url))
const dist = new URL("../dist/main.js", import.meta.url)
const checkout = existsSync(here("../tsconfig.json")) && existsSync(here("../src/main.ts"))

if (existsSync(fileURLToPath(dist)) && (!checkout || process.env.ISCSI_CLI_DIST === "1")) {
  await import(dist.href)
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
  register(`data:text/javascript,${encodeURIComponent(hook)}`, import.meta.url)
  await import(new URL("../src/main.ts", import.meta.url).href)
}
