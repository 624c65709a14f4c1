/**
 * A multipath device: one target reached through several portals (one session per path), used as
 * one `ScsiTransport`, so every `Scsi` program and `BlockDevice` work on it unchanged. Core's
 * `PathSet` keeps the paths (selection policy, taking a failed path out at once, re-issuing its
 * idempotent commands on another path, probing it until it rejoins); this module adds what needs
 * SCSI:
 *
 * - Identity (SPC-5 §7.7.6, VPD 83h): before a path carries I/O, at open and every time it rejoins,
 *   its logical unit (and target device) designators must be those of the path the device was
 *   opened through; target port designators are the path's own and are not compared. A path that
 *   differs is kept out with `ScsiError` reason `PathIdentityMismatch`, naming both portals and
 *   both designator lists; at open that fails `make`. The LUN checked is `lun` (or the URL's), else
 *   every LUN both paths report (REPORT LUNS).
 * - ALUA (SPC-5 §5.16): when standard INQUIRY says TPGS ≠ 0, each path's target port group comes
 *   from its VPD 83h (target port group designator, else its relative target port) and its access
 *   state from REPORT TARGET PORT GROUPS: active/optimized paths carry I/O, active/non-optimized
 *   ones only when no optimized path is ready, standby and unavailable ones none (transitioning
 *   counts as unavailable). The states are read again on UNIT ATTENTION 2A/06 (asymmetric access
 *   state changed) and 2A/07 (implicit transition failed), reported on a command or as an
 *   asynchronous event, on NOT READY 04/0A, 04/0B, 04/0C (transitioning, standby, unavailable) —
 *   the command that met one is sent again on the path then chosen (it was not performed) —, every
 *   `aluaIntervalMs`, and every 500 ms while no path is usable. A target that does not do ALUA
 *   (TPGS 0, as tgt) has every ready path optimized.
 * - Where the portals come from: the target's URL (its portal is the first path), `portals`, and
 *   `discovery`: `"sendtargets"` asks the target's portal (SendTargets for this target; a target
 *   may name only the portal it was asked on, as tgt does) and `{ isns: server }` asks an iSNS
 *   server, which names every registered portal.
 *
 * Task management on the device: ABORT TASK SET goes to every path (it is per I_T nexus); the others
 * to one path. What the device learns of a LUN (block size, capacity) is shared by the paths and
 * forgotten on CAPACITY DATA HAS CHANGED, REPORTED LUNS DATA HAS CHANGED and the reset a rejoining
 * path's new nexus reports (a change made while every path was down is reported that way). Path states, access changes and re-issued commands are events (`events`), and
 * `paths` reports every path now; the path sessions are in the `Pool` like any other
 * (`Pool.sessions`).
 *
 * Not here: SET TARGET PORT GROUPS (explicit ALUA: a device whose paths are all standby waits for
 * the target to change that), persistent reservations across paths (each path is its own I_T nexus
 * and must register its key), per-LUN access states (they are read for one LUN and applied to the
 * whole target, as targets set them per target port group).
 */
import * as Discovery from "@effect-iscsi/core/Discovery"
import * as IscsiError from "@effect-iscsi/core/IscsiError"
import * as Lun from "@effect-iscsi/core/Lun"
import * as PathSet from "@effect-iscsi/core/PathSet"
import * as Pool from "@effect-iscsi/core/Pool"
import {
  type GeometryCache,
  type LunGeometry,
  type ScsiRequest,
  type ScsiResult,
  ScsiTransport,
  type ScsiTransportService
} from "@effect-iscsi/core/ScsiTransport"
import * as SendTargets from "@effect-iscsi/core/SendTargets"
import type { Platform, Transport } from "@effect-iscsi/core/Transport"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Inquiry from "./Inquiry.ts"
import type { CommandError } from "./internal/runner.ts"
import * as Scsi from "./Scsi.ts"
import * as ScsiError from "./ScsiError.ts"
import * as Sense from "./Sense.ts"
import type * as TargetPortGroups from "./TargetPortGroups.ts"

export type Policy = PathSet.Policy
export type PathStatus = PathSet.PathStatus

