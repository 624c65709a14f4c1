/**
 * Metrics for operators: what the sessions and commands of each target did, as Effect `Metric`s
 * that any exporter of `effect/observability` reads (Prometheus text format, OTLP), labelled by
 * `target` (IQN) and `portal` (`host:port`), and by LUN, operation code and outcome where that
 * makes sense — never by LBA or ITT. The counters open-iscsi keeps per session in sysfs
 * (`iscsiadm -m session -s`: PDUs and bytes, digest errors, timeouts) are here, and more:
 *
 * | metric | labels | what |
 * |---|---|---|
 * | `iscsi_commands_total` | lun, opcode, outcome | SCSI command calls by outcome: `ok`, or the failure's reason (`Timeout`, `CheckCondition(ILLEGAL REQUEST)`, `ConnectionLost`, …) |
 * | `iscsi_command_duration_seconds` | lun, opcode | latency of a command call over all its attempts (histogram, 20 µs to 60 s) |
 * | `iscsi_command_retries_total` | lun, opcode | attempts after the first |
 * | `iscsi_read_bytes_total`, `iscsi_written_bytes_total` | lun | data moved by successful commands |
 * | `iscsi_commands_in_flight` | | tasks the sessions hold now (gauge) |
 * | `iscsi_cmdsn_window_waits_total` | | commands that waited for the CmdSN window |
 * | `iscsi_r2ts_total` | | R2Ts received |
 * | `iscsi_pdus_total`, `iscsi_wire_bytes_total` | direction | PDUs and bytes on the wire (in/out) |
 * | `iscsi_connection_pdus_total`, `iscsi_connection_wire_bytes_total` | isid, cid, direction | the same per live connection |
 * | `iscsi_digest_errors_total` | detected_by | digest errors we found (`initiator`) or the target reported (`target`) |
 * | `iscsi_rejects_total` | | Reject PDUs |
 * | `iscsi_nop_rtt_seconds` | | round trip of our NOP-Out pings (histogram) |
 * | `iscsi_logins_total` | | connections logged in |
 * | `iscsi_login_failures_total` | status | logins that failed: the login status (`AuthenticationFailure`, `TargetNotFound`, …) or the reason (`ConnectFailed`, `Timeout`, …) |
 * | `iscsi_connection_losses_total` | | connections lost (not logged out) |
 * | `iscsi_session_recoveries_total` | outcome | session reinstatements `started`, `recovered`, `failed` |
 * | `iscsi_reissued_commands_total` | | commands sent again after a connection or session loss |
 * | `iscsi_tasks_aborted_total` | | ABORT TASKs sent (interrupted, timed out, broken tasks) |
 * | `iscsi_unit_attentions_total` | lun, asc_ascq | UNIT ATTENTIONs seen |
 * | `iscsi_cmdsn_holes_total` | | CmdSN holes found (each ends the session) |
 * | `iscsi_sessions`, `iscsi_connections` | | live sessions and connections (gauges) |
 * | `iscsi_path_state` | portal, state | a multipath path's state: 1 for the state it is in, 0 for the others (`PathSet`) |
 * | `iscsi_path_commands_total`, `iscsi_path_reissued_total`, `iscsi_path_failures_total` | portal | commands a path carried, re-sent elsewhere after failing there, times it was taken out |
 * | `iscsi_path_outstanding` | portal | commands in flight on a path (gauge) |
 *
 * Cost: nothing here runs an Effect per command or per PDU. The session engine bumps plain counters
 * (`Session.live`, the same numbers `Session.stats` copies) and the command runner records each
 * command call into a plain `CommandRecorder` (a counter per outcome, a latency histogram, bytes);
 * every series is registered once (`Metric.registerUnsafe`) and reads those numbers when exported.
 * Counters are per target for the life of the metric registry: a session that closes adds its
 * numbers to the target's, so they never go back across reconnects, recoveries or idle timeouts.
 * `Enabled` (default true) switches the per-command recording off (the engine's counters are kept
 * either way).
 *
 * Not here: exporting (`effect/observability`: `PrometheusMetrics`, `OtlpMetrics`), spans and logs
 * (next to the code they describe: `Login`, `Session`, `ManagedSession`, the scsi command runner).
 */
