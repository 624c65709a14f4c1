/**
 * One connection of the fake target: its login exchange (plain or CHAP, permissive negotiation, the
 * session table for leading and added connections), its StatSN, the target PDUs a test sends with
 * it, and the default full-feature behaviour (the SCSI layer over the target's RAM disks).
 *
 * A PDU the initiator sends is first offered to the `dropCommand` option (command PDUs only: lost in
 * transit, never recorded as received), then recorded, then: during login, to `loginHandler` or the
 * default login; in full feature phase, command PDUs through the session's CmdSN ordering
 * (`FakeSession.arrive`) and everything else at once, to the test's `handler` and otherwise to
 * `defaultFull`.
 *
 * Not here: the session table and CmdSN ordering (fakeSession.ts), the disks (fakeDisk.ts), the
 * listener and options (FakeTarget.ts). RFC 7143 §6 (login), §11 (PDUs) from the target's side.
 */
import * as Chap from "@effect-iscsi/core/Chap"
import * as Framer from "@effect-iscsi/core/Framer"
import * as Pdu from "@effect-iscsi/core/Pdu"
import type * as P from "@effect-iscsi/core/PduTypes"
import * as TextKeys from "@effect-iscsi/core/TextKeys"
import * as Result from "effect/Result"
import * as Crypto from "node:crypto"
import type * as Net from "node:net"
import type { FakeTarget } from "../FakeTarget.ts"
import { type RamDisk, reportLuns, rw } from "./fakeDisk.ts"
import { type FakeSession, isCommand } from "./fakeSession.ts"

export const RESERVED_TAG = 0xffffffff

/** A write or read the default handler is serving (R2T state). */
interface PendingWrite {
  readonly disk: RamDisk
  readonly lun: bigint
  readonly lba: number
  readonly total: number
  received: number
  r2tEnd: number
  ttt: number
}

/** One accepted connection, with helpers to script the target's side. */
export class FakeConnection {
  /** Next StatSN this connection will use. */
  statSN = 0x1000
  phase: "login" | "full" | "closed" = "login"
  cid = -1
  /** The session's TSIH once logged in (0 before). */
  tsih = 0
  /** The ISID, InitiatorName and SessionType of its login. */
  isid = 0
  initiatorName = ""
  sessionType: "Normal" | "Discovery" = "Normal"
  /** Its session once the login completed (full feature phase). */
  session: FakeSession | undefined
  /** The session a login with TSIH ≠ 0 is joining, until it completes. */
  private joining: FakeSession | undefined
  /** The CmdSN of the login (the new session's first CmdSN). */
  private loginCmdSN = 0
  /** The DefaultTime2Retain this connection's login negotiated (seconds). */
  private time2Retain: number
  /** What the initiator declared as its MaxRecvDataSegmentLength (bounds Data-In). */
  initiatorMaxRecv = 8192
  headerDigest = false
  dataDigest = false
  /** Every PDU the target received on this connection, in order. */
  readonly received: Array<P.Pdu> = []
  /** Command PDUs the initiator sent that `dropCommand` lost in transit. */
  readonly dropped: Array<P.Pdu> = []
  /** Bytes written to the initiator. */
  bytesOut = 0
  readonly writes = new Map<number, PendingWrite>()
  private readonly framer: Framer.Framer
  private nextTtt = 1
  private chapState: { id: number; challenge: Uint8Array } | undefined
  /** Set when the initiator broke framing (garbage toward the target). */
  framingError: unknown
  /** The portal (by index) the connection arrived on: its target port is portal + 1. */
  portal = 0

  constructor(
    readonly target: FakeTarget,
    readonly socket: Net.Socket
  ) {
    this.framer = Framer.make({
      headerDigest: false,
      dataDigest: false,
      maxDataSegmentLength: target.maxRecvDataSegmentLength
    })
    this.time2Retain = target.options.time2Retain ?? 0
  }

  /** Raw bytes to the initiator (garbage, truncated frames, …). */
  sendRaw(bytes: Uint8Array): void {
    if (this.socket.destroyed) return
    this.bytesOut += bytes.length
    this.socket.write(bytes)
  }

