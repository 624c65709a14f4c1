/**
 * The fake target itself, driven with raw PDUs (rawInitiator.ts): the session table (reinstatement
 * by ISID, MC/S joins by TSIH, per-session CmdSN numbering, DefaultTime2Retain, logout), and
 * CmdSN-ordered delivery across connections (held commands, the wedge a lost command leaves, the
 * ABORT TASK that fills it, the window). Assertions are on the PDUs the fake sends back and on its
 * counters.
 */
import { afterEach, describe, expect, it } from "vitest"
import * as FakeTarget from "../src/FakeTarget.ts"
import { abortTask, INITIATOR, login, logout, ping, quiet, type RawConnection, tur } from "./rawInitiator.ts"

const ISID_A = 0x80_0000_0001
const ISID_B = 0x80_0000_0002

const open: Array<{ close(): Promise<void> }> = []
const conns: Array<RawConnection> = []
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy()
  for (const t of open.splice(0)) await t.close()
})

const start = async (options: FakeTarget.Options = {}) => {
  const t = await FakeTarget.start(options)
  open.push(t)
  return t
}

const loggedIn = async (t: FakeTarget.FakeTarget, o: Parameters<typeof login>[1]) => {
  const r = await login(t, o)
  conns.push(r.conn)
  expect(r.response.statusClass).toBe(0)
  return r
}

