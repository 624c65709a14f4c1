/**
 * A null-LUN target for the digest benchmark, in its own process: the cost of CRC32C on our side,
 * against a target whose own CRC32C is not the bottleneck. (tgtd computes digests in software on its
 * single main thread and tops out near 300 MB/s with them on; see benchmark/RESULTS.md.)
 *
 * It is `FakeTarget` (plain login, HeaderDigest/DataDigest CRC32C accepted when offered, window 256)
 * with two commands answered by hand: READ CAPACITY(10) (a 1 GiB LUN of 512-byte blocks) and
 * READ(10), answered from one shared zero buffer in Data-In PDUs of the initiator's
 * MaxRecvDataSegmentLength, status in the last one. Header digests are computed per PDU with the
 * native CRC32C; the data digest of N zero bytes is computed once per N. Writes are corked per
 * command. Everything else gets FakeTarget's default answers.
 *
 * Spawned by `scripts/bench.ts` as `node crc-target.ts`; prints `{"port":N}` and serves until
 * SIGTERM or SIGINT.
 */
import * as Pdu from "@effect-iscsi/core/Pdu"
import { FakeTarget } from "@effect-iscsi/testing"
import * as Effect from "effect/Effect"
import * as NativeCrc32c from "../src/NativeCrc32c.ts"

const BLOCKS = 2 * 1024 * 1024
const ZERO = new Uint8Array(1024 * 1024)
const dataDigests = new Map<number, Uint8Array>()
const dataDigestOf = (n: number): Uint8Array => {
  let d = dataDigests.get(n)
  if (d === undefined) {
    const crc = NativeCrc32c.crc32c(ZERO.subarray(0, n))
    // digests go on the wire least significant byte first (RFC 7143 §13.1)
    d = new Uint8Array([crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24])
    dataDigests.set(n, d)
  }
  return d
}

const readCapacity = new Uint8Array(8)
new DataView(readCapacity.buffer).setUint32(0, BLOCKS - 1)
new DataView(readCapacity.buffer).setUint32(4, 512)

const program = Effect.gen(function* () {
  const target = yield* FakeTarget.make({
    targetName: "iqn.2026-11.io.effect-iscsi:crc",
    digests: true,
    window: 256,
    maxRecvDataSegmentLength: 262144,
    handler: (conn, pdu) => {
      if (pdu._tag !== "ScsiCommand") return false
      const op = pdu.cdb[0]
      if (op === 0x25) {
        conn.readReply(pdu, readCapacity)
        return true
      }
      if (op !== 0x28) return false
      const cdb = pdu.cdb
      const blocks = (cdb[7]! << 8) | cdb[8]!
      const n = Math.min(blocks * 512, pdu.expectedDataTransferLength)
      const options = {
        headerDigest: conn.headerDigest,
        dataDigest: conn.dataDigest,
        headerCrc32c: NativeCrc32c.crc32c
      }
      const seg = Math.min(conn.initiatorMaxRecv, ZERO.length)
      const socket = conn.socket
      socket.cork()
      let dataSN = 0
      for (let o = 0; o < n; o += seg) {
        const len = Math.min(seg, n - o)
        const last = o + len >= n
        const data = ZERO.subarray(0, len)
        socket.write(
          Pdu.encodeHeader(
            {
              _tag: "ScsiDataIn",
              final: last,
              acknowledge: false,
              overflow: false,
              underflow: false,
              statusPresent: last,
              status: 0,
              lun: pdu.lun,
              itt: pdu.itt,
              ttt: 0xffffffff,
              statSN: last ? conn.nextStatSN() : 0,
              expCmdSN: conn.expCmdSN,
              maxCmdSN: conn.maxCmdSN,
              dataSN: dataSN++,
              bufferOffset: o,
              residualCount: 0,
              data
            },
            options
          )
        )
        socket.write(data)
        if (conn.dataDigest) socket.write(dataDigestOf(len))
      }
      socket.uncork()
      return true
    }
  })
  process.stdout.write(`${JSON.stringify({ port: target.address.port })}\n`)
  yield* Effect.callback<void>((resume) => {
    process.once("SIGTERM", () => resume(Effect.void))
    process.once("SIGINT", () => resume(Effect.void))
  })
}).pipe(Effect.scoped)

Effect.runPromise(program).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${String(e)}\n`)
    process.exit(1)
  }
)
