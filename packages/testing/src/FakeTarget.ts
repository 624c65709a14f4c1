/**
 * A scripted in-process iSCSI target on 127.0.0.1 for engine tests: the faults a real target will
 * not produce on demand (closed CmdSN windows, target NOP-Ins, async messages, rejects, DataSN gaps,
 * garbage, truncated or oversize PDUs, wrong ITTs, StatSN jumps, endless R2Ts, over-long Data-In,
 * logins that never finish, silence, drops mid-transfer, commands lost in transit), and the
 * session-level behaviour of an RFC-following target that tgt does not show (session reinstatement
 * by ISID, CmdSN-ordered delivery across connections).
 *
 * Shape: `make(options)` (scoped) listens on port 0 and answers every connection with core's codec
 * (`Framer`, `Pdu`, `TextKeys`). Login is plain and permissive: it answers every operational key
 * with what we offered (or the target's own limits), transits when asked, and optionally runs
 * one-way or mutual CHAP (MD5).
 *
 * Sessions (internal/fakeSession.ts): a table of `FakeSession`s, each with its TSIH, its own
 * ExpCmdSN and window, its connections and counters. A leading login (TSIH 0) opens a session and,
 * when the (InitiatorName, ISID) of a live session completes login again, reinstates it: the old
 * session's connections are closed and its tasks dropped (RFC 7143 §6.3.5; `reinstate: false`
 * models tgt, which keeps both). A login with TSIH ≠ 0 adds a connection to that session (MC/S),
 * or fails with 2/0x0a "session does not exist". With `orderedDelivery` a session delivers
 * non-immediate commands in CmdSN order across its connections, holding those that arrive early
 * (§4.2.2.1); `dropCommand` loses a command PDU in transit, leaving the hole a real incident leaves.
 *
 * In full feature phase every PDU the SCSI layer gets goes first to the test's `handler` (return
 * `true` when it handled the PDU) and otherwise to the default behaviour over RAM disks
 * (internal/fakeDisk.ts; one target-wide set shared by every session): TEST UNIT READY, INQUIRY,
 * READ CAPACITY (10) and (16), REPORT LUNS, READ/WRITE (10/16) in each LUN's block size, with
 * Data-In split at the initiator's MaxRecvDataSegmentLength, immediate data and R2T → Data-Out, NOP,
 * Text, TMF, Logout. Every PDU the target received is recorded (`received`) so tests can assert on
 * bytes.
 *
 * Several portals (`portals`, for multipath tests): the target listens on that many loopback ports,
 * each a target port of its own (relative target port identifier i + 1); a test can take one down
 * and bring it back (`setPortalDown`). INQUIRY answers VPD pages 00h, 80h and 83h: the logical unit's
 * designators (an NAA and a T10 vendor ID derived from `deviceId` and the LUN, the same through
 * every portal unless a test gives a portal another identity with `setDeviceId`) and the port's
 * relative target port and target port group. With `alua` the standard data says TPGS 01b (implicit
 * ALUA), REPORT TARGET PORT GROUPS answers every group's asymmetric access state, commands that a
 * standby, unavailable or transitioning port may not serve get NOT READY 04/0B, 04/0C or 04/0A, and
 * `setAccessState` changes a group's state and raises UNIT ATTENTION 2A/06 (asymmetric access state
 * changed) on every session, reported on its next command to each logical unit (SPC-5 §5.16).
 * `raiseUnitAttention` queues any other one; `powerOnUnitAttention` gives every new session 29/00
 * on each logical unit, as tgt does.
 *
 * Not here: ERL > 0, SNACK, a real task set (delivered commands complete synchronously, in delivery
 * order; TMFs other than ABORT TASK touch nothing), MaxConnections enforcement, redirects, anything
 * a test did not ask for. RFC 7143 §6 (login), §11 (PDUs) from the target's side.
 */
import type * as P from "@effect-iscsi/core/PduTypes"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import { FakeConnection } from "./internal/fakeConnection.ts"
import { type LunSpec, lunNumber, RamDisk } from "./internal/fakeDisk.ts"
import { type FakeSession, type Reinstatement, SessionTable } from "./internal/fakeSession.ts"

