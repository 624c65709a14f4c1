/**
 * The incremental iSCSI framer: `push(chunk)` returns every PDU completed by that chunk (RFC 7143
 * §11.1–11.2: BHS, AHS, optional header digest, data segment padded to 4 bytes, optional data digest).
 * It decodes PDUs of both directions, so a fake target can use it too.
 *
 * Limits and errors, all typed `IscsiError`s, never throws:
 * - DataSegmentLength above `maxDataSegmentLength` (the negotiated MaxRecvDataSegmentLength) is a
 *   `ProtocolError`, raised as soon as the header is complete, before any of the segment is
 *   buffered: memory held is at most one frame (≤ 48 + 1020 + 4 + max + 3 + 4 bytes).
 * - A header digest mismatch is checked before DataSegmentLength is trusted; a data digest mismatch
 *   when the frame is complete. Both are `DigestError`s naming which digest.
 * - A malformed PDU (bad AHS, reserved task attribute) is a `ProtocolError`.
 * - After an error the framer is poisoned: every later push returns the same error. The connection
 *   must be dropped (there is no resynchronising an iSCSI byte stream without sync markers).
 *
 * Views and copies (the zero-copy rule):
 * - A frame entirely inside one pushed chunk is decoded in place: its `data` (and an Unknown PDU's
 *   `bhs`) are `subarray` views of that chunk. This is safe because the socket hands us a fresh
 *   chunk per read that nobody writes to afterwards; a caller that reuses or mutates its chunks
 *   must copy them before pushing (or copy the data it keeps).
 * - A frame that straddles chunks is assembled once into a new buffer sized for the whole frame
 *   (one copy), and its `data` is a view of that buffer.
 * - Only the header (≤ 1072 bytes) of a frame that starts in one chunk and whose header is not
 *   complete is staged in a reused internal buffer, then copied into the frame buffer.
 * - Placement (`setPlacer`, the session engine's receive path): a Data-In frame that straddles
 *   chunks is not assembled; its data segment is written where the placer says (the reading task's
 *   buffer) as it arrives, and the transport may read the rest of it there directly
 *   (`directBuffer`, `readLimit`). Its `data` is then that view. Revoked placements
 *   (`revokePlacement`) write nothing more; the frame is still read to its end and checked.
 * Measured in packages/core/benchmark/codec.ts and engine.ts, and by npm run bench.
 *
 * Digests: `setDigests` applies to the next frame. Switch them on after the Login Response that
 * completes login has been returned (login PDUs never carry digests); nothing follows that
 * response in the same chunk, because the target waits for our next command.
 * `checkUndeclaredDigests` (the session arms it once per connection after login) looks at the first
 * frame after it for digests the peer sends although they are off: a peer that rejected
 * `HeaderDigest=None` and digests anyway would otherwise have every later frame misread (garbage
 * headers, or a hang waiting for bytes that never come). It is a `NegotiationFailed` naming the key.
 *
 * Not here: decoding of text keys, sequence numbers, what the PDUs mean (the connection engine).
 */
import * as Result from "effect/Result"
import * as Crc32c from "./Crc32c.ts"
import { digestAt, padOf, u24 } from "./internal/pdu/bytes.ts"
import * as Codec from "./internal/pdu/codec.ts"
import * as IscsiError from "./IscsiError.ts"
import * as PduModule from "./Pdu.ts"
import type { Pdu } from "./PduTypes.ts"

export interface Options {
  readonly headerDigest: boolean
  readonly dataDigest: boolean
  /** Largest DataSegmentLength accepted (our MaxRecvDataSegmentLength, at most 2^24-1). */
  readonly maxDataSegmentLength: number
  /** CRC32C for the header digest (default: the TS `Crc32c.crc32c`). */
  readonly crc32c?: Crc32c.Fn | undefined
  /** CRC32C for the data digest (default: `crc32c`, then the TS one). Pass the native one here. */
  readonly dataCrc32c?: Crc32c.Fn | undefined
}

