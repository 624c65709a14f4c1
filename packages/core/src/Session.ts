/**
 * An iSCSI session in full feature phase: one or more logged-in connections (MC/S), pipelined
 * SCSI tasks inside the target's CmdSN window, task management, text exchanges, NOP keepalive,
 * asynchronous messages, logout (RFC 7143 §4.2.2, §6.3, §11).
 *
 * Shape: `make(config)` is scoped. Each connection gets its own child scope. Received bytes are
 * framed and routed by ITT synchronously (see internal/engine.ts): straight from the transport's
 * read callback when it offers push mode (`Channel.receive`), else in a reader fiber that pulls
 * batches. Frames go out through the transport's `writeNow` when it has one, else through a writer
 * fiber that batches every queued frame into one corked write. A pinger fiber sends NOP-Out when
 * the connection has been silent (any received PDU counts as liveness). One session-level supervisor
 * fiber reacts to what the synchronous engine signals: a dead connection, a closed CmdSN window to
 * reopen with a ping, an ABORT TASK to send, an async message. Sequence state (ITT, CmdSN,
 * ExpStatSN, window) lives only in the engine and never leaves this module.
 *
 * Time: one ticker per session runs while tasks are in flight (a tick every 10 ms, parked when the
 * session is idle). It expires command deadlines (the session's `commandTimeoutMs`, or a request's
 * own `timeoutMs`: precise to a tick or two) and watches for CmdSN holes: when ExpCmdSN has not
 * advanced for `holeTimeoutMs` while a command we sent waits for it — or at once after an MC/S
 * connection died with commands the target may never have received — it pings every connection,
 * and if the target still expects a CmdSN it will never get (ERL 0 cannot refill it) the session is
 * closed with `ConnectionLost` so that session recovery reinstates it.
 *
 * Interrupting a caller's fiber sends ABORT TASK for its task, waits (bounded) for the answer and
 * frees the ITT; the session stays usable. When a connection dies every task on it fails at once
 * with `ConnectionLost`, or, while another connection lives, its idempotent tasks are re-issued
 * there; the lost connection is logged in again in the background (with backoff) until the session
 * has the connections it asked for. Closing the scope drains in-flight tasks within a bound, logs
 * out and closes.
 *
 * Not here: the wire codec (`Pdu`, `Framer`), negotiation and CHAP (`LoginMachine`), SCSI
 * semantics (@effect-iscsi/scsi), session recovery after loss (`Recovery`, when enabled).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Engine from "./internal/engine.ts"
import type { Histogram } from "./internal/histogram.ts"
import * as IscsiError from "./IscsiError.ts"
import * as Login from "./Login.ts"
import type * as LoginMachine from "./LoginMachine.ts"
import * as Lun from "./Lun.ts"
import type * as Negotiation from "./Negotiation.ts"
import type * as P from "./PduTypes.ts"
import { RESERVED_TAG, TaskManagementFunction } from "./PduTypes.ts"
import { type ScsiRequest, type ScsiResult, unitAttention } from "./ScsiTransport.ts"
import * as Serial from "./Serial.ts"
import * as TextKeys from "./TextKeys.ts"
import { type Address, Platform, Transport } from "./Transport.ts"

export interface Config {
  readonly address: Address
  readonly initiatorName: string
  readonly initiatorAlias?: string | undefined
  /** Required for Normal sessions. */
  readonly targetName?: string | undefined
  readonly sessionType?: "Normal" | "Discovery" | undefined
  /** 48-bit ISID; keep it stable per (initiator, target) so the I_T nexus survives reconnects. */
  readonly isid: number
  readonly auth: LoginMachine.Config["auth"]
  readonly offer: Negotiation.Offer
  /**
   * Connections to keep open (MC/S), bounded by the negotiated MaxConnections (default 1). A
   * connection the target refuses or loses is logged in again in the background.
   */
  readonly connections?: number | undefined
  readonly loginTimeoutMs?: number | undefined
  /** Ping a connection silent for this long (default 5000 ms; 0 = no keepalive). */
  readonly keepaliveIntervalMs?: number | undefined
  /** Declare it dead when nothing arrives this long after the ping (default 10000 ms). */
  readonly keepaliveTimeoutMs?: number | undefined
  /**
   * Per-command deadline when the request names none (default 60000 ms; 0 = none). Expiry aborts
   * the task and fails with Timeout.
   */
  readonly commandTimeoutMs?: number | undefined
  /**
   * How long an ABORT TASK (for an interrupted, timed-out or broken task) may stay unanswered
   * (default 5000 ms, at most the command deadline): then the connection is dropped at once
   * (`ConnectionLost`, as for a lost connection: MC/S failover or session recovery follow) rather
   * than left to keepalive, since a target that ignores an abort holds that task and maybe more.
   */
  readonly abortTimeoutMs?: number | undefined
  /** Ping to reopen a closed CmdSN window after this long (default 500 ms). */
  readonly windowPingMs?: number | undefined
  /**
   * How long ExpCmdSN may stand still while a command we sent waits for it before the target is
   * asked (NOP) whether it is missing a CmdSN (default 5000 ms).
   */
  readonly holeTimeoutMs?: number | undefined
  /** Graceful shutdown: how long to wait for in-flight tasks before logging out (default 10000 ms). */
  readonly drainTimeoutMs?: number | undefined
}

export type SessionEvent =
  | Engine.EngineEvent
  | { readonly _tag: "ConnectionUp"; readonly cid: number }
  | { readonly _tag: "ConnectionDown"; readonly cid: number; readonly error: IscsiError.IscsiError }
  | { readonly _tag: "ConnectionRefused"; readonly error: IscsiError.IscsiError }
  | { readonly _tag: "CmdSNHole"; readonly expCmdSN: number; readonly waiting: number }
  /** A command ended in CHECK CONDITION, UNIT ATTENTION (sense key 6): the raw sense, its ASC/ASCQ. */
  | {
      readonly _tag: "UnitAttention"
      readonly lun: bigint
      readonly asc: number
      readonly ascq: number
      readonly sense: Uint8Array
    }
  | { readonly _tag: "SessionClosed"; readonly error: IscsiError.IscsiError }