export { FakeConnection, RESERVED_TAG } from "./internal/fakeConnection.ts"
export { type LunSpec, RamDisk } from "./internal/fakeDisk.ts"
export {
  type CommandPdu,
  type EndReason,
  FakeSession,
  type Reinstatement,
  SessionTable
} from "./internal/fakeSession.ts"

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
  /** Loopback port to listen on (default: a free one). */
  readonly port?: number | undefined
  /** Size of the default RAM disk in 512-byte blocks (default 4096 = 2 MiB); ignored with `luns`. */
  readonly blocks?: number | undefined
  /**
   * Logical units with their own size and block size (each a RAM disk; REPORT LUNS lists them;
   * other LUNs get CHECK CONDITION, LOGICAL UNIT NOT SUPPORTED). Default: one 512-byte disk of
   * `blocks` answered on every LUN (REPORT LUNS lists LUN 0).
   */
  readonly luns?: ReadonlyArray<LunSpec> | undefined
  /** The target's MaxRecvDataSegmentLength (bounds what the initiator sends; default 8192). */
  readonly maxRecvDataSegmentLength?: number | undefined
  /** Commands a session accepts ahead: MaxCmdSN = ExpCmdSN + window − 1 (default 32; 0 closes it). */
  readonly window?: number | undefined
  /** Answer HeaderDigest/DataDigest with CRC32C when offered (default false). */
  readonly digests?: boolean | undefined
  /**
   * A target that supports CRC32C digests only (issue 15): it answers HeaderDigest/DataDigest with
   * CRC32C when the offer lists it and with `Reject` otherwise, and after login frames everything
   * it sends with CRC32C header and data digests anyway (it reads what the initiator sends as
   * negotiated). Default false.
   */
  readonly insistOnDigests?: boolean | undefined
  /**
   * How ABORT TASK for a WRITE still waiting for its solicited Data-Out is treated (issue 15).
   * `"after-data"`: the target acts on it only once the Data-Out of its outstanding R2T has
   * arrived, and handles nothing else on that connection meanwhile (it processes a connection's
   * PDUs in order: later commands, NOP-Outs and TMFs wait behind the abort); then it answers
   * "function complete", drops the write and goes on. `"never"`: it never answers, and handles
   * nothing more on that connection. Default: answered at once, the write dropped.
   */
  readonly stalledAbort?: "after-data" | "never" | undefined
  /** MaxConnections the target answers with at most (default 4; not enforced). */
  readonly maxConnections?: number | undefined
  /** DefaultTime2Wait the target answers with (default 0). */
  readonly time2Wait?: number | undefined
  /**
   * DefaultTime2Retain the target answers with at most, in seconds (default 0): how long a session
   * outlives its last connection (a leading login with its ISID within that time reinstates it).
   */
  readonly time2Retain?: number | undefined
  /** Authentication the target requires (default none). */
  readonly chap?: ChapOptions | undefined
  /**
   * A leading login with the (InitiatorName, ISID) of a live session reinstates it: the old
   * session's connections are closed, its tasks dropped (default true, RFC 7143 §6.3.5). false:
   * both sessions live side by side (tgt's behaviour).
   */
  readonly reinstate?: boolean | undefined
  /** How a reinstated session's connections are closed: FIN (default) or RST. */
  readonly evict?: "fin" | "rst" | undefined
  /**
   * Deliver non-immediate commands in CmdSN order across a session's connections, holding those
   * that arrive ahead of ExpCmdSN and ignoring those outside the window (RFC 7143 §4.2.2.1), as real
   * targets do. Default false: every command goes to the handler on arrival (ExpCmdSN advances only
   * when the arrival is in order). Existing handler scripts count on arrival order: with ordering
   * on, the MC/S failover engine test's handler (it swallows what it is given until it kills one
   * connection) is handed the other connection's earlier CmdSNs before the kill, and those never
   * complete.
   */
  readonly orderedDelivery?: boolean | undefined
  /**
   * With `orderedDelivery`: an immediate ABORT TASK whose RefCmdSN was never received (inside the
   * window, below the TMF's CmdSN) makes the target consider it received and advance ExpCmdSN
   * (default true, RFC 7143 §11.5.1 b). false: the hole stays.
   */
  readonly abortTaskFillsHole?: boolean | undefined
  /**
   * A command PDU (one with a CmdSN: SCSI Command, NOP-Out, TMF, Text, Logout) in full feature phase
   * is lost in transit when this returns true: the target never sees it (not in `received`; in
   * `dropped`). The predicate may also reset the connection, as the real incident did.
   */
  readonly dropCommand?: ((conn: FakeConnection, pdu: P.Pdu) => boolean) | undefined
  /** Per-PDU override in full feature phase; return true when the PDU was handled. */
  readonly handler?: ((conn: FakeConnection, pdu: P.Pdu) => boolean | void) | undefined
  /** Per-PDU override during login; return true when handled (e.g. never answer). */
  readonly loginHandler?: ((conn: FakeConnection, pdu: P.LoginRequest) => boolean | void) | undefined
  /** Called when a connection is accepted (before any byte). */
  readonly onConnect?: ((conn: FakeConnection) => void) | undefined
  /** Loopback ports to listen on (default 1), each a target port: see `addresses`, `setPortalDown`. */
  readonly portals?: number | undefined
  /** What the logical units' VPD 83h designators derive from (default: the target name). */
  readonly deviceId?: string | undefined
  /** Implicit ALUA (TPGS 01b) with target port groups per portal and their access states. */
  readonly alua?: AluaOptions | boolean | undefined
  /** Every new session starts with UNIT ATTENTION 29/00 (power on) pending on each logical unit (as tgt). */
  readonly powerOnUnitAttention?: boolean | undefined
}

