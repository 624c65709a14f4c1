/**
 * The synchronous heart of the session engine: per-session sequence state (ITT allocation, CmdSN
 * window), per-connection state (ExpStatSN, framer, outbox), PDU routing by ITT and every task's
 * state machine (SCSI command with Data-In/R2T/Data-Out, task management, text, NOP ping, logout).
 *
 * Everything here runs synchronously (received bytes from the transport's read callback in push
 * mode, or from a reader fiber; submissions from the submitting fiber), with no Effect per PDU:
 * this is the hot path (see
 * packages/core/benchmark and RESULTS.md). The Effect shell lives in `../Session.ts`: it owns the
 * fibers, the scopes and the timers, and turns task completions into Effect results.
 *
 * RFC 7143 sections: §4.2.2 (numbering and windowing), §11.3–11.8 (SCSI command, response, Data-In,
 * Data-Out, R2T), §11.5–11.6 (TMF), §11.9 (Async), §11.10–11.11 (Text), §11.14–11.15 (Logout),
 * §11.17 (Reject), §11.18–11.19 (NOP).
 */
import type * as Crc32c from "../Crc32c.ts"
import type { Placer } from "../Framer.ts"
import * as IscsiError from "../IscsiError.ts"
import * as Pdu from "../Pdu.ts"
import { RESERVED_TAG } from "../PduTypes.ts"
import type * as P from "../PduTypes.ts"
import type { ScsiRequest, ScsiResult } from "../ScsiTransport.ts"
import * as Serial from "../Serial.ts"
import * as TextExchange from "../TextExchange.ts"
import type * as TextKeys from "../TextKeys.ts"
import { Histogram } from "./histogram.ts"
import { IoVector } from "./iov.ts"

/** The negotiated values the engine reads (a subset of Negotiation.OperationalParameters). */
export interface EngineParams {
  readonly headerDigest: boolean
  readonly dataDigest: boolean
  /** Bounds every PDU we send (the target's MaxRecvDataSegmentLength). */
  readonly maxXmitDataSegmentLength: number
  readonly maxRecvDataSegmentLength: number
  readonly firstBurstLength: number
  readonly maxBurstLength: number
  readonly initialR2T: boolean
  readonly immediateData: boolean
  readonly maxOutstandingR2T: number
}

export type Completion<A> = (
  result: { readonly _tag: "ok"; readonly value: A } | { readonly _tag: "err"; readonly error: IscsiError.IscsiError }
) => void

const protocol = (message: string) => IscsiError.make(new IscsiError.ProtocolError({ message }))

export type Outcome<A> = Parameters<Completion<A>>[0]

/**
 * A unit of work that owns an ITT until it is released; it delivers its outcome once, through `done`.
 * `Task` alone (A = never) is "any task": every `Task<X>` is assignable to it.
 */
export abstract class Task<A = never> {
  constructor(private readonly done: Completion<A>) {}
  itt = 0
  /** Submission order (set with the ITT). */
  seq = 0
  conn: Conn | undefined
  cmdSN = 0
  sent = false
  finished = false
  /**
   * Given up (interrupted, timed out, or failed by the engine) while the target may still hold it:
   * its PDUs are dropped until the abort completes and frees the ITT, except the R2Ts of a write,
   * which are still answered (see `ScsiTask.answerR2T`).
   */
  abandoned = false
  abstract readonly immediate: boolean
  /** Build and enqueue the PDU(s) of this task on `conn` (called once the window allows). */
  abstract start(conn: Conn): void
  /** A target PDU carrying this task's ITT. */
  abstract onPdu(pdu: P.TargetPdu): void
  /** Deliver the outcome (once): marks the task finished and frees its ITT unless `release` is false. */
  protected finish(result: Outcome<A>, release = true): void {
    if (this.finished) return
    this.finished = true
    this.conn?.relinquish(this)
    if (release) this.conn?.session.release(this)
    this.done(result)
  }
  /** Fail the task (connection lost, reject, shutdown). */
  fail(error: IscsiError.IscsiError): void {
    this.finish({ _tag: "err", error })
  }
}

/**
 * The tasks of a session by ITT: a slot table, not a `Map`. ITT = generation (12 bits) << 20 | slot
 * (20 bits); slots are handed out round-robin, so an ITT comes back only after 4096 rounds of its
 * slot, and a PDU with a stale ITT finds no task. (A `Map` keyed by ever-new ITTs rehashes every few
 * dozen commands, and with a program's own module graph around it V8 then promoted ~11 MB of
 * per-command objects per young-generation GC: npm run bench, 4 KiB QD32 through the public API.)
 * `values()`/`keys()` list the tasks in submission order.
 */
export class TaskTable {
  static readonly MAX = 1 << 20
  private slots: Array<Task | undefined> = new Array<Task | undefined>(64).fill(undefined)
  private gens: Array<number> = new Array<number>(64).fill(0)
  private next = 0
  private seq = 0
  size = 0