export interface Info {
  readonly isid: number
  readonly tsih: number
  readonly targetName: string | undefined
  readonly targetPortalGroupTag: number | undefined
  readonly targetAlias: string | undefined
  readonly params: Negotiation.OperationalParameters
  readonly address: Address
  /** Connections asked for (`Config.connections`, at least 1). */
  readonly connectionsWanted: number
  /** Connections the session keeps: the ones asked for, within the negotiated MaxConnections. */
  readonly connectionsGranted: number
  /** When the leading login completed (epoch ms, Effect `Clock`): see `Recurrence`. */
  readonly loggedInAt: number
}

/**
 * A session's counters as live views, read synchronously and never copied: `Telemetry` reads them
 * when metrics are exported, `stats` copies the same numbers.
 */
export interface Live {
  readonly counters: Readonly<Engine.Counters>
  /** Round-trip times of our NOP-Out pings, seconds. */
  readonly nopRtt: Histogram
  /** SCSI tasks the session holds now. */
  readonly inFlight: () => number
  /** The live connections and their traffic. */
  readonly connections: () => ReadonlyArray<{ readonly cid: number; readonly counters: Readonly<Engine.ConnCounters> }>
}

/**
 * Told every session event as it happens (synchronously, before the subscribers of `events`, from
 * the leading login on), with the session's live counters.
 */
export type Observer = (event: SessionEvent, live: Live) => void

export interface Session {
  readonly info: Info
  /** Run one SCSI task (non-GOOD status is a result, not an error). */
  readonly execute: (request: ScsiRequest) => Effect.Effect<ScsiResult, IscsiError.IscsiError>
  /** A task management function; resolves with the target's response code on "function complete" (0). */
  readonly taskManagement: (
    fn: number,
    options?: { readonly lun?: number | bigint; readonly referencedTaskTag?: number; readonly refCmdSN?: number }
  ) => Effect.Effect<void, IscsiError.IscsiError>
  /** A full-feature Text exchange (with continuation); returns the target's key=value pairs. */
  readonly text: (
    pairs: ReadonlyArray<TextKeys.Pair>
  ) => Effect.Effect<ReadonlyArray<TextKeys.Pair>, IscsiError.IscsiError>
  /** A NOP-Out ping answered by a NOP-In. */
  readonly ping: Effect.Effect<void, IscsiError.IscsiError>
  /** Open another connection (MC/S, within MaxConnections). */
  readonly addConnection: Effect.Effect<number, IscsiError.IscsiError>
  /** Log out one connection (reason 1) and close it; its tasks must have completed. */
  readonly removeConnection: (cid: number) => Effect.Effect<void, IscsiError.IscsiError>
  /** Log out the session now (tasks still in flight fail with SessionClosed). */
  readonly logout: Effect.Effect<void, IscsiError.IscsiError>
  readonly events: Stream.Stream<SessionEvent>
  /** Live figures: tasks in flight, waiting for the window, connections, CmdSN window. */
  readonly stats: Effect.Effect<{
    readonly inFlight: number
    readonly waiting: number
    readonly connections: ReadonlyArray<number>
    readonly cmdSN: number
    readonly expCmdSN: number
    readonly maxCmdSN: number
    readonly counters: Engine.Counters
  }>
  /** The same counters, live (see `Live`). */
  readonly live: Live
  /** Resolves when the session is closed (logout, loss of all connections). */
  readonly closed: Effect.Effect<IscsiError.IscsiError>
  /** Is the session open with a connection to send on? (Synchronous: the pool's data path asks it.) */
  readonly usable: () => boolean
}

type Signal =
  | { readonly _tag: "Dead"; readonly conn: Engine.Conn; readonly error: IscsiError.IscsiError }
  | { readonly _tag: "WindowClosed" }
  | { readonly _tag: "Abort"; readonly task: Engine.Task & { readonly lun: bigint } }
  | { readonly _tag: "Async"; readonly conn: number; readonly message: P.AsyncMessage }

const err = {
  closed: (message: string) => IscsiError.make(new IscsiError.SessionClosed({ message })),
  lost: (message: string) => IscsiError.make(new IscsiError.ConnectionLost({ message })),
  timeout: (operation: string, ms: number) =>
    IscsiError.make(new IscsiError.Timeout({ operation, message: `${operation} did not complete within ${ms} ms` })),
  invalid: (message: string) => IscsiError.make(new IscsiError.InvalidArgument({ message }))
}

/**
 * A placed Data-In segment still missing at least this many bytes is read by the transport straight
 * into the task's buffer (one socket read more, one copy less: npm run bench).
 */
const DIRECT_READ_MIN = 8192

/** The session ticker's period: command deadlines and the CmdSN-hole watch count in these. */
const TICK_MS = 10

/** Ticks until a deadline `ms` from now: it passes between `ms` and `ms + 2 ticks`. */
const ticksFor = (ms: number): number => Math.ceil(ms / TICK_MS) + 1

const completionToEffect =
  <A>(resume: (effect: Effect.Effect<A, IscsiError.IscsiError>) => void): Engine.Completion<A> =>
  (r) =>
    resume(r._tag === "ok" ? Effect.succeed(r.value) : Effect.fail(r.error))

const TMF_RESPONSES: Record<number, string> = {
  0: "function complete",
  1: "task does not exist",
  2: "LUN does not exist",
  3: "task still allegiant",
  4: "task allegiance reassignment not supported",
  5: "task management function not supported",
  6: "function authorization failed",
  255: "function rejected"
}

/** The timing knobs of a session, defaults applied. */
interface Timing {
  readonly keepaliveInterval: number
  readonly keepaliveTimeout: number
  readonly commandTimeout: number
  readonly abortTimeout: number
  readonly windowPing: number
  readonly holeTimeout: number
  readonly drainTimeout: number
}

/**
 * Everything the parts of one session share: the engine state, the scopes, the signal queue and the
 * few mutable facts of the Effect shell. Built once by `make`; the functions below take it.
 */
