/**
 * A scripted in-process iSCSI target on 127.0.0.1 for engine tests: the faults a real target will
 * not produce on demand (closed CmdSN windows, target NOP-Ins, async messages, rejects, DataSN gaps,
 * garbage, truncated or oversize PDUs, wrong ITTs, StatSN jumps, endless R2Ts, over-long Data-In,
 * logins that never finish, silence, drops mid-transfer).
 *
 * Shape: `make(options)` (scoped) listens on port 0 and answers every connection with core's codec
 * (`Framer`, `Pdu`, `TextKeys`). Login is plain and permissive: it answers every operational key
 * with what we offered (or the target's own limits), transits when asked, and optionally runs
 * one-way or mutual CHAP (MD5). In full feature phase every PDU goes first to the test's `handler`
 * (return `true` when it handled the PDU) and otherwise to the default RAM-disk behaviour: TEST UNIT
 * READY, INQUIRY, READ CAPACITY(10), READ/WRITE(10/16) with Data-In split at the initiator's
 * MaxRecvDataSegmentLength, immediate data and R2T → Data-Out, NOP, Text, TMF, Logout. Every PDU
 * the initiator sent is recorded (`received`) so tests can assert on bytes.
 *
 * Not here: ERL > 0, SNACK, a real task set (commands complete in arrival order, synchronously),
 * anything a test did not ask for. RFC 7143 §6 (login), §11 (PDUs) from the target's side.
 */
import * as Chap from "@effect-iscsi/core/Chap"
import * as Framer from "@effect-iscsi/core/Framer"
import * as Pdu from "@effect-iscsi/core/Pdu"
import type * as P from "@effect-iscsi/core/PduTypes"
import * as TextKeys from "@effect-iscsi/core/TextKeys"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Result from "effect/Result"
import * as Crypto from "node:crypto"
import * as Net from "node:net"

export const RESERVED_TAG = 0xffffffff

export interface ChapOptions {
  /** The initiator's CHAP name and secret this target accepts. */
  readonly user: string
  readonly secret: string
  /** Mutual CHAP: the target's own name and secret (sent when the initiator challenges). */
  readonly mutual?: { readonly user: string; readonly secret: string } | undefined
  /**
   * An initiator that does not offer CHAP: `"fail"` (default, as tgt) answers the login with
   * AuthenticationFailure (2/1); `"answer-chap"` answers `AuthMethod=CHAP` as if it had been offered
   * (as some targets do) and waits for the initiator to go on.
   */
  readonly whenNotOffered?: "fail" | "answer-chap" | undefined
}

export interface Options {
  readonly targetName?: string | undefined
  /** RAM disk size in 512-byte blocks (default 4096 = 2 MiB). */
  readonly blocks?: number | undefined
  /** The target's MaxRecvDataSegmentLength (bounds what the initiator sends; default 8192). */
  readonly maxRecvDataSegmentLength?: number | undefined
  /** Commands the target accepts ahead: MaxCmdSN = ExpCmdSN + window − 1 (default 32; 0 closes it). */
  readonly window?: number | undefined
  /** Answer HeaderDigest/DataDigest with CRC32C when offered (default false). */
  readonly digests?: boolean | undefined
  /**
   * A target that supports CRC32C digests only, as in issue 15: it answers HeaderDigest/DataDigest
   * with CRC32C when the offer lists it and with `Reject` otherwise, and after login frames
   * everything it sends with CRC32C header and data digests anyway (it reads what the initiator
   * sends as negotiated). Default false.
   */
  readonly insistOnDigests?: boolean | undefined
  /** MaxConnections the target answers with at most (default 4). */
  readonly maxConnections?: number | undefined
  /** DefaultTime2Wait the target answers with (default 0). */
  readonly time2Wait?: number | undefined
  /**
   * How ABORT TASK for a WRITE still waiting for its solicited Data-Out is treated (issue 15).
   * `"after-data"`: the target acts on it only once the Data-Out of its outstanding R2T has
   * arrived, and handles nothing else on that connection meanwhile (it processes a connection's
   * PDUs in order: later commands, NOP-Outs and TMFs wait behind the abort); then it answers
   * "function complete", drops the write and goes on. `"never"`: it never answers, and handles
   * nothing more on that connection. Default: answered at once, the write dropped.
   */
  readonly stalledAbort?: "after-data" | "never" | undefined
  /** Authentication the target requires (default none). */
  readonly chap?: ChapOptions | undefined
  /** Per-PDU override in full feature phase; return true when the PDU was handled. */
  readonly handler?: ((conn: FakeConnection, pdu: P.Pdu) => boolean | void) | undefined
  /** Per-PDU override during login; return true when handled (e.g. never answer). */
  readonly loginHandler?: ((conn: FakeConnection, pdu: P.LoginRequest) => boolean | void) | undefined
  /** Called when a connection is accepted (before any byte). */
  readonly onConnect?: ((conn: FakeConnection) => void) | undefined
}

