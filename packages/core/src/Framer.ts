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
 * Measured in packages/core/benchmark/codec.ts.
 *
 * Digests: `setDigests` applies to the next frame. Switch them on after the Login Response that
 * completes login has been returned (login PDUs never carry digests); nothing follows that
 * response in the same chunk, because the target waits for our next command.
 *
 * Not here: decoding of text keys, sequence numbers, what the PDUs mean (the connection engine).
 */
import * as Result from "effect/Result"
import * as Crc32c from "./Crc32c.ts"
import { digestAt, padOf, u24 } from "./internal/pdu/bytes.ts"
import * as Codec from "./internal/pdu/codec.ts"
import type * as IscsiError from "./IscsiError.ts"
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
  /** Bytes held for a frame not yet complete. */
  readonly buffered: number
}

const NONE: ReadonlyArray<Pdu> = []
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
    this.stageFill = 0
    this.failed = Result.fail(this.error!)
    return this.failed
  }

  push(chunk: Uint8Array): Result.Result<ReadonlyArray<Pdu>, IscsiError.IscsiError> {
    if (this.failed !== undefined) return this.failed
    let out: Array<Pdu> | undefined
    let pos = 0
    const n = chunk.length
    while (true) {
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
        const pdu = this.decodeFrame(chunk, pos)
        if (pdu === undefined) return this.fail()
        ;(out ??= []).push(pdu)
        pos += this.total
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

/** A new framer for one connection (digests off during login; see `setDigests`). */
export const make = (options: Options): Framer => new FramerImpl(options)