  /** Register `task` under a fresh ITT (written to `task.itt`); false when MAX tasks are registered. */
  add(task: Task): boolean {
    if (this.size >= this.slots.length) {
      const n = this.slots.length
      if (n >= TaskTable.MAX) return false
      const m = Math.min(2 * n, TaskTable.MAX)
      for (let i = n; i < m; i++) {
        this.slots.push(undefined)
        this.gens.push(0)
      }
      this.next = n
    }
    const slots = this.slots
    let i = this.next
    while (slots[i] !== undefined) i = i + 1 === slots.length ? 0 : i + 1
    let gen = (this.gens[i]! + 1) & 0xfff
    let itt = ((gen << 20) | i) >>> 0
    if (itt === RESERVED_TAG) {
      gen = (gen + 1) & 0xfff
      itt = ((gen << 20) | i) >>> 0
    }
    this.gens[i] = gen
    slots[i] = task
    task.itt = itt
    task.seq = this.seq++
    this.size++
    this.next = i + 1 === slots.length ? 0 : i + 1
    return true
  }

  get(itt: number): Task | undefined {
    const t = this.slots[itt & 0xfffff]
    return t !== undefined && t.itt === itt ? t : undefined
  }

  has(itt: number): boolean {
    return this.get(itt) !== undefined
  }

  delete(itt: number): boolean {
    const i = itt & 0xfffff
    const t = this.slots[i]
    if (t === undefined || t.itt !== itt) return false
    this.slots[i] = undefined
    this.size--
    return true
  }

  /** The registered tasks, in submission order (a new array). */
  values(): Array<Task> {
    const out: Array<Task> = []
    for (let i = 0; i < this.slots.length; i++) {
      const t = this.slots[i]
      if (t !== undefined) out.push(t)
    }
    return out.sort((a, b) => a.seq - b.seq)
  }

  keys(): Array<number> {
    return this.values().map((t) => t.itt)
  }
}

/** A session's counters (see `SessionState.stats`). */
export interface Counters {
  /** SCSI commands submitted. */
  commands: number
  /** SCSI commands the target answered with a status (any status). */
  completed: number
  /** PDUs and bytes on the wire, every connection of the session (digests and padding included). */
  pdusIn: number
  pdusOut: number
  bytesIn: number
  bytesOut: number
  /** Commands that waited for the CmdSN window to open. */
  windowWaits: number
  /** R2Ts received. */
  r2ts: number
  /** Header or data digest errors we detected (each drops its connection at ErrorRecoveryLevel 0). */
  digestErrors: number
  /** Rejects with reason "data digest error": the target found a digest error in what we sent. */
  targetDigestErrors: number
  /** Reject PDUs received (any reason). */
  rejects: number
  /** Commands re-issued on another connection of the session (MC/S failover). */
  reissued: number
  /** ABORT TASKs sent for tasks given up on (interrupted, timed out, broken). */
  aborts: number
  /** Connections logged in (the leading one and every MC/S one). */
  logins: number
  /** Connections lost (not removed or logged out). */
  connectionLosses: number
  /** NOP-Out pings we sent (keepalive, window and CmdSN-hole probes). */
  nopPings: number
}

/** One connection's traffic (see `Conn.stats`). */
export interface ConnCounters {
  pdusIn: number
  pdusOut: number
  bytesIn: number
  bytesOut: number
}

/** Session-wide sequence state: one owner, never exposed. */
export class SessionState {
  cmdSN: number
  expCmdSN: number
  maxCmdSN: number
  readonly tasks = new TaskTable()
  /** Non-immediate tasks waiting for the CmdSN window to open (FIFO). */
  readonly waiting: Array<Task> = []
  readonly conns: Array<Conn> = []
  closed: IscsiError.IscsiError | undefined
  /** Called when the window is closed and someone waits (the shell pings to reopen it). */
  onWindowClosed: () => void = () => {}
  /** Unsolicited events (async messages, unroutable PDUs, rejects without a task). */
  onEvent: (event: EngineEvent) => void = () => {}
  /** A connection died (the shell decides: recovery or failure). */
  onConnectionDead: (conn: Conn, error: IscsiError.IscsiError) => void = () => {}
  /** A SCSI task ended in CHECK CONDITION with sense data (the shell reports Unit Attentions). */
  onCheckCondition: (lun: bigint, sense: Uint8Array) => void = () => {}
  /**
   * Counters for observability, plain numbers bumped where things happen (no Effect per PDU): the
   * session's `stats` copies them, `Telemetry` reads them when metrics are exported. `completed`:
   * SCSI commands the target answered with a status (any status): a session that failed with none
   * completed failed "right after login" (see Recurrence).
   */
  readonly stats: Counters = {
    commands: 0,
    completed: 0,
    pdusIn: 0,
    pdusOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    windowWaits: 0,
    r2ts: 0,
    digestErrors: 0,
    targetDigestErrors: 0,
    rejects: 0,
    reissued: 0,
    aborts: 0,
    logins: 0,
    connectionLosses: 0,
    nopPings: 0
  }
  /** Round-trip times of our NOP-Out pings (seconds). */
  readonly nopRtt = new Histogram()

