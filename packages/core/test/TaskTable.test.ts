/**
 * The session's ITT table (internal/engine.ts `TaskTable`): ITTs are unique among live tasks, never
 * 0xffffffff, a released ITT finds nothing (a late PDU for it is unroutable), slots come back
 * round-robin (an ITT repeats only after 4096 rounds of its slot), the table grows past its first
 * 64 slots, and `values()` lists tasks in submission order.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Engine from "../src/internal/engine.ts"
import { RESERVED_TAG } from "../src/PduTypes.ts"

class Dummy extends Engine.Task<void> {
  readonly immediate = false
  constructor() {
    super(() => {})
  }
  start(): void {}
  onPdu(): void {}
}

describe("TaskTable", () => {
  it("unique live ITTs, lookups, release, growth and submission order", () => {
    const table = new Engine.TaskTable()
    const tasks = Array.from({ length: 300 }, () => new Dummy())
    for (const t of tasks) expect(table.add(t)).toBe(true)
    expect(table.size).toBe(300)
    expect(new Set(tasks.map((t) => t.itt)).size).toBe(300)
    for (const t of tasks) expect(table.get(t.itt)).toBe(t)
    // release every other task: their ITTs find nothing, the others still resolve
    for (let i = 0; i < tasks.length; i += 2) expect(table.delete(tasks[i]!.itt)).toBe(true)
    expect(table.size).toBe(150)
    for (let i = 0; i < tasks.length; i++) expect(table.get(tasks[i]!.itt)).toBe(i % 2 === 0 ? undefined : tasks[i])
    expect(table.delete(tasks[0]!.itt)).toBe(false)
    // new tasks reuse free slots under new ITTs; the released ITTs stay unknown
    const released = new Set(tasks.filter((_, i) => i % 2 === 0).map((t) => t.itt))
    const more = Array.from({ length: 150 }, () => new Dummy())
    for (const t of more) table.add(t)
    for (const t of more) expect(released.has(t.itt)).toBe(false)
    for (const itt of released) expect(table.get(itt)).toBeUndefined()
    // submission order, whatever the slots
    const order = table.values()
    expect(order).toEqual([...tasks.filter((_, i) => i % 2 === 1), ...more])
    expect(table.keys()).toEqual(order.map((t) => t.itt))
  })

  it("never hands out 0xffffffff and only repeats an ITT after 4096 rounds of its slot", () => {
    const table = new Engine.TaskTable()
    const seen = new Map<number, number>()
    const t = new Dummy()
    for (let round = 0; round < 64 * 4096 + 64; round++) {
      table.add(t)
      expect(t.itt).not.toBe(RESERVED_TAG)
      const last = seen.get(t.itt)
      if (last !== undefined) expect(round - last).toBeGreaterThanOrEqual(64 * 4095)
      seen.set(t.itt, round)
      table.delete(t.itt)
    }
  })
})
