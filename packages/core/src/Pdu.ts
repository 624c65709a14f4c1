/**
 * The iSCSI PDU codec (RFC 7143 §11): every PDU of both directions, encoded to and decoded from
 * complete frames, with the optional CRC32C header and data digests (§13.1) and the Additional Header
 * Segments a SCSI Command may carry (§11.2.2: ExtendedCdb, BidiReadLength).
 *
 * The codecs are plain synchronous functions over `Uint8Array` for the hot path (no Effect runtime,
 * no `DataView`, no `Buffer`); `PduFromBytes` wraps them as an Effect Schema for public inputs, tests
 * and tools. Decoding never throws: failures are `IscsiError` values (`ProtocolError` for malformed
 * frames, `DigestError` naming the digest). An opcode this codec does not know decodes to an
 * `Unknown` PDU that keeps its bytes.
 *
 * Not here: splitting a byte stream into frames (that is `Framer`), text keys in data segments
 * (`TextKeys`), sequence-number state (the session engine).
 *
 * Frame layout (§11.2):
 *
 * | bytes                  | content                                                      |
 * |------------------------|--------------------------------------------------------------|
 * | 0–47                   | Basic Header Segment (BHS)                                   |
 * | 48 – 48+AHS            | Additional Header Segments, TotalAHSLength (byte 4) × 4 bytes |
 * | next 4 (optional)      | HeaderDigest: CRC32C of BHS + AHS, little-endian             |
 * | next DataSegmentLength | data segment (bytes 5–7 of the BHS, 24 bits)                 |
 * | 0–3                    | padding to a multiple of 4 (zeros)                           |
 * | next 4 (optional)      | DataDigest: CRC32C of data + padding (only when data ≠ ∅)    |
 *
 * Common BHS bytes (§11.2.1): byte 0 = `.I` (0x40, immediate, initiator PDUs only) | opcode (6 bits);
 * byte 1 = `F` (0x80) and opcode-specific flags; byte 4 = TotalAHSLength (4-byte words); bytes 5–7 =
 * DataSegmentLength; bytes 8–15 = LUN or opcode-specific; bytes 16–19 = Initiator Task Tag.
 *
 * Per-PDU BHS fields (byte offsets; every 32-bit field big-endian and unsigned):
 *
 * | PDU (opcode)            | byte 1 flags           | 2–3               | 8–15       | 20        | 24       | 28        | 32        | 36            | 40          | 44       |
 * |-------------------------|------------------------|-------------------|------------|-----------|----------|-----------|-----------|---------------|-------------|----------|
 * | NOP-Out (0x00)          | 1                      | –                 | LUN        | TTT       | CmdSN    | ExpStatSN | –         | –             | –           | –        |
 * | SCSI Command (0x01)     | F R W ATTR(3)          | –                 | LUN        | EDTL      | CmdSN    | ExpStatSN | CDB 0–15 (32–47)                                       |
 * | Task Mgmt Req (0x02)    | 1 Function(7)          | –                 | LUN        | RefTaskTag| CmdSN    | ExpStatSN | RefCmdSN  | ExpDataSN     | –           | –        |
 * | Login Req (0x03)        | T C CSG(2) NSG(2)      | VerMax VerMin     | ISID(6) TSIH(2) | CID(2)| CmdSN    | ExpStatSN | –         | –             | –           | –        |
 * | Text Req (0x04)         | F C                    | –                 | LUN        | TTT       | CmdSN    | ExpStatSN | –         | –             | –           | –        |
 * | Data-Out (0x05)         | F                      | –                 | LUN        | TTT       | –        | ExpStatSN | –         | DataSN        | BufferOffset| –        |
 * | Logout Req (0x06)       | 1 ReasonCode(7)        | –                 | –          | CID(2)    | CmdSN    | ExpStatSN | –         | –             | –           | –        |
 * | SNACK (0x10)            | 1 Type(4)              | –                 | LUN        | TTT       | –        | ExpStatSN | –         | –             | BegRun      | RunLength|
 * | NOP-In (0x20)           | 1                      | –                 | LUN        | TTT       | StatSN   | ExpCmdSN  | MaxCmdSN  | –             | –           | –        |
 * | SCSI Response (0x21)    | 1 o u O U              | Response Status   | –          | SNACKTag  | StatSN   | ExpCmdSN  | MaxCmdSN  | ExpDataSN     | BidiResidual| Residual |
 * | Task Mgmt Resp (0x22)   | 1                      | Response          | –          | –         | StatSN   | ExpCmdSN  | MaxCmdSN  | –             | –           | –        |
 * | Login Resp (0x23)       | T C CSG NSG            | VerMax VerActive  | ISID TSIH  | –         | StatSN   | ExpCmdSN  | MaxCmdSN  | Class Detail  | –           | –        |
 * | Text Resp (0x24)        | F C                    | –                 | LUN        | TTT       | StatSN   | ExpCmdSN  | MaxCmdSN  | –             | –           | –        |
 * | Data-In (0x25)          | F A O U S              | – Status          | LUN        | TTT       | StatSN   | ExpCmdSN  | MaxCmdSN  | DataSN        | BufferOffset| Residual |
 * | Logout Resp (0x26)      | 1                      | Response          | –          | –         | StatSN   | ExpCmdSN  | MaxCmdSN  | –             | T2W(2) T2R(2)| –       |
 * | R2T (0x31)              | 1                      | –                 | LUN        | TTT       | StatSN   | ExpCmdSN  | MaxCmdSN  | R2TSN         | BufferOffset| DDTL     |
 * | Async Message (0x32)    | 1                      | –                 | LUN        | –         | StatSN   | ExpCmdSN  | MaxCmdSN  | Event VCode P1(2) | P2(2) P3(2) | –   |
 * | Reject (0x3f)           | 1                      | Reason            | –          | –         | StatSN   | ExpCmdSN  | MaxCmdSN  | DataSN/R2TSN  | –           | –        |
 *
 * Encoding rules: a CDB longer than 16 bytes puts bytes 16.. into an ExtendedCdb AHS (type 1,
 * AHSLength = CDB length − 15, padded to 4); a CDB shorter than 16 bytes is zero-padded (so it
 * decodes as 16 bytes); `bidiReadLength` adds a BidiReadLength AHS (type 2, AHSLength 5). Async
 * Message and Reject always carry ITT 0xffffffff. Reserved fields are written as zero and ignored
 * when reading. PDUs whose data segment must be empty (Task Management, Logout, SNACK, R2T) fail to
 * decode when it is not.
 *
 * Views: a decoded `data` (and an `Unknown`'s `bhs`) is a `subarray` view of the input frame, not a
 * copy: do not mutate the frame while the PDU is in use. `cdb` is always a copy.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as Crc32c from "./Crc32c.ts"
import { digestAt, EMPTY, padOf, writeDigest, ZEROS4 } from "./internal/pdu/bytes.ts"
import * as Codec from "./internal/pdu/codec.ts"
import * as Structs from "./internal/pdu/schemas.ts"
import * as IscsiError from "./IscsiError.ts"
import type { Pdu } from "./PduTypes.ts"

export * from "./PduTypes.ts"

/** The length of a Basic Header Segment. */
export const BHS_LENGTH = Codec.BHS_LENGTH

