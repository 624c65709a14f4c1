/**
 * Block transfer CDBs (SBC-4): READ (6/10/12/16) §5.13–5.16, WRITE (6/10/12/16) §5.37–5.40,
 * WRITE AND VERIFY (10/12/16) §5.42–5.43, VERIFY (10/12/16) §5.30–5.31, SYNCHRONIZE CACHE (10/16)
 * §5.26–5.27, ORWRITE (16), WRITE ATOMIC (16), PRE-FETCH (10/16).
 *
 * ```
 * READ/WRITE (6):  0 op (08h/0Ah) | 1 LBA(20-16) in bits 4-0 | 2-3 LBA(15-0)
 *                  4 TRANSFER LENGTH (0 = 256 blocks) | 5 CONTROL
 * READ/WRITE (10): 0 op (28h/2Ah) | 1 RD/WRPROTECT(7-5) DPO(4) FUA(3) | 2-5 LBA
 *                  6 GROUP NUMBER(4-0) | 7-8 TRANSFER LENGTH | 9 CONTROL
 * READ/WRITE (12): 0 op (A8h/AAh) | 1 flags as (10) | 2-5 LBA | 6-9 TRANSFER LENGTH
 *                  10 GROUP NUMBER(4-0) | 11 CONTROL
 * READ/WRITE (16): 0 op (88h/8Ah) | 1 flags as (10) | 2-9 LBA | 10-13 TRANSFER LENGTH
 *                  14 GROUP NUMBER(4-0) | 15 CONTROL
 * WRITE AND VERIFY (10/16): op 2Eh/8Eh, byte 1 WRPROTECT(7-5) DPO(4) BYTCHK(2-1), rest as WRITE
 * VERIFY (10/16):  op 2Fh/8Fh, byte 1 VRPROTECT(7-5) DPO(4) BYTCHK(2-1), VERIFICATION LENGTH
 *                  where WRITE has TRANSFER LENGTH (BYTCHK 00b: medium check only, no data-out;
 *                  01b: compare the data-out with the medium)
 * SYNCHRONIZE CACHE (10): 0 35h | 1 IMMED(1) | 2-5 LBA | 6 GROUP | 7-8 NUMBER OF LOGICAL BLOCKS | 9
 * SYNCHRONIZE CACHE (16): 0 91h | 1 IMMED(1) | 2-9 LBA | 10-13 NUMBER OF LOGICAL BLOCKS | 14 GROUP | 15
 * WRITE AND VERIFY (12) / VERIFY (12): op AEh/AFh, byte 1 as (10), 2-5 LBA, 6-9 LENGTH, 10 GROUP, 11
 * ORWRITE (16):           0 8Bh | 1 ORPROTECT(7-5) DPO(4) FUA(3) | 2-9 LBA | 10-13 TRANSFER LENGTH
 *                         14 GROUP NUMBER(4-0) | 15 CONTROL   (data-out is ORed into the medium)
 * WRITE ATOMIC (16):      0 9Ch | 1 WRPROTECT(7-5) DPO(4) FUA(3) | 2-9 LBA | 10-11 ATOMIC BOUNDARY
 *                         12-13 TRANSFER LENGTH | 14 GROUP NUMBER(4-0) | 15 CONTROL
 * PRE-FETCH (10):         0 34h | 1 IMMED(1) | 2-5 LBA | 6 GROUP NUMBER(4-0) | 7-8 PREFETCH LENGTH | 9
 * PRE-FETCH (16):         0 90h | 1 IMMED(1) | 2-9 LBA | 10-13 PREFETCH LENGTH | 14 GROUP(4-0) | 15
 * ```
 * A zero transfer length means zero blocks except for READ/WRITE (6), where it means 256.
 * ORWRITE (16), WRITE ATOMIC (16), PRE-FETCH (10/16) and the (12) forms are cited by their SBC-4
 * section names.
 *
 * Not here: the block size (callers multiply), bounds against the capacity (`BlockDevice`).
 */
import * as Result from "effect/Result"
import * as B from "./internal/bytes.ts"
import type * as ScsiError from "./ScsiError.ts"

export interface TransferOptions {
  /** Disable page out: do not keep the data in cache. */
  readonly dpo?: boolean | undefined
  /** Force unit access: from/to the medium, not the cache. */
  readonly fua?: boolean | undefined
  /** RDPROTECT / WRPROTECT / VRPROTECT (0..7). */
  readonly protect?: number | undefined
  /** GROUP NUMBER (0..31). */
  readonly group?: number | undefined
}

type Cdb = Result.Result<Uint8Array, ScsiError.ScsiError>

const six = (name: string, op: number, lba: number, blocks: number): Cdb =>
  B.build(name, 6, (w) => {
    w.u8("opcode", 0, op)
    if (!(Number.isInteger(lba) && lba >= 0 && lba <= 0x1f_ffff)) w.fail(`LBA ${lba} is outside 0..0x1fffff`)
    else {
      w.bits("LBA", 1, 0, 5, lba >>> 16)
      w.u16("LBA", 2, lba & 0xffff)
    }
    if (!(Number.isInteger(blocks) && blocks >= 1 && blocks <= 256))
      w.fail(`transfer length ${blocks} is outside 1..256`)
    else w.u8("transfer length", 4, blocks & 0xff)
  })

