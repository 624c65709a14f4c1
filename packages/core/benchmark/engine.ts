/**
 * Engine micro-benchmark (not a timed test): the user-space CPU cost of one command through the
 * whole initiator — Effect fibers, `Session.execute`, the engine, the framer, the codec — with no
 * socket, no kernel and no target process. An in-memory transport answers every READ(10) with one
 * Data-In PDU (data and GOOD status, like tgtd) and delivers the answers of each turn as one chunk
 * (a socket read), in push mode, like the Node transport.
 *
 *   node packages/core/benchmark/engine.ts [QD] [BLOCK_BYTES] [SECONDS] [session|api|paths] [metrics|off|spans]
 *
 * `session` (default) drives `Session.execute` like packages/node-transport/benchmark/load.ts;
 * `api` drives the public API like `iscsi bench`: `Scsi.read10(lun, lba, n, { into })` on the
 * `ScsiTransport` of a `Pool` layer (recovery on, the default retry schedule); `paths` does the
 * same on a `PathSet` of two in-memory portals, round-robin (what multipath adds per command). In
 * `api` mode the last argument says what the observability costs: `metrics` (default: the library's
 * default, every command counted and timed in `Telemetry`), `off` (`Telemetry.Enabled` false),
 * `spans` (metrics and a span for every READ: `Scsi.TraceDataPath`, recorded by Effect's default tracer).
 *
 * Prints µs of CPU per command (process.cpuUsage, user + system; no syscalls run here, so it is
 * all JavaScript, V8 and GC) and commands per second. `npm run bench` runs it for 4 KiB and 64 KiB
 * at queue depth 32; compare runs of one machine, not machines.
 */
import {
  Negotiation,
  PathSet,
  Pdu,
  Pool,
  ScsiTransport,
  Session,
  Telemetry,
  TextKeys,
  Transport
} from "@effect-iscsi/core"
import { Scsi } from "@effect-iscsi/scsi"
import type { Channel, Receiver } from "@effect-iscsi/core/Transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"

const queueDepth = Number(process.argv[2] ?? 32)
const blockBytes = Number(process.argv[3] ?? 4096)
const seconds = Number(process.argv[4] ?? 3)
const mode = process.argv[5] === "api" || process.argv[5] === "paths" ? process.argv[5] : "session"
const observe = process.argv[6] === "off" ? "off" : process.argv[6] === "spans" ? "spans" : "metrics"
const WARMUP_MS = 1000

const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
const w32 = (b: Uint8Array, o: number, v: number) => {
  b[o] = v >>> 24
  b[o + 1] = v >>> 16
  b[o + 2] = v >>> 8
  b[o + 3] = v
}