interface Shell {
  readonly config: Config
  readonly timing: Timing
  readonly platform: Platform["Service"]
  readonly transport: Transport["Service"]
  readonly scope: Scope.Scope
  readonly state: Engine.SessionState
  readonly params: Negotiation.OperationalParameters
  readonly engineParams: Engine.EngineParams
  readonly tsih: number
  readonly address: Address
  readonly events: PubSub.PubSub<SessionEvent>
  readonly observer: Observer | undefined
  readonly live: Live
  /** What every log line of this session carries. */
  readonly logLabels: Readonly<Record<string, unknown>>
  readonly signals: Queue.Queue<Signal>
  readonly connScopes: Map<Engine.Conn, Scope.Closeable>
  readonly closedLatch: Latch.Latch
  /** Open while tasks are in flight (or a hole is suspected): the ticker runs. */
  readonly busy: Latch.Latch
  /** Connections the session keeps (asked for, within MaxConnections). */
  readonly granted: number
  closedWith: IscsiError.IscsiError | undefined
  nextCid: number
  windowPingScheduled: boolean
  keeperRunning: boolean
  /** Ticks counted while busy. */
  tick: number
  /** CmdSN-hole watch: the ExpCmdSN last seen, since when (tick), a probe in flight, a loss to check now. */
  hole: { lastExp: number; since: number; probing: boolean; suspect: number | undefined }
}

/** Tell the observer, then the subscribers of `events`. */
const publish = (s: Shell, event: SessionEvent): void => {
  s.observer?.(event, s.live)
  PubSub.publishUnsafe(s.events, event)
}

/** Annotate a log line with the session's target and portal (never secrets). */
const annotated = (s: Shell, effect: Effect.Effect<void>, fields: Record<string, unknown> = {}) =>
  effect.pipe(Effect.annotateLogs({ ...s.logLabels, ...fields }))

const provideShell = <A, E, R>(s: Shell, eff: Effect.Effect<A, E, R>) =>
  eff.pipe(Effect.provideService(Transport, s.transport), Effect.provideService(Platform, s.platform))

const loginConfig = (
  config: Config,
  cid: number,
  tsih: number,
  cmdSN: number,
  session?: Negotiation.OperationalParameters
): LoginMachine.Config => ({
  initiatorName: config.initiatorName,
  ...(config.initiatorAlias !== undefined ? { initiatorAlias: config.initiatorAlias } : {}),
  sessionType: config.sessionType ?? "Normal",
  ...(config.targetName !== undefined ? { targetName: config.targetName } : {}),
  isid: config.isid,
  tsih,
  cid,
  itt: 0,
  cmdSN,
  expStatSN: 0,
  auth: config.auth,
  offer: config.offer,
  leading: tsih === 0,
  ...(session !== undefined ? { session } : {})
})

const closeSession = (s: Shell, error: IscsiError.IscsiError) =>
  Effect.sync(() => {
    if (s.closedWith !== undefined) return
    s.closedWith = error
    s.state.close(error)
    publish(s, { _tag: "SessionClosed", error })
    // let the ticker see the close and end
    Latch.openUnsafe(s.busy)
  }).pipe(Effect.andThen(s.closedLatch.open))

// ---- connections --------------------------------------------------------------------------------

/** Run a logged-in connection: engine Conn, framing, writer/reader/pinger, placement. */
const attach = (s: Shell, connected: Login.Connected, scope: Scope.Closeable, cid: number) =>
  Effect.gen(function* () {
    const { state, params, platform } = s
    const conn = new Engine.Conn(cid, state, s.engineParams, platform.crc32c, connected.result.statSN)
    const framer = connected.framer
    framer.setDigests(params.headerDigest, params.dataDigest, platform.crc32c)
    // a target that rejected HeaderDigest=None (or negotiated it) and digests anyway: a typed error
    const rejected = connected.result.params.rejectedKeys ?? []
    framer.checkUndeclaredDigests({
      header: rejected.includes("HeaderDigest"),
      data: rejected.includes("DataDigest")
    })
    framer.setMaxDataSegmentLength(params.maxRecvDataSegmentLength)
    const outbox = yield* Queue.unbounded<Uint8Array>()
    const channel = connected.channel
    const writeNow = channel.writeNow
    conn.write =
      writeNow !== undefined
        ? // straight to the socket, batched per event-loop turn by the transport (npm run bench)
          (frames) => {
            let n = 0
            for (let i = 0; i < frames.length; i++) n += frames[i]!.length
            state.stats.bytesOut += n
            conn.stats.bytesOut += n
            writeNow(frames)
          }
        : (frames) => {
            Queue.offerAllUnsafe(outbox, frames)
          }
    // the engine copies Data-In out at once: the framer may reuse its assembly buffers
    framer.setReuseDataInBuffers(true)
    /** Frame one received chunk and run the engine on its PDUs (synchronous, plain code). */
    const onChunk = (chunk: Uint8Array): void => {
      if (conn.dead !== undefined) return
      state.stats.bytesIn += chunk.length
      conn.stats.bytesIn += chunk.length
      const r = framer.push(chunk)
      if (r._tag === "Failure") {
        if (r.failure.reason._tag === "DigestError") state.stats.digestErrors++
        return conn.kill(r.failure)
      }
      if (r.success.length > 0) conn.receive(r.success)
    }
    // without push mode: a reader fiber pulls batches of chunks
    const reader = Effect.gen(function* () {
      while (conn.dead === undefined) {
        const chunks = yield* channel.pull
        for (let i = 0; i < chunks.length && conn.dead === undefined; i++) onChunk(chunks[i]!)
      }
    }).pipe(Effect.catch((e) => Effect.sync(() => conn.kill(e))))
    const writer = Effect.gen(function* () {
      for (;;) {
        const batch = yield* Queue.takeAll(outbox)
        if (conn.dead !== undefined) return
        let n = 0
        for (let i = 0; i < batch.length; i++) n += batch[i]!.length
        state.stats.bytesOut += n
        conn.stats.bytesOut += n
        yield* channel.writeAll(batch)
      }
    }).pipe(Effect.catch((e) => Effect.sync(() => conn.kill(e))))
    if (channel.receive === undefined) yield* Effect.forkIn(reader, scope)
    if (writeNow === undefined) yield* Effect.forkIn(writer, scope)
    yield* Effect.forkIn(keepalive(s, conn, scope), scope)
    yield* Scope.addFinalizer(scope, channel.destroy)
    s.connScopes.set(conn, scope)
    state.conns.push(conn)
    state.stats.logins++
    publish(s, { _tag: "ConnectionUp", cid })
    // push mode: the transport runs `onChunk` from its read callback (no fiber hop per read); a
    // Data-In segment that straddles reads goes straight into its task's buffer (Conn.place), and
    // the transport may read the rest of it there directly (`nextBuffer`)
    if (channel.receive !== undefined) {
      framer.setPlacer(conn)
      conn.onRevoke = () => {
        framer.revokePlacement()
        channel.revokeBuffer?.()
      }
      channel.receive({
        onChunk,
        onClose: (e) => conn.kill(e),
        nextBuffer: () => (conn.dead === undefined ? framer.directBuffer(DIRECT_READ_MIN) : undefined),
        readLimit: () => framer.readLimit()
      })
    }
    return conn
  })