describe("FakeTarget sessions", () => {
  it("a leading login with a live session's (InitiatorName, ISID) reinstates it: old connections closed (FIN)", async () => {
    const t = await start()
    const a = await loggedIn(t, { isid: ISID_A })
    const old = t.sessions[0]!
    a.conn.send(tur(1, 1))
    await a.conn.next("ScsiResponse", (r) => r.itt === 1)
    const b = await loggedIn(t, { isid: ISID_A })
    expect(await a.conn.ended()).toBe("fin")
    expect(b.conn.ending).toBe("open")
    expect(b.response.tsih).not.toBe(a.response.tsih)
    expect(t.sessions.map((s) => s.tsih)).toEqual([b.response.tsih])
    expect(t.reinstatements).toHaveLength(1)
    expect(t.reinstatements[0]).toMatchObject({
      initiatorName: INITIATOR,
      isid: ISID_A,
      evictedTsih: a.response.tsih,
      tsih: b.response.tsih
    })
    expect(t.reinstatements[0]!.evicted).toBe(old)
    expect(old.ended).toBe("reinstated")
    expect(old.commands).toBe(1)
    // the new session numbers from its own login's CmdSN and works
    b.conn.send(tur(2, 1))
    const r = await b.conn.next("ScsiResponse", (p) => p.itt === 2)
    expect(r.expCmdSN).toBe(2)
    expect(t.sessions[0]!.commands).toBe(1)
  })

  it("evict: 'rst' resets the old session's connections", async () => {
    const t = await start({ evict: "rst" })
    const a = await loggedIn(t, { isid: ISID_A })
    await loggedIn(t, { isid: ISID_A })
    expect(await a.conn.ended()).toBe("rst")
    expect(t.reinstatements).toHaveLength(1)
  })

  it("another ISID, or the same ISID from another initiator, is another session: nobody is evicted", async () => {
    const t = await start()
    const a = await loggedIn(t, { isid: ISID_A })
    const b = await loggedIn(t, { isid: ISID_B })
    const c = await loggedIn(t, { isid: ISID_A, initiatorName: `${INITIATOR}-other` })
    await quiet(100)
    expect([a.conn.ending, b.conn.ending, c.conn.ending]).toEqual(["open", "open", "open"])
    expect(new Set([a.response.tsih, b.response.tsih, c.response.tsih]).size).toBe(3)
    expect(t.sessions).toHaveLength(3)
    expect(t.reinstatements).toHaveLength(0)
  })

  it("reinstate: false keeps both sessions with the same ISID (tgt's behaviour)", async () => {
    const t = await start({ reinstate: false })
    const a = await loggedIn(t, { isid: ISID_A })
    const b = await loggedIn(t, { isid: ISID_A })
    await quiet(100)
    expect(a.conn.ending).toBe("open")
    expect(t.sessions.map((s) => s.tsih)).toEqual([a.response.tsih, b.response.tsih])
    expect(t.reinstatements).toHaveLength(0)
  })

  it("each session has its own CmdSN numbering, window and counters", async () => {
    const t = await start()
    const a = await loggedIn(t, { isid: ISID_A, cmdSN: 1 })
    const b = await loggedIn(t, { isid: ISID_B, cmdSN: 1000 })
    expect(a.response.expCmdSN).toBe(1)
    expect(b.response.expCmdSN).toBe(1000)
    expect(b.response.maxCmdSN).toBe(1000 + 32 - 1)
    a.conn.send(tur(1, 1))
    a.conn.send(tur(2, 2))
    b.conn.send(tur(3, 1000))
    const ra = await a.conn.next("ScsiResponse", (r) => r.itt === 2)
    const rb = await b.conn.next("ScsiResponse", (r) => r.itt === 3)
    expect(ra.expCmdSN).toBe(3)
    expect(rb.expCmdSN).toBe(1001)
    const [sa, sb] = t.sessions
    expect([sa!.expCmdSN, sb!.expCmdSN]).toEqual([3, 1001])
    expect([sa!.commands, sb!.commands]).toEqual([2, 1])
    // t.expCmdSN is the most recent session's; t.window applies to every live session
    expect(t.expCmdSN).toBe(1001)
    t.window = 4
    b.conn.send(ping(4, 1001))
    expect((await b.conn.next("NopIn", (n) => n.itt === 4)).maxCmdSN).toBe(1001 + 4 - 1)
    expect(sa!.maxCmdSN).toBe(3 + 4 - 1)
  })

  it("a login with a known TSIH adds a connection to that session (MC/S): one CmdSN numbering", async () => {
    const t = await start()
    const a = await loggedIn(t, { isid: ISID_A })
    a.conn.send(tur(1, 1))
    await a.conn.next("ScsiResponse")
    const b = await loggedIn(t, { isid: ISID_A, tsih: a.response.tsih, cid: 1, cmdSN: 2 })
    expect(b.response.tsih).toBe(a.response.tsih)
    expect(b.response.expCmdSN).toBe(2) // the session's, not restarted by the login
    expect(t.sessions).toHaveLength(1)
    expect(t.sessions[0]!.connections.map((c) => c.cid)).toEqual([0, 1])
    expect(t.reinstatements).toHaveLength(0)
    b.conn.send(tur(2, 2))
    expect((await b.conn.next("ScsiResponse")).expCmdSN).toBe(3)
    a.conn.send(tur(3, 3))
    expect((await a.conn.next("ScsiResponse", (r) => r.itt === 3)).expCmdSN).toBe(4)
  })

  it("a login with an unknown TSIH, or a TSIH of another ISID, fails with 2/0x0a (session does not exist)", async () => {
    const t = await start()
    const a = await loggedIn(t, { isid: ISID_A })
    for (const o of [
      { isid: ISID_A, tsih: (a.response.tsih + 7) & 0xffff, cid: 1 },
      { isid: ISID_B, tsih: a.response.tsih, cid: 1 }
    ]) {
      const r = await login(t, o)
      conns.push(r.conn)
      expect([r.response.statusClass, r.response.statusDetail]).toEqual([2, 0x0a])
      expect(await r.conn.ended()).not.toBe("open")
    }
    expect(t.sessions[0]!.connections).toHaveLength(1)
    expect(a.conn.ending).toBe("open")
  })

  it("a connection with the CID of a live one (connection reinstatement) closes the old one", async () => {
    const t = await start()
    const a = await loggedIn(t, { isid: ISID_A })
    const b = await loggedIn(t, { isid: ISID_A, tsih: a.response.tsih, cid: 0 })
    expect(await a.conn.ended()).toBe("fin")
    expect(b.conn.ending).toBe("open")
    expect(t.sessions[0]!.live.map((c) => c.cid)).toEqual([0])
  })

  it("a session ends with its last connection (DefaultTime2Retain 0), or outlives it by DefaultTime2Retain", async () => {
    const t = await start({ time2Retain: 20 })
    const a = await loggedIn(t, { isid: ISID_A, time2Retain: 0 })
    a.conn.destroy()
    await a.conn.until(() => t.sessions.length === 0)
    expect(t.table.history[0]!.ended).toBe("connections closed")
    const b = await loggedIn(t, { isid: ISID_A })
    expect(t.reinstatements).toHaveLength(0)
    // no DefaultTime2Retain offered: the target's 20 s holds; a new login with the ISID reinstates it
    b.conn.destroy()
    await quiet(100)
    expect(t.sessions.map((s) => s.tsih)).toEqual([b.response.tsih])
    await loggedIn(t, { isid: ISID_A })
    expect(t.reinstatements.map((r) => r.evictedTsih)).toEqual([b.response.tsih])
  })

  it("logout reason 0 closes every connection of the session; reason 1 only its own", async () => {
    const t = await start()
    const a = await loggedIn(t, { isid: ISID_A })
    const b = await loggedIn(t, { isid: ISID_A, tsih: a.response.tsih, cid: 1 })
    const c = await loggedIn(t, { isid: ISID_A, tsih: a.response.tsih, cid: 2 })
    c.conn.send(logout(9, 1, 2, 1))
    await c.conn.next("LogoutResponse")
    expect(await c.conn.ended()).toBe("fin")
    expect(t.sessions).toHaveLength(1)
    a.conn.send(logout(10, 1, 0, 0))
    await a.conn.next("LogoutResponse")
    expect(await a.conn.ended()).toBe("fin")
    expect(await b.conn.ended()).toBe("fin")
    expect(t.sessions).toHaveLength(0)
    expect(t.table.history[0]!.ended).toBe("logout")
  })
})