  /** Encode with the connection's digests and send. */
  send(pdu: P.TargetPdu): void {
    this.sendRaw(Pdu.encode(pdu, { headerDigest: this.headerDigest, dataDigest: this.dataDigest }))
  }

  /** Take the next StatSN. */
  nextStatSN(): number {
    const s = this.statSN
    this.statSN = (s + 1) >>> 0
    return s
  }

  /** ExpCmdSN of its session (during login: the session it joins, or the login's CmdSN). */
  get expCmdSN(): number {
    return (this.session ?? this.joining)?.expCmdSN ?? this.loginCmdSN
  }
  /** MaxCmdSN of its session (during login: from the target's default window). */
  get maxCmdSN(): number {
    const s = this.session ?? this.joining
    return s !== undefined ? s.maxCmdSN : (this.loginCmdSN + this.target.window - 1) >>> 0
  }

  /** A SCSI Response for `itt` (takes a StatSN). */
  respond(itt: number, status = 0, extra: Partial<P.ScsiResponse> = {}): void {
    this.send({
      _tag: "ScsiResponse",
      bidiOverflow: false,
      bidiUnderflow: false,
      overflow: false,
      underflow: false,
      response: 0,
      status,
      itt,
      snackTag: 0,
      statSN: this.nextStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      expDataSN: 0,
      bidiResidualCount: 0,
      residualCount: 0,
      data: new Uint8Array(0),
      ...extra
    })
  }

  /** CHECK CONDITION with fixed-format sense (key, ASC, ASCQ). */
  checkCondition(itt: number, key: number, asc: number, ascq: number): void {
    const sense = new Uint8Array(2 + 18)
    sense[1] = 18
    sense[2] = 0x70
    sense[4] = key
    sense[9] = 10
    sense[14] = asc
    sense[15] = ascq
    this.respond(itt, 2, { data: sense })
  }

  /** A Data-In PDU (no status unless `status` is given: then S and F are set and a StatSN is taken). */
  dataIn(
    itt: number,
    dataSN: number,
    bufferOffset: number,
    data: Uint8Array,
    options: { final?: boolean; status?: number; residual?: number; lun?: bigint } = {}
  ): void {
    const statusPresent = options.status !== undefined
    this.send({
      _tag: "ScsiDataIn",
      final: options.final ?? statusPresent,
      acknowledge: false,
      overflow: false,
      underflow: (options.residual ?? 0) > 0,
      statusPresent,
      status: options.status ?? 0,
      lun: options.lun ?? 0n,
      itt,
      ttt: RESERVED_TAG,
      statSN: statusPresent ? this.nextStatSN() : 0,
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      dataSN,
      bufferOffset,
      residualCount: options.residual ?? 0,
      data
    })
  }

  /** An R2T for `itt` (does not take a StatSN). */
  r2t(itt: number, ttt: number, r2tSN: number, bufferOffset: number, length: number, lun = 0n): void {
    this.send({
      _tag: "ReadyToTransfer",
      lun,
      itt,
      ttt,
      statSN: this.statSN,
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      r2tSN,
      bufferOffset,
      desiredDataTransferLength: length
    })
  }

  /** A target-initiated NOP-In asking for a reply (ITT reserved, TTT given). */
  nopIn(ttt: number, data: Uint8Array = new Uint8Array(0), lun = 0n): void {
    this.send({
      _tag: "NopIn",
      lun,
      itt: RESERVED_TAG,
      ttt,
      statSN: this.statSN,
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      data
    })
  }

  /** An Asynchronous Message (takes a StatSN). */
  asyncMessage(asyncEvent: number, params: Partial<P.AsyncMessage> = {}): void {
    this.send({
      _tag: "AsyncMessage",
      lun: 0n,
      statSN: this.nextStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      asyncEvent,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: 0,
      data: new Uint8Array(0),
      ...params
    })
  }

  /** A Reject of `pdu` (its header re-encoded as the data segment; takes a StatSN). */
  reject(pdu: P.Pdu, reason: number): void {
    this.send({
      _tag: "Reject",
      reason,
      statSN: this.nextStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      dataSN: 0,
      data: Pdu.encodeHeader(pdu).subarray(0, 48)
    })
  }