/** NOP-Out a connection that has been silent for an interval; dead when nothing answers in time. */
const keepalive = (s: Shell, conn: Engine.Conn, scope: Scope.Scope) =>
  Effect.gen(function* () {
    const { keepaliveInterval, keepaliveTimeout } = s.timing
    if (keepaliveInterval <= 0) return
    // a counter of received batches, not a clock read per batch (npm run bench)
    let seen = conn.received
    for (;;) {
      yield* Effect.sleep(Duration.millis(keepaliveInterval))
      if (conn.dead !== undefined) return
      if (conn.received !== seen) {
        seen = conn.received
        continue
      }
      // silent for a whole interval: ping; any PDU received before the deadline counts as liveness
      yield* Effect.forkIn(Effect.ignore(pingOn(s, conn)), scope)
      yield* Effect.sleep(Duration.millis(keepaliveTimeout))
      if (conn.dead !== undefined) return
      if (conn.received === seen) {
        conn.kill(err.timeout("keepalive", keepaliveTimeout))
        return
      }
      seen = conn.received
    }
  })

/** Log in one more connection of this session (MC/S) and run it. */
const addConnection = (s: Shell): Effect.Effect<number, IscsiError.IscsiError> =>
  Effect.gen(function* () {
    if (s.closedWith !== undefined) return yield* Effect.fail(s.closedWith)
    const limit = Math.max(1, s.params.maxConnections)
    if (s.state.conns.length >= limit) {
      return yield* Effect.fail(err.invalid(`MaxConnections=${limit} reached`))
    }
    const cid = s.nextCid++
    const scope = yield* Scope.fork(s.scope)
    const connected = yield* provideShell(
      s,
      Login.connect({
        address: s.address,
        config: loginConfig(s.config, cid, s.tsih, s.state.cmdSN, s.params),
        timeoutMs: s.config.loginTimeoutMs
      }).pipe(
        Scope.provide(scope),
        Effect.tapError(() => Scope.close(scope, Exit.void))
      )
    )
    yield* attach(s, connected, scope, cid)
    return cid
  }).pipe(Effect.withSpan("Session.addConnection"))

/**
 * Keep the session at its granted connection count: log lost or refused connections in again, with
 * backoff (250 ms doubling to 5 s), for as long as the session lives. One keeper at a time.
 */
const keepConnections = (s: Shell) =>
  Effect.suspend(() => {
    if (s.keeperRunning || s.closedWith !== undefined || s.state.conns.length >= s.granted) return Effect.void
    s.keeperRunning = true
    const time2Wait = Math.min(s.params.defaultTime2Wait * 1000, 5000)
    return Effect.gen(function* () {
      let delay = Math.max(250, time2Wait)
      while (s.closedWith === undefined && s.state.conns.length > 0 && s.state.conns.length < s.granted) {
        yield* Effect.sleep(Duration.millis(delay))
        if (s.closedWith !== undefined || s.state.conns.length === 0) return
        const r = yield* Effect.exit(addConnection(s))
        if (Exit.isFailure(r)) {
          yield* refused(s, r.cause)
          delay = Math.min(delay * 2, 5000)
        } else {
          delay = Math.max(250, time2Wait)
        }
      }
    }).pipe(Effect.ensuring(Effect.sync(() => (s.keeperRunning = false))), Effect.forkIn(s.scope), Effect.asVoid)
  })

/** Publish why a connection could not be added. */
const refused = (s: Shell, cause: Cause.Cause<IscsiError.IscsiError>): Effect.Effect<void> => {
  const found = Cause.findError(cause)
  if (found._tag === "Failure") return Effect.void
  const error = found.success
  publish(s, { _tag: "ConnectionRefused", error })
  return annotated(s, Effect.logWarning("an MC/S connection could not log in; trying again later"), {
    reason: error.reason._tag,
    error: error.reason.message
  })
}

/** A connection died or was removed: fail or move its tasks, close it, maybe close the session. */
const dropConn = (s: Shell, conn: Engine.Conn, error: IscsiError.IscsiError, replace: boolean) =>
  Effect.gen(function* () {
    const { state } = s
    const i = state.conns.indexOf(conn)
    if (i >= 0) state.conns.splice(i, 1)
    // MC/S failover: while another connection lives, idempotent SCSI tasks of the dead one are
    // re-issued on it (new ITT and CmdSN, in their original order); everything else fails now
    // (session recovery, when enabled, re-issues those after a full loss).
    const failover = s.closedWith === undefined && state.pickConn() !== undefined
    const reissue: Array<Engine.ScsiTask> = []
    let unreceived: number | undefined
    for (const task of state.tasks.values()) {
      if (task.conn !== conn) continue
      // a command the target may never have received leaves a CmdSN hole behind it
      if (task.sent && !task.immediate && Serial.gte(task.cmdSN, state.expCmdSN)) {
        if (unreceived === undefined || Serial.lt(task.cmdSN, unreceived)) unreceived = task.cmdSN
      }
      if (failover && task instanceof Engine.ScsiTask && task.reissuable) {
        state.release(task)
        task.resetForReissue()
        reissue.push(task)
      } else {
        state.failTask(task, error)
      }
    }
    if (failover && unreceived !== undefined) {
      // check the survivors at once rather than after holeTimeoutMs
      s.hole.suspect = unreceived
      Latch.openUnsafe(s.busy)
    }
    for (const task of reissue) state.submit(task)
    state.stats.reissued += reissue.length
    const scope = s.connScopes.get(conn)
    s.connScopes.delete(conn)
    publish(s, { _tag: "ConnectionDown", cid: conn.cid, error })
    if (replace) {
      state.stats.connectionLosses++
      yield* annotated(s, Effect.logWarning("connection lost"), {
        cid: conn.cid,
        reason: error.reason._tag,
        error: error.reason.message,
        connectionsLeft: state.conns.length,
        reissued: reissue.length
      })
    }
    if (scope !== undefined) yield* Scope.close(scope, Exit.void)
    if (state.conns.length === 0) yield* closeSession(s, error)
    else if (replace) yield* keepConnections(s)
  })