/** ASYMMETRIC ACCESS STATE codes (SPC-5 §6.37). */
export const AccessState = {
  ActiveOptimized: 0x0,
  ActiveNonOptimized: 0x1,
  Standby: 0x2,
  Unavailable: 0x3,
  Transitioning: 0xf
} as const

export interface AluaOptions {
  /** The target port group of each portal, by index (default: portal i in group i + 1). */
  readonly groups?: ReadonlyArray<number> | undefined
  /** Initial access state per group (default active/optimized). */
  readonly states?: Readonly<Record<number, number>> | undefined
  /** Groups with the PREF bit. */
  readonly preferred?: ReadonlyArray<number> | undefined
}

/** A PDU the target received (or lost in transit), with the connection's CID and session's TSIH. */
export interface Received {
  readonly cid: number
  /** 0 during login. */
  readonly tsih: number
  readonly pdu: P.Pdu
  /** The portal (by index) it arrived on. */
  readonly portal: number
}

/** The target: listening socket, the session table, the RAM disks and the record. */
export class FakeTarget {
  readonly targetName: string
  readonly maxRecvDataSegmentLength: number
  /** The logical units (the default single disk answers on every LUN). */
  readonly luns: ReadonlyArray<RamDisk>
  /** Sessions: live ones by TSIH, every one opened, every reinstatement. */
  readonly table = new SessionTable()
  /** Sessions deliver non-immediate commands in CmdSN order (the `orderedDelivery` option). */
  readonly orderedDelivery: boolean
  readonly connections: Array<FakeConnection> = []
  /** Every PDU the target received, in arrival order. */
  readonly received: Array<Received> = []
  /** Every command PDU `dropCommand` lost in transit. */
  readonly dropped: Array<Received> = []
  port = 0
  readonly host = "127.0.0.1"
  /** Every portal's port (`port` is the first). */
  readonly ports: Array<number> = []
  /** The listeners of the portals after the first. */
  readonly servers: Array<Net.Server> = []
  /** What VPD 83h's logical unit designators derive from; `setDeviceId` overrides it per portal. */
  deviceId: string
  private readonly portalDeviceIds = new Map<number, string>()
  private readonly down = new Set<number>()
  /** ALUA: each portal's target port group, each group's state, the preferred groups (undefined: no ALUA). */
  readonly alua:
    | { readonly groups: ReadonlyArray<number>; readonly states: Map<number, number>; readonly preferred: Set<number> }
    | undefined
  private defaultWindow: number