export interface Framer {
  /** Feed the next chunk of the byte stream; returns the PDUs it completed (possibly none). */
  push(chunk: Uint8Array): Result.Result<ReadonlyArray<Pdu>, IscsiError.IscsiError>
  /**
   * Switch digests for the frames that start after this call; `dataCrc32c` (optional) replaces the
   * CRC32C used for data digests (the session passes the platform's native one: npm run bench).
   */
  setDigests(header: boolean, data: boolean, dataCrc32c?: Crc32c.Fn): void
  /** Change the DataSegmentLength limit for the frames whose header completes after this call. */
  setMaxDataSegmentLength(n: number): void
  /**
   * Assemble Data-In frames that straddle chunks in two buffers the framer reuses (alternately)
   * instead of a new buffer per frame: such a PDU's `data` is then valid only until the next
   * `push`. For a consumer that copies Data-In out at once (the session engine). Default off.
   */
  setReuseDataInBuffers(on: boolean): void
  /**
   * Data placement (the zero-copy receive path): for a Data-In frame that does not fit in the chunk
   * its header arrived in, `placer.place` may name where its data segment goes (a view of exactly
   * DataSegmentLength bytes, normally the reading task's buffer). The data is then written there as
   * it arrives (from each chunk, or read there directly by the transport: `directBuffer`), never
   * assembled, and the PDU's `data` is that view. Pass `undefined` to switch it off (default).
   */
  setPlacer(placer: Placer | undefined): void
  /**
   * While a placed data segment still lacks at least `min` bytes: the rest of that segment (a view of
   * the placement) for the transport to read the next bytes into directly. Such a chunk is then
   * pushed as the view of it the read filled, and `push` takes it as already in place.
   */
  directBuffer(min: number): Uint8Array | undefined
  /**
   * The owner gave up the current placement (its task was cancelled): the rest of that segment is
   * still read (and digested) but no longer written anywhere. Returns whether a placement was active.
   */
  revokePlacement(): boolean
  /**
   * How many bytes the next read into the transport's own buffer should take at most (0: no
   * limit). While large placed Data-In segments follow each other, just what is left of the
   * current frame plus one header, so that the next segment can be read in place.
   */
  readLimit(): number
  /**
   * Check the next frame (the first after login) for digests the peer sends although they are off
   * here: with the header digest off, a 4-byte word after its header (BHS + AHS) equal to the
   * header's CRC32C; with the data digest off, one after its padded data segment (up to
   * {@link PROBE_MAX_DATA} bytes) equal to the segment's CRC32C. A chance match is one in 2^32.
   * When found, `push` fails with `NegotiationFailed` (key HeaderDigest or DataDigest) whose message
   * says how to offer CRC32C; `rejected` says which keys the target answered `Reject` (message only).
   * Costs one CRC32C over the first header, and a copy of the first frame's first bytes. No-op when
   * both digests are on or bytes of a frame are held already.
   */
  checkUndeclaredDigests(rejected?: { readonly header?: boolean; readonly data?: boolean }): void
  /** Bytes held for a frame not yet complete. */
  readonly buffered: number
}

/** `checkUndeclaredDigests` looks for a data digest only after a first data segment this long at most. */
export const PROBE_MAX_DATA = 16384

/** Where the data segment of a Data-In frame goes (see `Framer.setPlacer`). */
export interface Placer {
  /**
   * For the Data-In BHS at `b[o]` (its header validated, the header digest checked) with a data
   * segment of `dsl` bytes: a view of exactly `dsl` bytes to write it into, or `undefined` to let
   * the framer assemble the frame as usual.
   */
  place(b: Uint8Array, o: number, dsl: number): Uint8Array | undefined
}

const NONE: ReadonlyArray<Pdu> = []
/** Data segments of at least this size are worth a socket read of their own (see `readLimit`). */
const LARGE_SEGMENT = 32 * 1024
const STAGE_SIZE = Codec.BHS_LENGTH + Codec.MAX_AHS_LENGTH + 4

class FramerImpl implements Framer {
  private headerDigest: boolean
  private dataDigest: boolean
  private max: number
  private readonly hcrc: Crc32c.Fn
  private dcrc: Crc32c.Fn
  private failed: Result.Result<ReadonlyArray<Pdu>, IscsiError.IscsiError> | undefined = undefined

  /** Header bytes of a frame whose header is not complete yet. */
  private readonly stage = new Uint8Array(STAGE_SIZE)
  private stageFill = 0
  private stageNeed = Codec.BHS_LENGTH