/** The largest DataSegmentLength the 24-bit field can carry. */
export const MAX_DATA_SEGMENT_LENGTH = Codec.MAX_DATA_SEGMENT_LENGTH

/**
 * Digest settings of a connection (RFC 7143 §13.1: negotiated at login, in force after it).
 * `crc32c` computes the data digest (default: the TS `Crc32c.crc32c`; the engine passes the native
 * one); the header digest uses `headerCrc32c`, default the TS implementation (fastest for 48 bytes).
 */
export interface DigestOptions {
  readonly headerDigest: boolean
  readonly dataDigest: boolean
  readonly crc32c?: Crc32c.Fn | undefined
  readonly headerCrc32c?: Crc32c.Fn | undefined
}

/** No digests (the login phase, and connections that negotiated None). */
export const noDigests: DigestOptions = { headerDigest: false, dataDigest: false }

/** @internal */
export const _protocolError = (message: string): IscsiError.IscsiError =>
  IscsiError.make(new IscsiError.ProtocolError({ message }))

/** @internal */
export const _digestError = (which: "header" | "data", expected: number, actual: number): IscsiError.IscsiError =>
  IscsiError.make(
    new IscsiError.DigestError({
      which,
      expected,
      actual,
      message: `${which} digest mismatch: expected 0x${expected.toString(16)}, computed 0x${actual.toString(16)}`
    })
  )