const flags = (w: B.Writer, o: TransferOptions | undefined, byteChk?: number) => {
  w.bits("protect", 1, 5, 3, o?.protect ?? 0)
  w.flag(1, 4, o?.dpo)
  if (byteChk === undefined) w.flag(1, 3, o?.fua)
  else w.bits("bytchk", 1, 1, 2, byteChk)
}

/** No flag or field beyond LBA and length: the common READ/WRITE, built without the checked writer. */
const plain = (o: TransferOptions | undefined, byteChk: number | undefined): boolean =>
  byteChk === undefined && (o === undefined || (!o.protect && o.dpo !== true && o.fua !== true && !o.group))

const ten = (
  name: string,
  op: number,
  lba: number,
  blocks: number,
  o: TransferOptions | undefined,
  byteChk?: number
): Cdb => {
  // the data path (npm run bench): valid plain fields go straight to bytes, anything else through
  // the checked writer (which also names what is wrong)
  if (plain(o, byteChk) && B.isUint(lba, 0xffff_ffff) && B.isUint(blocks, 0xffff)) {
    const b = new Uint8Array(10)
    b[0] = op
    B.put32(b, 2, lba)
    B.put16(b, 7, blocks)
    return Result.succeed(b)
  }
  return B.build(name, 10, (w) => {
    w.u8("opcode", 0, op)
    flags(w, o, byteChk)
    w.u32("LBA", 2, lba)
    w.bits("group number", 6, 0, 5, o?.group ?? 0)
    w.u16("transfer length", 7, blocks)
  })
}

const twelve = (name: string, op: number, lba: number, blocks: number, o: TransferOptions | undefined): Cdb =>
  B.build(name, 12, (w) => {
    w.u8("opcode", 0, op)
    flags(w, o)
    w.u32("LBA", 2, lba)
    w.u32("transfer length", 6, blocks)
    w.bits("group number", 10, 0, 5, o?.group ?? 0)
  })

const sixteen = (
  name: string,
  op: number,
  lba: number,
  blocks: number,
  o: TransferOptions | undefined,
  byteChk?: number
): Cdb => {
  if (plain(o, byteChk) && B.isUint(lba, Number.MAX_SAFE_INTEGER) && B.isUint(blocks, 0xffff_ffff)) {
    const b = new Uint8Array(16)
    b[0] = op
    B.put64(b, 2, lba)
    B.put32(b, 10, blocks)
    return Result.succeed(b)
  }
  return B.build(name, 16, (w) => {
    w.u8("opcode", 0, op)
    flags(w, o, byteChk)
    w.u64("LBA", 2, lba)
    w.u32("transfer length", 10, blocks)
    w.bits("group number", 14, 0, 5, o?.group ?? 0)
  })
}

/** READ (6): `blocks` 1..256, LBA < 2^21. */
export const cdbRead6 = (lba: number, blocks: number): Cdb => six("READ (6)", 0x08, lba, blocks)
export const cdbRead10 = (lba: number, blocks: number, options?: TransferOptions): Cdb =>
  ten("READ (10)", 0x28, lba, blocks, options)
export const cdbRead12 = (lba: number, blocks: number, options?: TransferOptions): Cdb =>
  twelve("READ (12)", 0xa8, lba, blocks, options)
export const cdbRead16 = (lba: number, blocks: number, options?: TransferOptions): Cdb =>
  sixteen("READ (16)", 0x88, lba, blocks, options)

/** WRITE (6): `blocks` 1..256, LBA < 2^21. */
export const cdbWrite6 = (lba: number, blocks: number): Cdb => six("WRITE (6)", 0x0a, lba, blocks)
export const cdbWrite10 = (lba: number, blocks: number, options?: TransferOptions): Cdb =>
  ten("WRITE (10)", 0x2a, lba, blocks, options)
export const cdbWrite12 = (lba: number, blocks: number, options?: TransferOptions): Cdb =>
  twelve("WRITE (12)", 0xaa, lba, blocks, options)
export const cdbWrite16 = (lba: number, blocks: number, options?: TransferOptions): Cdb =>
  sixteen("WRITE (16)", 0x8a, lba, blocks, options)

export interface VerifyOptions {
  readonly dpo?: boolean | undefined
  readonly protect?: number | undefined
  readonly group?: number | undefined
  /** BYTCHK: 0 = verify the medium only (no data-out), 1 = compare the data-out with the medium. */
  readonly byteCheck?: 0 | 1 | 3 | undefined
}

/** WRITE AND VERIFY (10): BYTCHK is fixed at 00b (write, then verify the medium). */
export const cdbWriteAndVerify10 = (lba: number, blocks: number, options?: VerifyOptions): Cdb =>
  ten("WRITE AND VERIFY (10)", 0x2e, lba, blocks, options, options?.byteCheck ?? 0)