  /** The frame being assembled across chunks. */
  private frame: Uint8Array | undefined = undefined
  private frameFill = 0

  /** Layout of the current frame, set by `header`. */
  private ahs = 0
  private dsl = 0
  private dataStart = 0
  private total = 0
  private error: IscsiError.IscsiError | undefined = undefined

  constructor(options: Options) {
    this.headerDigest = options.headerDigest
    this.dataDigest = options.dataDigest
    this.max = Math.min(options.maxDataSegmentLength, Codec.MAX_DATA_SEGMENT_LENGTH)
    this.hcrc = options.crc32c ?? Crc32c.crc32c
    this.dcrc = options.dataCrc32c ?? options.crc32c ?? Crc32c.crc32c
  }

  get buffered(): number {
    if (this.dest !== undefined) return this.destFill + this.tailFill
    return this.frame !== undefined ? this.frameFill : this.stageFill
  }

  setDigests(header: boolean, data: boolean, dataCrc32c?: Crc32c.Fn): void {
    this.headerDigest = header
    this.dataDigest = data
    if (dataCrc32c !== undefined) this.dcrc = dataCrc32c
  }

  setMaxDataSegmentLength(n: number): void {
    this.max = Math.min(n, Codec.MAX_DATA_SEGMENT_LENGTH)
  }

  private placer: Placer | undefined = undefined
  /** The placed data segment of the current frame (exactly `dsl` bytes), while one is placed. */
  private dest: Uint8Array | undefined = undefined
  private destFill = 0
  /** The placement was revoked: the rest of the segment is dropped. */
  private dropping = false
  /** Running CRC32C of the placed segment (data digest on). */
  private placeCrc = 0
  /** The header part of the placed frame (decoded when the frame completes). */
  private readonly placedHeader = new Uint8Array(STAGE_SIZE)
  /** Padding and data digest after a placed segment. */
  private readonly tail = new Uint8Array(8)
  private tailFill = 0
  private tailNeed = 0
  /** The decoded placed frame, once `placeFrom` completed it. */
  private placedPdu: Pdu | undefined = undefined

  setPlacer(placer: Placer | undefined): void {
    this.placer = placer
  }

  directBuffer(min: number): Uint8Array | undefined {
    const dest = this.dest
    if (dest === undefined || this.dropping) return undefined
    const rest = dest.length - this.destFill
    return rest >= min ? dest.subarray(this.destFill) : undefined
  }

  /** The last frame that completed was a placed segment of at least LARGE_SEGMENT bytes. */
  private largeRun = false

  readLimit(): number {
    if (!this.largeRun || this.failed !== undefined) return 0
    const next = Codec.BHS_LENGTH + (this.headerDigest ? 4 : 0)
    if (this.dest !== undefined) return this.dest.length - this.destFill + this.tailNeed - this.tailFill + next
    if (this.frame !== undefined) return this.total - this.frameFill + next
    if (this.stageFill > 0) return this.stageNeed - this.stageFill
    return next
  }

  revokePlacement(): boolean {
    if (this.dest === undefined || this.dropping) return false
    this.dropping = true
    return true
  }

  /**
   * Try to place the data segment of the Data-In frame whose validated header part (`hdrTotal`
   * bytes) starts at b[o]; on success the frame's header is kept and `true` returned.
   */
  private tryPlace(b: Uint8Array, o: number, hdrTotal: number): boolean {
    const placer = this.placer
    if (placer === undefined || this.dsl === 0 || (b[o]! & 0x3f) !== 0x25) return false
    const dest = placer.place(b, o, this.dsl)
    if (dest === undefined || dest.length !== this.dsl) return false
    this.placedHeader.set(b.subarray(o, o + hdrTotal), 0)
    this.dest = dest
    this.destFill = 0
    this.dropping = false
    this.placeCrc = 0
    this.tailFill = 0
    this.tailNeed = padOf(this.dsl) + (this.dataDigest ? 4 : 0)
    return true
  }