// ---- tasks --------------------------------------------------------------------------------------

/** The caller gave up on a task without an abort: drop it from the window queue, or ignore its answer. */
const cancelTask = (s: Shell, task: Engine.Task) =>
  Effect.sync(() => {
    if (task.finished) return
    task.finished = true
    if (!s.state.unqueue(task)) task.abandoned = true
    s.state.release(task)
  })

const simple = <A>(
  s: Shell,
  immediate: boolean,
  build: (task: Engine.SimpleTask<A>, conn: Engine.Conn) => P.InitiatorPdu,
  accept: (pdu: P.TargetPdu) => A | IscsiError.IscsiError,
  conn?: Engine.Conn
) =>
  Effect.callback<A, IscsiError.IscsiError>((resume) => {
    const task = new Engine.SimpleTask<A>(immediate, build, accept, completionToEffect(resume))
    s.state.submit(task, conn)
    return cancelTask(s, task)
  })

/** A NOP-Out ping answered by a NOP-In; its round trip goes to `nopRtt`. */
const pingOn = (s: Shell, conn?: Engine.Conn) =>
  Effect.suspend(() => {
    let sentAt = 0
    return simple<void>(
      s,
      true,
      (task, c) => {
        sentAt = performance.now()
        s.state.stats.nopPings++
        return {
          _tag: "NopOut",
          immediate: true,
          lun: 0n,
          itt: task.itt,
          ttt: RESERVED_TAG,
          cmdSN: s.state.cmdSN,
          expStatSN: c.expStatSN,
          data: new Uint8Array(0)
        }
      },
      (pdu) => {
        if (pdu._tag !== "NopIn") {
          return IscsiError.make(new IscsiError.ProtocolError({ message: `NOP-Out answered by ${pdu._tag}` }))
        }
        s.state.nopRtt.observe((performance.now() - sentAt) / 1000)
        return undefined
      },
      conn
    )
  })

const tmfRaw = (s: Shell, fn: number, lun: bigint, referencedTaskTag: number, refCmdSN: number, conn?: Engine.Conn) =>
  simple<number>(
    s,
    true,
    (task, c) => ({
      _tag: "TaskManagementRequest",
      immediate: true,
      function: fn,
      lun,
      itt: task.itt,
      referencedTaskTag,
      cmdSN: s.state.cmdSN,
      expStatSN: c.expStatSN,
      refCmdSN,
      expDataSN: 0
    }),
    (pdu) =>
      pdu._tag === "TaskManagementResponse"
        ? pdu.response
        : IscsiError.make(new IscsiError.ProtocolError({ message: `TMF answered by ${pdu._tag}` })),
    conn
  )

/**
 * ABORT TASK for a task given up on; frees its ITT when answered. Unanswered within
 * `abortTimeoutMs`, the connection is dropped at once (its tasks fail or move: `dropConn`): a
 * target that sits on an abort (one waiting for Data-Out we no longer sent) would otherwise stall
 * the session until keepalive gave up on it.
 */
const abortTask = (s: Shell, task: Engine.Task & { readonly lun: bigint }) =>
  Effect.gen(function* () {
    const conn = task.conn
    if (conn === undefined || conn.dead !== undefined) return
    s.state.stats.aborts++
    const timeout = s.timing.abortTimeout
    const answered = yield* tmfRaw(s, TaskManagementFunction.AbortTask, task.lun, task.itt, task.cmdSN, conn).pipe(
      Effect.as(true),
      Effect.timeoutOrElse({ duration: Duration.millis(timeout), orElse: () => Effect.succeed(false) }),
      Effect.catch(() => Effect.succeed(true))
    )
    if (!answered && conn.dead === undefined && s.closedWith === undefined) {
      const message = `ABORT TASK for ITT 0x${task.itt.toString(16)} not answered within ${timeout} ms: connection ${conn.cid} dropped`
      conn.kill(IscsiError.make(new IscsiError.ConnectionLost({ message, cause: err.timeout("ABORT TASK", timeout) })))
    }
  }).pipe(Effect.ensuring(Effect.sync(() => s.state.release(task))))

/** Submit one SCSI task; interruption abandons it (ABORT TASK in the background). */
const execute = (
  s: Shell,
  onAbortNeeded: (t: Engine.ScsiTask) => void,
  request: ScsiRequest
): Effect.Effect<ScsiResult, IscsiError.IscsiError> => {
  if (s.closedWith !== undefined) return Effect.fail(s.closedWith)
  let lun: bigint
  if (typeof request.lun === "bigint") lun = request.lun
  else {
    const r = Lun.encodeResult(request.lun)
    if (r._tag === "Failure") return Effect.fail(r.failure)
    lun = r.success
  }
  const timeout = request.timeoutMs ?? s.timing.commandTimeout
  return Effect.callback<ScsiResult, IscsiError.IscsiError>((resume) => {
    const task = new Engine.ScsiTask(lun, request, completionToEffect(resume))
    task.onAbortNeeded = onAbortNeeded
    if (timeout > 0) {
      task.deadline = s.tick + ticksFor(timeout)
      task.timeoutMs = timeout
    }
    s.state.stats.commands++
    s.state.submit(task)
    // wake the ticker (a flag check when it already runs)
    if (!Latch.isOpen(s.busy)) Latch.openUnsafe(s.busy)
    return Effect.suspend(() => {
      if (task.finished) return Effect.void
      task.finished = true
      if (s.state.unqueue(task)) {
        s.state.release(task)
        return Effect.void
      }
      task.abandoned = true
      // its buffer is the caller's again: nothing more is written into it
      task.conn?.relinquish(task)
      // the caller leaves now (a timeout must not wait for the target); the abort runs in the
      // session's scope and frees the ITT when answered (bounded)
      return Effect.asVoid(Effect.forkIn(abortTask(s, task), s.scope))
    })
  })
}

