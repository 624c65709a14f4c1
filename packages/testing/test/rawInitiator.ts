/**
 * A bare-bones initiator for testing the fake target itself: a plain `net.Socket`, core's `Pdu`
 * encoder and `Framer`, a one-step login (operational stage straight to full feature phase), and
 * builders for the few command PDUs the tests send. Every PDU the target sends is kept in `inbox`.
 *
 * Not here: negotiation, windows, retries — the tests choose every CmdSN, ITT and flag themselves.
 */
import * as Framer from "@effect-iscsi/core/Framer"
import * as Pdu from "@effect-iscsi/core/Pdu"
import type * as P from "@effect-iscsi/core/PduTypes"
import * as TextKeys from "@effect-iscsi/core/TextKeys"
import * as Result from "effect/Result"
import * as Net from "node:net"
import type { FakeTarget } from "../src/FakeTarget.ts"

export const INITIATOR = "iqn.2026-11.io.effect-iscsi:raw"
export const RESERVED = 0xffffffff

/** How the target ended the connection, as the initiator saw it. */
export type Ending = "open" | "fin" | "rst"

export class RawConnection {
  /** Every PDU the target sent, in order. */
  readonly inbox: Array<P.Pdu> = []
  ending: Ending = "open"
  private readonly framer = Framer.make({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 })
  private wake: (() => void) | undefined

  private constructor(readonly socket: Net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      const r = this.framer.push(new Uint8Array(chunk))
      if (Result.isSuccess(r)) this.inbox.push(...r.success)
      this.wake?.()
    })
    socket.on("end", () => {
      if (this.ending === "open") this.ending = "fin"
      this.wake?.()
    })
    socket.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ECONNRESET") this.ending = "rst"
      this.wake?.()
    })
    socket.on("close", () => this.wake?.())
  }

  static connect(t: FakeTarget): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = Net.connect({ host: t.host, port: t.port }, () => resolve(new RawConnection(s)))
      s.once("error", reject)
    })
  }

  send(pdu: P.InitiatorPdu): void {
    this.socket.write(Pdu.encode(pdu))
  }

  /** Wait (at most `ms`) until `cond` holds; false on timeout. */
  async until(cond: () => boolean, ms = 2000): Promise<boolean> {
    const deadline = Date.now() + ms
    while (!cond()) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50))
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    return true
  }

  /** The first PDU of kind `tag` (matching `pred`) the target sent, waiting for it (at most `ms`). */
  async next<T extends P.Pdu["_tag"]>(
    tag: T,
    pred: (pdu: Extract<P.Pdu, { _tag: T }>) => boolean = () => true,
    ms = 2000
  ): Promise<Extract<P.Pdu, { _tag: T }>> {
    const find = () =>
      this.inbox.find((p): p is Extract<P.Pdu, { _tag: T }> => p._tag === tag && pred(p as Extract<P.Pdu, { _tag: T }>))
    if (!(await this.until(() => find() !== undefined, ms))) throw new Error(`no ${tag} within ${ms} ms`)
    return find()!
  }

  /** Wait until the target closed the connection (FIN or RST); its ending. */
  async ended(ms = 2000): Promise<Ending> {
    await this.until(() => this.ending !== "open", ms)
    return this.ending
  }

  /** SCSI status PDUs (SCSI Response, Data-In with S) by ITT, in arrival order. */
  statuses(): Array<{ readonly itt: number; readonly expCmdSN: number; readonly maxCmdSN: number }> {
    const out: Array<{ itt: number; expCmdSN: number; maxCmdSN: number }> = []
    for (const p of this.inbox) {
      if (p._tag === "ScsiResponse" || (p._tag === "ScsiDataIn" && p.statusPresent)) {
        out.push({ itt: p.itt, expCmdSN: p.expCmdSN, maxCmdSN: p.maxCmdSN })
      }
    }
    return out
  }

  destroy(): void {
    this.socket.destroy()
  }
}

export interface LoginOptions {
  readonly isid: number
  readonly tsih?: number
  readonly cid?: number
  readonly cmdSN?: number
  readonly initiatorName?: string
  readonly time2Retain?: number
}

/** Connect and log in in one step (operational stage → full feature phase); the connection and the answer. */
export const login = async (
  t: FakeTarget,
  o: LoginOptions
): Promise<{ readonly conn: RawConnection; readonly response: P.LoginResponse }> => {
  const conn = await RawConnection.connect(t)
  const keys: Array<TextKeys.Pair> = [
    ["InitiatorName", o.initiatorName ?? INITIATOR],
    ["TargetName", t.targetName],
    ["MaxRecvDataSegmentLength", "65536"]
  ]
  if (o.time2Retain !== undefined) keys.push(["DefaultTime2Retain", String(o.time2Retain)])
  conn.send({
    _tag: "LoginRequest",
    transit: true,
    continue: false,
    csg: 1,
    nsg: 3,
    versionMax: 0,
    versionMin: 0,
    isid: o.isid,
    tsih: o.tsih ?? 0,
    itt: 0x4c000000 + (o.cid ?? 0),
    cid: o.cid ?? 0,
    cmdSN: o.cmdSN ?? 1,
    expStatSN: 0,
    data: TextKeys.encode(keys)
  })
  const response = await conn.next("LoginResponse")
  return { conn, response }
}

/** TEST UNIT READY (answered by a SCSI Response) as a non-immediate command unless told. */
export const tur = (itt: number, cmdSN: number, immediate = false, lun = 0n): P.ScsiCommand => ({
  _tag: "ScsiCommand",
  immediate,
  final: true,
  read: false,
  write: false,
  attribute: "Simple",
  lun,
  itt,
  expectedDataTransferLength: 0,
  cmdSN,
  expStatSN: 0,
  cdb: new Uint8Array(6),
  data: new Uint8Array(0)
})

/** An initiator ping: NOP-Out with a valid ITT, immediate unless told. */
export const ping = (itt: number, cmdSN: number, immediate = true): P.NopOut => ({
  _tag: "NopOut",
  immediate,
  lun: 0n,
  itt,
  ttt: RESERVED,
  cmdSN,
  expStatSN: 0,
  data: new Uint8Array(0)
})

/** ABORT TASK (immediate) for `itt`, sent at CmdSN `cmdSN`. */
export const abortTask = (itt: number, referencedTaskTag: number, refCmdSN: number, cmdSN: number) =>
  ({
    _tag: "TaskManagementRequest",
    immediate: true,
    function: 1,
    lun: 0n,
    itt,
    referencedTaskTag,
    cmdSN,
    expStatSN: 0,
    refCmdSN,
    expDataSN: 0
  }) satisfies P.TaskManagementRequest

/** Logout (immediate) with `reason` (0 close session, 1 close connection). */
export const logout = (itt: number, cmdSN: number, cid: number, reason: number): P.LogoutRequest => ({
  _tag: "LogoutRequest",
  immediate: true,
  reason,
  itt,
  cid,
  cmdSN,
  expStatSN: 0
})

/** Sleep `ms` (to show that nothing arrives). */
export const quiet = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