  /**
   * Consume bytes of the placed frame from chunk[pos..]; returns the new position. When the frame
   * is complete, `this.dest` is cleared and the decoded PDU is in `this.placedPdu` (or `this.error`).
   */
  private placeFrom(chunk: Uint8Array, pos: number): number {
    const dest = this.dest!
    const n = chunk.length
    const want = dest.length - this.destFill
    if (want > 0) {
      const take = Math.min(want, n - pos)
      const piece = pos === 0 && take === n ? chunk : chunk.subarray(pos, pos + take)
      const inPlace = piece.buffer === dest.buffer && piece.byteOffset === dest.byteOffset + this.destFill
      if (!inPlace && !this.dropping) dest.set(piece, this.destFill)
      if (this.dataDigest) this.placeCrc = this.dcrc(piece, this.placeCrc)
      this.destFill += take
      pos += take
    }
    if (this.destFill === dest.length && this.tailFill < this.tailNeed) {
      const take = Math.min(this.tailNeed - this.tailFill, n - pos)
      for (let i = 0; i < take; i++) this.tail[this.tailFill + i] = chunk[pos + i]!
      this.tailFill += take
      pos += take
    }
    if (this.destFill === dest.length && this.tailFill === this.tailNeed) {
      this.dest = undefined
      this.placedPdu = undefined
      const pad = padOf(dest.length)
      if (this.dataDigest) {
        const expected = digestAt(this.tail, pad)
        const actual = pad > 0 ? this.dcrc(this.tail.subarray(0, pad), this.placeCrc) : this.placeCrc
        if (expected !== actual) {
          this.error = PduModule._digestError("data", expected, actual)
          return pos
        }
      }
      const r = Codec.decodeParts(this.placedHeader, 0, this.ahs, dest)
      if (typeof r === "string") this.error = PduModule._protocolError(r)
      else this.placedPdu = r
    }
    return pos
  }

  private reuseDataIn = false
  private readonly spare: [Uint8Array | undefined, Uint8Array | undefined] = [undefined, undefined]
  private spareNext = 0

  setReuseDataInBuffers(on: boolean): void {
    this.reuseDataIn = on
  }

  /**
   * The buffer a straddling frame whose BHS starts at b[o] is assembled in: a reused one for Data-In
   * when enabled (npm run bench: no 64 KiB+ allocation per large Data-In PDU), else a new one.
   */
  private assemblyBuffer(b: Uint8Array, o: number): Uint8Array {
    if (!this.reuseDataIn || (b[o]! & 0x3f) !== 0x25) return new Uint8Array(this.total)
    const i = this.spareNext
    this.spareNext = i ^ 1
    let buf = this.spare[i]
    if (buf === undefined || buf.length < this.total) {
      buf = new Uint8Array(Math.max(this.total, 65536 + 64))
      this.spare[i] = buf
    }
    return buf
  }

  /** Length of the header part (BHS + AHS + header digest) of the BHS at b[o]. */
  private headerTotal(b: Uint8Array, o: number): number {
    return Codec.BHS_LENGTH + (b[o + 4]! << 2) + (this.headerDigest ? 4 : 0)
  }

  /**
   * Validates a complete header part at b[o] and sets the frame layout. Returns false (with
   * `this.error` set) on a header digest mismatch or an oversize data segment.
   */
  private header(b: Uint8Array, o: number): boolean {
    const ahs = b[o + 4]! << 2
    const hdr = Codec.BHS_LENGTH + ahs
    if (this.headerDigest) {
      const expected = digestAt(b, o + hdr)
      const actual = this.hcrc(b.subarray(o, o + hdr))
      if (expected !== actual) {
        this.error = PduModule._digestError("header", expected, actual)
        return false
      }
    }
    const dsl = u24(b, o + 5)
    if (dsl > this.max) {
      this.error = PduModule._protocolError(
        `DataSegmentLength ${dsl} exceeds MaxRecvDataSegmentLength ${this.max} (opcode 0x${(b[o]! & 0x3f).toString(16)})`
      )
      return false
    }
    this.ahs = ahs
    this.dsl = dsl
    this.dataStart = hdr + (this.headerDigest ? 4 : 0)
    this.total = this.dataStart + dsl + padOf(dsl) + (this.dataDigest && dsl > 0 ? 4 : 0)
    return true
  }

