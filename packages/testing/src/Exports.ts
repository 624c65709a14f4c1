/**
 * The `exports` map each published package should have: one entry per public module (every
 * `src/*.ts` but `index.ts` and `main.ts`; `src/internal/*` stays unexported), each with `source`
 * (the workspace's TypeScript, for tests and scripts), `types` and `default`. `npm run sync-exports`
 * writes it; test/exports.test.ts fails when a package.json is out of date.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

/** The packages that are published (and packed by the consumer test). */
export const PUBLISHED = ["core", "scsi", "node-transport", "cli"] as const

export interface Entry {
  readonly source: string
  readonly types: string
  readonly default: string
}

/** The exports map the package in `dir` should have. */
export const expected = (dir: string): Record<string, Entry | string> => {
  const modules = Fs.readdirSync(Path.join(dir, "src"))
    .filter((f) => f.endsWith(".ts") && f !== "index.ts" && f !== "main.ts")
    .map((f) => f.slice(0, -3))
    .sort()
  const entry = (m: string): Entry => ({
    source: `./src/${m}.ts`,
    types: `./dist/${m}.d.ts`,
    default: `./dist/${m}.js`
  })
  const exports: Record<string, Entry | string> = { ".": entry("index") }
  for (const m of modules) exports[`./${m}`] = entry(m)
  exports["./package.json"] = "./package.json"
  return exports
}