// ---- the ticker: deadlines and CmdSN holes --------------------------------------------------------

/**
 * Tick every 10 ms while tasks are in flight (parked on `busy` otherwise): expire the commands
 * whose deadline passed and watch for CmdSN holes.
 */
const ticker = (s: Shell) =>
  Effect.gen(function* () {
    while (s.closedWith === undefined) {
      if (s.state.tasks.size === 0 && s.hole.suspect === undefined) {
        Latch.closeUnsafe(s.busy)
        yield* s.busy.await
        continue
      }
      yield* Effect.sleep(Duration.millis(TICK_MS))
      const now = ++s.tick
      const expired: Array<Engine.ScsiTask> = []
      let oldest: number | undefined
      for (const task of s.state.tasks.values()) {
        if (task instanceof Engine.ScsiTask) {
          if (task.deadline > 0 && task.deadline <= now && !task.finished) expired.push(task)
          if (task.sent && !task.abandoned && Serial.gte(task.cmdSN, s.state.expCmdSN)) {
            if (oldest === undefined || Serial.lt(task.cmdSN, oldest)) oldest = task.cmdSN
          }
        }
      }
      for (const task of expired) {
        task.expire(err.timeout("SCSI command", task.timeoutMs))
        if (s.state.unqueue(task)) s.state.release(task)
        else {
          task.abandoned = true
          yield* Effect.forkIn(abortTask(s, task), s.scope)
        }
      }
      const probe = watchHoles(s, oldest)
      if (probe !== undefined) yield* Effect.forkIn(probe, s.scope)
    }
  })

/**
 * RFC 7143 §4.2.2.1: the target delivers commands in CmdSN order and acknowledges their receipt in
 * ExpCmdSN. When ExpCmdSN stands still for `holeTimeoutMs` while the oldest command we sent waits
 * for it (or at once when a dead MC/S connection took unacknowledged commands with it), ping every
 * connection: TCP delivers the ping after everything sent before it on that connection, so if the
 * target still expects a CmdSN at or below the oldest command sent before the ping, that CmdSN is
 * lost. At ERL 0 only session reinstatement fills it: close the session with `ConnectionLost`.
 */
const watchHoles = (s: Shell, oldest: number | undefined): Effect.Effect<void> | undefined => {
  const h = s.hole
  const exp = s.state.expCmdSN
  if (exp !== h.lastExp || (oldest === undefined && h.suspect === undefined)) {
    h.lastExp = exp
    h.since = s.tick
    if (h.suspect !== undefined && Serial.gt(exp, h.suspect)) h.suspect = undefined
    if (h.suspect === undefined) return undefined
  }
  if (h.probing) return undefined
  const waitedEnough = oldest !== undefined && (s.tick - h.since) * TICK_MS >= s.timing.holeTimeout
  if (!waitedEnough && h.suspect === undefined) return undefined
  const awaited = h.suspect !== undefined && (oldest === undefined || Serial.lt(h.suspect, oldest)) ? h.suspect : oldest
  if (awaited === undefined) return undefined
  h.probing = true
  const conns = s.state.conns.filter((c) => c.dead === undefined)
  return Effect.gen(function* () {
    const pings = yield* Effect.forEach(
      conns,
      (c) =>
        pingOn(s, c).pipe(
          Effect.timeoutOrElse({ duration: Duration.seconds(5), orElse: () => Effect.fail(undefined) }),
          Effect.exit
        ),
      { concurrency: "unbounded" }
    )
    if (s.closedWith !== undefined) return
    const expNow = s.state.expCmdSN
    // every connection answered, so every command sent before the pings has reached the target
    if (conns.length > 0 && pings.every(Exit.isSuccess) && Serial.lte(expNow, awaited)) {
      publish(s, { _tag: "CmdSNHole", expCmdSN: expNow, waiting: s.state.tasks.size })
      yield* annotated(s, Effect.logWarning("CmdSN hole: reinstating the session"), {
        expCmdSN: expNow,
        waiting: s.state.tasks.size
      })
      const error = err.lost(
        `CmdSN hole: the target still expects CmdSN ${expNow}, which it will never receive (ErrorRecoveryLevel 0 cannot resend it); reinstating the session`
      )
      for (const c of [...s.state.conns]) c.kill(error)
      return
    }
    h.suspect = undefined
    h.lastExp = expNow
    h.since = s.tick
  }).pipe(Effect.ensuring(Effect.sync(() => (h.probing = false))))
}

// ---- task management, text, logout ---------------------------------------------------------------

const TMF_NAMES: Record<number, string> = {
  1: "ABORT TASK",
  2: "ABORT TASK SET",
  3: "CLEAR ACA",
  4: "CLEAR TASK SET",
  5: "LOGICAL UNIT RESET",
  6: "TARGET WARM RESET",
  7: "TARGET COLD RESET",
  8: "TASK REASSIGN"
}

const taskManagement =
  (s: Shell): Session["taskManagement"] =>
  (fn, options = {}) =>
    Effect.suspend(() => {
      const lunOpt = options.lun ?? 0
      const lun = typeof lunOpt === "bigint" ? lunOpt : Lun.encode(lunOpt)
      return tmfRaw(s, fn, lun, options.referencedTaskTag ?? RESERVED_TAG, options.refCmdSN ?? s.state.cmdSN)
    }).pipe(
      Effect.tap((response) => Effect.annotateCurrentSpan("iscsi.tmf.response", TMF_RESPONSES[response] ?? response)),
      Effect.flatMap((response) =>
        response === 0
          ? Effect.void
          : Effect.fail(
              IscsiError.make(
                new IscsiError.TaskManagementFailed({
                  function: fn,
                  response,
                  message: `task management function ${fn}: ${TMF_RESPONSES[response] ?? `response ${response}`}`
                })
              )
            )
      ),
      Effect.withSpan("Session.taskManagement", {
        attributes: {
          "iscsi.target": s.logLabels.target,
          "iscsi.portal": s.logLabels.portal,
          "iscsi.tmf.function": TMF_NAMES[fn] ?? fn,
          ...(options.lun !== undefined ? { "scsi.lun": String(options.lun) } : {})
        }
      })
    )