  constructor(cmdSN: number, expCmdSN: number, maxCmdSN: number) {
    this.cmdSN = cmdSN
    this.expCmdSN = expCmdSN
    this.maxCmdSN = maxCmdSN
  }

  windowOpen(): boolean {
    return Serial.lte(this.cmdSN, this.maxCmdSN)
  }

  /** RFC 7143 §4.2.2.1: take ExpCmdSN/MaxCmdSN from every target PDU, forward only, ignore nonsense. */
  updateWindow(expCmdSN: number, maxCmdSN: number): void {
    if (Serial.lt(maxCmdSN, Serial.add(expCmdSN, -1))) return
    if (Serial.gt(expCmdSN, this.expCmdSN)) this.expCmdSN = expCmdSN
    if (Serial.gt(maxCmdSN, this.maxCmdSN)) this.maxCmdSN = maxCmdSN
    if (this.waiting.length > 0) this.drainWaiting()
  }

  /** Pick the live connection with the fewest tasks (MC/S); undefined when none. */
  pickConn(): Conn | undefined {
    let best: Conn | undefined
    for (const c of this.conns) {
      if (c.dead !== undefined || c.loggingOut) continue
      if (best === undefined || c.active < best.active) best = c
    }
    return best
  }

  /** Register and start a task now, or queue it until the window opens. */
  submit(task: Task, conn?: Conn): void {
    if (this.closed) return task.fail(this.closed)
    if (!this.tasks.add(task)) {
      return task.fail(
        IscsiError.make(
          new IscsiError.InvalidArgument({ message: `more than ${TaskTable.MAX} tasks at once on one session` })
        )
      )
    }
    if (task.immediate) {
      const c = conn ?? this.pickConn()
      if (c === undefined) return this.failTask(task, noConnection())
      this.startOn(task, c, this.cmdSN)
      return
    }
    if (this.waiting.length === 0 && this.windowOpen()) {
      const c = conn ?? this.pickConn()
      if (c === undefined) return this.failTask(task, noConnection())
      const cmdSN = this.cmdSN
      this.cmdSN = Serial.add(cmdSN, 1)
      this.startOn(task, c, cmdSN)
      return
    }
    if (conn !== undefined) task.conn = conn
    this.stats.windowWaits++
    this.waiting.push(task)
    this.onWindowClosed()
  }

  private startOn(task: Task, conn: Conn, cmdSN: number): void {
    task.conn = conn
    task.cmdSN = cmdSN
    task.sent = true
    conn.active++
    task.start(conn)
  }

  drainWaiting(): void {
    while (this.waiting.length > 0 && this.windowOpen()) {
      const task = this.waiting.shift()!
      const c = task.conn !== undefined && task.conn.dead === undefined ? task.conn : this.pickConn()
      if (c === undefined) {
        this.failTask(task, noConnection())
        continue
      }
      const cmdSN = this.cmdSN
      this.cmdSN = Serial.add(cmdSN, 1)
      this.startOn(task, c, cmdSN)
    }
  }

  /** Tasks whose outcome a caller still waits for (not finished, not abandoned). */
  awaited(): number {
    let n = 0
    for (const t of this.tasks.values()) if (!t.finished && !t.abandoned) n++
    return n
  }

  /** Remove a task that never started from the window queue; true when it was there. */
  unqueue(task: Task): boolean {
    const i = this.waiting.indexOf(task)
    if (i < 0) return false
    this.waiting.splice(i, 1)
    return true
  }

  /** Free the task's ITT. */
  release(task: Task): void {
    task.conn?.relinquish(task)
    if (this.tasks.get(task.itt) === task) this.tasks.delete(task.itt)
    if (task.sent && task.conn !== undefined) {
      task.conn.active--
      task.sent = false
    }
  }

  failTask(task: Task, error: IscsiError.IscsiError): void {
    this.release(task)
    task.fail(error)
  }

  /** Close the session: every task and waiter fails with `error`; later submissions too. */
  close(error: IscsiError.IscsiError): void {
    if (this.closed) return
    this.closed = error
    const waiting = this.waiting.splice(0)
    for (const t of waiting) this.failTask(t, error)
    for (const t of [...this.tasks.values()]) this.failTask(t, error)
  }
}

const noConnection = () =>
  IscsiError.make(new IscsiError.ConnectionLost({ message: "no live connection in the session" }))

