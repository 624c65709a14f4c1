/**
 * Local files and the standard streams as Effects: positional reads and writes on an open file
 * (for `dd`), stdout writes that honour back-pressure, and a byte stream from a file or stdin.
 * Every failure is an `IoError` naming the path.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import type * as FsP from "node:fs/promises"
import * as FsPromises from "node:fs/promises"
import { IoError } from "../Failure.ts"

/** Node's "ENOENT: no such file or directory, open 'x'" → "no such file or directory (ENOENT)". */
const describe = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const code = (cause as NodeJS.ErrnoException).code
  const m = /^[A-Z0-9_]+: ([^,]+)/.exec(cause.message)
  return m !== null && code !== undefined ? `${m[1]} (${code})` : cause.message
}

const ioError = (path: string) => (cause: unknown) => new IoError({ path, message: describe(cause), cause })

/** An open local file, closed with the scope. */
export interface OpenFile {
  readonly path: string
  readonly size: number
  readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, IoError>
  readonly write: (offset: number, data: Uint8Array) => Effect.Effect<void, IoError>
}

/** Open `path`: "r" to read it, "w" to create or overwrite it, "r+" to write into an existing one. */
export const open = (path: string, flags: "r" | "w" | "r+"): Effect.Effect<OpenFile, IoError, Scope.Scope> =>
  Effect.gen(function* () {
    const handle: FsP.FileHandle = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => FsPromises.open(path, flags), catch: ioError(path) }),
      (h) => Effect.promise(() => h.close()).pipe(Effect.ignore)
    )
    const stat = yield* Effect.tryPromise({ try: () => handle.stat(), catch: ioError(path) })
    return {
      path,
      size: stat.isFile() ? stat.size : 0,
      read: (offset, length) =>
        Effect.tryPromise({
          try: async () => {
            const buf = new Uint8Array(length)
            let got = 0
            while (got < length) {
              const r = await handle.read(buf, got, length - got, offset + got)
              if (r.bytesRead === 0) break
              got += r.bytesRead
            }
            return got === length ? buf : buf.subarray(0, got)
          },
          catch: ioError(path)
        }),
      write: (offset, data) =>
        Effect.tryPromise({
          try: async () => {
            let done = 0
            while (done < data.length) {
              const r = await handle.write(data, done, data.length - done, offset + done)
              done += r.bytesWritten
            }
          },
          catch: ioError(path)
        })
    }
  })

/** Write to stdout and wait until Node has taken the chunk (back-pressure for large reads). */
export const writeStdout = (chunk: string | Uint8Array): Effect.Effect<void, IoError> =>
  Effect.callback<void, IoError>((resume) => {
    process.stdout.write(chunk, (err) => resume(err ? Effect.fail(ioError("stdout")(err)) : Effect.void))
  })

/** A line on stderr (progress, summaries, errors). */
export const writeStderr = (text: string): Effect.Effect<void> => Effect.sync(() => void process.stderr.write(text))

/** The bytes of a file, or of stdin when `path` is undefined or "-". */
export const inputStream = (path: string | undefined): Stream.Stream<Uint8Array, IoError> => {
  const name = path === undefined || path === "-" ? "stdin" : path
  return Stream.fromAsyncIterable(
    name === "stdin"
      ? (process.stdin as AsyncIterable<Uint8Array>)
      : Fs.createReadStream(name, { highWaterMark: 1 << 20 }),
    ioError(name)
  )
}

/** Output to a file (created or truncated) or stdout, chunk by chunk. */
export const outputSink = (
  path: string | undefined
): Effect.Effect<(chunk: Uint8Array) => Effect.Effect<void, IoError>, IoError, Scope.Scope> =>
  path === undefined || path === "-"
    ? Effect.succeed(writeStdout)
    : Effect.map(open(path, "w"), (file) => {
        let offset = 0
        return (chunk: Uint8Array) =>
          Effect.suspend(() => {
            const at = offset
            offset += chunk.length
            return file.write(at, chunk)
          })
      })

/** True when stderr is a terminal (progress bars go there only then). */
export const stderrIsTty = (): boolean => process.stderr.isTTY === true

/** Terminal width of stderr (80 when unknown). */
export const stderrColumns = (): number => process.stderr.columns ?? 80