  /** Close the connection (FIN). */
  close(): void {
    this.phase = "closed"
    this.socket.end()
    this.socket.destroySoon()
    this.target.detach(this)
  }

  /** Reset the connection (RST). */
  reset(): void {
    this.phase = "closed"
    if (!this.socket.destroyed) this.socket.resetAndDestroy()
    this.target.detach(this)
  }

  /** A fresh target transfer tag. */
  ttt(): number {
    return this.nextTtt++
  }

  /** @internal bytes from the initiator. */
  onData(chunk: Uint8Array): void {
    if (this.phase === "closed") return
    const r = this.framer.push(new Uint8Array(chunk))
    if (Result.isFailure(r)) {
      this.framingError = r.failure
      this.reset()
      return
    }
    const t = this.target
    for (const pdu of r.success) {
      if ((this.phase as string) === "closed") return
      if (this.phase === "full" && isCommand(pdu) && t.options.dropCommand?.(this, pdu) === true) {
        // lost in transit: the target never sees it (the predicate may also reset the connection)
        this.dropped.push(pdu)
        t.dropped.push({ cid: this.cid, tsih: this.tsih, pdu, portal: this.portal })
        if (this.session !== undefined) this.session.dropped++
        continue
      }
      this.received.push(pdu)
      t.received.push({ cid: this.cid, tsih: this.tsih, pdu, portal: this.portal })
      if (this.phase === "login") this.onLogin(pdu)
      else this.onFull(pdu)
    }
  }

  private onLogin(pdu: P.Pdu): void {
    if (pdu._tag !== "LoginRequest") return this.reset()
    this.cid = pdu.cid
    if (this.target.options.loginHandler?.(this, pdu) === true) return
    this.defaultLogin(pdu)
  }