describe("FakeTarget ordered delivery", () => {
  it("default (off): a command is processed on arrival whatever its CmdSN; ExpCmdSN moves only in order", async () => {
    const t = await start()
    const a = await loggedIn(t, { isid: ISID_A })
    a.conn.send(tur(2, 2))
    expect(await a.conn.next("ScsiResponse")).toMatchObject({ itt: 2, expCmdSN: 1 })
  })

  it("holds a later CmdSN (on another connection) until the earlier one arrives, then delivers in order", async () => {
    const t = await start({ orderedDelivery: true })
    const a = await loggedIn(t, { isid: ISID_A })
    const b = await loggedIn(t, { isid: ISID_A, tsih: a.response.tsih, cid: 1 })
    const s = t.sessions[0]!
    b.conn.send(tur(2, 2))
    b.conn.send(tur(3, 3))
    await quiet(100)
    expect(b.conn.statuses()).toEqual([])
    expect(s.held).toEqual([2, 3])
    // an immediate NOP-Out is answered at once, with the ExpCmdSN still waiting for CmdSN 1
    b.conn.send(ping(9, 1))
    expect(await b.conn.next("NopIn", (n) => n.itt === 9)).toMatchObject({ expCmdSN: 1, maxCmdSN: 32 })
    // an immediate command is delivered at once too, and moves nothing
    a.conn.send(tur(8, 1, true))
    expect(await a.conn.next("ScsiResponse", (r) => r.itt === 8)).toMatchObject({ expCmdSN: 1 })
    a.conn.send(tur(1, 1))
    expect(await a.conn.next("ScsiResponse", (r) => r.itt === 1)).toMatchObject({ expCmdSN: 2 })
    await b.conn.until(() => b.conn.statuses().length === 2)
    // each answered on the connection it came on, in CmdSN order, after CmdSN 1
    expect(b.conn.statuses().map((r) => [r.itt, r.expCmdSN])).toEqual([
      [2, 3],
      [3, 4]
    ])
    const order = t.sent("ScsiCommand").map((c) => c.itt)
    expect(order).toEqual([2, 3, 8, 1]) // arrival order; delivery was 8, 1, 2, 3
    expect(s.held).toEqual([])
    expect(s.commands).toBe(4)
  })

  it("a command lost in transit wedges the session: later ones held, NOP-Ins carry the stuck ExpCmdSN", async () => {
    const t = await start({
      orderedDelivery: true,
      // the real incident: the command is cut in transit and its connection reset
      dropCommand: (conn, pdu) => {
        if (pdu._tag === "ScsiCommand" && pdu.cmdSN === 1) {
          conn.reset()
          return true
        }
        return false
      }
    })
    const a = await loggedIn(t, { isid: ISID_A })
    const b = await loggedIn(t, { isid: ISID_A, tsih: a.response.tsih, cid: 1 })
    const s = t.sessions[0]!
    a.conn.send(tur(1, 1))
    expect(await a.conn.ended()).toBe("rst")
    b.conn.send(tur(2, 2))
    b.conn.send(tur(3, 3))
    for (let i = 0; i < 3; i++) {
      b.conn.send(ping(10 + i, 4))
      expect(await b.conn.next("NopIn", (n) => n.itt === 10 + i)).toMatchObject({ expCmdSN: 1, maxCmdSN: 32 })
    }
    expect(b.conn.statuses()).toEqual([])
    expect(s.held).toEqual([2, 3])
    expect(s.dropped).toBe(1)
    expect(t.dropped.map((d) => d.pdu._tag)).toEqual(["ScsiCommand"])
    expect(t.sent("ScsiCommand").map((c) => c.itt)).toEqual([2, 3]) // the lost one never arrived
    expect(t.sessions).toHaveLength(1) // b keeps the session alive
  })

  it("an immediate ABORT TASK for the lost CmdSN fills the hole (RFC 7143 §11.5.1): the held commands run", async () => {
    const t = await start({
      orderedDelivery: true,
      dropCommand: (_c, pdu) => pdu._tag === "ScsiCommand" && pdu.cmdSN === 1
    })
    const a = await loggedIn(t, { isid: ISID_A })
    const s = t.sessions[0]!
    a.conn.send(tur(1, 1))
    a.conn.send(tur(2, 2))
    a.conn.send(tur(3, 3))
    await a.conn.until(() => s.held.length === 2)
    a.conn.send(abortTask(20, 1, 1, 4))
    const tmf = await a.conn.next("TaskManagementResponse")
    expect(tmf).toMatchObject({ itt: 20, response: 0, expCmdSN: 4 })
    expect(a.conn.statuses().map((r) => [r.itt, r.expCmdSN])).toEqual([
      [2, 3],
      [3, 4]
    ])
    expect(a.conn.inbox.findIndex((p) => p._tag === "TaskManagementResponse")).toBeGreaterThan(
      a.conn.inbox.findIndex((p) => p._tag === "ScsiResponse" && p.itt === 3)
    )
    expect(s.skipped).toBe(1)
  })

  it("abortTaskFillsHole: false answers the ABORT TASK but the hole stays", async () => {
    const t = await start({
      orderedDelivery: true,
      abortTaskFillsHole: false,
      dropCommand: (_c, pdu) => pdu._tag === "ScsiCommand" && pdu.cmdSN === 1
    })
    const a = await loggedIn(t, { isid: ISID_A })
    a.conn.send(tur(1, 1))
    a.conn.send(tur(2, 2))
    a.conn.send(abortTask(20, 1, 1, 3))
    expect(await a.conn.next("TaskManagementResponse")).toMatchObject({ response: 0, expCmdSN: 1 })
    expect(t.sessions[0]!.held).toEqual([2])
  })

  it("ABORT TASK of a held command: it is skipped when its turn comes", async () => {
    const t = await start({ orderedDelivery: true })
    const a = await loggedIn(t, { isid: ISID_A })
    const s = t.sessions[0]!
    a.conn.send(tur(2, 2))
    a.conn.send(abortTask(20, 2, 2, 3))
    await a.conn.next("TaskManagementResponse")
    a.conn.send(tur(1, 1))
    await a.conn.next("ScsiResponse", (r) => r.itt === 1)
    await quiet(100)
    expect(a.conn.statuses().map((r) => r.itt)).toEqual([1])
    expect(s.expCmdSN).toBe(3)
    expect(s.skipped).toBe(1)
  })

  it("a held command whose connection closed counts as received but is not executed", async () => {
    const t = await start({ orderedDelivery: true })
    const a = await loggedIn(t, { isid: ISID_A })
    const b = await loggedIn(t, { isid: ISID_A, tsih: a.response.tsih, cid: 1 })
    const s = t.sessions[0]!
    b.conn.send(tur(2, 2))
    await b.conn.until(() => s.held.length === 1)
    b.conn.destroy()
    await a.conn.until(() => s.live.length === 1)
    a.conn.send(tur(1, 1))
    a.conn.send(tur(3, 3))
    expect(await a.conn.next("ScsiResponse", (r) => r.itt === 3)).toMatchObject({ expCmdSN: 4 })
    expect(a.conn.statuses().map((r) => r.itt)).toEqual([1, 3])
    expect(s.skipped).toBe(1)
    expect(s.commands).toBe(2)
  })

  it("non-immediate commands outside [ExpCmdSN, MaxCmdSN] and duplicates are silently ignored", async () => {
    const t = await start({ orderedDelivery: true, window: 2 })
    const a = await loggedIn(t, { isid: ISID_A })
    const s = t.sessions[0]!
    a.conn.send(tur(3, 3)) // beyond MaxCmdSN 2
    a.conn.send(tur(2, 2)) // held
    a.conn.send(tur(4, 2)) // a duplicate of a held CmdSN
    a.conn.send(tur(1, 1))
    a.conn.send(tur(5, 1)) // below ExpCmdSN now
    a.conn.send(ping(6, 3))
    await a.conn.next("NopIn", (n) => n.itt === 6)
    await quiet(50)
    expect(a.conn.statuses().map((r) => r.itt)).toEqual([1, 2])
    expect(s.ignored).toBe(3)
    expect(s.expCmdSN).toBe(3)
  })
})