export type EngineEvent =
  | { readonly _tag: "AsyncMessage"; readonly cid: number; readonly message: P.AsyncMessage }
  | { readonly _tag: "Reject"; readonly cid: number; readonly reason: number; readonly itt: number }
  | { readonly _tag: "Unroutable"; readonly cid: number; readonly opcode: string; readonly itt: number }
  | { readonly _tag: "NopReply"; readonly cid: number; readonly ttt: number }

/**
 * One connection of a session: its ExpStatSN, framer output, outbox and liveness. It is also the
 * framer's `Placer`: a Data-In segment that straddles socket reads is written straight into the
 * reading task's buffer (no assembly, no second copy; the transport may read it there directly).
 */
export class Conn implements Placer {
  expStatSN = 0
  active = 0
  /** This connection's traffic (the session's counters count it too). */
  readonly stats: ConnCounters = { pdusIn: 0, pdusOut: 0, bytesIn: 0, bytesOut: 0 }
  dead: IscsiError.IscsiError | undefined
  loggingOut = false
  /** Batches of PDUs received so far (the keepalive watches it change). */
  received = 0
  /** Enqueue frames for the writer (set by the shell: offers to the writer's Queue). */
  write: (frames: ReadonlyArray<Uint8Array>) => void = () => {}
  /** The task whose buffer the framer writes a Data-In segment into now, and that view. */
  private placing: Task | undefined = undefined
  private placingDest: Uint8Array | undefined = undefined
  /**
   * Set by the shell: stop writing into the current placement (the framer drops the rest of the
   * segment, the transport stops reading into it).
   */
  onRevoke: () => void = () => {}
  readonly digest: Pdu.DigestOptions

  constructor(
    readonly cid: number,
    readonly session: SessionState,
    readonly params: EngineParams,
    crc32c: Crc32c.Fn | undefined,
    statSN: number
  ) {
    this.expStatSN = Serial.add(statSN, 1)
    this.digest = { headerDigest: params.headerDigest, dataDigest: params.dataDigest, crc32c }
  }

  /** `Framer.Placer`: where the data of the Data-In BHS at b[o] goes (a view of its task's buffer). */
  place(b: Uint8Array, o: number, dsl: number): Uint8Array | undefined {
    if (this.dead !== undefined) return undefined
    const task = this.session.tasks.get(readU32(b, o + 16))
    if (!(task instanceof ScsiTask) || task.conn !== this || task.finished || task.abandoned) return undefined
    const dest = task.placement(readU32(b, o + 40), dsl)
    if (dest === undefined) return undefined
    this.placing = task
    this.placingDest = dest
    return dest
  }

  /**
   * `task` no longer owns its buffer (it finished, failed, or was cancelled): when a Data-In segment
   * is being placed in it, stop writing there. Every path that ends a task passes here.
   */
  relinquish(task: Task): void {
    if (this.placing !== task) return
    this.placing = undefined
    this.placingDest = undefined
    this.onRevoke()
  }

  send(pdu: P.InitiatorPdu): void {
    if (this.dead !== undefined) return
    const frames = Pdu.encodeFrames(pdu, this.digest)
    this.session.stats.pdusOut++
    this.stats.pdusOut++
    this.write(frames)
  }

  /** `send` with the data segment given as pieces (scatter-gather): each piece is written as it is. */
  sendVector(pdu: P.InitiatorPdu, segment: ReadonlyArray<Uint8Array>): void {
    if (this.dead !== undefined) return
    const frames = Pdu.encodeFramesVector(pdu, segment, this.digest)
    this.session.stats.pdusOut++
    this.stats.pdusOut++
    this.write(frames)
  }

  /** Handle a batch of decoded PDUs (one socket read's worth). */
  receive(pdus: ReadonlyArray<P.Pdu>): void {
    this.received++
    const s = this.session
    s.stats.pdusIn += pdus.length
    this.stats.pdusIn += pdus.length
    for (let i = 0; i < pdus.length; i++) {
      if (this.dead !== undefined) return
      this.handle(pdus[i]!)
    }
  }

