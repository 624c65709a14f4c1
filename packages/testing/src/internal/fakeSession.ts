/**
 * The fake target's sessions: one `FakeSession` per logged-in (InitiatorName, ISID) with its TSIH,
 * its own CmdSN numbering and window, its connections and counters, and the `SessionTable` that
 * creates, reinstates, joins and ends them.
 *
 * - Session reinstatement (RFC 7143 §6.3.5, §4.4.3): a leading login (TSIH 0) that completes with the
 *   (SessionType, InitiatorName, ISID) of a live session implicitly logs that session out: its
 *   connections are closed, its tasks and held commands dropped without a word to anyone, and the
 *   new session (new TSIH) takes its place. It happens when the new login succeeds, so a login that
 *   fails authentication evicts nobody. Discovery sessions are never reinstated.
 * - Ordered delivery (§4.2.2.1, §3.2.2.1): non-immediate commands go to the SCSI layer (the test's
 *   handler, then the default RAM disk) in CmdSN order across all connections of the session. A
 *   command ahead of ExpCmdSN is held until the missing ones arrive; ExpCmdSN moves only over
 *   delivered (or skipped) CmdSNs. Non-immediate commands outside [ExpCmdSN, MaxCmdSN], and
 *   duplicates, are silently ignored, as the RFC requires (counted in `ignored`). Immediate PDUs go
 *   through at once. A held command whose connection closed before its turn still counts as received
 *   (its CmdSN is passed over) but is not executed (ERL 0: its task died with the connection).
 * - ABORT TASK (§11.5.1, b): for a held task it aborts it (skipped when its turn comes); for a
 *   RefCmdSN inside the window, below the TMF's CmdSN and never received it considers that CmdSN
 *   received and advances ExpCmdSN over it: the one way an initiator can fill a hole left by a lost
 *   command without dropping the session (`abortTaskFillsHole: false` models a target that does not).
 *
 * Not here: the login exchange and the SCSI layer (the connection), DefaultTime2Retain beyond a
 * timer that ends a session left without connections, connection recovery (ERL 2), task reassignment.
 */
import * as Serial from "@effect-iscsi/core/Serial"
import type * as P from "@effect-iscsi/core/PduTypes"
import type { FakeConnection } from "./fakeConnection.ts"
import type { RamDisk } from "./fakeDisk.ts"

/** The PDUs numbered by CmdSN (RFC 7143 §3.2.2.1): what ordered delivery orders. */
export type CommandPdu = P.ScsiCommand | P.NopOut | P.TaskManagementRequest | P.TextRequest | P.LogoutRequest

export const isCommand = (pdu: P.Pdu): pdu is CommandPdu =>
  pdu._tag === "ScsiCommand" ||
  pdu._tag === "NopOut" ||
  pdu._tag === "TaskManagementRequest" ||
  pdu._tag === "TextRequest" ||
  pdu._tag === "LogoutRequest"

/** A non-immediate command received ahead of ExpCmdSN (or a CmdSN an ABORT TASK marked received). */
interface Held {
  readonly conn: FakeConnection
  readonly pdu: CommandPdu | undefined
  aborted: boolean
}

/** Why a session ended. */
export type EndReason = "reinstated" | "logout" | "connections closed" | "target closed"

/** One session: its identity, CmdSN state, connections and counters. */
export class FakeSession {
  /** The next CmdSN to deliver: ExpCmdSN in every PDU the target sends on this session. */
  expCmdSN: number
  /** Without ordered delivery: CmdSNs received (and delivered) ahead of ExpCmdSN. */
  private readonly receivedAhead = new Set<number>()
  /** Commands accepted ahead: MaxCmdSN = ExpCmdSN + window − 1 (0 closes it). */
  window: number
  /** Its connections in full feature phase, open or closed (closed ones stay for inspection). */
  readonly connections: Array<FakeConnection> = []
  /** SCSI Command PDUs delivered to the SCSI layer (handler or RAM disk), immediate ones included. */
  commands = 0
  /** Non-immediate command PDUs ignored: outside the CmdSN window, or duplicates (§4.2.2.1). */
  ignored = 0
  /** Command PDUs lost in transit (the `dropCommand` option): never seen by the target. */
  dropped = 0
  /** CmdSNs passed over without delivery: aborted while held, holes filled by ABORT TASK, or their connection closed while held. */
  skipped = 0
  /** Undefined while live; why it ended otherwise. */
  ended: EndReason | undefined
  /** @internal held commands by CmdSN (ordered delivery). */
  private readonly queue = new Map<number, Held>()
  /** DefaultTime2Retain of its leading login (seconds): how long it outlives its last connection. */
  time2Retain = 0
  /** @internal the DefaultTime2Retain timer while the session has no connection. */
  retainTimer: ReturnType<typeof setTimeout> | undefined
  /**
   * Unit Attention conditions pending on this I_T nexus, per logical unit (its RAM disk), oldest
   * first: each is reported once, on the next command to that logical unit other than INQUIRY,
   * REPORT LUNS and REQUEST SENSE (SAM-5 §5.14).
   */
  readonly unitAttentions: Array<{ readonly disk: RamDisk; readonly asc: number; readonly ascq: number }> = []

