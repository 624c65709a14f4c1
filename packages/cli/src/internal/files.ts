/**
 * Local files and the standard streams as Effects: positional reads and writes on an open file
 * (for `dd`), stdout writes that honour back-pressure, and a byte stream from a file or stdin.
 * Every failure is an `IoError` naming the path.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
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
  /** Bytes when opened (0 for a device, pipe or terminal). */
  readonly size: number
  /** Bytes the file system holds for it when opened (less than `size` for a sparse file). */
  readonly allocated: number
  /** A regular file (not a device, pipe, socket or terminal). */
  readonly regular: boolean
  /**
   * A regular file this open created or truncated to 0 bytes ("w"): every byte not written reads back
   * as zero, so a copy may leave zero runs unwritten (holes) and set the length at the end.
   */
  readonly fresh: boolean
  /** Read up to `length` bytes at `offset` into a new buffer (shorter at the end of the file). */
  readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, IoError>
  /** Fill `into` from `offset`; the number of bytes read (fewer only at the end of the file). */
  readonly readInto: (offset: number, into: Uint8Array) => Effect.Effect<number, IoError>
  readonly write: (offset: number, data: Uint8Array) => Effect.Effect<void, IoError>
  /** Set the length (a regular file only). */
  readonly truncate: (size: number) => Effect.Effect<void, IoError>
}

/**
 * Open `path`: "r" to read it, "w" to create or overwrite it, "r+" to write into an existing one,
 * "create" to create it or open it for writing without truncating it yet (see `truncated`).
 * Positional I/O on the descriptor with Node's callback API, from and into the caller's buffers, on
 * libuv's thread pool. Synchronous `pread`/`pwrite` on the main thread measured the same on tmpfs
 * (2 GiB LUN → file and file → LUN, 3 alternated pairs each) and would stall the socket behind a
 * slow disk, so the pool it is.
 */
export const open = (path: string, flags: "r" | "w" | "r+" | "create"): Effect.Effect<OpenFile, IoError, Scope.Scope> =>
  Effect.gen(function* () {
    const fail = ioError(path)
    const fd = yield* Effect.acquireRelease(
      Effect.callback<number, IoError>((resume) => {
        Fs.open(path, flags === "create" ? Fs.constants.O_WRONLY | Fs.constants.O_CREAT : flags, 0o666, (err, fd) =>
          resume(err ? Effect.fail(fail(err)) : Effect.succeed(fd))
        )
      }),
      (fd) => Effect.callback<void>((resume) => Fs.close(fd, () => resume(Effect.void)))
    )
    const stat = yield* Effect.callback<Fs.Stats, IoError>((resume) => {
      Fs.fstat(fd, (err, st) => resume(err ? Effect.fail(fail(err)) : Effect.succeed(st)))
    })
    const regular = stat.isFile()
    const readInto = (offset: number, into: Uint8Array): Effect.Effect<number, IoError> =>
      Effect.callback<number, IoError>((resume) => {
        let got = 0
        const next = () =>
          Fs.read(fd, into, got, into.length - got, offset + got, (err, n) => {
            if (err) return resume(Effect.fail(fail(err)))
            got += n
            if (n === 0 || got === into.length) return resume(Effect.succeed(got))
            next()
          })
        if (into.length === 0) resume(Effect.succeed(0))
        else next()
      })
    return {
      path,
      size: regular ? stat.size : 0,
      allocated: regular ? stat.blocks * 512 : 0,
      regular,
      fresh: regular && flags === "w",
      read: (offset, length) => {
        const buf = new Uint8Array(length)
        return Effect.map(readInto(offset, buf), (got) => (got === length ? buf : buf.subarray(0, got)))
      },
      readInto,
      write: (offset, data) =>
        Effect.callback<void, IoError>((resume) => {
          let done = 0
          const next = () =>
            Fs.write(fd, data, done, data.length - done, offset + done, (err, n) => {
              if (err) return resume(Effect.fail(fail(err)))
              done += n
              if (done === data.length) return resume(Effect.void)
              next()
            })
          if (data.length === 0) resume(Effect.void)
          else next()
        }),
      truncate: (size) =>
        Effect.callback<void, IoError>((resume) => {
          Fs.ftruncate(fd, size, (err) => resume(err ? Effect.fail(fail(err)) : Effect.void))
        })
    }
  })

/**
 * The same file emptied now (a regular file is truncated to 0 bytes and becomes `fresh`): for a
 * destination opened with "create", once everything has been checked, so a usage error never
 * leaves the user's file emptied.
 */
export const truncated = (file: OpenFile): Effect.Effect<OpenFile, IoError> =>
  file.regular ? Effect.as(file.truncate(0), { ...file, size: 0, allocated: 0, fresh: true }) : Effect.succeed(file)

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