  private handle(pdu: P.Pdu): void {
    const s = this.session
    switch (pdu._tag) {
      case "ScsiDataIn": {
        if (this.placingDest !== undefined && pdu.data === this.placingDest) {
          // the placed segment is complete: its task takes it from here
          this.placing = undefined
          this.placingDest = undefined
        }
        s.updateWindow(pdu.expCmdSN, pdu.maxCmdSN)
        if (pdu.statusPresent) this.advanceStatSN(pdu.statSN)
        return this.route(pdu.itt, pdu)
      }
      case "ScsiResponse":
      case "TaskManagementResponse":
      case "TextResponse":
      case "LogoutResponse": {
        s.updateWindow(pdu.expCmdSN, pdu.maxCmdSN)
        this.advanceStatSN(pdu.statSN)
        return this.route(pdu.itt, pdu)
      }
      case "ReadyToTransfer": {
        // R2T carries the next StatSN and does not advance it
        s.stats.r2ts++
        s.updateWindow(pdu.expCmdSN, pdu.maxCmdSN)
        return this.route(pdu.itt, pdu)
      }
      case "NopIn": {
        s.updateWindow(pdu.expCmdSN, pdu.maxCmdSN)
        if (pdu.itt !== RESERVED_TAG) this.advanceStatSN(pdu.statSN)
        if (pdu.ttt !== RESERVED_TAG) {
          // target ping: answer with ITT 0xffffffff, same TTT and LUN, immediate, CmdSN not advanced
          this.send({
            _tag: "NopOut",
            immediate: true,
            lun: pdu.lun,
            itt: RESERVED_TAG,
            ttt: pdu.ttt,
            cmdSN: s.cmdSN,
            expStatSN: this.expStatSN,
            data: pdu.data.length > 0 ? pdu.data.slice(0, this.params.maxXmitDataSegmentLength) : new Uint8Array(0)
          })
          s.onEvent({ _tag: "NopReply", cid: this.cid, ttt: pdu.ttt })
        }
        if (pdu.itt !== RESERVED_TAG) this.route(pdu.itt, pdu)
        return
      }
      case "AsyncMessage": {
        s.updateWindow(pdu.expCmdSN, pdu.maxCmdSN)
        this.advanceStatSN(pdu.statSN)
        // data may be a view of a reused receive buffer: copy what outlives this call
        s.onEvent({ _tag: "AsyncMessage", cid: this.cid, message: { ...pdu, data: pdu.data.slice() } })
        return
      }
      case "Reject": {
        s.stats.rejects++
        if (pdu.reason === 0x02) s.stats.targetDigestErrors++
        s.updateWindow(pdu.expCmdSN, pdu.maxCmdSN)
        this.advanceStatSN(pdu.statSN)
        const itt = pdu.data.length >= 20 ? readU32(pdu.data, 16) : RESERVED_TAG
        const task = itt !== RESERVED_TAG ? s.tasks.get(itt) : undefined
        if (task !== undefined && task.conn === this && !task.abandoned) {
          s.failTask(task, rejectError(pdu.reason))
        } else {
          s.onEvent({ _tag: "Reject", cid: this.cid, reason: pdu.reason, itt })
        }
        return
      }
      case "LoginResponse":
        return this.kill(protocol("Login Response in full feature phase"))
      default:
        return this.kill(protocol(`unexpected PDU from target: ${pdu._tag}`))
    }
  }

  private advanceStatSN(statSN: number): void {
    if (Serial.gte(statSN, this.expStatSN)) this.expStatSN = Serial.add(statSN, 1)
  }

  private route(itt: number, pdu: P.TargetPdu): void {
    const task = this.session.tasks.get(itt)
    if (task === undefined || task.conn !== this) {
      this.session.onEvent({ _tag: "Unroutable", cid: this.cid, opcode: pdu._tag, itt })
      return
    }
    if (task.abandoned) {
      // given up: the target may still finish it; nothing to deliver. But a write whose abort is
      // pending keeps answering R2Ts: a target may act on ABORT TASK only once the Data-Out it
      // asked for has arrived, and wait for it meanwhile (issue 15)
      if (pdu._tag === "ReadyToTransfer" && task instanceof ScsiTask) task.answerR2T(pdu)
      return
    }
    task.onPdu(pdu)
  }

  /** Mark the connection dead (idempotent); the shell closes the socket and decides what follows. */
  kill(error: IscsiError.IscsiError): void {
    if (this.dead !== undefined) return
    this.dead = error
    if (this.placing !== undefined) this.relinquish(this.placing)
    this.session.onConnectionDead(this, error)
  }
}

const readU32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0

const REJECT_REASONS: Record<number, string> = {
  0x02: "data (payload) digest error",
  0x03: "SNACK reject",
  0x04: "protocol error",
  0x05: "command not supported",
  0x06: "immediate command reject: too many immediate commands",
  0x07: "task in progress",
  0x08: "invalid data ACK",
  0x09: "invalid PDU field",
  0x0a: "long operation reject: out of resources",
  0x0b: "deprecated (negotiation reset)",
  0x0c: "waiting for logout"
}

export const rejectError = (reason: number): IscsiError.IscsiError => {
  const description = REJECT_REASONS[reason] ?? `reason 0x${reason.toString(16)}`
  return IscsiError.make(
    new IscsiError.PduRejected({ reason, description, message: `target rejected the PDU: ${description}` })
  )
}

const EMPTY = new Uint8Array(0)
const SCSI_STATUS_GOOD = 0
const SCSI_STATUS_CHECK_CONDITION = 2

/**
 * A SCSI task's outcome: a class, not a literal, so V8 never pretenures results that callers keep
 * for a while (see `ScsiTransport.request`).
 */
class Result implements ScsiResult {
  constructor(
    readonly status: number,
    readonly data: Uint8Array,
    readonly sense: Uint8Array | undefined,
    readonly response: number,
    readonly underflow: boolean,
    readonly overflow: boolean,
    readonly residualCount: number,
    readonly bidiUnderflow: boolean,
    readonly bidiOverflow: boolean,
    readonly bidiResidualCount: number
  ) {}
}