export interface Options {
  /**
   * The target: an iSCSI URL (`iscsi://host:port/iqn…[/lun]`, completed with the pool's defaults:
   * initiator name, credentials, tuning) or a `Pool.Target`. Its portal is the first path.
   */
  readonly target: string | Pool.Target
  /** More portals of the same target: `"host:port"` (`[v6]:port`) or addresses. */
  readonly portals?: ReadonlyArray<string | PathSet.Portal> | undefined
  /**
   * Learn the target's portals: `"sendtargets"` (a Discovery session to the target's portal) or
   * `{ isns: { host, port? } }` (an iSNS server, port 3205 by default).
   */
  readonly discovery?:
    | "sendtargets"
    | { readonly isns: { readonly host: string; readonly port?: number | undefined } }
    | undefined
  /** Default `"round-robin"` (see `PathSet.Policy`). */
  readonly policy?: Policy | undefined
  /** Failover: move I/O back to the first (or preferred) path when it returns (default true). */
  readonly failback?: boolean | undefined
  /**
   * The LUN whose identity every path must show and whose ALUA states are read (default: the
   * URL's; without one, every LUN the paths report is compared and the lowest one's ALUA read).
   */
  readonly lun?: number | undefined
  /** Honour ALUA when the target reports it (default true). */
  readonly alua?: boolean | undefined
  /** Read the ALUA states again this often besides the events that announce a change (default 5000 ms; 0: never). */
  readonly aluaIntervalMs?: number | undefined
  /** How often a failed path is probed (default 500 ms). */
  readonly probeIntervalMs?: number | undefined
  /** Bound on one probe: login, Unit Attentions, identity, ALUA (default 10 000 ms). */
  readonly probeTimeoutMs?: number | undefined
}

export type Event =
  | PathSet.Event<ScsiError.ScsiError>
  /** The ALUA states were read (REPORT TARGET PORT GROUPS) and applied to the paths. */
  | {
      readonly _tag: "AluaRead"
      readonly reason: string
      readonly groups: ReadonlyArray<{ readonly id: number; readonly state: string; readonly preferred: boolean }>
    }

export interface MultipathShape {
  readonly targetName: string
  /** The device as a transport (what the layer provides as `ScsiTransport`). */
  readonly transport: ScsiTransportService
  /** Every path now, in the order given. */
  readonly paths: Effect.Effect<ReadonlyArray<PathStatus>>
  readonly events: Stream.Stream<Event>
  /** Read the ALUA states now (nothing when the target does not do ALUA). */
  readonly refreshAlua: Effect.Effect<void>
}

/** The multipath device of the environment (provided by `layer`). */
export class Multipath extends Context.Service<Multipath, MultipathShape>()("@effect-iscsi/scsi/Multipath") {}

/** Every path of the device in the environment. */
export const paths: Effect.Effect<ReadonlyArray<PathStatus>, never, Multipath> = Effect.flatMap(
  Effect.service(Multipath),
  (m) => m.paths
)

/** The events of the device in the environment. */
export const events: Stream.Stream<Event, never, Multipath> = Stream.unwrap(
  Effect.map(Effect.service(Multipath), (m) => m.events)
)

/** A path's port as its VPD 83h names it. */
interface PortId {
  readonly relative: number | undefined
  readonly group: number | undefined
}

const line = (d: Inquiry.Designator) => `${d.associationName} ${d.designatorTypeName}: ${d.text}`

/** The designators that name the logical unit and the target device (not the path's port), canonical. */
const identityOf = (ds: ReadonlyArray<Inquiry.Designator>): ReadonlyArray<string> =>
  ds
    .filter((d) => d.association !== 1)
    .map(line)
    .sort()

const portOf = (ds: ReadonlyArray<Inquiry.Designator>): PortId => ({
  relative: ds.find((d) => d.association === 1 && d.designatorType === 4)?.number,
  group: ds.find((d) => d.association === 1 && d.designatorType === 5)?.number
})

/** The access a PathSet gives an ALUA state. */
const accessOf = (state: TargetPortGroups.AccessState): PathSet.Access => {
  switch (state) {
    case "active/optimized":
      return "optimized"
    case "active/non-optimized":
    case "logical block dependent":
      return "non-optimized"
    case "standby":
      return "standby"
    default:
      return "unavailable"
  }
}

const groupOf = (
  groups: TargetPortGroups.TargetPortGroups,
  port: PortId
): TargetPortGroups.TargetPortGroup | undefined =>
  (port.group !== undefined ? groups.groups.find((g) => g.id === port.group) : undefined) ??
  (port.relative !== undefined ? groups.groups.find((g) => g.targetPorts.includes(port.relative!)) : undefined)

const parsePortal = (p: string | PathSet.Portal): Effect.Effect<PathSet.Portal, IscsiError.IscsiError> => {
  if (typeof p !== "string") return Effect.succeed(p)
  const r = SendTargets.parseAddress(p)
  return Result.isSuccess(r)
    ? Effect.succeed({ host: r.success.host, port: r.success.port })
    : Effect.fail(
        IscsiError.make(
          new IscsiError.InvalidArgument({ message: `"${p}" is not a portal (host:port, [IPv6]:port): ${r.failure}` })
        )
      )
}