  /** Decodes the complete frame at b[o] whose layout `header` set. */
  private decodeFrame(b: Uint8Array, o: number): Pdu | undefined {
    const dsl = this.dsl
    const ds = o + this.dataStart
    if (this.dataDigest && dsl > 0) {
      const padded = dsl + padOf(dsl)
      const expected = digestAt(b, ds + padded)
      const actual = this.dcrc(b.subarray(ds, ds + padded))
      if (expected !== actual) {
        this.error = PduModule._digestError("data", expected, actual)
        return undefined
      }
    }
    const r = Codec.decodeParts(b, o, this.ahs, dsl === 0 ? EMPTY : b.subarray(ds, ds + dsl))
    if (typeof r === "string") {
      this.error = PduModule._protocolError(r)
      return undefined
    }
    return r
  }

  private fail(): Result.Result<ReadonlyArray<Pdu>, IscsiError.IscsiError> {
    this.frame = undefined
    this.dest = undefined
    this.stageFill = 0
    this.failed = Result.fail(this.error!)
    return this.failed
  }

  /** The first frame's bytes while `checkUndeclaredDigests` is armed; `need`: bytes to decide next. */
  private probe:
    | { buf: Uint8Array; fill: number; need: number; readonly header: boolean; readonly data: boolean }
    | undefined = undefined

  checkUndeclaredDigests(rejected: { readonly header?: boolean; readonly data?: boolean } = {}): void {
    if ((this.headerDigest && this.dataDigest) || this.buffered > 0) return
    this.probe = {
      buf: new Uint8Array(STAGE_SIZE),
      fill: 0,
      need: Codec.BHS_LENGTH,
      header: rejected.header === true,
      data: rejected.data === true
    }
  }

  /**
   * Feed the armed probe with the start of `chunk` (the normal parse still reads all of it); an
   * error when the first frame carries a digest that is off here. Clears the probe once decided.
   */
  private runProbe(chunk: Uint8Array): IscsiError.IscsiError | undefined {
    const p = this.probe!
    let pos = 0
    for (;;) {
      const take = Math.min(p.need - p.fill, chunk.length - pos)
      if (p.need > p.buf.length) {
        const bigger = new Uint8Array(p.need)
        bigger.set(p.buf.subarray(0, p.fill))
        p.buf = bigger
      }
      p.buf.set(chunk.subarray(pos, pos + take), p.fill)
      p.fill += take
      pos += take
      if (p.fill < p.need) return undefined
      // p.fill === p.need: the next step of the decision
      const b = p.buf
      const hdr = Codec.BHS_LENGTH + (b[4]! << 2)
      const afterHeader = hdr + (this.headerDigest ? 4 : 0)
      const headerPart = afterHeader + (this.headerDigest ? 0 : 4)
      if (p.fill < headerPart) {
        p.need = headerPart
        continue
      }
      if (!this.headerDigest && p.fill === headerPart && digestAt(b, hdr) === this.hcrc(b.subarray(0, hdr))) {
        this.probe = undefined
        return undeclared("HeaderDigest", p.header)
      }
      const dsl = u24(b, 5)
      const padded = dsl + padOf(dsl)
      if (this.dataDigest || dsl === 0 || padded > PROBE_MAX_DATA) {
        this.probe = undefined
        return undefined
      }
      const end = afterHeader + padded
      if (p.fill < end + 4) {
        p.need = end + 4
        continue
      }
      this.probe = undefined
      // the TS CRC: a probe of at most PROBE_MAX_DATA bytes must not load a native addon into every
      // process that logs in without data digests (5-20 ms of start, perf stat)
      return digestAt(b, end) === Crc32c.crc32c(b.subarray(afterHeader, end))
        ? undeclared("DataDigest", p.data)
        : undefined
    }
  }