/**
 * A SCSI command: submission, immediate/unsolicited data, R2T → Data-Out, Data-In reassembly, status.
 * With scatter-gather buffers (`dataOutIov` / `readIntoIov`) the Data-Out PDUs carry views of the
 * buffers (a PDU across a boundary is written as one view per buffer) and Data-In goes to its offset
 * across them (placed straight into a buffer when one holds the whole segment, copied otherwise).
 */
export class ScsiTask extends Task<ScsiResult> {
  readonly immediate = false
  private readonly readBuf: Uint8Array
  private readonly expectedRead: number
  private highWater = 0
  private expDataSN = 0
  private readonly dataOut: Uint8Array
  /** Bytes to send: `dataOut.length`, or the scatter-gather total. */
  private readonly outLength: number
  private readonly outVector: IoVector | undefined
  private readonly inVector: IoVector | undefined
  private outstandingR2T = 0

  constructor(
    readonly lun: bigint,
    readonly request: ScsiRequest,
    done: Completion<ScsiResult>
  ) {
    super(done)
    const wantsRead = request.direction === "read" || request.direction === "bidirectional"
    const wantsWrite = request.direction === "write" || request.direction === "bidirectional"
    this.expectedRead = wantsRead ? (request.readLength ?? 0) : 0
    this.inVector =
      this.expectedRead > 0 && request.readIntoIov !== undefined ? new IoVector(request.readIntoIov) : undefined
    this.readBuf =
      this.expectedRead === 0 || this.inVector !== undefined
        ? EMPTY
        : request.readInto !== undefined && request.readInto.length >= this.expectedRead
          ? request.readInto
          : new Uint8Array(this.expectedRead)
    this.outVector = wantsWrite && request.dataOutIov !== undefined ? new IoVector(request.dataOutIov) : undefined
    this.dataOut = wantsWrite && this.outVector === undefined ? (request.dataOut ?? EMPTY) : EMPTY
    this.outLength = this.outVector !== undefined ? this.outVector.length : this.dataOut.length
  }

  start(conn: Conn): void {
    const p = conn.params
    const out = this.dataOut
    const total = this.outLength
    const maxPdu = p.maxXmitDataSegmentLength
    let immediateLen = 0
    if (total > 0 && p.immediateData) immediateLen = Math.min(total, p.firstBurstLength, maxPdu)
    const unsolicitedLimit = p.initialR2T ? immediateLen : Math.min(total, p.firstBurstLength)
    const unsolicitedDataOut = unsolicitedLimit > immediateLen
    const isRead = this.request.direction === "read" || this.request.direction === "bidirectional"
    const isWrite = this.request.direction === "write" || this.request.direction === "bidirectional"
    const command: P.ScsiCommand = {
      _tag: "ScsiCommand",
      immediate: false,
      final: !unsolicitedDataOut,
      read: isRead,
      write: isWrite,
      attribute: this.request.attribute ?? "Simple",
      lun: this.lun,
      itt: this.itt,
      expectedDataTransferLength: isWrite ? total : this.expectedRead,
      cmdSN: this.cmdSN,
      expStatSN: conn.expStatSN,
      cdb: this.request.cdb,
      bidiReadLength: this.request.direction === "bidirectional" ? this.expectedRead : undefined,
      data: immediateLen > 0 && this.outVector === undefined ? out.subarray(0, immediateLen) : EMPTY
    }
    if (this.outVector !== undefined && immediateLen > 0) {
      conn.sendVector(command, this.outVector.slice(0, immediateLen))
    } else conn.send(command)
    if (unsolicitedDataOut) this.sendSequence(conn, RESERVED_TAG, immediateLen, unsolicitedLimit - immediateLen)
  }

  /** Send `length` bytes from `offset` as Data-Out PDUs ≤ MaxXmitDataSegmentLength, DataSN from 0, F on the last. */
  private sendSequence(conn: Conn, ttt: number, offset: number, length: number): void {
    const maxPdu = conn.params.maxXmitDataSegmentLength
    const end = offset + length
    let dataSN = 0
    const vector = this.outVector
    for (let o = offset; o < end; o += maxPdu) {
      const n = Math.min(maxPdu, end - o)
      // scatter-gather: the views of the caller's buffers this PDU spans
      const pieces = vector?.slice(o, n)
      const pdu: P.ScsiDataOut = {
        _tag: "ScsiDataOut",
        final: o + n >= end,
        lun: this.lun,
        itt: this.itt,
        ttt,
        expStatSN: conn.expStatSN,
        dataSN: dataSN++,
        bufferOffset: o,
        data: pieces === undefined ? this.dataOut.subarray(o, o + n) : pieces.length === 1 ? pieces[0]! : EMPTY
      }
      if (pieces === undefined || pieces.length === 1) conn.send(pdu)
      else conn.sendVector(pdu, pieces)
    }
  }