  constructor(
    readonly options: Options,
    readonly server: Net.Server
  ) {
    this.targetName = options.targetName ?? "iqn.2026-11.io.effect-iscsi:fake"
    this.maxRecvDataSegmentLength = options.maxRecvDataSegmentLength ?? 8192
    this.luns =
      options.luns === undefined
        ? [new RamDisk(0, options.blocks ?? 4096, 512)]
        : options.luns.map((l) => new RamDisk(l.lun, l.blocks, l.blockSize ?? 512))
    this.defaultWindow = options.window ?? 32
    this.orderedDelivery = options.orderedDelivery ?? false
    this.deviceId = options.deviceId ?? this.targetName
    const portals = options.portals ?? 1
    if (options.alua !== undefined && options.alua !== false) {
      const a = options.alua === true ? {} : options.alua
      const groups = Array.from({ length: portals }, (_, i) => a.groups?.[i] ?? i + 1)
      const states = new Map<number, number>()
      for (const g of groups) states.set(g, a.states?.[g] ?? AccessState.ActiveOptimized)
      this.alua = { groups, states, preferred: new Set(a.preferred ?? []) }
    }
  }

  /** Every portal's address, by index. */
  get addresses(): ReadonlyArray<{ readonly host: string; readonly port: number }> {
    return this.ports.map((port) => ({ host: this.host, port }))
  }

  /** The logical unit identity a portal shows (VPD 83h). */
  deviceIdOf(portal: number): string {
    return this.portalDeviceIds.get(portal) ?? this.deviceId
  }

  /** Make one portal lead to another logical unit identity (undefined: the target's again). */
  setDeviceId(portal: number, id: string | undefined): void {
    if (id === undefined) this.portalDeviceIds.delete(portal)
    else this.portalDeviceIds.set(portal, id)
  }

  /** Is this portal taken down (`setPortalDown`)? */
  isDown(portal: number): boolean {
    return this.down.has(portal)
  }

  /**
   * Take a portal down (its connections are reset, new ones reset as they arrive) or bring it back:
   * a path that dies and returns.
   */
  setPortalDown(portal: number, down: boolean): void {
    if (!down) {
      this.down.delete(portal)
      return
    }
    this.down.add(portal)
    for (const c of this.connections) if (c.portal === portal && !c.socket.destroyed) c.reset()
  }

  /** The target port group of a portal (ALUA), undefined without ALUA. */
  groupOf(portal: number): number | undefined {
    return this.alua?.groups[portal]
  }

  /** The asymmetric access state a portal's group is in (active/optimized without ALUA). */
  accessStateOf(portal: number): number {
    const g = this.groupOf(portal)
    return g === undefined ? AccessState.ActiveOptimized : (this.alua!.states.get(g) ?? AccessState.ActiveOptimized)
  }

  /**
   * Change a target port group's asymmetric access state; unless told otherwise, every live
   * session gets UNIT ATTENTION 2A/06 (asymmetric access state changed) on each logical unit.
   */
  setAccessState(group: number, state: number, options?: { readonly unitAttention?: boolean | undefined }): void {
    if (this.alua === undefined) throw new Error("setAccessState: the target was made without alua")
    this.alua.states.set(group, state)
    if (options?.unitAttention !== false) this.raiseUnitAttention(0x2a, 0x06)
  }

  /** Queue a UNIT ATTENTION on every live session, for each logical unit. */
  raiseUnitAttention(asc: number, ascq: number): void {
    for (const s of this.table.live) {
      if (s.sessionType !== "Normal") continue
      for (const disk of this.luns) s.unitAttentions.push({ disk, asc, ascq })
    }
  }

  get address(): { readonly host: string; readonly port: number } {
    return { host: this.host, port: this.port }
  }

  /**
   * The CmdSN window of new sessions; setting it also sets it on every live session (it shows in the
   * next PDU the target sends).
   */
  get window(): number {
    return this.defaultWindow
  }
  set window(n: number) {
    this.defaultWindow = n
    for (const s of this.table.live) s.window = n
  }

  /** ExpCmdSN of the most recently opened session (1 before any): for single-session tests. */
  get expCmdSN(): number {
    return this.table.latest?.expCmdSN ?? 1
  }

