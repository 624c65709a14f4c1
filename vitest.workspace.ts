/**
 * The project list. vitest 5 no longer reads this file by itself: `vitest.config.ts` imports it
 * into `test.projects`. Each package has its own `vitest.config.ts` (a `defineProject`).
 */
export const projects = [
  "packages/core",
  "packages/scsi",
  "packages/node-transport",
  "packages/cli",
  "packages/testing"
]