import * as Context from "effect/Context"
import * as Metric from "effect/Metric"
import type { ConnCounters, Counters } from "./internal/engine.ts"
import { Histogram, LATENCY_BOUNDARIES, state as histogramState } from "./internal/histogram.ts"
import type * as IscsiError from "./IscsiError.ts"
import * as Lun from "./Lun.ts"
import type { CommandRecorder, CommandTelemetry } from "./ScsiTransport.ts"
import type * as Session from "./Session.ts"

/** Record per-command metrics (default true). Read when a managed session is made (`Pool`). */
export const Enabled = Context.Reference<boolean>("@effect-iscsi/core/Telemetry/Enabled", {
  defaultValue: () => true
})

/** The latency histograms' bucket boundaries, in seconds (20 µs to 60 s). */
export const LATENCY_BUCKETS: ReadonlyArray<number> = LATENCY_BOUNDARIES

/** The outcome of a command that succeeded. */
export const OK = "ok"

/** A failed login's label: its login status name, or the error's reason. */
export const loginStatus = (e: IscsiError.IscsiError): string =>
  e.reason._tag === "LoginFailed" ? e.reason.status : e.reason._tag

/** An ISID as a label: 12 hex digits. */
export const isidLabel = (isid: number): string => isid.toString(16).padStart(12, "0")

const noop = () => {}

type Labels = Readonly<Record<string, string>>

const counter = (
  context: Context.Context<never>,
  id: string,
  description: string,
  attributes: Labels,
  read: () => number
): Metric.Registration =>
  Metric.registerUnsafe(Metric.counter(id, { description, attributes, incremental: true }), context, {
    get: () => ({ count: read(), incremental: true }),
    update: noop,
    modify: noop
  })

const gauge = (
  context: Context.Context<never>,
  id: string,
  description: string,
  attributes: Labels,
  read: () => number
): Metric.Registration =>
  Metric.registerUnsafe(Metric.gauge(id, { description, attributes }), context, {
    get: () => ({ value: read() }),
    update: noop,
    modify: noop
  })

const histogram = (
  context: Context.Context<never>,
  id: string,
  description: string,
  attributes: Labels,
  read: () => Iterable<Histogram>
): Metric.Registration =>
  Metric.registerUnsafe(Metric.histogram(id, { description, attributes, boundaries: LATENCY_BOUNDARIES }), context, {
    get: () => histogramState(LATENCY_BOUNDARIES, read()),
    update: noop,
    modify: noop
  })

/** The data bytes of one LUN. */
class LunBytes {
  read = 0
  written = 0
}

/** The calls of one operation code on one LUN (see `CommandRecorder`). */
class Recorder implements CommandRecorder {
  ok = 0
  retries = 0
  readonly failed = new Map<string, number>()
  readonly latency = new Histogram()
  constructor(
    private readonly owner: Target,
    readonly labels: Labels,
    private readonly bytes: LunBytes
  ) {}

  record(outcome: string, seconds: number, readBytes: number, writtenBytes: number, attempts: number): void {
    if (outcome === OK) this.ok++
    else {
      const n = this.failed.get(outcome)
      if (n === undefined) this.owner.registerOutcome(this, outcome)
      this.failed.set(outcome, (n ?? 0) + 1)
    }
    this.latency.observe(seconds)
    if (attempts > 1) this.retries += attempts - 1
    this.bytes.read += readBytes
    this.bytes.written += writtenBytes
  }
}

const COUNTER_KEYS = [
  "commands",
  "completed",
  "pdusIn",
  "pdusOut",
  "bytesIn",
  "bytesOut",
  "windowWaits",
  "r2ts",
  "digestErrors",
  "targetDigestErrors",
  "rejects",
  "reissued",
  "aborts",
  "logins",
  "connectionLosses",
  "nopPings"
] as const satisfies ReadonlyArray<keyof Counters>

const zero = (): Counters => ({
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
})

/**
 * The metrics of one target in one metric registry: shared by every managed session of that
 * target (several pools, several layers), its series registered once. Get it with `forTarget`.
 */