  /** The default login answer for one Login Request. */
  defaultLogin(req: P.LoginRequest): void {
    const t = this.target
    const decoded = TextKeys.decode(req.data)
    if (Result.isFailure(decoded)) return this.loginReject(req, 2, 0)
    const pairs = decoded.success
    this.isid = req.isid
    this.loginCmdSN = req.cmdSN
    const name = TextKeys.get(pairs, "InitiatorName")
    if (name !== undefined) this.initiatorName = name
    if (TextKeys.get(pairs, "SessionType") === "Discovery") this.sessionType = "Discovery"
    if (req.tsih !== 0) {
      // adding a connection to a session (MC/S): it must exist, with this ISID and initiator
      const s = t.table.find(req.tsih)
      if (s === undefined || s.isid !== req.isid || (name !== undefined && s.initiatorName !== name)) {
        return this.loginReject(req, 2, 0x0a) // session does not exist
      }
      this.joining = s
    }
    const answer: Array<TextKeys.Pair> = []
    let transit = req.transit
    if (req.csg === 0) {
      const chap = t.options.chap
      for (const [k, v] of pairs) {
        if (k === "TargetName" && v !== t.targetName) return this.loginReject(req, 2, 3)
        if (k === "AuthMethod") {
          const offered = v.split(",")
          if (chap !== undefined) {
            if (!offered.includes("CHAP") && chap.whenNotOffered !== "answer-chap") return this.loginReject(req, 2, 1)
            answer.push(["AuthMethod", "CHAP"])
            transit = false
          } else {
            answer.push(["AuthMethod", "None"])
          }
        }
        if (k === "CHAP_A" && chap !== undefined) {
          if (!v.split(",").includes("5")) return this.loginReject(req, 2, 1)
          const challenge = Crypto.randomBytes(16)
          this.chapState = { id: challenge[0]!, challenge }
          answer.push(["CHAP_A", "5"], ["CHAP_I", String(challenge[0]!)], ["CHAP_C", Chap.encodeHex(challenge)])
          transit = false
        }
      }
      if (chap !== undefined && TextKeys.get(pairs, "CHAP_R") !== undefined) {
        const st = this.chapState
        const n = TextKeys.get(pairs, "CHAP_N")
        const r = Chap.decodeBinary(TextKeys.get(pairs, "CHAP_R")!)
        const expected = st === undefined ? undefined : md5(st.id, new TextEncoder().encode(chap.secret), st.challenge)
        if (
          st === undefined ||
          n !== chap.user ||
          Result.isFailure(r) ||
          expected === undefined ||
          !Chap.equalBytes(expected, r.success)
        ) {
          return this.loginReject(req, 2, 1)
        }
        const ci = TextKeys.get(pairs, "CHAP_I")
        const cc = TextKeys.get(pairs, "CHAP_C")
        if (ci !== undefined && cc !== undefined) {
          if (chap.mutual === undefined) return this.loginReject(req, 2, 1)
          const c = Chap.decodeBinary(cc)
          if (Result.isFailure(c)) return this.loginReject(req, 2, 0)
          const resp = md5(Number(ci), new TextEncoder().encode(chap.mutual.secret), c.success)
          answer.push(["CHAP_N", chap.mutual.user], ["CHAP_R", Chap.encodeHex(resp)])
        }
        this.chapState = undefined
      } else if (chap !== undefined && TextKeys.get(pairs, "AuthMethod") === undefined && transit) {
        // asked to leave security before CHAP finished
        if (TextKeys.get(pairs, "CHAP_A") === undefined) return this.loginReject(req, 2, 1)
      }
      if (transit) answer.push(["TargetPortalGroupTag", "1"])
    } else {
      for (const [k, v] of pairs) {
        const a = this.answerKey(k, v)
        if (a !== undefined) answer.push([k, a])
        if (k === "MaxRecvDataSegmentLength") this.initiatorMaxRecv = Number(v)
      }
      if (pairs.some(([k]) => k === "MaxRecvDataSegmentLength")) {
        answer.push(["MaxRecvDataSegmentLength", String(t.maxRecvDataSegmentLength)])
      }
    }
    const final = transit && req.nsg === 3
    if (final) {
      const s = this.enterSession(req)
      if (s === undefined) return this.loginReject(req, 2, 0x0a) // evicted while this login ran
      this.tsih = s.tsih
    }
    this.send({
      _tag: "LoginResponse",
      transit,
      continue: false,
      csg: req.csg,
      nsg: transit ? req.nsg : 0,
      versionMax: 0,
      versionActive: 0,
      isid: req.isid,
      tsih: final ? this.tsih : 0,
      itt: req.itt,
      statSN: this.nextStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      statusClass: 0,
      statusDetail: 0,
      data: TextKeys.encode(answer)
    })
    if (final) {
      this.phase = "full"
      this.headerDigest = this.pendingDigests.header
      this.dataDigest = this.pendingDigests.data
      this.framer.setDigests(this.headerDigest, this.dataDigest)
      if (t.options.insistOnDigests === true) {
        // what it sends carries CRC32C whatever was negotiated
        this.headerDigest = true
        this.dataDigest = true
      }
    }
  }

  private pendingDigests = { header: false, data: false }

  /** The login completes: open a session (reinstating one with the same identity) or join one. */
  private enterSession(req: P.LoginRequest): FakeSession | undefined {
    const t = this.target
    let s: FakeSession
    if (req.tsih === 0) {
      s = t.table.open({
        sessionType: this.sessionType,
        initiatorName: this.initiatorName,
        isid: req.isid,
        cmdSN: req.cmdSN,
        window: t.window,
        orderedDelivery: t.orderedDelivery,
        abortTaskFillsHole: t.options.abortTaskFillsHole ?? true,
        reinstate: t.options.reinstate ?? true,
        evict: t.options.evict ?? "fin"
      })
      s.time2Retain = this.time2Retain
      if (t.options.powerOnUnitAttention === true && s.sessionType === "Normal") {
        for (const disk of t.luns) s.unitAttentions.push({ disk, asc: 0x29, ascq: 0x00 })
      }
    } else {
      const joining = this.joining
      if (joining === undefined || joining.ended !== undefined) return undefined
      s = joining
      if (s.retainTimer !== undefined) clearTimeout(s.retainTimer)
      s.retainTimer = undefined
    }
    this.joining = undefined
    this.session = s
    s.connections.push(this)
    // connection reinstatement: a live connection with the same CID is logged out implicitly
    for (const c of s.live) if (c !== this && c.cid === this.cid) c.close()
    return s
  }

