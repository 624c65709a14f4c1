/**
 * Codec benchmark (not a timed test): header encode+decode ops/s, and framer throughput in MB/s on
 * a stream of 64 KiB Data-In PDUs pushed in 64 KiB chunks, digests off and on (TS CRC32C for
 * headers, native @node-rs/crc32 for data when it loads).
 *
 *   npx tsx --conditions=source packages/core/benchmark/codec.ts
 */
import * as Result from "effect/Result"
import { NativeCrc32c } from "@effect-iscsi/node-transport"
import * as Crc32c from "../src/Crc32c.ts"
import * as Framer from "../src/Framer.ts"
import { digestAt } from "../src/internal/pdu/bytes.ts"
import * as Pdu from "../src/Pdu.ts"

const time = (seconds: number, body: () => number): { readonly perSecond: number; readonly units: number } => {
  const end = performance.now() + seconds * 1000
  let units = 0
  const start = performance.now()
  while (performance.now() < end) units += body()
  return { perSecond: (units * 1000) / (performance.now() - start), units }
}

const rows: Array<{ readonly benchmark: string; readonly result: string }> = []

// --- header encode + decode -----------------------------------------------------------------------
const cmd: Pdu.ScsiCommand = {
  _tag: "ScsiCommand",
  immediate: false,
  final: true,
  read: true,
  write: false,
  attribute: "Simple",
  lun: 1n << 48n,
  itt: 0x1234,
  expectedDataTransferLength: 65536,
  cmdSN: 77,
  expStatSN: 99,
  cdb: Uint8Array.of(0x28, 0, 0, 0, 0x10, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0),
  data: new Uint8Array(0)
}
const slab = new Uint8Array(64)
for (const digest of [false, true]) {
  const options = { headerDigest: digest, dataDigest: false }
  time(0.3, () => {
    for (let i = 0; i < 1000; i++) {
      Pdu.encodeHeaderInto(cmd, slab, 0, options)
      Pdu.decodeHeader(slab.subarray(0, 48))
    }
    return 1000
  })
  const r = time(1.5, () => {
    for (let i = 0; i < 1000; i++) {
      const n = Pdu.encodeHeaderInto(cmd, slab, 0, options)
      if (digest && Crc32c.crc32c(slab.subarray(0, 48)) !== digestAt(slab, 48)) throw new Error("digest")
      const d = Pdu.decodeHeader(slab.subarray(0, n - (digest ? 4 : 0)))
      if (Result.isFailure(d)) throw new Error("decode")
    }
    return 1000
  })
  rows.push({
    benchmark: `SCSI Command header encode+decode${digest ? " + header digest" : ""}`,
    result: `${(r.perSecond / 1e6).toFixed(2)} M ops/s`
  })
}
{
  const r = time(1, () => {
    for (let i = 0; i < 1000; i++) Pdu.encodeHeader(cmd)
    return 1000
  })
  rows.push({
    benchmark: "SCSI Command encodeHeader (new 48-byte array)",
    result: `${(r.perSecond / 1e6).toFixed(2)} M ops/s`
  })
}

{
  // the initiator's hot path: decoding Data-In headers
  const header = Pdu.encodeHeader({
    _tag: "ScsiDataIn",
    final: true,
    acknowledge: false,
    overflow: false,
    underflow: false,
    statusPresent: true,
    status: 0,
    lun: 1n << 48n,
    itt: 9,
    ttt: 0xffffffff,
    statSN: 5,
    expCmdSN: 6,
    maxCmdSN: 70,
    dataSN: 0,
    bufferOffset: 0,
    residualCount: 0,
    data: new Uint8Array(0)
  })
  const r = time(1.5, () => {
    for (let i = 0; i < 1000; i++) if (Result.isFailure(Pdu.decodeHeader(header))) throw new Error("decode")
    return 1000
  })
  rows.push({ benchmark: "Data-In header decode", result: `${(r.perSecond / 1e6).toFixed(2)} M ops/s` })
}

// --- framer on 64 KiB Data-In ------------------------------------------------------------------------
const SEG = 65536
const dataIn = (dataSN: number): Pdu.ScsiDataIn => ({
  _tag: "ScsiDataIn",
  final: false,
  acknowledge: false,
  overflow: false,
  underflow: false,
  statusPresent: false,
  status: 0,
  lun: 1n << 48n,
  itt: 7,
  ttt: 0xffffffff,
  statSN: 0,
  expCmdSN: 1,
  maxCmdSN: 64,
  dataSN,
  bufferOffset: dataSN * SEG,
  residualCount: 0,
  data: Uint8Array.from({ length: SEG }, (_, i) => (i * 13 + dataSN) & 0xff)
})
for (const digest of [false, true]) {
  const options = { headerDigest: digest, dataDigest: digest, crc32c: NativeCrc32c.crc32c }
  const parts: Array<Uint8Array> = []
  for (let i = 0; i < 64; i++) parts.push(Pdu.encode(dataIn(i), options))
  const total = parts.reduce((n, p) => n + p.length, 0)
  const stream = new Uint8Array(total)
  let o = 0
  for (const p of parts) {
    stream.set(p, o)
    o += p.length
  }
  // 64 KiB socket chunks: frames are 64 KiB + header, so most straddle two chunks (the worst case)
  const chunks: Array<Uint8Array> = []
  for (let c = 0; c < stream.length; c += 65536) chunks.push(stream.slice(c, c + 65536))
  const run = () => {
    const framer = Framer.make({
      headerDigest: digest,
      dataDigest: digest,
      maxDataSegmentLength: 262144,
      dataCrc32c: NativeCrc32c.crc32c
    })
    let n = 0
    for (const c of chunks) {
      const r = framer.push(c)
      if (Result.isFailure(r)) throw new Error(r.failure.message)
      n += r.success.length
    }
    if (n !== 64) throw new Error(`got ${n} PDUs`)
    return stream.length
  }
  time(0.3, run)
  const r = time(2, run)
  rows.push({
    benchmark: `Framer, 64 KiB Data-In in 64 KiB chunks, digests ${digest ? `on (data: ${NativeCrc32c.isNative() ? "native" : "TS"})` : "off"}`,
    result: `${(r.perSecond / 1e6).toFixed(0)} MB/s`
  })
  // the same stream in 256 KiB chunks (what a busy socket hands over)
  const big: Array<Uint8Array> = []
  for (let c = 0; c < stream.length; c += 262144) big.push(stream.slice(c, c + 262144))
  const runBig = () => {
    const framer = Framer.make({
      headerDigest: digest,
      dataDigest: digest,
      maxDataSegmentLength: 262144,
      dataCrc32c: NativeCrc32c.crc32c
    })
    for (const c of big) if (Result.isFailure(framer.push(c))) throw new Error("framer")
    return stream.length
  }
  time(0.3, runBig)
  const rb = time(2, runBig)
  rows.push({
    benchmark: `Framer, 64 KiB Data-In in 256 KiB chunks, digests ${digest ? "on" : "off"}`,
    result: `${(rb.perSecond / 1e6).toFixed(0)} MB/s`
  })
}

console.log(`node ${process.version}, native crc32c: ${NativeCrc32c.isNative()}`)
console.table(rows)