  constructor(
    readonly sessionType: "Normal" | "Discovery",
    readonly initiatorName: string,
    /** The 48-bit ISID. */
    readonly isid: number,
    /** The target-assigned session handle. */
    readonly tsih: number,
    /** The CmdSN of the leading login: the first command's number. */
    cmdSN: number,
    window: number,
    /** Deliver non-immediate commands in CmdSN order (else at once, ExpCmdSN moving only when in order). */
    readonly orderedDelivery: boolean,
    /** An immediate ABORT TASK for a CmdSN never received fills that hole (§11.5.1 b). */
    readonly abortTaskFillsHole: boolean
  ) {
    this.expCmdSN = cmdSN
    this.window = window
  }

  get maxCmdSN(): number {
    return (this.expCmdSN + this.window - 1) >>> 0
  }

  /** Connections in full feature phase and still open. */
  get live(): ReadonlyArray<FakeConnection> {
    return this.connections.filter((c) => c.phase === "full" && !c.socket.destroyed)
  }

  /** CmdSNs of the commands held for ordered delivery, lowest first. */
  get held(): ReadonlyArray<number> {
    return [...this.queue.keys()].sort((a, b) => Serial.diff(a, b))
  }

  /**
   * A command PDU arrived on `conn`: deliver it now, or hold it until its turn (ordered delivery),
   * or ignore it. `deliver` is the SCSI layer.
   */
  arrive(conn: FakeConnection, pdu: CommandPdu, deliver: (conn: FakeConnection, pdu: CommandPdu) => void): void {
    if (pdu.immediate) {
      if (pdu._tag === "TaskManagementRequest" && pdu.function === 1) this.abortTask(conn, pdu, deliver)
      return deliver(conn, pdu)
    }
    if (!this.orderedDelivery) {
      // delivered at once; ExpCmdSN still acknowledges receipt: it moves over the CmdSNs received
      // without a gap (commands spread over MC/S connections arrive out of order)
      const sn = pdu.cmdSN
      if (sn === this.expCmdSN) {
        this.expCmdSN = Serial.add(sn, 1)
        while (this.receivedAhead.delete(this.expCmdSN)) this.expCmdSN = Serial.add(this.expCmdSN, 1)
      } else if (Serial.gt(sn, this.expCmdSN)) this.receivedAhead.add(sn)
      return deliver(conn, pdu)
    }
    const sn = pdu.cmdSN
    if (!Serial.inWindow(sn, this.expCmdSN, this.maxCmdSN) || this.queue.has(sn)) {
      this.ignored++
      return
    }
    if (sn !== this.expCmdSN) {
      this.queue.set(sn, { conn, pdu, aborted: false })
      return
    }
    this.expCmdSN = Serial.add(sn, 1)
    deliver(conn, pdu)
    this.drain(deliver)
  }

  /** Deliver the held commands that are now in turn. */
  private drain(deliver: (conn: FakeConnection, pdu: CommandPdu) => void): void {
    for (let h = this.queue.get(this.expCmdSN); h !== undefined; h = this.queue.get(this.expCmdSN)) {
      this.queue.delete(this.expCmdSN)
      this.expCmdSN = Serial.add(this.expCmdSN, 1)
      if (h.pdu === undefined || h.aborted || h.conn.phase === "closed") this.skipped++
      else deliver(h.conn, h.pdu)
    }
  }