  private answerKey(key: string, value: string): string | undefined {
    const t = this.target
    const num = Number(value)
    switch (key) {
      case "HeaderDigest":
      case "DataDigest": {
        const crc = value.split(",").includes("CRC32C")
        if (t.options.insistOnDigests === true && !crc) return "Reject"
        const choice = (t.options.digests === true || t.options.insistOnDigests === true) && crc ? "CRC32C" : "None"
        if (key === "HeaderDigest") this.pendingDigests.header = choice === "CRC32C"
        else this.pendingDigests.data = choice === "CRC32C"
        return choice
      }
      case "MaxRecvDataSegmentLength":
        return undefined
      case "InitialR2T":
        return "Yes"
      case "ImmediateData":
        return value
      case "MaxBurstLength":
      case "FirstBurstLength":
        return String(Math.min(num, 262144))
      case "MaxConnections":
        return String(Math.min(num, t.options.maxConnections ?? 4))
      case "MaxOutstandingR2T":
        return "1"
      case "DefaultTime2Wait":
        return String(Math.max(num, t.options.time2Wait ?? 0))
      case "DefaultTime2Retain":
        this.time2Retain = Math.min(num, t.options.time2Retain ?? 0)
        return String(this.time2Retain)
      case "ErrorRecoveryLevel":
        return "0"
      case "DataPDUInOrder":
      case "DataSequenceInOrder":
        return "Yes"
      default:
        return "NotUnderstood"
    }
  }

  /** A failed Login Response (status class/detail), then close. */
  loginReject(req: P.LoginRequest, statusClass: number, statusDetail: number): void {
    this.send({
      _tag: "LoginResponse",
      transit: false,
      continue: false,
      csg: req.csg,
      nsg: 0,
      versionMax: 0,
      versionActive: 0,
      isid: req.isid,
      tsih: 0,
      itt: req.itt,
      statSN: this.nextStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.expCmdSN,
      statusClass,
      statusDetail,
      data: new Uint8Array(0)
    })
    this.close()
  }

  /** An ABORT TASK the connection is stuck on (`stalledAbort`), and the PDUs waiting behind it. */
  private stalled: { readonly tmf: P.TaskManagementRequest; readonly backlog: Array<P.Pdu> } | undefined

  /** Whether a PDU must wait behind a stalled ABORT TASK (the awaited Data-Out goes through). */
  private holdBehindAbort(pdu: P.Pdu): boolean {
    const st = this.stalled
    if (st === undefined) return false
    if (pdu._tag === "ScsiDataOut" && pdu.itt === st.tmf.referencedTaskTag) {
      const w = this.writes.get(pdu.itt)
      if (w !== undefined) {
        const end = Math.min(pdu.bufferOffset + pdu.data.length, w.total)
        w.disk.data.set(pdu.data.subarray(0, end - pdu.bufferOffset), w.lba * w.disk.blockSize + pdu.bufferOffset)
        if (end > w.received) w.received = end
        if (w.received < w.r2tEnd || this.target.options.stalledAbort === "never") return true
      }
      // the data it waited for is in: answer the abort, drop the write, then what queued behind
      this.writes.delete(st.tmf.referencedTaskTag)
      this.stalled = undefined
      this.tmfResponse(st.tmf, 0)
      for (const p of st.backlog) {
        if (this.phase !== "full") return true
        this.onFull(p)
      }
      return true
    }
    st.backlog.push(pdu)
    return true
  }

  private tmfResponse(req: P.TaskManagementRequest, response: number): void {
    this.send({
      _tag: "TaskManagementResponse",
      response,
      itt: req.itt,
      statSN: this.nextStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN
    })
  }

  private onFull(pdu: P.Pdu): void {
    if (this.holdBehindAbort(pdu)) return
    const s = this.session
    if (s !== undefined && isCommand(pdu)) s.arrive(this, pdu, deliver)
    else deliver(this, pdu)
  }

