import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { Exports } from "@effect-iscsi/testing"

const root = fileURLToPath(new URL("../../..", import.meta.url))

describe("published packages", () => {
  for (const p of Exports.PUBLISHED) {
    it(`${p}: exports every public module by name, nothing internal (npm run sync-exports)`, () => {
      const dir = Path.join(root, "packages", p)
      const pkg = JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8"))
      expect(pkg.exports).toEqual(Exports.expected(dir))
      expect(Object.keys(pkg.exports).some((k) => k.includes("internal") || k.includes("*"))).toBe(false)
      // effect (and platform-node) come from the app: peers with a range, pinned only for the repo
      expect(pkg.peerDependencies.effect).toBe("^4.1.0")
      expect(pkg.dependencies?.effect).toBeUndefined()
      expect(pkg.scripts.prepack).toContain("tsc -b")
      expect(pkg.files).toContain("!dist/.tsbuildinfo")
      for (const f of ["LICENSE", "README.md", "CHANGELOG.md"]) expect(Fs.existsSync(Path.join(dir, f))).toBe(true)
    })
  }
})
