/**
 * The progress bar of `iscsi dd`: bytes done, rate and ETA, redrawn in place on stderr a few times
 * a second when stderr is a terminal (never when it is a file or a pipe), and cleared at the end.
 *
 * `render` is pure (tested); `make` is the thin Effect driver around it.
 *
 * Not here: the summary line (the caller prints it once the copy is done).
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Format from "./Format.ts"
import * as Files from "./internal/files.ts"

export interface Snapshot {
  readonly done: number
  readonly total: number
  readonly elapsedSeconds: number
  readonly columns: number
}

/** One line: `[#####-----]  45%  28.8M / 64M  120.3 MB/s  ETA 3.1s`, fitted to `columns`. */
export const render = (s: Snapshot): string => {
  const fraction = s.total > 0 ? Math.min(1, s.done / s.total) : 0
  const rate = s.elapsedSeconds > 0 ? s.done / s.elapsedSeconds : 0
  const eta = rate > 0 ? (s.total - s.done) / rate : Number.NaN
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4)
  const tail = `${pct}  ${Format.size(s.done)} / ${Format.size(s.total)}  ${Format.rate(rate)}  ETA ${Format.duration(eta)}`
  const barWidth = Math.max(0, Math.min(40, s.columns - tail.length - 4))
  if (barWidth < 5) return tail.slice(0, Math.max(0, s.columns - 1))
  const filled = Math.round(fraction * barWidth)
  return `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${tail}`
}

export interface Progress {
  /** Count `bytes` more as done. */
  readonly add: (bytes: number) => void
  readonly done: () => number
  /** Stop redrawing and clear the line. */
  readonly finish: Effect.Effect<void>
}

/** A progress bar for `total` bytes, drawn only when `enabled` (stderr is a TTY) and stopped with the scope. */
export const make = (
  total: number,
  enabled: boolean = Files.stderrIsTty()
): Effect.Effect<Progress, never, Scope.Scope> =>
  Effect.gen(function* () {
    let done = 0
    let stopped = false
    const start = performance.now()
    const draw = Effect.sync(() => {
      if (stopped) return
      const line = render({
        done,
        total,
        elapsedSeconds: (performance.now() - start) / 1000,
        columns: Files.stderrColumns()
      })
      process.stderr.write(`\r${line}\u001b[K`)
    })
    const clear = Effect.sync(() => {
      if (!stopped && enabled) process.stderr.write("\r\u001b[K")
      stopped = true
    })
    if (enabled) {
      yield* draw.pipe(Effect.andThen(Effect.sleep("200 millis")), Effect.forever, Effect.forkScoped)
      yield* Effect.addFinalizer(() => clear)
    }
    return {
      add: (bytes) => {
        done += bytes
      },
      done: () => done,
      finish: clear
    }
  })