  /** The default full-feature behaviour for one PDU (a RAM disk). */
  defaultFull(pdu: P.Pdu): void {
    switch (pdu._tag) {
      case "NopOut":
        if (pdu.itt !== RESERVED_TAG) {
          this.send({
            _tag: "NopIn",
            lun: pdu.lun,
            itt: pdu.itt,
            ttt: RESERVED_TAG,
            statSN: this.nextStatSN(),
            expCmdSN: this.expCmdSN,
            maxCmdSN: this.maxCmdSN,
            data: pdu.data
          })
        }
        return
      case "ScsiCommand":
        return this.scsi(pdu)
      case "ScsiDataOut":
        return this.dataOut(pdu)
      case "TaskManagementRequest": {
        // the CmdSN side of ABORT TASK (held tasks, holes) is the session's (FakeSession.arrive)
        const w = pdu.function === 1 ? this.writes.get(pdu.referencedTaskTag) : undefined
        if (w !== undefined && w.received < w.r2tEnd && this.target.options.stalledAbort !== undefined) {
          // waiting for the Data-Out of its R2T: the abort (and all behind it) waits too
          this.stalled = { tmf: pdu, backlog: [] }
          return
        }
        if (pdu.function === 1) this.writes.delete(pdu.referencedTaskTag)
        this.tmfResponse(pdu, 0)
        return
      }
      case "TextRequest":
        this.send({
          _tag: "TextResponse",
          final: true,
          continue: false,
          lun: 0n,
          itt: pdu.itt,
          ttt: RESERVED_TAG,
          statSN: this.nextStatSN(),
          expCmdSN: this.expCmdSN,
          maxCmdSN: this.maxCmdSN,
          data: new Uint8Array(0)
        })
        return
      case "LogoutRequest":
        this.send({
          _tag: "LogoutResponse",
          response: 0,
          itt: pdu.itt,
          statSN: this.nextStatSN(),
          expCmdSN: this.expCmdSN,
          maxCmdSN: this.maxCmdSN,
          time2Wait: 0,
          time2Retain: 0
        })
        if (pdu.reason === 0 && this.session !== undefined) {
          // close the session: every connection of it goes (RFC 7143 §11.14.1)
          const s = this.session
          this.target.table.end(s, "logout")
          for (const c of s.connections) if (c !== this) c.close()
        }
        this.close()
        return
      default:
        return
    }
  }