  onPdu(pdu: P.TargetPdu): void {
    const conn = this.conn!
    switch (pdu._tag) {
      case "ScsiDataIn": {
        if (pdu.dataSN !== this.expDataSN) {
          return this.abortWith(protocol(`Data-In DataSN ${pdu.dataSN}, expected ${this.expDataSN}`))
        }
        this.expDataSN = (this.expDataSN + 1) >>> 0
        const len = pdu.data.length
        const end = pdu.bufferOffset + len
        if (end > this.expectedRead) {
          return this.abortWith(protocol(`Data-In beyond the expected length (${end} > ${this.expectedRead} bytes)`))
        }
        if (len > 0) {
          const d = pdu.data
          if (this.inVector !== undefined) this.inVector.write(d, pdu.bufferOffset)
          // placed by the framer (Conn.place): already where it belongs
          else if (d.buffer !== this.readBuf.buffer || d.byteOffset !== this.readBuf.byteOffset + pdu.bufferOffset) {
            this.readBuf.set(d, pdu.bufferOffset)
          }
          if (end > this.highWater) this.highWater = end
        }
        if (pdu.statusPresent) {
          if (!pdu.final) return this.abortWith(protocol("Data-In with S bit but without F bit"))
          this.complete(pdu.status, 0, EMPTY, pdu.underflow, pdu.overflow, pdu.residualCount, false, false, 0)
        }
        return
      }
      case "ScsiResponse": {
        let sense: Uint8Array | undefined
        if (pdu.data.length >= 2) {
          const senseLength = (pdu.data[0]! << 8) | pdu.data[1]!
          if (senseLength > 0) sense = pdu.data.slice(2, 2 + Math.min(senseLength, pdu.data.length - 2))
        }
        if (pdu.response !== 0 && pdu.status === SCSI_STATUS_GOOD) {
          // target failure without a SCSI status
          return this.finish({
            _tag: "err",
            error: IscsiError.make(
              new IscsiError.ProtocolError({
                message: `SCSI response: target failure (response 0x${pdu.response.toString(16)})`
              })
            )
          })
        }
        this.complete(
          pdu.status,
          pdu.response,
          sense,
          pdu.underflow,
          pdu.overflow,
          pdu.residualCount,
          pdu.bidiUnderflow,
          pdu.bidiOverflow,
          pdu.bidiResidualCount
        )
        return
      }
      case "ReadyToTransfer": {
        const problem = this.r2tProblem(conn, pdu)
        if (problem !== undefined) return this.abortWith(protocol(problem))
        this.sendSequence(conn, pdu.ttt, pdu.bufferOffset, pdu.desiredDataTransferLength)
        return
      }
      default:
        return this.abortWith(protocol(`unexpected ${pdu._tag} for a SCSI task`))
    }
  }

  /** What is wrong with an R2T for this task (counted against the endless-R2T bound), if anything. */
  private r2tProblem(conn: Conn, pdu: P.ReadyToTransfer): string | undefined {
    const total = this.outLength
    const length = pdu.desiredDataTransferLength
    if (length === 0 || pdu.bufferOffset + length > total) {
      return `R2T for bytes ${pdu.bufferOffset}+${length} outside the ${total}-byte write`
    }
    if (length > conn.params.maxBurstLength) return `R2T of ${length} bytes exceeds MaxBurstLength`
    // ERL 0: every byte is asked for once; far more than the write is an endless R2T loop
    this.outstandingR2T += length
    if (this.outstandingR2T > 2 * total + conn.params.maxBurstLength) {
      return "endless R2Ts: the target asked for more than the write holds"
    }
    return undefined
  }

  /**
   * An R2T for this write after it was given up, while its ABORT TASK is pending: send the Data-Out
   * it asks for, so that a target that acts on the abort only once that data has arrived can
   * answer it (and serve the session's other commands) at once. Nothing is delivered to the caller
   * and a bad R2T is ignored (the abort is on its way already). The write's buffer is therefore
   * read until the abort completes (ScsiTransport: do not mutate it before).
   */
  answerR2T(pdu: P.ReadyToTransfer): void {
    const conn = this.conn
    if (conn === undefined || !this.sent || this.r2tProblem(conn, pdu) !== undefined) return
    this.sendSequence(conn, pdu.ttt, pdu.bufferOffset, pdu.desiredDataTransferLength)
  }