/** Length of the encoded header of `pdu`: BHS + AHS (+ 4 with a header digest). */
export const headerLength = (pdu: Pdu, options: DigestOptions = noDigests): number =>
  Codec.BHS_LENGTH + Codec.ahsLength(pdu) + (options.headerDigest ? 4 : 0)

/** Length of the whole encoded frame of `pdu`. */
export const frameLength = (pdu: Pdu, options: DigestOptions = noDigests): number => {
  const n = Codec.dataOf(pdu).length
  return headerLength(pdu, options) + n + padOf(n) + (options.dataDigest && n > 0 ? 4 : 0)
}

/**
 * Why `pdu` cannot be encoded (data segment over 2^24-1 bytes, a CDB too long for the AHS, an
 * `Unknown` whose `bhs` is not 48 bytes plus whole AHS words), as a `ProtocolError`; or undefined.
 * `encode` does not check (the engine builds valid PDUs); call this on outside input.
 */
export const validate = (pdu: Pdu): IscsiError.IscsiError | undefined => {
  const why = Codec.checkEncodable(pdu)
  return why === undefined ? undefined : _protocolError(why)
}

/**
 * Write the header of `pdu` (BHS + AHS + header digest when on) into `out` at `offset`; returns the
 * number of bytes written. The range is zeroed first, so `out` may be a reused buffer.
 */
export const encodeHeaderInto = (
  pdu: Pdu,
  out: Uint8Array,
  offset: number,
  options: DigestOptions = noDigests
): number => {
  const ahs = Codec.ahsLength(pdu)
  const h = Codec.BHS_LENGTH + ahs
  out.fill(0, offset, offset + h)
  Codec.writeHeader(pdu, out, offset, ahs, Codec.dataOf(pdu).length)
  if (options.headerDigest) {
    writeDigest(out, offset + h, (options.headerCrc32c ?? Crc32c.crc32c)(out.subarray(offset, offset + h)))
    return h + 4
  }
  return h
}

/** The header of `pdu` as new bytes: BHS + AHS (+ header digest when on). */
export const encodeHeader = (pdu: Pdu, options: DigestOptions = noDigests): Uint8Array => {
  const out = new Uint8Array(headerLength(pdu, options))
  encodeHeaderInto(pdu, out, 0, options)
  return out
}

/** CRC32C of a data segment and its zero padding (the DataDigest, RFC 7143 §13.1). */
export const dataDigest = (data: Uint8Array, fn: Crc32c.Fn = Crc32c.crc32c): number => {
  const crc = fn(data)
  const pad = padOf(data.length)
  return pad === 0 ? crc : fn(ZEROS4.subarray(0, pad), crc)
}

/** One complete frame: BHS + AHS + header digest + data + padding + data digest. */
export const encode = (pdu: Pdu, options: DigestOptions = noDigests): Uint8Array => {
  const data = Codec.dataOf(pdu)
  const out = new Uint8Array(frameLength(pdu, options))
  const h = encodeHeaderInto(pdu, out, 0, options)
  if (data.length > 0) {
    out.set(data, h)
    if (options.dataDigest) writeDigest(out, h + data.length + padOf(data.length), dataDigest(data, options.crc32c))
  }
  return out
}

/**
 * Zeroed bytes for a header or trailer, carved from a shared 64 KiB slab (a fresh slab when it is
 * used up; slabs are never reused, so views stay valid). A small `new Uint8Array` lives on the V8
 * heap, and the socket write then moves it off-heap (one malloc and copy per PDU: npm run bench,
 * queue depth 1); views of a slab are off-heap from the start.
 */
const SLAB_SIZE = 64 * 1024
let slab = new ArrayBuffer(SLAB_SIZE)
let slabUsed = 0
const fresh = (n: number): Uint8Array => {
  if (slabUsed + n > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE)
    slabUsed = 0
  }
  const view = new Uint8Array(slab, slabUsed, n)
  slabUsed += (n + 7) & ~7
  return view
}

/**
 * The same bytes as `encode`, as a list for one vectored write without copying the data segment:
 * `[header]`, then `pdu.data` itself (the same object), then a trailer (padding + data digest) when
 * one is needed. An empty data segment gives just `[header]`.
 */
