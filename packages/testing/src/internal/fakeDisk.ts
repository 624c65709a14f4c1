/**
 * The fake target's logical units: RAM disks with their own block size, shared by every session
 * (one LU is one LU whoever reaches it, as on a real target), and the data-in payloads of the
 * block commands the default handler answers.
 *
 * | command                      | CDB layout read here                                  | spec         |
 * |------------------------------|-------------------------------------------------------|--------------|
 * | READ/WRITE (10) 28h/2Ah      | 2-5 LBA, 7-8 TRANSFER LENGTH                           | SBC-4 §5.15  |
 * | READ/WRITE (16) 88h/8Ah      | 2-9 LBA, 10-13 TRANSFER LENGTH                         | SBC-4 §5.16  |
 * | READ CAPACITY (10) 25h       | data: 0-3 RETURNED LBA (FFFFFFFFh when it does not fit), 4-7 BLOCK LENGTH | SBC-4 §5.20 |
 * | READ CAPACITY (16) 9Eh/10h   | data (32): 0-7 RETURNED LBA, 8-11 BLOCK LENGTH         | SBC-4 §5.21  |
 * | REPORT LUNS A0h              | data: 0-3 LUN LIST LENGTH, 8.. 8-byte LUNs             | SPC-5 §6.33  |
 *
 * Not here: thin provisioning, protection information, anything but the payload bytes (the
 * connection sends them and decides CHECK CONDITIONs).
 */
import * as Lun from "@effect-iscsi/core/Lun"
import * as Result from "effect/Result"

/** One logical unit of the `luns` option. */
export interface LunSpec {
  /** The LUN number (peripheral or flat addressing, 0..16383). */
  readonly lun: number
  /** Capacity in blocks. */
  readonly blocks: number
  /** Logical block length in bytes (default 512). */
  readonly blockSize?: number | undefined
}

/** A RAM disk answering for one LUN (or for every LUN: the default single disk). */
export class RamDisk {
  readonly data: Uint8Array
  constructor(
    /** Its LUN number (0 for the default disk, which answers on every LUN). */
    readonly lun: number,
    /** Capacity in blocks. */
    readonly blocks: number,
    /** Logical block length in bytes. */
    readonly blockSize: number
  ) {
    this.data = new Uint8Array(blocks * blockSize)
  }

  /** The bytes of blocks [lba, lba + count) (a view). */
  view(lba: number, count: number): Uint8Array {
    return this.data.subarray(lba * this.blockSize, (lba + count) * this.blockSize)
  }

  /** True when [lba, lba + count) lies on the disk. */
  contains(lba: number, count: number): boolean {
    return lba + count <= this.blocks
  }

  /** READ CAPACITY (10) parameter data (8 bytes). */
  capacity10(): Uint8Array {
    const d = new Uint8Array(8)
    put32(d, 0, this.blocks - 1 > 0xfffffffe ? 0xffffffff : this.blocks - 1)
    put32(d, 4, this.blockSize)
    return d
  }

  /** READ CAPACITY (16) parameter data (32 bytes). */
  capacity16(): Uint8Array {
    const d = new Uint8Array(32)
    const last = this.blocks - 1
    put32(d, 0, Math.floor(last / 2 ** 32))
    put32(d, 4, last >>> 0)
    put32(d, 8, this.blockSize)
    return d
  }
}

/** The LUN field of a PDU as a number; undefined for an address this fake does not decode. */
export const lunNumber = (raw: bigint): number | undefined => {
  const r = Lun.decode(raw)
  return Result.isSuccess(r) ? r.success : undefined
}

/** REPORT LUNS parameter data listing `luns`. */
export const reportLuns = (luns: ReadonlyArray<number>): Uint8Array => {
  const d = new Uint8Array(8 + 8 * luns.length)
  put32(d, 0, 8 * luns.length)
  for (let i = 0; i < luns.length; i++) Lun.write(d, 8 + 8 * i, Lun.encode(luns[i]!))
  return d
}

/** LBA and transfer length of a READ/WRITE (10) or (16) CDB. */
export const rw = (c: Uint8Array): { readonly lba: number; readonly blocks: number } => {
  if (c[0] === 0x28 || c[0] === 0x2a) {
    return { lba: u32(c, 2), blocks: (c[7]! << 8) | c[8]! }
  }
  return { lba: u32(c, 2) * 2 ** 32 + u32(c, 6), blocks: u32(c, 10) }
}

const u32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0

const put32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 24
  b[o + 1] = v >>> 16
  b[o + 2] = v >>> 8
  b[o + 3] = v
}