  private complete(
    status: number,
    response: number,
    sense: Uint8Array | undefined,
    underflow: boolean,
    overflow: boolean,
    residualCount: number,
    bidiUnderflow: boolean,
    bidiOverflow: boolean,
    bidiResidualCount: number
  ): void {
    let length = this.highWater
    if (this.expectedRead > 0 && underflow) length = Math.min(length, Math.max(0, this.expectedRead - residualCount))
    const session = this.conn?.session
    if (session !== undefined) {
      session.stats.completed++
      if (status === SCSI_STATUS_CHECK_CONDITION && sense !== undefined) session.onCheckCondition(this.lun, sense)
    }
    this.finish({
      _tag: "ok",
      value: new Result(
        status,
        length === this.readBuf.length || this.inVector !== undefined ? this.readBuf : this.readBuf.subarray(0, length),
        sense,
        response,
        underflow,
        overflow,
        residualCount,
        bidiUnderflow,
        bidiOverflow,
        bidiResidualCount
      )
    })
  }

  /** The view of its buffer a Data-In segment of `length` bytes at `offset` goes to, if in bounds. */
  placement(offset: number, length: number): Uint8Array | undefined {
    if (offset + length > this.expectedRead) return undefined
    // scatter-gather: in place when one buffer holds the segment; a straddling one is copied
    if (this.inVector !== undefined) return this.inVector.view(offset, length)
    return this.readBuf.subarray(offset, offset + length)
  }

  /** ERL 0: a broken task is failed; the shell sends ABORT TASK for it to clean the target side. */
  onAbortNeeded: (task: ScsiTask) => void = () => {}

  /** May this task be sent again after its connection died (MC/S failover, session recovery)? */
  get reissuable(): boolean {
    return !this.finished && !this.abandoned && this.request.idempotent !== false
  }

  /**
   * Forget the per-attempt transfer state so the task can be submitted again (new ITT, new CmdSN)
   * on another connection. The caller must have released it first.
   */
  resetForReissue(): void {
    this.highWater = 0
    this.expDataSN = 0
    this.outstandingR2T = 0
    this.conn = undefined
    this.sent = false
  }

  private abortWith(error: IscsiError.IscsiError): void {
    this.abandoned = true
    this.finish({ _tag: "err", error }, false)
    this.onAbortNeeded(this)
  }

  /** When the caller's deadline passes (the shell's ticker tick; 0 = none): the ticker checks it. */
  deadline = 0
  /** The deadline in ms, for the Timeout error's message. */
  timeoutMs = 0

  /**
   * The deadline passed: complete with `error` now, keeping the ITT; the shell then unqueues and
   * releases the task, or marks it abandoned and sends ABORT TASK.
   */
  expire(error: IscsiError.IscsiError): void {
    this.finish({ _tag: "err", error }, false)
  }
}

/** A request answered by one PDU (TMF, logout, NOP ping), immediate by default. */
export class SimpleTask<A> extends Task<A> {
  constructor(
    readonly immediate: boolean,
    private readonly build: (task: SimpleTask<A>, conn: Conn) => P.InitiatorPdu,
    private readonly accept: (pdu: P.TargetPdu) => A | IscsiError.IscsiError,
    done: Completion<A>
  ) {
    super(done)
  }
  start(conn: Conn): void {
    conn.send(this.build(this, conn))
  }
  onPdu(pdu: P.TargetPdu): void {
    const r = this.accept(pdu)
    this.finish(r instanceof IscsiError.IscsiError ? { _tag: "err", error: r } : { _tag: "ok", value: r })
  }
}

/** A full-feature Text exchange (SendTargets …) with continuation (F=0 → empty request with the TTT). */
export class TextTask extends Task<ReadonlyArray<TextKeys.Pair>> {
  readonly immediate = false
  private readonly exchange = TextExchange.make()
  constructor(
    private readonly data: Uint8Array,
    done: Completion<ReadonlyArray<TextKeys.Pair>>
  ) {
    super(done)
  }
  start(conn: Conn): void {
    this.request(conn, RESERVED_TAG, this.data)
  }
  private request(conn: Conn, ttt: number, data: Uint8Array): void {
    conn.send({
      _tag: "TextRequest",
      immediate: false,
      final: true,
      continue: false,
      lun: 0n,
      itt: this.itt,
      ttt,
      cmdSN: this.cmdSN,
      expStatSN: conn.expStatSN,
      data
    })
  }
  onPdu(pdu: P.TargetPdu): void {
    if (pdu._tag !== "TextResponse") return this.fail(protocol(`unexpected ${pdu._tag} in a text exchange`))
    // the reassembler may keep the data: copy it out of the (reused) receive buffer
    const r = this.exchange.push({ ...pdu, data: pdu.data.slice() })
    if (r._tag === "Failure") return this.fail(r.failure)
    if (r.success._tag === "Done") return this.finish({ _tag: "ok", value: r.success.pairs })
    // F=0: the next (empty) Text Request carries the returned TTT and the next CmdSN (RFC 7143 §11.10.4)
    const s = this.conn!.session
    this.cmdSN = s.cmdSN
    s.cmdSN = Serial.add(s.cmdSN, 1)
    this.request(this.conn!, r.success.ttt, EMPTY)
  }
}