/** The target side of one in-memory connection. */
const makeChannel = (): Channel => {
  let receiver: Receiver | undefined
  let statSN = 1
  let expCmdSN = 1
  const loginAnswers: Array<Uint8Array> = []
  let waiter: ((e: Effect.Effect<ReadonlyArray<Uint8Array>>) => void) | undefined
  // answers of this turn (ITT, length), delivered together as one chunk on the next macrotask; the
  // chunk buffer is reused (push-mode chunks are only read during `onChunk`), data bytes are stale
  const itts: Array<number> = []
  const lengths: Array<number> = []
  let chunkBuffer = new Uint8Array(1 << 20)
  let scheduled = false
  const flush = () => {
    scheduled = false
    let n = 0
    for (let i = 0; i < lengths.length; i++) n += 48 + lengths[i]!
    if (n > chunkBuffer.length) chunkBuffer = new Uint8Array(n)
    const f = chunkBuffer
    let o = 0
    for (let i = 0; i < itts.length; i++) {
      const length = lengths[i]!
      f.fill(0, o, o + 48)
      f[o] = 0x25
      f[o + 1] = 0x81 // F, S: data and GOOD status in one PDU
      f[o + 5] = length >>> 16
      f[o + 6] = length >>> 8
      f[o + 7] = length
      w32(f, o + 16, itts[i]!)
      w32(f, o + 20, 0xffffffff)
      w32(f, o + 24, statSN++)
      w32(f, o + 28, expCmdSN)
      w32(f, o + 32, expCmdSN + 127)
      o += 48 + length
    }
    itts.length = 0
    lengths.length = 0
    receiver!.onChunk(f.subarray(0, n))
  }
  const onCommand = (h: Uint8Array) => {
    expCmdSN = (u32(h, 24) + 1) >>> 0
    itts.push(u32(h, 16))
    lengths.push(u32(h, 20))
    if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
  }
  const onLogin = (frame: Uint8Array) => {
    const r = Pdu.decode(frame)
    if (r._tag === "Failure" || r.success._tag !== "LoginRequest") throw new Error("login")
    const req = r.success
    const pairs = TextKeys.decode(req.data)
    const answer: Array<TextKeys.Pair> = []
    if (pairs._tag === "Success") {
      for (const [k, v] of pairs.success) {
        if (k === "AuthMethod") answer.push([k, "None"])
        else if (k === "HeaderDigest" || k === "DataDigest") answer.push([k, "None"])
        else if (k === "InitialR2T") answer.push([k, "Yes"])
        else if (k === "MaxRecvDataSegmentLength") answer.push([k, "262144"])
        else if (req.csg === 1 && !["InitiatorName", "InitiatorAlias", "TargetName", "SessionType"].includes(k)) {
          answer.push([k, v.split(",")[0]!])
        }
      }
    }
    if (req.transit && req.csg === 0) answer.push(["TargetPortalGroupTag", "1"])
    const final = req.transit && req.nsg === 3
    loginAnswers.push(
      Pdu.encode({
        _tag: "LoginResponse",
        transit: req.transit,
        continue: false,
        csg: req.csg,
        nsg: req.transit ? req.nsg : 0,
        versionMax: 0,
        versionActive: 0,
        isid: req.isid,
        tsih: final ? 1 : 0,
        itt: req.itt,
        statSN: statSN++,
        expCmdSN,
        maxCmdSN: expCmdSN + 127,
        statusClass: 0,
        statusDetail: 0,
        data: TextKeys.encode(answer)
      })
    )
    if (waiter !== undefined) {
      const w = waiter
      waiter = undefined
      w(Effect.succeed(loginAnswers.splice(0)))
    }
  }
  const take = (frames: ReadonlyArray<Uint8Array>) => {
    for (const f of frames) {
      if (f.length < 48) continue // a data segment or trailer of the frame before
      const op = f[0]! & 0x3f
      if (op === 0x01) onCommand(f)
      else if (op === 0x03) onLogin(f)
    }
  }
  return {
    pull: Effect.callback((resume) => {
      if (loginAnswers.length > 0) return resume(Effect.succeed(loginAnswers.splice(0)))
      waiter = resume
    }),
    writeAll: (frames) =>
      Effect.sync(() => {
        // login frames come as header + data: join them so `onLogin` decodes one frame
        let n = 0
        for (const f of frames) n += f.length
        const joined = new Uint8Array(n)
        let o = 0
        for (const f of frames) {
          joined.set(f, o)
          o += f.length
        }
        take([joined])
      }),
    destroy: Effect.void,
    writeNow: take,
    receive: (r) => {
      receiver = r
    }
  }
}

const layer = Layer.mergeAll(
  Layer.succeed(Transport.Transport, Transport.Transport.of({ connect: () => Effect.sync(makeChannel) })),
  Layer.succeed(
    Transport.Platform,
    Transport.Platform.of({
      hash: () => new Uint8Array(16),
      randomBytes: (n) => new Uint8Array(n),
      crc32c: (d, i) => Number(i ?? 0) ^ d.length
    })
  )
)

const cdb10 = (cdb: Uint8Array, lba: number, blocks: number) => {
  cdb[0] = 0x28
  w32(cdb, 2, lba)
  cdb[7] = blocks >> 8
  cdb[8] = blocks
  return cdb
}