/** A write or read the default handler is serving (R2T state). */
interface PendingWrite {
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
  tsih = 0
  /** What the initiator declared as its MaxRecvDataSegmentLength (bounds Data-In). */
  initiatorMaxRecv = 8192
  headerDigest = false
  dataDigest = false
  /** Every PDU the initiator sent on this connection, in order. */
  readonly received: Array<P.Pdu> = []
  /** Bytes written to the initiator. */
  bytesOut = 0
  readonly writes = new Map<number, PendingWrite>()
  private readonly framer: Framer.Framer
  private nextTtt = 1
  private chapState: { id: number; challenge: Uint8Array } | undefined
  /** Set when the initiator broke framing (garbage toward the target). */
  framingError: unknown

  constructor(
    readonly target: FakeTarget,
    readonly socket: Net.Socket
  ) {
    this.framer = Framer.make({
      headerDigest: false,
      dataDigest: false,
      maxDataSegmentLength: target.maxRecvDataSegmentLength
    })
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

  get expCmdSN(): number {
    return this.target.expCmdSN
  }
  get maxCmdSN(): number {
    return (this.target.expCmdSN + this.target.window - 1) >>> 0
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
  }

  /** Reset the connection (RST). */
  reset(): void {
    this.phase = "closed"
    if (!this.socket.destroyed) this.socket.resetAndDestroy()
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
    for (const pdu of r.success) {
      if ((this.phase as string) === "closed") return
      this.received.push(pdu)
      this.target.received.push({ cid: this.cid, pdu })
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
    if (req.tsih === 0 && pairs.some(([k]) => k === "InitiatorName")) {
      // a new session: its CmdSN numbering starts at the login's CmdSN
      t.expCmdSN = req.cmdSN
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
    if (final) this.tsih = req.tsih !== 0 ? req.tsih : t.nextTsih++
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
      expCmdSN: t.expCmdSN,
      maxCmdSN: (t.expCmdSN + t.window - 1) >>> 0,
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
        return "0"
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
      expCmdSN: this.target.expCmdSN,
      maxCmdSN: this.target.expCmdSN,
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
        this.target.disk.set(pdu.data.subarray(0, end - pdu.bufferOffset), w.lba * 512 + pdu.bufferOffset)
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
    const t = this.target
    if (this.holdBehindAbort(pdu)) return
    if (
      (pdu._tag === "ScsiCommand" ||
        pdu._tag === "NopOut" ||
        pdu._tag === "TaskManagementRequest" ||
        pdu._tag === "TextRequest" ||
        pdu._tag === "LogoutRequest") &&
      !pdu.immediate &&
      pdu.cmdSN === t.expCmdSN
    ) {
      t.expCmdSN = (t.expCmdSN + 1) >>> 0
    }
    if (t.options.handler?.(this, pdu) === true) return
    this.defaultFull(pdu)
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
    switch (op) {
      case 0x00: // TEST UNIT READY
        return this.respond(cmd.itt)
      case 0x12: {
        // INQUIRY (standard data only)
        const d = new Uint8Array(36)
        d[2] = 6
        d[3] = 2
        d[4] = 31
        d.set(new TextEncoder().encode("EFFECT  FAKETARGET      0001"), 8)
        return this.readReply(cmd, d)
      }
      case 0x25: {
        const d = new Uint8Array(8)
        const last = t.blocks - 1
        d[0] = last >>> 24
        d[1] = last >>> 16
        d[2] = last >>> 8
        d[3] = last
        d[6] = 2 // 512
        return this.readReply(cmd, d)
      }
      case 0x28:
      case 0x88:
      case 0x2a:
      case 0x8a: {
        const { lba, blocks } = op === 0x28 || op === 0x2a ? rw10(cdb) : rw16(cdb)
        if (lba + blocks > t.blocks) return this.checkCondition(cmd.itt, 5, 0x21, 0)
        if (op === 0x28 || op === 0x88) {
          return this.readReply(cmd, t.disk.subarray(lba * 512, (lba + blocks) * 512))
        }
        const total = blocks * 512
        const w: PendingWrite = { lun: cmd.lun, lba, total, received: 0, r2tEnd: 0, ttt: 0 }
        if (cmd.data.length > 0) {
          t.disk.set(cmd.data.subarray(0, total), lba * 512)
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
    this.target.disk.set(d.data.subarray(0, end - d.bufferOffset), w.lba * 512 + d.bufferOffset)
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

const rw10 = (c: Uint8Array) => ({
  lba: ((c[2]! << 24) | (c[3]! << 16) | (c[4]! << 8) | c[5]!) >>> 0,
  blocks: (c[7]! << 8) | c[8]!
})
const rw16 = (c: Uint8Array) => {
  let lba = 0
  for (let i = 2; i < 10; i++) lba = lba * 256 + c[i]!
  return { lba, blocks: ((c[10]! << 24) | (c[11]! << 16) | (c[12]! << 8) | c[13]!) >>> 0 }
}

/** The target: listening socket, session-wide CmdSN state, the RAM disk and the record. */
export class FakeTarget {
  readonly targetName: string
  readonly maxRecvDataSegmentLength: number
  readonly blocks: number
  readonly disk: Uint8Array
  /** Session-wide: the next CmdSN expected, and the window size. */
  expCmdSN = 1
  window: number
  nextTsih = 0x100
  readonly connections: Array<FakeConnection> = []
  readonly received: Array<{ readonly cid: number; readonly pdu: P.Pdu }> = []
  port = 0
  readonly host = "127.0.0.1"

  constructor(
    readonly options: Options,
    readonly server: Net.Server
  ) {
    this.targetName = options.targetName ?? "iqn.2026-11.io.effect-iscsi:fake"
    this.maxRecvDataSegmentLength = options.maxRecvDataSegmentLength ?? 8192
    this.blocks = options.blocks ?? 4096
    this.disk = new Uint8Array(this.blocks * 512)
    this.window = options.window ?? 32
  }

  get address(): { readonly host: string; readonly port: number } {
    return { host: this.host, port: this.port }
  }

  /** Connections currently in full feature phase. */
  get live(): ReadonlyArray<FakeConnection> {
    return this.connections.filter((c) => c.phase === "full" && !c.socket.destroyed)
  }

  /** Received PDUs of one kind. */
  sent<T extends P.Pdu["_tag"]>(tag: T): Array<Extract<P.Pdu, { _tag: T }>> {
    return this.received.filter((r) => r.pdu._tag === tag).map((r) => r.pdu as Extract<P.Pdu, { _tag: T }>)
  }

  /** Close the listener and every connection. */
  close(): Promise<void> {
    for (const c of this.connections) if (!c.socket.destroyed) c.socket.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/** Start a fake target (plain Promise API). */
export const start = (options: Options = {}): Promise<FakeTarget> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    const target = new FakeTarget(options, server)
    server.on("connection", (socket) => {
      socket.setNoDelay(true)
      const conn = new FakeConnection(target, socket)
      target.connections.push(conn)
      socket.on("error", () => {})
      socket.on("close", () => {
        conn.phase = "closed"
      })
      options.onConnect?.(conn)
      socket.on("data", (chunk: Buffer) => conn.onData(chunk))
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const a = server.address()
      target.port = typeof a === "object" && a !== null ? a.port : 0
      resolve(target)
    })
  })

/** A fake target for the current scope (closed with it). */
export const make = (options: Options = {}): Effect.Effect<FakeTarget, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (t) => Effect.promise(() => t.close())
  )