  /** Live sessions, oldest first. */
  get sessions(): ReadonlyArray<FakeSession> {
    return this.table.live
  }

  /** Every session reinstatement so far (the evicted TSIH, the new one, the evicted session). */
  get reinstatements(): ReadonlyArray<Reinstatement> {
    return this.table.reinstatements
  }

  /** The first LU's RAM disk (the default disk): its bytes and size in blocks. */
  get disk(): Uint8Array {
    return this.luns[0]!.data
  }
  get blocks(): number {
    return this.luns[0]!.blocks
  }

  /** LUN numbers REPORT LUNS lists. */
  get lunNumbers(): ReadonlyArray<number> {
    return this.luns.map((l) => l.lun)
  }

  /** The RAM disk behind a PDU's LUN field (undefined when no LU answers there). */
  diskFor(lun: bigint): RamDisk | undefined {
    if (this.options.luns === undefined) return this.luns[0]
    const n = lunNumber(lun)
    return n === undefined ? undefined : this.luns.find((l) => l.lun === n)
  }

  /** Connections currently in full feature phase. */
  get live(): ReadonlyArray<FakeConnection> {
    return this.connections.filter((c) => c.phase === "full" && !c.socket.destroyed)
  }

  /** Received PDUs of one kind. */
  sent<T extends P.Pdu["_tag"]>(tag: T): Array<Extract<P.Pdu, { _tag: T }>> {
    return this.received.filter((r) => r.pdu._tag === tag).map((r) => r.pdu as Extract<P.Pdu, { _tag: T }>)
  }

  /**
   * @internal a connection closed: when it was its session's last, the session ends now or after
   * its DefaultTime2Retain.
   */
  detach(conn: FakeConnection): void {
    const s = conn.session
    if (s === undefined || s.ended !== undefined || s.retainTimer !== undefined) return
    if (s.connections.some((c) => c !== conn && c.phase !== "closed" && !c.socket.destroyed)) return
    if (s.time2Retain <= 0) return this.table.end(s, "connections closed")
    s.retainTimer = setTimeout(() => this.table.end(s, "connections closed"), s.time2Retain * 1000)
    s.retainTimer.unref?.()
  }

  /** Close the listener and every connection. */
  close(): Promise<void> {
    for (const s of this.table.live) this.table.end(s, "target closed")
    for (const c of this.connections) if (!c.socket.destroyed) c.socket.destroy()
    return Promise.all(
      [this.server, ...this.servers].map((srv) => new Promise<void>((resolve) => srv.close(() => resolve())))
    ).then(() => undefined)
  }
}

/** Start a fake target (plain Promise API). */
export const start = (options: Options = {}): Promise<FakeTarget> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    const target = new FakeTarget(options, server)
    const accept = (portal: number) => (socket: Net.Socket) => {
      socket.on("error", () => {})
      if (target.isDown(portal)) {
        socket.resetAndDestroy()
        return
      }
      socket.setNoDelay(true)
      const conn = new FakeConnection(target, socket)
      conn.portal = portal
      target.connections.push(conn)
      socket.on("close", () => {
        conn.phase = "closed"
        target.detach(conn)
      })
      options.onConnect?.(conn)
      socket.on("data", (chunk: Buffer) => conn.onData(chunk))
    }
    const listen = (srv: Net.Server, port: number, portal: number): Promise<number> =>
      new Promise((ok, fail) => {
        srv.on("connection", accept(portal))
        srv.once("error", fail)
        srv.listen(port, "127.0.0.1", () => {
          const a = srv.address()
          ok(typeof a === "object" && a !== null ? a.port : 0)
        })
      })
    const more = Array.from({ length: Math.max(0, (options.portals ?? 1) - 1) }, () => Net.createServer())
    target.servers.push(...more)
    Promise.all([listen(server, options.port ?? 0, 0), ...more.map((srv, i) => listen(srv, 0, i + 1))]).then(
      (ports) => {
        target.port = ports[0]!
        target.ports.push(...ports)
        resolve(target)
      },
      reject
    )
  })

/** A fake target for the current scope (closed with it). */
export const make = (options: Options = {}): Effect.Effect<FakeTarget, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (t) => Effect.promise(() => t.close())
  )
