/**
 * `npm run sync-exports`: write each published package's `exports` map from its public modules
 * (see packages/testing/src/Exports.ts). packages/testing/test/exports.test.ts fails when a map is
 * out of date.
 */
import { Exports } from "@effect-iscsi/testing"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
for (const p of Exports.PUBLISHED) {
  const dir = Path.join(root, "packages", p)
  const file = Path.join(dir, "package.json")
  const pkg = JSON.parse(Fs.readFileSync(file, "utf8")) as Record<string, unknown>
  pkg.exports = Exports.expected(dir)
  Fs.writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`)
  console.log(`${p}: ${Object.keys(pkg.exports as object).length} entries`)
}