export class Target implements CommandTelemetry {
  readonly labels: Labels
  private readonly live = new Set<Session.Live>()
  private readonly retired: Counters = zero()
  private readonly retiredNop = new Histogram()
  private readonly recorders = new Map<number, Recorder>()
  private readonly lunBytes = new Map<number, LunBytes>()
  private readonly loginFailures = new Map<string, number>()
  private readonly unitAttentions = new Map<string, number>()
  private readonly connections = new Map<string, ReadonlyArray<Metric.Registration>>()
  /** The per-connection series of each live session (removed with it). */
  private readonly connectionsOf = new Map<Session.Live, Set<string>>()
  private readonly recoveries = { started: 0, recovered: 0, failed: 0 }
  /** Commands the managed session re-issued after a session recovery. */
  private reissuedAfterRecovery = 0
  private cmdsnHoles = 0

  constructor(
    private readonly context: Context.Context<never>,
    readonly target: string,
    readonly portal: string
  ) {
    this.labels = { target, portal }
    const l = this.labels
    const sum = (key: keyof Counters) => () => {
      let n = this.retired[key]
      for (const s of this.live) n += s.counters[key]
      return n
    }
    const c = (id: string, description: string, read: () => number, extra?: Labels) =>
      counter(context, id, description, extra === undefined ? l : { ...l, ...extra }, read)
    gauge(context, "iscsi_sessions", "Live iSCSI sessions", l, () => this.live.size)
    gauge(context, "iscsi_connections", "Live iSCSI connections", l, () => {
      let n = 0
      for (const s of this.live) n += s.connections().length
      return n
    })
    gauge(context, "iscsi_commands_in_flight", "SCSI tasks the sessions hold now", l, () => {
      let n = 0
      for (const s of this.live) n += s.inFlight()
      return n
    })
    c("iscsi_pdus_total", "PDUs on the wire", sum("pdusIn"), { direction: "in" })
    c("iscsi_pdus_total", "PDUs on the wire", sum("pdusOut"), { direction: "out" })
    c("iscsi_wire_bytes_total", "Bytes on the wire (headers, data, digests)", sum("bytesIn"), { direction: "in" })
    c("iscsi_wire_bytes_total", "Bytes on the wire (headers, data, digests)", sum("bytesOut"), { direction: "out" })
    c("iscsi_cmdsn_window_waits_total", "Commands that waited for the CmdSN window to open", sum("windowWaits"))
    c("iscsi_r2ts_total", "R2Ts received", sum("r2ts"))
    c("iscsi_digest_errors_total", "Header or data digest errors", sum("digestErrors"), { detected_by: "initiator" })
    c("iscsi_digest_errors_total", "Header or data digest errors", sum("targetDigestErrors"), {
      detected_by: "target"
    })
    c("iscsi_rejects_total", "Reject PDUs received", sum("rejects"))
    c("iscsi_logins_total", "Connections logged in", sum("logins"))
    c("iscsi_connection_losses_total", "Connections lost", sum("connectionLosses"))
    c("iscsi_tasks_aborted_total", "ABORT TASKs sent for tasks given up on", sum("aborts"))
    const reissued = sum("reissued")
    c("iscsi_reissued_commands_total", "Commands re-issued after a connection or session loss", () => {
      return reissued() + this.reissuedAfterRecovery
    })
    c("iscsi_cmdsn_holes_total", "CmdSN holes found", () => this.cmdsnHoles)
    for (const outcome of ["started", "recovered", "failed"] as const) {
      c("iscsi_session_recoveries_total", "Session reinstatements after a loss", () => this.recoveries[outcome], {
        outcome
      })
    }
    histogram(context, "iscsi_nop_rtt_seconds", "Round trip of NOP-Out pings", l, () => {
      const all = [this.retiredNop]
      for (const s of this.live) all.push(s.nopRtt)
      return all
    })
  }

  // ---- commands (the scsi command runner) ----

  recorder(key: number): CommandRecorder | undefined {
    return this.recorders.get(key)
  }