const UA_ASYMMETRIC_ACCESS_CHANGED = 0x06
const UA_IMPLICIT_TRANSITION_FAILED = 0x07

/**
 * Open the device in the current scope: the portals (given and discovered), a session through each
 * from the pool, each path admitted (identity, ALUA) before it carries I/O. Fails when no path
 * could be opened, or when one leads to another logical unit (`PathIdentityMismatch`).
 */
export const make = Effect.fn("Multipath.make")(function* (
  options: Options
): Effect.fn.Return<
  MultipathShape,
  IscsiError.IscsiError | ScsiError.ScsiError,
  Pool.Pool | Transport | Platform | Scope.Scope
> {
  const pool = yield* Pool.Pool
  const base = yield* pool.resolve(options.target)
  const targetName = base.targetName
  if (targetName === undefined || base.sessionType === "Discovery") {
    return yield* Effect.fail(
      IscsiError.make(new IscsiError.InvalidArgument({ message: "a multipath device needs a target name" }))
    )
  }
  const portals: Array<PathSet.Portal> = []
  /** Add a portal once; what discovery says of one already given (its portal group tag) is kept. */
  const add = (p: PathSet.Portal) => {
    const i = portals.findIndex((q) => q.host.toLowerCase() === p.host.toLowerCase() && q.port === p.port)
    if (i < 0) portals.push(p)
    else if (portals[i]!.tpgt === undefined && p.tpgt !== undefined) portals[i] = { ...portals[i]!, tpgt: p.tpgt }
  }
  add(base.address)
  for (const p of options.portals ?? []) add(yield* parsePortal(p))
  const discovery = options.discovery
  if (discovery === "sendtargets") {
    const found = yield* Discovery.discover({
      address: base.address,
      initiatorName: base.initiatorName,
      sendTargets: targetName,
      loginTimeoutMs: base.loginTimeoutMs
    })
    const t = found.find((x) => x.name === targetName)
    for (const p of t?.portals ?? []) add(p)
  } else if (discovery !== undefined) {
    const found = yield* Discovery.isns({
      server: { host: discovery.isns.host, port: discovery.isns.port ?? 3205 },
      sourceName: base.initiatorName
    })
    const t = found.find((x) => x.name === targetName)
    if (t === undefined) {
      return yield* Effect.fail(
        IscsiError.make(
          new IscsiError.InvalidArgument({
            message: `the iSNS server ${discovery.isns.host}:${discovery.isns.port ?? 3205} does not list ${targetName}; register it there or give its portals`
          })
        )
      )
    }
    for (const p of t.portals) add(p)
  }

  const lun = options.lun ?? base.lun
  const useAlua = options.alua ?? true
  const scope = yield* Effect.scope
  const out = yield* PubSub.unbounded<Event>()

  /** What the first admitted path showed: the identity every other path must show. */
  let reference: { readonly portal: string; readonly luns: Map<number, ReadonlyArray<string>> } | undefined
  /** Each path's target port (VPD 83h), by index. */
  const ports = new Map<number, PortId>()
  /** Whether the target does ALUA (TPGS ≠ 0), and the LUN its states are read on. */
  let alua: { readonly lun: number } | undefined
  let set: PathSet.PathSet<ScsiError.ScsiError> | undefined

  const on =
    (t: ScsiTransportService) =>
    <A, E>(eff: Effect.Effect<A, E, ScsiTransport>): Effect.Effect<A, E> =>
      eff.pipe(Scsi.withPolicy({ retries: 3, backoff: () => 5 }), Effect.provideService(ScsiTransport, t))

  const mismatch = (
    portal: string,
    n: number,
    mine: ReadonlyArray<string>,
    refPortal: string,
    theirs: ReadonlyArray<string>
  ): ScsiError.ScsiError =>
    ScsiError.make(
      new ScsiError.PathIdentityMismatch({
        lun: n,
        portal,
        designators: mine,
        referencePortal: refPortal,
        referenceDesignators: theirs,
        message: `the path through ${portal} does not reach the logical unit the path through ${refPortal} reaches (LUN ${n}): VPD 83h through ${portal} [${mine.join("; ")}], through ${refPortal} [${theirs.join("; ")}]. The path is kept out; check that ${portal} is a portal of ${targetName} on the same storage system, or leave it out of the portals`
      })
    )

  /** Apply a REPORT TARGET PORT GROUPS answer to every path whose port is known (but `except`). */
  const apply = (groups: TargetPortGroups.TargetPortGroups, reason: string, except?: number) =>
    Effect.gen(function* () {
      const updates: Array<{ index: number; access: PathSet.Access; alua: PathSet.Alua }> = []
      for (const [index, port] of ports) {
        if (index === except) continue
        const g = groupOf(groups, port)
        if (g === undefined) continue
        updates.push({
          index,
          access: accessOf(g.state),
          alua: { state: g.state, group: g.id, preferred: g.preferred }
        })
      }
      if (set !== undefined && updates.length > 0) yield* set.setAccess(updates)
      PubSub.publishUnsafe(out, {
        _tag: "AluaRead",
        reason,
        groups: groups.groups.map((g) => ({ id: g.id, state: g.state, preferred: g.preferred }))
      })
      if (groups.groups.some((g) => g.state === "transitioning")) {
        // a transition in progress: look again shortly (the target may not say when it ends)
        yield* Effect.forkIn(Effect.andThen(Effect.sleep("250 millis"), refresh("transitioning")), scope)
      }
    })

  const admit = (
    path: PathSet.PathStatus,
    t: ScsiTransportService
  ): Effect.Effect<PathSet.Admission<ScsiError.ScsiError>, CommandError> =>
    Effect.gen(function* () {
      const run = on(t)
      const luns =
        lun !== undefined
          ? [lun]
          : [...new Set((yield* run(Scsi.reportLuns())).luns.map((l) => l.lun))].sort((a, b) => a - b)
      const mine = new Map<number, ReadonlyArray<Inquiry.Designator>>()
      for (const n of luns) mine.set(n, yield* run(Scsi.deviceIdentification(n)))
      const ref = reference
      if (ref === undefined) {
        reference = { portal: path.portal, luns: new Map([...mine].map(([n, ds]) => [n, identityOf(ds)])) }
      } else if (ref.portal !== path.portal) {
        let compared = 0
        for (const [n, ds] of mine) {
          const theirs = ref.luns.get(n)
          if (theirs === undefined) continue
          compared++
          const ids = identityOf(ds)
          if (ids.join("\n") !== theirs.join("\n")) {
            return { _tag: "Refused", error: mismatch(path.portal, n, ids, ref.portal, theirs) } as const
          }
        }
        if (compared === 0) {
          return {
            _tag: "Refused",
            error: mismatch(path.portal, luns[0] ?? 0, [], ref.portal, [...ref.luns.values()][0] ?? [])
          } as const
        }
      }
      const aluaLun = lun ?? luns[0]
      if (!useAlua || aluaLun === undefined) return { _tag: "Admitted" } as const
      const standard = yield* run(Scsi.inquiry(aluaLun))
      if (standard.tpgs === 0) return { _tag: "Admitted" } as const
      alua = { lun: aluaLun }
      const port = portOf(mine.get(aluaLun) ?? [])
      ports.set(path.index, port)
      const groups = yield* run(Scsi.reportTargetPortGroups(aluaLun))
      // what this answer says of the other paths is news too
      yield* apply(groups, `path ${path.portal} admitted`, path.index)
      const g = groupOf(groups, port)
      if (g === undefined) return { _tag: "Admitted" } as const
      return {
        _tag: "Admitted",
        access: accessOf(g.state),
        alua: { state: g.state, group: g.id, preferred: g.preferred }
      } as const
    })

  // ---- ALUA re-reads (one at a time; callers that come meanwhile wait for the one running) ------
  let running: Deferred.Deferred<void> | undefined
  const refresh = (reason: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (alua === undefined || set === undefined) return Effect.void
      if (running !== undefined) return Deferred.await(running)
      const done = Deferred.makeUnsafe<void>()
      running = done
      const s = set
      const a = alua
      return Effect.gen(function* () {
        const candidates = (yield* s.paths).filter((p) => p.state === "active" || p.state === "standby")
        for (const p of candidates) {
          const r = yield* Effect.result(on(s.transportOf(p.index))(Scsi.reportTargetPortGroups(a.lun)))
          if (Result.isSuccess(r)) {
            yield* apply(r.success, reason)
            return
          }
        }
      }).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            running = undefined
            Deferred.doneUnsafe(done, Effect.void)
          })
        )
      )
    })

  /** What a non-GOOD result means for the paths (see the module doc). */
  const inspect = (
    _path: PathSet.PathStatus,
    _request: ScsiRequest,
    r: ScsiResult
  ): Effect.Effect<boolean> | undefined => {
    if (alua === undefined || r.status !== 2 || r.sense === undefined) return undefined
    const decoded = Sense.decode(r.sense)
    if (Result.isFailure(decoded)) return undefined
    const { senseKey, asc, ascq } = decoded.success
    if (
      senseKey === Sense.SenseKey.UnitAttention &&
      asc === 0x2a &&
      (ascq === UA_ASYMMETRIC_ACCESS_CHANGED || ascq === UA_IMPLICIT_TRANSITION_FAILED)
    ) {
      return Effect.as(refresh("unit attention 2A/06"), true)
    }
    if (senseKey === Sense.SenseKey.NotReady && asc === 0x04) {
      if (ascq === 0x0a) return Effect.as(Effect.andThen(Effect.sleep("100 millis"), refresh("NOT READY 04/0A")), true)
      if (ascq === 0x0b || ascq === 0x0c) {
        return Effect.as(refresh(`NOT READY 04/${ascq.toString(16).toUpperCase().padStart(2, "0")}`), true)
      }
    }
    return undefined
  }

  set = yield* PathSet.make<ScsiError.ScsiError>(pool, {
    target: base,
    portals,
    policy: options.policy,
    failback: options.failback,
    probeIntervalMs: options.probeIntervalMs,
    probeTimeoutMs: options.probeTimeoutMs,
    admit,
    inspect
  })
  const paths0 = yield* set.paths
  const refused = paths0.find((p) => p.state === "refused")
  if (refused !== undefined) return yield* Effect.fail(refused.lastError as ScsiError.ScsiError)
  const s = set

  // ---- geometry, shared by the paths (one logical unit) -----------------------------------------
  const geometry = new Map<number, LunGeometry>()
  const cache: GeometryCache = {
    get: (n) => geometry.get(n),
    set: (n, g) => {
      geometry.set(n, g)
    }
  }

  // ---- what the paths report --------------------------------------------------------------------
  yield* Effect.forkScoped(
    Stream.runForEach(s.events, (e) =>
      Effect.suspend(() => {
        PubSub.publishUnsafe(out, e)
        if (e._tag !== "UnitAttention") return Effect.void
        if (e.asc === 0x2a && e.ascq === 0x09) {
          const n = Lun.decode(e.lun)
          if (Result.isSuccess(n)) geometry.delete(n.success)
        } else if (e.asc === 0x29 || (e.asc === 0x3f && e.ascq === 0x0e)) {
          // a reset (every rejoining path's new nexus reports one) or other LUNs: learn them again,
          // as a session does; a capacity change while every path was down is reported this way
          geometry.clear()
        }
        return e.asc === 0x2a && (e.ascq === UA_ASYMMETRIC_ACCESS_CHANGED || e.ascq === UA_IMPLICIT_TRANSITION_FAILED)
          ? refresh("unit attention 2A/06")
          : Effect.void
      })
    )
  )
  const interval = options.aluaIntervalMs ?? 5000
  yield* Effect.forkScoped(
    Effect.gen(function* () {
      for (;;) {
        const now = yield* s.paths
        const usable = now.some((p) => p.state === "active")
        const waiting = now.some((p) => p.state === "standby")
        // nothing usable but paths that answer: ask often; otherwise at the interval (or never)
        if (!usable && waiting) {
          yield* Effect.sleep("500 millis")
          yield* refresh("no usable path")
        } else if (interval > 0) {
          yield* Effect.sleep(Duration.millis(interval))
          yield* refresh("interval")
        } else {
          yield* Effect.sleep("500 millis")
        }
      }
    })
  )

  const transport: ScsiTransportService = {
    execute: s.execute,
    taskManagement: s.taskManagement,
    geometry: cache,
    policy: base.policy,
    lun
  }
  return {
    targetName,
    transport,
    paths: s.paths,
    events: Stream.fromPubSub(out),
    refreshAlua: refresh("asked")
  } satisfies MultipathShape
})

/**
 * The device as `ScsiTransport` (and `Multipath`, for its paths and events) for the life of the
 * layer, on the `Pool` in context (`Transport` and `Platform` for discovery):
 * `Multipath.layer({ target: url, portals: ["10.0.0.2:3260"], policy: "round-robin" })`.
 */
export const layer = (
  options: Options
): Layer.Layer<
  ScsiTransport | Multipath,
  IscsiError.IscsiError | ScsiError.ScsiError,
  Pool.Pool | Transport | Platform
> =>
  Layer.effectContext(
    Effect.map(make(options), (m) => Context.make(Multipath, m).pipe(Context.add(ScsiTransport, m.transport)))
  )