  private scsi(cmd: P.ScsiCommand): void {
    const t = this.target
    const cdb = cmd.cdb
    const op = cdb[0]!
    if (op === 0xa0) {
      // REPORT LUNS: answered on any LUN
      return this.readReply(cmd, clip(reportLuns(t.lunNumbers), u32(cdb, 6)))
    }
    const disk = t.diskFor(cmd.lun)
    if (op === 0x12) {
      if ((cdb[1]! & 1) !== 0) {
        // INQUIRY with EVPD: pages 00h, 80h, 83h
        const page = disk === undefined ? undefined : vpdPage(t, this.portal, disk, cdb[2]!)
        if (page === undefined) return this.checkCondition(cmd.itt, 5, 0x24, 0) // INVALID FIELD IN CDB
        return this.readReply(cmd, clip(page, (cdb[3]! << 8) | cdb[4]!))
      }
      // INQUIRY (standard data; peripheral qualifier 011b for a LUN that is not there)
      const d = new Uint8Array(36)
      if (disk === undefined) d[0] = 0x7f
      d[2] = 6
      d[3] = 2
      d[4] = 31
      if (t.alua !== undefined) d[5] = 0x10 // TPGS 01b: implicit ALUA
      d.set(new TextEncoder().encode("EFFECT  FAKETARGET      0001"), 8)
      return this.readReply(cmd, d)
    }
    if (disk === undefined) return this.checkCondition(cmd.itt, 5, 0x25, 0) // LOGICAL UNIT NOT SUPPORTED
    // a pending Unit Attention of this nexus on this logical unit goes first (not for REQUEST SENSE)
    const pending = this.session?.unitAttentions
    if (pending !== undefined && op !== 0x03) {
      const i = pending.findIndex((u) => u.disk === disk)
      if (i >= 0) {
        const [ua] = pending.splice(i, 1)
        return this.checkCondition(cmd.itt, 6, ua!.asc, ua!.ascq)
      }
    }
    if (op === 0xa3 && (cdb[1]! & 0x1f) === 0x0a && t.alua !== undefined) {
      // REPORT TARGET PORT GROUPS: answered in any access state
      return this.readReply(cmd, clip(targetPortGroups(t, (cdb[1]! & 0xe0) === 0x20), u32(cdb, 6)))
    }
    // what a port in standby, unavailable or transitioning state may not do (SPC-5 §5.16.2.4)
    const access = t.accessStateOf(this.portal)
    if (access !== 0 && access !== 1 && op !== 0x03) {
      const ascq = access === 2 ? 0x0b : access === 3 ? 0x0c : 0x0a
      return this.checkCondition(cmd.itt, 2, 0x04, ascq)
    }
    switch (op) {
      case 0x00: // TEST UNIT READY
        return this.respond(cmd.itt)
      case 0x25: // READ CAPACITY (10)
        return this.readReply(cmd, disk.capacity10())
      case 0x9e: // SERVICE ACTION IN (16): READ CAPACITY (16)
        if ((cdb[1]! & 0x1f) !== 0x10) return this.checkCondition(cmd.itt, 5, 0x24, 0)
        return this.readReply(cmd, clip(disk.capacity16(), u32(cdb, 10)))
      case 0x28:
      case 0x88:
      case 0x2a:
      case 0x8a: {
        const { lba, blocks } = rw(cdb)
        if (!disk.contains(lba, blocks)) return this.checkCondition(cmd.itt, 5, 0x21, 0)
        if (op === 0x28 || op === 0x88) return this.readReply(cmd, disk.view(lba, blocks))
        const total = blocks * disk.blockSize
        const w: PendingWrite = { disk, lun: cmd.lun, lba, total, received: 0, r2tEnd: 0, ttt: 0 }
        if (cmd.data.length > 0) {
          disk.data.set(cmd.data.subarray(0, total), lba * disk.blockSize)
          w.received = Math.min(cmd.data.length, total)
        }
        if (w.received >= total) return this.respond(cmd.itt)
        this.writes.set(cmd.itt, w)
        if (cmd.final) this.nextR2T(cmd.itt, w)
        return
      }
      default:
        return this.checkCondition(cmd.itt, 5, 0x20, 0)
    }
  }

  private nextR2T(itt: number, w: PendingWrite): void {
    const len = Math.min(w.total - w.received, 262144)
    w.ttt = this.ttt()
    w.r2tEnd = w.received + len
    this.r2t(itt, w.ttt, 0, w.received, len, w.lun)
  }

  private dataOut(d: P.ScsiDataOut): void {
    const w = this.writes.get(d.itt)
    if (w === undefined) return
    const end = Math.min(d.bufferOffset + d.data.length, w.total)
    w.disk.data.set(d.data.subarray(0, end - d.bufferOffset), w.lba * w.disk.blockSize + d.bufferOffset)
    if (end > w.received) w.received = end
    if (!d.final) return
    if (w.received >= w.total) {
      this.writes.delete(d.itt)
      return this.respond(d.itt)
    }
    if (d.ttt === RESERVED_TAG || w.received >= w.r2tEnd) this.nextR2T(d.itt, w)
  }

  /** Send `data` (clipped to the expected length) as Data-In PDUs, status in the last one. */
  readReply(cmd: P.ScsiCommand, data: Uint8Array): void {
    const n = Math.min(data.length, cmd.expectedDataTransferLength)
    const residual = cmd.expectedDataTransferLength - n
    if (n === 0) return this.respond(cmd.itt, 0, residual > 0 ? { underflow: true, residualCount: residual } : {})
    const seg = Math.max(512, this.initiatorMaxRecv)
    let dataSN = 0
    for (let o = 0; o < n; o += seg) {
      const len = Math.min(seg, n - o)
      const last = o + len >= n
      this.dataIn(
        cmd.itt,
        dataSN++,
        o,
        data.slice(o, o + len),
        last ? { status: 0, residual, lun: cmd.lun } : { lun: cmd.lun }
      )
    }
  }
}