  register(key: number, lun: number, opcodeName: string): CommandRecorder {
    const found = this.recorders.get(key)
    if (found !== undefined) return found
    let bytes = this.lunBytes.get(lun)
    if (bytes === undefined) {
      const b = new LunBytes()
      bytes = b
      this.lunBytes.set(lun, b)
      const labels = { ...this.labels, lun: String(lun) }
      counter(this.context, "iscsi_read_bytes_total", "Data bytes read", labels, () => b.read)
      counter(this.context, "iscsi_written_bytes_total", "Data bytes written", labels, () => b.written)
    }
    const labels = { ...this.labels, lun: String(lun), opcode: opcodeName }
    const r = new Recorder(this, labels, bytes)
    this.recorders.set(key, r)
    counter(
      this.context,
      "iscsi_commands_total",
      "SCSI command calls by outcome",
      { ...labels, outcome: OK },
      () => r.ok
    )
    histogram(this.context, "iscsi_command_duration_seconds", "SCSI command call latency", labels, () => [r.latency])
    counter(
      this.context,
      "iscsi_command_retries_total",
      "SCSI command attempts after the first",
      labels,
      () => r.retries
    )
    return r
  }

  /** @internal A recorder saw `outcome` for the first time. */
  registerOutcome(r: Recorder, outcome: string): void {
    counter(
      this.context,
      "iscsi_commands_total",
      "SCSI command calls by outcome",
      { ...r.labels, outcome },
      () => r.failed.get(outcome) ?? 0
    )
  }

  // ---- sessions (the managed session) ----

  /** A session of this target opened: its counters count from now on. */
  attach(session: Session.Live): void {
    this.live.add(session)
  }

  /** The session closed: keep its numbers in the target's. */
  detach(session: Session.Live): void {
    if (!this.live.delete(session)) return
    for (const k of COUNTER_KEYS) this.retired[k] += session.counters[k]
    this.retiredNop.add(session.nopRtt)
    for (const key of this.connectionsOf.get(session) ?? []) this.connectionDown(key)
    this.connectionsOf.delete(session)
  }

  /** A login of this target failed (the leading login of a session, or an MC/S connection's). */
  loginFailed(error: IscsiError.IscsiError): void {
    const status = loginStatus(error)
    const n = this.loginFailures.get(status)
    if (n === undefined) {
      counter(
        this.context,
        "iscsi_login_failures_total",
        "Logins that failed, by login status or reason",
        { ...this.labels, status },
        () => this.loginFailures.get(status) ?? 0
      )
    }
    this.loginFailures.set(status, (n ?? 0) + 1)
  }

  recovery(outcome: "started" | "recovered" | "failed"): void {
    this.recoveries[outcome]++
  }

  reissued(): void {
    this.reissuedAfterRecovery++
  }

  /**
   * What a session reports as it happens (`Session.make`'s observer): connections up and down (the
   * per-connection series), refused MC/S logins, Unit Attentions, CmdSN holes.
   */
  observer(isid: number): Session.Observer {
    const isidText = isidLabel(isid)
    return (event, session) => {
      switch (event._tag) {
        case "ConnectionUp":
          return this.connectionUp(isidText, event.cid, session)
        case "ConnectionDown": {
          const key = `${isidText}/${event.cid}`
          this.connectionsOf.get(session)?.delete(key)
          return this.connectionDown(key)
        }
        case "ConnectionRefused":
          return this.loginFailed(event.error)
        case "UnitAttention": {
          const lun = Lun.decode(event.lun)
          return this.unitAttention(lun._tag === "Success" ? String(lun.success) : "?", event.asc, event.ascq)
        }
        case "CmdSNHole":
          this.cmdsnHoles++
          return
        default:
          return
      }
    }
  }

  private connectionDown(key: string): void {
    for (const r of this.connections.get(key) ?? []) r.remove()
    this.connections.delete(key)
  }