const initiatorName = "iqn.2026-11.io.effect-iscsi:engine-bench"
const sessionConfig = {
  address: { host: "memory", port: 0 },
  initiatorName,
  targetName: "iqn.2026-11.io.effect-iscsi:memory",
  auth: { _tag: "None" } as const,
  offer: Negotiation.defaultOffer,
  keepaliveIntervalMs: 0
}

/** Keep `queueDepth` workers running `command(worker buffer, lba)` until the time is up. */
const drive = <E, R>(command: (buf: Uint8Array, cdb: Uint8Array, lba: number) => Effect.Effect<unknown, E, R>) =>
  Effect.gen(function* () {
    const blocks = blockBytes / 512
    let cursor = 0
    let ios = 0
    const t0 = performance.now()
    let cpu0 = process.cpuUsage()
    let measuring = false
    let mStart = 0
    const end = t0 + WARMUP_MS + seconds * 1000
    const worker = Effect.gen(function* () {
      const buf = new Uint8Array(blockBytes)
      const cdb = new Uint8Array(10)
      for (;;) {
        const now = performance.now()
        if (now >= end) return
        if (!measuring && now - t0 >= WARMUP_MS) {
          measuring = true
          mStart = now
          cpu0 = process.cpuUsage()
          ios = 0
        }
        yield* command(buf, cdb, (cursor++ & 0xffff) * blocks)
        ios++
      }
    })
    yield* Effect.forEach(
      Array.from({ length: queueDepth }, () => worker),
      (w) => w,
      { concurrency: queueDepth, discard: true }
    )
    const cpu = process.cpuUsage(cpu0)
    const s = (performance.now() - mStart) / 1000
    return {
      mode,
      ...(mode === "api" ? { observe } : {}),
      queueDepth,
      blockBytes,
      ios,
      commandsPerSecond: Math.round(ios / s),
      cpuUsPerCommand: +((cpu.user + cpu.system) / ios).toFixed(2)
    }
  })

const viaSession = Effect.gen(function* () {
  const session = yield* Session.make({ ...sessionConfig, isid: Pool.stableIsid(initiatorName, "engine-bench") })
  return yield* drive((buf, cdb, lba) =>
    Effect.flatMap(
      session.execute(
        ScsiTransport.request({
          lun: 1,
          cdb: cdb10(cdb, lba, blockBytes / 512),
          direction: "read",
          readLength: blockBytes,
          readInto: buf
        })
      ),
      (r) => (r.status === 0 ? Effect.void : Effect.die(new Error(`status ${r.status}`)))
    )
  )
}).pipe(Effect.scoped, Effect.provide(layer))

// the in-memory target answers no READ CAPACITY: the block size is given
const viaApi = drive((buf, _cdb, lba) => Scsi.read10(1, lba, blockBytes / 512, { blockSize: 512, into: buf })).pipe(
  Effect.provide(Pool.layerTarget(sessionConfig).pipe(Layer.provide(layer))),
  Effect.provideService(Telemetry.Enabled, observe !== "off"),
  Effect.provideService(Scsi.TraceDataPath, observe === "spans")
)

const viaPaths = Effect.gen(function* () {
  const pool = yield* Pool.make()
  const paths = yield* PathSet.make(pool, {
    target: sessionConfig,
    portals: [
      { host: "memory", port: 0 },
      { host: "memory", port: 1 }
    ]
  })
  return yield* Effect.provideService(
    drive((buf, _cdb, lba) => Scsi.read10(1, lba, blockBytes / 512, { into: buf, blockSize: 512 })),
    ScsiTransport.ScsiTransport,
    paths
  )
}).pipe(Effect.scoped, Effect.provide(layer))

// the login's Info line would precede the figures on stdout
const program = (mode === "api" ? viaApi : mode === "paths" ? viaPaths : viaSession).pipe(
  Effect.provideService(References.MinimumLogLevel, "Warn")
)

Effect.runPromise(program).then(
  (r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`)
    process.exit(0)
  },
  (e) => {
    process.stderr.write(`${String(e)}\n`)
    process.exit(1)
  }
)