const text = (s: Shell) => (pairs: ReadonlyArray<TextKeys.Pair>) =>
  Effect.callback<ReadonlyArray<TextKeys.Pair>, IscsiError.IscsiError>((resume) => {
    const task = new Engine.TextTask(TextKeys.encode(pairs), completionToEffect(resume))
    s.state.submit(task)
    return cancelTask(s, task)
  })

const logoutOn = (s: Shell, conn: Engine.Conn, reason: number) =>
  simple<number>(
    s,
    true,
    (task, c) => ({
      _tag: "LogoutRequest",
      immediate: true,
      reason,
      itt: task.itt,
      cid: c.cid,
      cmdSN: s.state.cmdSN,
      expStatSN: c.expStatSN
    }),
    (pdu) =>
      pdu._tag === "LogoutResponse"
        ? pdu.response
        : IscsiError.make(new IscsiError.ProtocolError({ message: `Logout answered by ${pdu._tag}` })),
    conn
  ).pipe(
    Effect.timeoutOrElse({ duration: Duration.seconds(5), orElse: () => Effect.fail(err.timeout("logout", 5000)) })
  )

const logout = (s: Shell): Session["logout"] =>
  Effect.gen(function* () {
    if (s.closedWith !== undefined) return
    const conn = s.state.pickConn()
    if (conn === undefined) return yield* closeSession(s, err.closed("session logged out"))
    for (const c of s.state.conns) c.loggingOut = c !== conn
    const response = yield* logoutOn(s, conn, 0).pipe(
      Effect.ensuring(closeSession(s, err.closed("session logged out")))
    )
    if (response !== 0) {
      return yield* Effect.fail(
        IscsiError.make(new IscsiError.ProtocolError({ message: `logout failed with response ${response}` }))
      )
    }
  }).pipe(Effect.withSpan("Session.logout"))

const removeConnection =
  (s: Shell): Session["removeConnection"] =>
  (cid) =>
    Effect.gen(function* () {
      const conn = s.state.conns.find((c) => c.cid === cid)
      if (conn === undefined) return yield* Effect.fail(err.invalid(`no connection with CID ${cid}`))
      if (s.state.conns.length === 1) return yield* logout(s)
      conn.loggingOut = true
      // let its tasks finish (bounded), then log the connection out
      for (let i = 0; i < s.timing.drainTimeout / 10 && conn.active > 0; i++) yield* Effect.sleep(Duration.millis(10))
      yield* logoutOn(s, conn, 1).pipe(Effect.ignore)
      yield* dropConn(s, conn, err.closed(`connection ${cid} removed`), false)
    })

// ---- supervisor ---------------------------------------------------------------------------------

const handleAsync = (s: Shell, cid: number, m: P.AsyncMessage) =>
  Effect.gen(function* () {
    const conn = s.state.conns.find((c) => c.cid === cid)
    switch (m.asyncEvent) {
      case 1: {
        // target requests logout (within Parameter3 seconds)
        if (conn === undefined) return
        if (s.state.conns.length > 1) {
          conn.loggingOut = true
          yield* logoutOn(s, conn, 1).pipe(Effect.ignore)
          yield* dropConn(s, conn, err.closed("target requested logout of the connection"), false)
        } else {
          yield* logout(s).pipe(Effect.ignore)
        }
        return
      }
      case 2: {
        const target = s.state.conns.find((c) => c.cid === m.parameter1)
        if (target !== undefined) target.kill(err.lost(`target dropped connection ${m.parameter1}`))
        return
      }
      case 3: {
        for (const c of [...s.state.conns]) c.kill(err.lost("target dropped the session"))
        return
      }
      case 4: {
        // renegotiation request: answer with a (possibly empty) Text Request
        yield* text(s)([]).pipe(Effect.ignore)
        return
      }
      default:
        return
    }
  })

/** Reopen a closed CmdSN window: ping while commands wait for it. */
const reopenWindow = (s: Shell) =>
  Effect.gen(function* () {
    while (s.state.waiting.length > 0 && s.closedWith === undefined) {
      yield* Effect.sleep(Duration.millis(s.timing.windowPing))
      if (s.state.waiting.length === 0) break
      yield* pingOn(s).pipe(
        Effect.timeoutOrElse({ duration: Duration.seconds(5), orElse: () => Effect.void }),
        Effect.ignore
      )
    }
  }).pipe(Effect.ensuring(Effect.sync(() => (s.windowPingScheduled = false))))

const supervisor = (s: Shell) =>
  Effect.gen(function* () {
    for (;;) {
      const signal = yield* Queue.take(s.signals)
      switch (signal._tag) {
        case "Dead":
          yield* dropConn(s, signal.conn, signal.error, true)
          break
        case "Abort":
          yield* Effect.forkIn(abortTask(s, signal.task), s.scope)
          break
        case "Async":
          yield* Effect.forkIn(handleAsync(s, signal.conn, signal.message), s.scope)
          break
        case "WindowClosed":
          yield* Effect.forkIn(reopenWindow(s), s.scope)
          break
      }
    }
  })

// ---- make ---------------------------------------------------------------------------------------

