import { describe, expect, it } from "@effect/vitest"
import * as IscsiError from "../src/IscsiError.ts"
import * as Recurrence from "../src/Recurrence.ts"

const lost = IscsiError.make(new IscsiError.ConnectionLost({ message: "socket closed" }))
const lostAgain = IscsiError.make(new IscsiError.ConnectionLost({ message: "reset by peer" }))
const digest = IscsiError.make(new IscsiError.DigestError({ which: "header", expected: 1, actual: 2, message: "x" }))
const keepalive = IscsiError.make(new IscsiError.Timeout({ operation: "keepalive", message: "x" }))
const command = IscsiError.make(new IscsiError.Timeout({ operation: "SCSI command", message: "x" }))

const early = (error: IscsiError.IscsiError): Recurrence.Attempt => ({ error, aliveMs: 40, completed: 0 })

const run = (attempts: ReadonlyArray<Recurrence.Attempt>, options?: Recurrence.Options) => {
  let state = Recurrence.initial
  const verdicts: Array<string> = []
  for (const a of attempts) {
    const v = Recurrence.record(state, a, options)
    verdicts.push(v._tag)
    state = v.state
  }
  return verdicts
}

describe("Recurrence", () => {
  it("the same failure right after every fresh login gives up on the third, with that error", () => {
    let state = Recurrence.initial
    const verdicts = [lost, lostAgain, lost].map((e) => {
      const v = Recurrence.record(state, early(e))
      state = v.state
      return v
    })
    expect(verdicts.map((v) => v._tag)).toEqual(["Retry", "Retry", "GiveUp"])
    const last = verdicts[2]!
    expect(last._tag === "GiveUp" && last.error).toBe(lost)
    expect(last._tag === "GiveUp" && last.attempts).toBe(3)
  })

  it("a session that got answers, or lived longer than the window, resets the streak", () => {
    expect(
      run([early(lost), early(lost), { error: lost, aliveMs: 40, completed: 1 }, early(lost), early(lost)])
    ).toEqual(["Retry", "Retry", "Retry", "Retry", "Retry"])
    expect(run([early(lost), early(lost), { error: lost, aliveMs: 60_000, completed: 0 }, early(lost)])).toEqual([
      "Retry",
      "Retry",
      "Retry",
      "Retry"
    ])
  })

  it("a different failure starts a new streak; the facts count, not the message", () => {
    expect(run([early(lost), early(digest), early(lost), early(lost)])).toEqual(["Retry", "Retry", "Retry", "Retry"])
    expect(run([early(keepalive), early(command), early(keepalive)])).toEqual(["Retry", "Retry", "Retry"])
    expect(Recurrence.signature(lost)).toBe(Recurrence.signature(lostAgain))
    expect(Recurrence.signature(keepalive)).not.toBe(Recurrence.signature(command))
  })

  it("options: maxRepeats and windowMs", () => {
    expect(run([early(digest), early(digest)], { maxRepeats: 2 })).toEqual(["Retry", "GiveUp"])
    expect(run([early(digest)], { maxRepeats: 1 })).toEqual(["GiveUp"])
    expect(Recurrence.isEarly({ error: lost, aliveMs: 500, completed: 0 }, 100)).toBe(false)
    expect(Recurrence.isEarly({ error: lost, aliveMs: 500, completed: 0 })).toBe(true)
  })
})