export const cdbWriteAndVerify16 = (lba: number, blocks: number, options?: VerifyOptions): Cdb =>
  sixteen("WRITE AND VERIFY (16)", 0x8e, lba, blocks, options, options?.byteCheck ?? 0)
export const cdbVerify10 = (lba: number, blocks: number, options?: VerifyOptions): Cdb =>
  ten("VERIFY (10)", 0x2f, lba, blocks, options, options?.byteCheck ?? 0)
export const cdbVerify16 = (lba: number, blocks: number, options?: VerifyOptions): Cdb =>
  sixteen("VERIFY (16)", 0x8f, lba, blocks, options, options?.byteCheck ?? 0)

export interface SyncOptions {
  /** Return before the cache is flushed. */
  readonly immediate?: boolean | undefined
  readonly group?: number | undefined
}

/** SYNCHRONIZE CACHE (10): `blocks` 0 = to the end of the medium. */
export const cdbSynchronizeCache10 = (lba = 0, blocks = 0, options?: SyncOptions): Cdb =>
  B.build("SYNCHRONIZE CACHE (10)", 10, (w) => {
    w.u8("opcode", 0, 0x35)
    w.flag(1, 1, options?.immediate)
    w.u32("LBA", 2, lba)
    w.bits("group number", 6, 0, 5, options?.group ?? 0)
    w.u16("number of logical blocks", 7, blocks)
  })

export const cdbSynchronizeCache16 = (lba = 0, blocks = 0, options?: SyncOptions): Cdb =>
  B.build("SYNCHRONIZE CACHE (16)", 16, (w) => {
    w.u8("opcode", 0, 0x91)
    w.flag(1, 1, options?.immediate)
    w.u64("LBA", 2, lba)
    w.u32("number of logical blocks", 10, blocks)
    w.bits("group number", 14, 0, 5, options?.group ?? 0)
  })

const twelveChecked = (name: string, op: number, lba: number, blocks: number, o: VerifyOptions | undefined): Cdb =>
  B.build(name, 12, (w) => {
    w.u8("opcode", 0, op)
    flags(w, o, o?.byteCheck ?? 0)
    w.u32("LBA", 2, lba)
    w.u32("transfer length", 6, blocks)
    w.bits("group number", 10, 0, 5, o?.group ?? 0)
  })

/** WRITE AND VERIFY (12): BYTCHK 00b by default (write, then verify the medium). */
export const cdbWriteAndVerify12 = (lba: number, blocks: number, options?: VerifyOptions): Cdb =>
  twelveChecked("WRITE AND VERIFY (12)", 0xae, lba, blocks, options)
/** VERIFY (12): medium check (BYTCHK 00b) or compare with the data-out (01b). */
export const cdbVerify12 = (lba: number, blocks: number, options?: VerifyOptions): Cdb =>
  twelveChecked("VERIFY (12)", 0xaf, lba, blocks, options)

/** ORWRITE (16): the data-out is ORed into `blocks` blocks at `lba` (`protect` is ORPROTECT). */
export const cdbOrWrite16 = (lba: number, blocks: number, options?: TransferOptions): Cdb =>
  sixteen("ORWRITE (16)", 0x8b, lba, blocks, options)

export interface WriteAtomicOptions extends TransferOptions {
  /** ATOMIC BOUNDARY (0: the whole transfer is one atomic write). */
  readonly boundary?: number | undefined
}

/** WRITE ATOMIC (16): all `blocks` (at most 65535, and the device's maximum atomic transfer length) or none. */
export const cdbWriteAtomic16 = (lba: number, blocks: number, options?: WriteAtomicOptions): Cdb =>
  B.build("WRITE ATOMIC (16)", 16, (w) => {
    w.u8("opcode", 0, 0x9c)
    flags(w, options)
    w.u64("LBA", 2, lba)
    w.u16("atomic boundary", 10, options?.boundary ?? 0)
    w.u16("transfer length", 12, blocks)
    w.bits("group number", 14, 0, 5, options?.group ?? 0)
  })

export interface PreFetchOptions {
  /** Return before the blocks are in the cache. */
  readonly immediate?: boolean | undefined
  readonly group?: number | undefined
}

/** PRE-FETCH (10): ask the device to load `blocks` blocks at `lba` into its cache (0 = to the end). */
export const cdbPreFetch10 = (lba: number, blocks: number, options?: PreFetchOptions): Cdb =>
  B.build("PRE-FETCH (10)", 10, (w) => {
    w.u8("opcode", 0, 0x34)
    w.flag(1, 1, options?.immediate)
    w.u32("LBA", 2, lba)
    w.bits("group number", 6, 0, 5, options?.group ?? 0)
    w.u16("prefetch length", 7, blocks)
  })

/** PRE-FETCH (16). */
export const cdbPreFetch16 = (lba: number, blocks: number, options?: PreFetchOptions): Cdb =>
  B.build("PRE-FETCH (16)", 16, (w) => {
    w.u8("opcode", 0, 0x90)
    w.flag(1, 1, options?.immediate)
    w.u64("LBA", 2, lba)
    w.u32("prefetch length", 10, blocks)
    w.bits("group number", 14, 0, 5, options?.group ?? 0)
  })