  push(chunk: Uint8Array): Result.Result<ReadonlyArray<Pdu>, IscsiError.IscsiError> {
    if (this.failed !== undefined) return this.failed
    if (this.probe !== undefined) {
      const e = this.runProbe(chunk)
      if (e !== undefined) {
        this.error = e
        return this.fail()
      }
    }
    let out: Array<Pdu> | undefined
    let pos = 0
    const n = chunk.length
    while (true) {
      if (this.dest !== undefined) {
        // Placing a Data-In segment where its task wants it.
        pos = this.placeFrom(chunk, pos)
        if (this.dest !== undefined) break
        if (this.placedPdu === undefined) return this.fail()
        this.largeRun = this.dsl >= LARGE_SEGMENT
        ;(out ??= []).push(this.placedPdu)
        this.placedPdu = undefined
        continue
      }
      const frame = this.frame
      if (frame !== undefined) {
        // Assembling a frame that straddles chunks.
        const take = Math.min(this.total - this.frameFill, n - pos)
        if (take > 0) {
          frame.set(pos === 0 && take === n ? chunk : chunk.subarray(pos, pos + take), this.frameFill)
          this.frameFill += take
          pos += take
        }
        if (this.frameFill < this.total) break
        this.frame = undefined
        this.frameFill = 0
        this.largeRun = false
        const pdu = this.decodeFrame(frame, 0)
        if (pdu === undefined) return this.fail()
        ;(out ??= []).push(pdu)
        continue
      }
      if (this.stageFill > 0) {
        // Gathering a header that straddles chunks.
        const take = Math.min(this.stageNeed - this.stageFill, n - pos)
        this.stage.set(chunk.subarray(pos, pos + take), this.stageFill)
        this.stageFill += take
        pos += take
        if (this.stageFill < this.stageNeed) break
        if (this.stageNeed === Codec.BHS_LENGTH) {
          const need = this.headerTotal(this.stage, 0)
          if (need > Codec.BHS_LENGTH) {
            this.stageNeed = need
            continue
          }
        }
        if (!this.header(this.stage, 0)) return this.fail()
        const hdrTotal = this.stageFill
        this.stageFill = 0
        this.stageNeed = Codec.BHS_LENGTH
        if (this.tryPlace(this.stage, 0, hdrTotal)) continue
        const f = this.assemblyBuffer(this.stage, 0)
        f.set(this.stage.subarray(0, hdrTotal), 0)
        this.frame = f
        this.frameFill = hdrTotal
        continue
      }
      const rem = n - pos
      if (rem === 0) break
      if (rem < Codec.BHS_LENGTH) {
        this.stage.set(chunk.subarray(pos), 0)
        this.stageFill = rem
        this.stageNeed = Codec.BHS_LENGTH
        break
      }
      const hdrTotal = this.headerTotal(chunk, pos)
      if (rem < hdrTotal) {
        this.stage.set(chunk.subarray(pos), 0)
        this.stageFill = rem
        this.stageNeed = hdrTotal
        break
      }
      if (!this.header(chunk, pos)) return this.fail()
      if (rem >= this.total) {
        // The whole frame is in this chunk: decode in place (views of the chunk).
        if (this.dsl < LARGE_SEGMENT) this.largeRun = false
        const pdu = this.decodeFrame(chunk, pos)
        if (pdu === undefined) return this.fail()
        ;(out ??= []).push(pdu)
        pos += this.total
        continue
      }
      if (this.tryPlace(chunk, pos, this.dataStart)) {
        pos += this.dataStart
        continue
      }
      // Start assembling: one buffer for the whole frame, one copy.
      const f = this.assemblyBuffer(chunk, pos)
      f.set(pos === 0 ? chunk : chunk.subarray(pos), 0)
      this.frame = f
      this.frameFill = rem
      break
    }
    return Result.succeed(out ?? NONE)
  }
}

const EMPTY = new Uint8Array(0)

/** The peer sends a digest that is off on this connection (see `checkUndeclaredDigests`). */
const undeclared = (key: "HeaderDigest" | "DataDigest", rejected: boolean): IscsiError.IscsiError => {
  const which = key === "HeaderDigest" ? "header" : "data"
  const fix = `offer ${key}=CRC32C (URL ${which}_digest=crc32c, ISCSI_${which.toUpperCase()}_DIGEST=CRC32C, or offer.${which}Digest)`
  return IscsiError.make(
    new IscsiError.NegotiationFailed({
      key,
      message: rejected
        ? `the target rejected our ${key} offer (so ${key}=None applies) but sends CRC32C ${which} digests: ${fix}`
        : `the target negotiated ${key}=None but sends CRC32C ${which} digests: ${fix}`
    })
  )
}

/** A new framer for one connection (digests off during login; see `setDigests`). */
export const make = (options: Options): Framer => new FramerImpl(options)