const md5 = (id: number, secret: Uint8Array, challenge: Uint8Array): Uint8Array => {
  const h = Crypto.createHash("md5")
  h.update(Uint8Array.of(id & 0xff))
  h.update(secret)
  h.update(challenge)
  return new Uint8Array(h.digest())
}

/** The SCSI layer: the test's handler, else the default behaviour (counted per session). */
const deliver = (conn: FakeConnection, pdu: P.Pdu): void => {
  if (pdu._tag === "ScsiCommand" && conn.session !== undefined) conn.session.commands++
  if (conn.target.options.handler?.(conn, pdu) === true) return
  conn.defaultFull(pdu)
}

/** The VPD page `page` of `disk` as seen through `portal` (00h, 80h, 83h), undefined for others. */
const vpdPage = (t: FakeTarget, portal: number, disk: RamDisk, page: number): Uint8Array | undefined => {
  const id = `${t.deviceIdOf(portal)}/${disk.lun}`
  const body: Array<number> = []
  switch (page) {
    case 0x00:
      body.push(0x00, 0x80, 0x83)
      break
    case 0x80:
      body.push(...new TextEncoder().encode(hashHex(id, 8).toUpperCase()))
      break
    case 0x83: {
      const designator = (codeSet: number, assocType: number, value: ReadonlyArray<number>, piv = false) =>
        body.push(((piv ? 5 : 0) << 4) | codeSet, (piv ? 0x80 : 0) | assocType, 0, value.length, ...value)
      // logical unit: NAA 6 (IEEE registered extended) and a T10 vendor ID, from the identity
      const naa = [...hashBytes(id, 16)]
      naa[0] = 0x60 | (naa[0]! & 0x0f)
      designator(1, 0x03, naa)
      designator(2, 0x01, [...new TextEncoder().encode(`EFFECT  ${hashHex(id, 12)}`)])
      // target port: its relative target port identifier and (ALUA) its target port group
      designator(1, 0x14, [0, 0, (portal + 1) >> 8, (portal + 1) & 0xff], true)
      const group = t.groupOf(portal)
      if (group !== undefined) designator(1, 0x15, [0, 0, group >> 8, group & 0xff], true)
      break
    }
    default:
      return undefined
  }
  const d = new Uint8Array(4 + body.length)
  d[1] = page
  d[2] = body.length >> 8
  d[3] = body.length & 0xff
  d.set(body, 4)
  return d
}

/** REPORT TARGET PORT GROUPS parameter data (length-only, or the extended header). */
const targetPortGroups = (t: FakeTarget, extended: boolean): Uint8Array => {
  const alua = t.alua!
  const body: Array<number> = []
  for (const group of [...new Set(alua.groups)].sort((a, b) => a - b)) {
    const ports = alua.groups.flatMap((g, i) => (g === group ? [i + 1] : []))
    const state = alua.states.get(group) ?? 0
    // supported: T_SUP, U_SUP, S_SUP, AN_SUP, AO_SUP
    body.push((alua.preferred.has(group) ? 0x80 : 0) | state, 0x8f, group >> 8, group & 0xff, 0, 0x02, 0, ports.length)
    for (const p of ports) body.push(0, 0, p >> 8, p & 0xff)
  }
  const header = extended ? 8 : 4
  const d = new Uint8Array(header + body.length)
  const length = d.length - 4
  d[0] = length >>> 24
  d[1] = length >>> 16
  d[2] = length >>> 8
  d[3] = length
  if (extended) d[4] = 0x10 // FORMAT TYPE 001b
  d.set(body, header)
  return d
}

const hashBytes = (s: string, n: number): Uint8Array =>
  new Uint8Array(Crypto.createHash("sha256").update(s).digest()).subarray(0, n)

const hashHex = (s: string, n: number): string => Buffer.from(hashBytes(s, n)).toString("hex").slice(0, n)

/** Parameter data cut to the CDB's ALLOCATION LENGTH. */
const clip = (data: Uint8Array, allocationLength: number): Uint8Array => data.subarray(0, allocationLength)

const u32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