  private connectionUp(isid: string, cid: number, session: Session.Live): void {
    const key = `${isid}/${cid}`
    this.connectionDown(key)
    let keys = this.connectionsOf.get(session)
    if (keys === undefined) this.connectionsOf.set(session, (keys = new Set()))
    keys.add(key)
    let last: ConnCounters = { pdusIn: 0, pdusOut: 0, bytesIn: 0, bytesOut: 0 }
    const read = (): ConnCounters => {
      for (const c of session.connections()) if (c.cid === cid) last = c.counters
      return last
    }
    const labels = { ...this.labels, isid, cid: String(cid) }
    const pdus = "PDUs on the wire, per connection"
    const bytes = "Bytes on the wire, per connection"
    this.connections.set(key, [
      counter(this.context, "iscsi_connection_pdus_total", pdus, { ...labels, direction: "in" }, () => read().pdusIn),
      counter(this.context, "iscsi_connection_pdus_total", pdus, { ...labels, direction: "out" }, () => read().pdusOut),
      counter(
        this.context,
        "iscsi_connection_wire_bytes_total",
        bytes,
        { ...labels, direction: "in" },
        () => read().bytesIn
      ),
      counter(
        this.context,
        "iscsi_connection_wire_bytes_total",
        bytes,
        { ...labels, direction: "out" },
        () => read().bytesOut
      )
    ])
  }

  private unitAttention(lun: string, asc: number, ascq: number): void {
    const code = `${hex(asc)}/${hex(ascq)}`
    const key = `${lun}:${code}`
    const n = this.unitAttentions.get(key)
    if (n === undefined) {
      counter(
        this.context,
        "iscsi_unit_attentions_total",
        "UNIT ATTENTIONs seen (ASC/ASCQ)",
        { ...this.labels, lun, asc_ascq: code },
        () => this.unitAttentions.get(key) ?? 0
      )
    }
    this.unitAttentions.set(key, (n ?? 0) + 1)
  }
}

const hex = (n: number) => `${n.toString(16).padStart(2, "0")}h`

const byRegistry = new WeakMap<Metric.MetricRegistry, Map<string, Target>>()

/**
 * The metrics of a target in the metric registry of `context` (`Metric.MetricRegistry`; the
 * process-wide default unless a program provides its own), made and registered on first use.
 */
/** The states a multipath path can be in (`PathSet.State`), one `iscsi_path_state` series each. */
export const PATH_STATES = ["connecting", "active", "standby", "failed", "probing", "refused"] as const

/** What the path series read, now. */
export interface PathFigures {
  readonly state: string
  readonly commands: number
  readonly reissued: number
  readonly failures: number
  readonly outstanding: number
}

/**
 * Register the series of one multipath path (`PathSet`) in the registry of `context`; `remove`
 * them when the path set closes.
 */
export const registerPath = (
  context: Context.Context<never>,
  target: string,
  portal: string,
  read: () => PathFigures
): { readonly remove: () => void } => {
  const labels = { target, portal }
  const registrations = [
    ...PATH_STATES.map((state) =>
      gauge(
        context,
        "iscsi_path_state",
        "a multipath path's state (1: the state it is in)",
        { ...labels, state },
        () => (read().state === state ? 1 : 0)
      )
    ),
    counter(context, "iscsi_path_commands_total", "commands a path carried", labels, () => read().commands),
    counter(
      context,
      "iscsi_path_reissued_total",
      "commands re-sent elsewhere after failing on a path",
      labels,
      () => read().reissued
    ),
    counter(context, "iscsi_path_failures_total", "times a path was taken out", labels, () => read().failures),
    gauge(context, "iscsi_path_outstanding", "commands in flight on a path", labels, () => read().outstanding)
  ]
  return {
    remove: () => {
      for (const r of registrations) r.remove()
    }
  }
}

export const forTarget = (context: Context.Context<never>, target: string, portal: string): Target => {
  const registry = Context.get(context, Metric.MetricRegistry)
  let targets = byRegistry.get(registry)
  if (targets === undefined) byRegistry.set(registry, (targets = new Map()))
  const key = `${target}\u0000${portal}`
  let t = targets.get(key)
  if (t === undefined) {
    // only what a series is registered with: the registry and the context's metric attributes
    // (not the services of the session that happened to come first)
    const own = Context.make(Metric.MetricRegistry, registry).pipe(
      Context.add(Metric.CurrentMetricAttributes, Context.get(context, Metric.CurrentMetricAttributes))
    )
    targets.set(key, (t = new Target(own, target, portal)))
  }
  return t
}