  /**
   * The CmdSN side of an immediate ABORT TASK (§11.5.1): abort the referenced task while it is held,
   * or fill the hole its RefCmdSN names. Returns true when it changed anything.
   */
  private abortTask(
    conn: FakeConnection,
    tmf: P.TaskManagementRequest,
    deliver: (conn: FakeConnection, pdu: CommandPdu) => void
  ): boolean {
    if (!this.orderedDelivery) return false
    for (const h of this.queue.values()) {
      if (h.pdu !== undefined && h.pdu.itt === tmf.referencedTaskTag && !h.aborted) {
        h.aborted = true
        return true
      }
    }
    const ref = tmf.refCmdSN
    if (
      this.abortTaskFillsHole &&
      Serial.inWindow(ref, this.expCmdSN, this.maxCmdSN) &&
      Serial.lt(ref, tmf.cmdSN) &&
      !this.queue.has(ref)
    ) {
      this.queue.set(ref, { conn, pdu: undefined, aborted: true })
      this.drain(deliver)
      return true
    }
    return false
  }

  /** @internal forget every held command (the session is gone). */
  clear(): void {
    this.queue.clear()
  }
}

/** One session reinstatement: who was evicted by whom. */
export interface Reinstatement {
  readonly initiatorName: string
  readonly isid: number
  /** The TSIH of the evicted session. */
  readonly evictedTsih: number
  /** The TSIH of the session that replaced it. */
  readonly tsih: number
  /** The evicted session (its counters as they were, its closed connections). */
  readonly evicted: FakeSession
}

/** What a leading login asks for. */
export interface OpenRequest {
  readonly sessionType: "Normal" | "Discovery"
  readonly initiatorName: string
  readonly isid: number
  readonly cmdSN: number
  readonly window: number
  readonly orderedDelivery: boolean
  readonly abortTaskFillsHole: boolean
  /** Reinstate a live session with the same (SessionType, InitiatorName, ISID) (default RFC behaviour). */
  readonly reinstate: boolean
  /** How the evicted session's connections are closed. */
  readonly evict: "fin" | "rst"
}

/** The live sessions by TSIH, and the record of reinstatements. */
export class SessionTable {
  private readonly byTsih = new Map<number, FakeSession>()
  /** Every session reinstatement so far, in order. */
  readonly reinstatements: Array<Reinstatement> = []
  /** Every session ever opened, in order (ended ones included). */
  readonly history: Array<FakeSession> = []
  private nextTsih = 0x100

  /** Live sessions, oldest first. */
  get live(): ReadonlyArray<FakeSession> {
    return [...this.byTsih.values()]
  }

  /** The most recently opened session (live or not). */
  get latest(): FakeSession | undefined {
    return this.history[this.history.length - 1]
  }

  /** The live session with this TSIH. */
  find(tsih: number): FakeSession | undefined {
    return this.byTsih.get(tsih)
  }

  /** A leading login completed: a new session, reinstating (evicting) a live one with the same identity. */
  open(req: OpenRequest): FakeSession {
    const old =
      req.reinstate && req.sessionType === "Normal"
        ? this.live.find(
            (s) => s.sessionType === "Normal" && s.initiatorName === req.initiatorName && s.isid === req.isid
          )
        : undefined
    const session = new FakeSession(
      req.sessionType,
      req.initiatorName,
      req.isid,
      this.allocateTsih(),
      req.cmdSN,
      req.window,
      req.orderedDelivery,
      req.abortTaskFillsHole
    )
    if (old !== undefined) {
      this.end(old, "reinstated")
      for (const c of old.connections) {
        if (req.evict === "rst") c.reset()
        else c.close()
      }
      this.reinstatements.push({
        initiatorName: req.initiatorName,
        isid: req.isid,
        evictedTsih: old.tsih,
        tsih: session.tsih,
        evicted: old
      })
    }
    this.byTsih.set(session.tsih, session)
    this.history.push(session)
    return session
  }

  /** Remove a session from the table (its connections are the caller's business). */
  end(session: FakeSession, reason: EndReason): void {
    if (session.ended !== undefined) return
    session.ended = reason
    session.clear()
    if (session.retainTimer !== undefined) clearTimeout(session.retainTimer)
    session.retainTimer = undefined
    this.byTsih.delete(session.tsih)
  }

  private allocateTsih(): number {
    for (;;) {
      const t = this.nextTsih
      this.nextTsih = t >= 0xffff ? 1 : t + 1
      if (!this.byTsih.has(t)) return t
    }
  }
}