/** Open a session (leading login, then the other connections) in the current scope. */
export const make = Effect.fn("Session.make")(function* (
  config: Config,
  observer?: Observer | undefined
): Effect.fn.Return<Session, IscsiError.IscsiError, Transport | Platform | Scope.Scope> {
  const platform = yield* Platform
  const transport = yield* Transport
  const sessionScope = yield* Effect.scope
  const timing: Timing = {
    keepaliveInterval: config.keepaliveIntervalMs ?? 5000,
    keepaliveTimeout: config.keepaliveTimeoutMs ?? 10000,
    commandTimeout: config.commandTimeoutMs ?? 60000,
    abortTimeout:
      config.abortTimeoutMs ??
      Math.min(5000, (config.commandTimeoutMs ?? 60000) > 0 ? (config.commandTimeoutMs ?? 60000) : 5000),
    windowPing: config.windowPingMs ?? 500,
    holeTimeout: config.holeTimeoutMs ?? 5000,
    drainTimeout: config.drainTimeoutMs ?? 10000
  }

  // ---- leading login ----
  const firstScope = yield* Scope.fork(sessionScope)
  const first = yield* Login.connect({
    address: config.address,
    config: loginConfig(config, 0, 0, 1),
    timeoutMs: config.loginTimeoutMs
  }).pipe(
    Scope.provide(firstScope),
    Effect.provideService(Transport, transport),
    Effect.provideService(Platform, platform)
  )
  const loggedInAt = yield* Clock.currentTimeMillis
  const params = first.result.params
  const state = new Engine.SessionState(first.result.expCmdSN, first.result.expCmdSN, first.result.maxCmdSN)
  const wanted = Math.max(1, config.connections ?? 1)
  const s: Shell = {
    config,
    timing,
    platform,
    transport,
    scope: sessionScope,
    state,
    params,
    engineParams: {
      headerDigest: params.headerDigest,
      dataDigest: params.dataDigest,
      maxXmitDataSegmentLength: params.maxXmitDataSegmentLength,
      maxRecvDataSegmentLength: params.maxRecvDataSegmentLength,
      firstBurstLength: params.firstBurstLength,
      maxBurstLength: params.maxBurstLength,
      initialR2T: params.initialR2T,
      immediateData: params.immediateData,
      maxOutstandingR2T: params.maxOutstandingR2T
    },
    tsih: first.result.tsih,
    address: first.address,
    events: yield* PubSub.unbounded<SessionEvent>(),
    observer,
    live: {
      counters: state.stats,
      nopRtt: state.nopRtt,
      inFlight: () => state.tasks.size,
      connections: () => state.conns.map((c) => ({ cid: c.cid, counters: c.stats }))
    },
    logLabels: {
      target: config.targetName ?? "(discovery)",
      portal: `${first.address.host.includes(":") ? `[${first.address.host}]` : first.address.host}:${first.address.port}`,
      isid: config.isid.toString(16).padStart(12, "0"),
      tsih: first.result.tsih
    },
    signals: yield* Queue.unbounded<Signal>(),
    connScopes: new Map(),
    closedLatch: yield* Latch.make(false),
    busy: yield* Latch.make(false),
    granted: Math.min(wanted, Math.max(1, params.maxConnections)),
    closedWith: undefined,
    nextCid: 1,
    windowPingScheduled: false,
    keeperRunning: false,
    tick: 0,
    hole: { lastExp: state.expCmdSN, since: 0, probing: false, suspect: undefined }
  }

  state.onEvent = (event) => {
    publish(s, event)
    if (event._tag === "AsyncMessage") {
      const m = event.message
      // AsyncEvent 0, SCSI asynchronous event (§11.9.1): its sense data, a Unit Attention like any other
      if (m.asyncEvent === 0 && m.data.length >= 2) {
        const sense = m.data.subarray(2, 2 + ((m.data[0]! << 8) | m.data[1]!))
        const ua = unitAttention(sense)
        if (ua !== undefined) {
          publish(s, { _tag: "UnitAttention", lun: m.lun, asc: ua.asc, ascq: ua.ascq, sense })
        }
      }
      Queue.offerUnsafe(s.signals, { _tag: "Async", conn: event.cid, message: m })
    }
  }
  state.onConnectionDead = (conn, error) => {
    Queue.offerUnsafe(s.signals, { _tag: "Dead", conn, error })
  }
  state.onCheckCondition = (lun, sense) => {
    const ua = unitAttention(sense)
    if (ua !== undefined) publish(s, { _tag: "UnitAttention", lun, asc: ua.asc, ascq: ua.ascq, sense })
  }
  state.onWindowClosed = () => {
    if (s.windowPingScheduled) return
    s.windowPingScheduled = true
    Queue.offerUnsafe(s.signals, { _tag: "WindowClosed" })
  }
  /** A broken task needs an ABORT TASK (one function for every task, not a closure per command). */
  const onAbortNeeded = (t: Engine.ScsiTask) => Queue.offerUnsafe(s.signals, { _tag: "Abort", task: t })

  yield* Effect.forkIn(supervisor(s), sessionScope)
  yield* Effect.forkIn(ticker(s), sessionScope)
  yield* attach(s, first, firstScope, 0)

  // graceful shutdown: drain (bounded), log out, close
  yield* Scope.addFinalizer(
    sessionScope,
    Effect.gen(function* () {
      if (s.closedWith !== undefined) return
      // wait for the tasks a caller still waits for (not for abandoned ones: logout ends them)
      for (let i = 0; i < timing.drainTimeout / 10 && state.awaited() > 0; i++) {
        yield* Effect.sleep(Duration.millis(10))
      }
      yield* logout(s).pipe(Effect.ignore)
    })
  )

  // MC/S: the other connections; one the target refuses now is retried in the background
  for (let i = 1; i < s.granted; i++) {
    const r = yield* Effect.exit(addConnection(s))
    if (Exit.isFailure(r)) {
      yield* refused(s, r.cause)
      yield* keepConnections(s)
      break
    }
  }

  return {
    info: {
      isid: config.isid,
      tsih: s.tsih,
      targetName: config.targetName,
      targetPortalGroupTag: first.result.targetPortalGroupTag,
      targetAlias: first.result.targetAlias,
      params,
      address: first.address,
      connectionsWanted: wanted,
      connectionsGranted: s.granted,
      loggedInAt
    },
    execute: (request) => execute(s, onAbortNeeded, request),
    taskManagement: taskManagement(s),
    text: text(s),
    ping: pingOn(s),
    addConnection: addConnection(s),
    removeConnection: removeConnection(s),
    logout: logout(s),
    events: Stream.fromPubSub(s.events),
    stats: Effect.sync(() => ({
      inFlight: state.tasks.size,
      waiting: state.waiting.length,
      connections: state.conns.map((c) => c.cid),
      cmdSN: state.cmdSN,
      expCmdSN: state.expCmdSN,
      maxCmdSN: state.maxCmdSN,
      counters: { ...state.stats }
    })),
    live: s.live,
    closed: Effect.andThen(
      s.closedLatch.await,
      Effect.sync(() => s.closedWith!)
    ),
    usable: () => s.closedWith === undefined && state.pickConn() !== undefined
  } satisfies Session
})