export const encodeFrames = (pdu: Pdu, options: DigestOptions = noDigests): ReadonlyArray<Uint8Array> => {
  const ahs = Codec.ahsLength(pdu)
  const h = Codec.BHS_LENGTH + ahs
  const data = Codec.dataOf(pdu)
  const header = fresh(h + (options.headerDigest ? 4 : 0))
  Codec.writeHeader(pdu, header, 0, ahs, data.length)
  if (options.headerDigest) writeDigest(header, h, (options.headerCrc32c ?? Crc32c.crc32c)(header.subarray(0, h)))
  if (data.length === 0) return [header]
  const pad = padOf(data.length)
  const digest = options.dataDigest
  if (pad === 0 && !digest) return [header, data]
  const trailer = fresh(pad + (digest ? 4 : 0))
  if (digest) writeDigest(trailer, pad, dataDigest(data, options.crc32c))
  return [header, data, trailer]
}

/**
 * `encodeFrames` for a data segment given as several pieces (scatter-gather): `[header, ...segment,
 * trailer?]`, the pieces themselves (not copied, empty ones left out), DataSegmentLength their total
 * and the data digest chained over them. `pdu.data` is ignored. The bytes on the wire are those of
 * `encode({ ...pdu, data: concat(segment) })`.
 */
export const encodeFramesVector = (
  pdu: Pdu,
  segment: ReadonlyArray<Uint8Array>,
  options: DigestOptions = noDigests
): ReadonlyArray<Uint8Array> => {
  const ahs = Codec.ahsLength(pdu)
  const h = Codec.BHS_LENGTH + ahs
  let length = 0
  for (let i = 0; i < segment.length; i++) length += segment[i]!.length
  const header = fresh(h + (options.headerDigest ? 4 : 0))
  Codec.writeHeader(pdu, header, 0, ahs, length)
  if (options.headerDigest) writeDigest(header, h, (options.headerCrc32c ?? Crc32c.crc32c)(header.subarray(0, h)))
  const frames: Array<Uint8Array> = [header]
  if (length === 0) return frames
  const fn = options.crc32c ?? Crc32c.crc32c
  let crc = 0
  for (let i = 0; i < segment.length; i++) {
    const piece = segment[i]!
    if (piece.length === 0) continue
    frames.push(piece)
    if (options.dataDigest) crc = fn(piece, crc)
  }
  const pad = padOf(length)
  if (pad === 0 && !options.dataDigest) return frames
  const trailer = fresh(pad + (options.dataDigest ? 4 : 0))
  if (options.dataDigest) writeDigest(trailer, pad, pad === 0 ? crc : fn(ZEROS4.subarray(0, pad), crc))
  frames.push(trailer)
  return frames
}

/**
 * Decode a header (BHS + AHS, no digest) with its data segment (default empty). `header.length` must
 * be 48 + TotalAHSLength; DataSegmentLength is not compared with `data` (the framer did that).
 */
export const decodeHeader = (
  header: Uint8Array,
  data: Uint8Array = EMPTY
): Result.Result<Pdu, IscsiError.IscsiError> => {
  if (header.length < Codec.BHS_LENGTH) return Result.fail(_protocolError("header shorter than 48 bytes"))
  const ahs = Codec.ahsAt(header, 0)
  if (header.length !== Codec.BHS_LENGTH + ahs) {
    return Result.fail(_protocolError("header length does not match TotalAHSLength"))
  }
  const r = Codec.decodeParts(header, 0, ahs, data)
  return typeof r === "string" ? Result.fail(_protocolError(r)) : Result.succeed(r)
}

/** Decode one complete frame (exactly one: a length mismatch is an error), verifying digests when on. */
export const decode = (
  frame: Uint8Array,
  options: DigestOptions = noDigests
): Result.Result<Pdu, IscsiError.IscsiError> => {
  const n = frame.length
  if (n < Codec.BHS_LENGTH) return Result.fail(_protocolError("frame shorter than 48 bytes"))
  const ahs = Codec.ahsAt(frame, 0)
  const dsl = Codec.dslAt(frame, 0)
  const h = Codec.BHS_LENGTH + ahs
  const ds = h + (options.headerDigest ? 4 : 0)
  const total = ds + dsl + padOf(dsl) + (options.dataDigest && dsl > 0 ? 4 : 0)
  if (n !== total) return Result.fail(_protocolError(`frame of ${n} bytes, its header says ${total}`))
  if (options.headerDigest) {
    const expected = digestAt(frame, h)
    const actual = (options.headerCrc32c ?? Crc32c.crc32c)(frame.subarray(0, h))
    if (expected !== actual) return Result.fail(_digestError("header", expected, actual))
  }
  if (options.dataDigest && dsl > 0) {
    const padded = dsl + padOf(dsl)
    const expected = digestAt(frame, ds + padded)
    const actual = (options.crc32c ?? Crc32c.crc32c)(frame.subarray(ds, ds + padded))
    if (expected !== actual) return Result.fail(_digestError("data", expected, actual))
  }
  const r = Codec.decodeParts(frame, 0, ahs, dsl === 0 ? EMPTY : frame.subarray(ds, ds + dsl))
  return typeof r === "string" ? Result.fail(_protocolError(r)) : Result.succeed(r)
}

