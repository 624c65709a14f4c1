#!/usr/bin/env node
// The `iscsi` command. Published package: runs the compiled ../dist/main.js. In the repository
// (no build): runs the TypeScript source through tsx, resolving the workspace packages with the
// `source` export condition (their `exports` point "source" at src/*.ts).
import { existsSync } from "node:fs"
import { register } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"

const dist = new URL("../dist/main.js", import.meta.url)
if (existsSync(fileURLToPath(dist))) {
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
  register(`data:text/javascript,${encodeURIComponent(hook)}`, pathToFileURL(fileURLToPath(import.meta.url)))
  await import(new URL("../src/main.ts", import.meta.url).href)
}