const TAGS: ReadonlySet<string> = new Set([
  "NopOut",
  "ScsiCommand",
  "TaskManagementRequest",
  "LoginRequest",
  "TextRequest",
  "ScsiDataOut",
  "LogoutRequest",
  "SnackRequest",
  "NopIn",
  "ScsiResponse",
  "TaskManagementResponse",
  "LoginResponse",
  "TextResponse",
  "ScsiDataIn",
  "LogoutResponse",
  "ReadyToTransfer",
  "AsyncMessage",
  "Reject",
  "Unknown"
])

/** A cheap structural guard: an object with a known PDU `_tag`. */
export const isPdu = (u: unknown): u is Pdu =>
  typeof u === "object" && u !== null && TAGS.has((u as { readonly _tag?: unknown })._tag as string)

/** The PDU type as an opaque Schema (guarded by `isPdu`, not validated field by field). */
export const PduSchema = Schema.declare<Pdu>(isPdu)

/**
 * A Schema from one frame's bytes to a PDU and back, with the given digest settings. Decoding
 * failures (and encoding a PDU `validate` rejects) are schema issues, never throws.
 */
export const makePduFromBytes = (options: DigestOptions = noDigests) =>
  Schema.Uint8Array.pipe(
    Schema.decodeTo(
      PduSchema,
      SchemaTransformation.transformEffect<Pdu, Uint8Array>({
        decode: (bytes, parseOptions) => {
          const r = decode(bytes, options)
          return Result.isSuccess(r)
            ? Effect.succeed(r.success)
            : Effect.fail(new SchemaIssue.InvalidValue({ message: r.failure.message }, bytes, parseOptions))
        },
        encode: (pdu, parseOptions) => {
          const why = Codec.checkEncodable(pdu)
          return why === undefined
            ? Effect.succeed(encode(pdu, options))
            : Effect.fail(new SchemaIssue.InvalidValue({ message: why }, pdu, parseOptions))
        }
      })
    )
  )

/** Schema: `Uint8Array` (one frame, no digests) ⇄ `Pdu`. */
export const PduFromBytes = makePduFromBytes(noDigests)

/**
 * Fully validated Struct schemas per PDU family, by tag (every field range-checked as the wire
 * allows it). A test oracle and a check for PDUs built outside the engine; not for the hot path.
 */
export const Schemas = {
  NopOut: Structs.NopOut,
  ScsiCommand: Structs.ScsiCommand,
  TaskManagementRequest: Structs.TaskManagementRequest,
  LoginRequest: Structs.LoginRequest,
  TextRequest: Structs.TextRequest,
  ScsiDataOut: Structs.ScsiDataOut,
  LogoutRequest: Structs.LogoutRequest,
  SnackRequest: Structs.SnackRequest,
  NopIn: Structs.NopIn,
  ScsiResponse: Structs.ScsiResponse,
  TaskManagementResponse: Structs.TaskManagementResponse,
  LoginResponse: Structs.LoginResponse,
  TextResponse: Structs.TextResponse,
  ScsiDataIn: Structs.ScsiDataIn,
  LogoutResponse: Structs.LogoutResponse,
  ReadyToTransfer: Structs.ReadyToTransfer,
  AsyncMessage: Structs.AsyncMessage,
  Reject: Structs.Reject,
  Unknown: Structs.Unknown
} as const

/** Any PDU, fully validated (the union of `Schemas`). */
export const PduStruct = Schema.Union(Object.values(Schemas))

/** Compile-time check that the validated schemas describe exactly the PDU types. */
type _SameTypes = [Pdu] extends [typeof PduStruct.Type] ? ([typeof PduStruct.Type] extends [Pdu] ? true : never) : never
const _sameTypes: _SameTypes = true
void _sameTypes
