/**
 * The task helpers of issue 19 against the real private tgtd of this test run (Debian tgt 1.0.85).
 * What tgt implements is checked against the backing file; what it refuses is asserted as the typed
 * rejection it answers with (the behaviour itself is proven on the fake disk, Scsi.test.ts). The
 * README's "Commands" table says which is which. LBA range: LUN 1 7000..7999 (the other tgt tests
 * use 1000..6999). RESERVE (6) runs on the `mutual` target, whose LUN no other test writes to, so
 * that the short-lived reservation cannot conflict with another test file running at the same time.
 */
import type * as IscsiError from "@effect-iscsi/core/IscsiError"
import type { ScsiTransport } from "@effect-iscsi/core/ScsiTransport"
import { tgt } from "@effect-iscsi/testing/Provided"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import { BlockDevice, ExtendedCopy, Scsi, type ScsiError, Sense } from "../src/index.ts"

interface ClientModule {
  readonly IscsiClient: {
    readonly layer: (options: {
      readonly url: string
      readonly initiatorName?: string
      readonly chap?: { readonly user: string; readonly secret: Redacted.Redacted<string> }
      readonly targetChap?: { readonly user: string; readonly secret: Redacted.Redacted<string> }
    }) => Layer.Layer<ScsiTransport, IscsiError.IscsiError>
  }
}
// A computed specifier keeps the type checker off a package this one does not reference.
const specifier = "@effect-iscsi/node-transport"
const client = await import(/* @vite-ignore */ specifier).then(
  (m: Partial<ClientModule>) => ("IscsiClient" in m ? (m as ClientModule) : undefined),
  () => undefined
)

const lunPath = (lun: number) => tgt().targets.disk.luns.find((x) => x.lun === lun)!.path!
const fileBytes = (path: string, offset: number, length: number): Uint8Array => {
  const fd = Fs.openSync(path, "r")
  try {
    const b = new Uint8Array(length)
    Fs.readSync(fd, b, 0, length, offset)
    return b
  } finally {
    Fs.closeSync(fd)
  }
}
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 29 + seed + (i >> 9)) & 0xff)

/** The CHECK CONDITION of a failed command as [sense key, ASC, ASCQ], or the error's tags. */
const checkOf = (e: ScsiError.ScsiError | IscsiError.IscsiError): readonly [number, number, number] | string =>
  e._tag === "ScsiError" && e.reason._tag === "CheckCondition"
    ? [e.reason.senseKey, e.reason.asc, e.reason.ascq]
    : `${e._tag}/${e.reason._tag}`

const INVALID_OPCODE = [Sense.SenseKey.IllegalRequest, 0x20, 0x00] as const
const INVALID_FIELD_IN_CDB = [Sense.SenseKey.IllegalRequest, 0x24, 0x00] as const

describe.skipIf(client === undefined)("task helpers against tgtd", () => {
  const url = (target: "disk" | "mutual") => `iscsi://${tgt().portal}/${tgt().targets[target].iqn}`
  const run = <A, E>(eff: Effect.Effect<A, E, ScsiTransport>) =>
    eff.pipe(
      Scsi.withPolicy({ retries: 5, backoff: () => 0 }),
      Effect.provide(client!.IscsiClient.layer({ url: url("disk") }))
    )

  it.live("PRE-FETCH (10)/(16): tgt answers GOOD (not CONDITION MET); PREVENT ALLOW MEDIUM REMOVAL", () =>
    run(
      Effect.gen(function* () {
        expect(yield* Scsi.preFetch10(1, 7000, 8)).toBe(false)
        expect(yield* Scsi.preFetch10(1, 7000, 8, { immediate: true })).toBe(false)
        expect(yield* Scsi.preFetch16(1, 7000, 8)).toBe(false)
        const blocks = tgt().targets.disk.luns[0]!.size / 512
        expect(checkOf(yield* Effect.flip(Scsi.preFetch16(1, blocks - 1, 2)))).toEqual([
          Sense.SenseKey.IllegalRequest,
          0x21,
          0x00
        ])
        yield* Scsi.preventAllowMediumRemoval(1, true)
        yield* Scsi.preventAllowMediumRemoval(1, false)
      })
    )
  )

  it.live("ORWRITE (16): the backing file holds the OR of what was there and the data", () =>
    run(
      Effect.gen(function* () {
        const a = pattern(4 * 512, 1)
        const b = pattern(4 * 512, 100)
        yield* Scsi.write10(1, 7010, a)
        yield* Scsi.orWrite16(1, 7010, b)
        const or = a.map((x, i) => x | b[i]!)
        expect(fileBytes(lunPath(1), 7010 * 512, or.length)).toEqual(or)
        expect(yield* Scsi.read16(1, 7010, 4)).toEqual(or)
      })
    )
  )

  it.live("VERIFY (12), WRITE AND VERIFY (12): written, verified, a miscompare typed", () =>
    run(
      Effect.gen(function* () {
        const data = pattern(2 * 512, 7)
        yield* Scsi.writeAndVerify12(1, 7020, data, { dpo: true })
        expect(fileBytes(lunPath(1), 7020 * 512, data.length)).toEqual(data)
        yield* Scsi.verify12(1, 7020, 2)
        yield* Scsi.verify12(1, 7020, 2, { data })
        const e = yield* Effect.flip(Scsi.verify12(1, 7020, 2, { data: pattern(2 * 512, 8) }))
        expect(e._tag === "ScsiError" && e.reason._tag).toBe("Miscompare")
      })
    )
  )

  it.live("REPORT SUPPORTED OPERATION CODES: all (with timeouts), one opcode; tgt fails an unsupported one", () =>
    run(
      Effect.gen(function* () {
        const all = yield* Scsi.reportSupportedOperationCodes(1)
        const has = (op: number, sa?: number) =>
          all.commands.some((c) => c.opcode === op && (sa === undefined || c.serviceAction === sa))
        expect([has(0x28), has(0x2a), has(0x8b), has(0x42), has(0x9e, 0x10), has(0x9e, 0x12), has(0xa3, 0x0c)]).toEqual(
          [true, true, true, true, true, true, true]
        )
        // what tgt refuses below is absent from its own list
        expect([has(0x48), has(0x83), has(0x84), has(0x37), has(0xb7), has(0x43), has(0x9c), has(0x89)]).toEqual([
          false,
          false,
          false,
          false,
          false,
          false,
          false,
          false
        ])
        const timed = yield* Scsi.reportSupportedOperationCodes(1, { timeouts: true })
        expect(timed.commands.length).toBe(all.commands.length)
        expect(timed.commands.every((c) => c.timeouts !== undefined)).toBe(true)
        const read10 = yield* Scsi.reportSupportedOperationCode(1, 0x28)
        expect([read10.supported, read10.cdbSize, read10.usage[0]]).toEqual([true, 10, 0x28])
        const rc16 = yield* Scsi.reportSupportedOperationCode(1, 0x9e, { serviceAction: 0x10, timeouts: true })
        expect([rc16.supported, rc16.cdbSize, rc16.timeouts !== undefined]).toEqual([true, 16, true])
        // SPC-5 says SUPPORT 001b here; tgt answers INVALID FIELD IN CDB instead
        expect(checkOf(yield* Effect.flip(Scsi.reportSupportedOperationCode(1, 0x48)))).toEqual(INVALID_FIELD_IN_CDB)
      })
    )
  )

  it.live(
    "BlockDevice.capabilities: tgt lists its commands; UNMAP / WRITE SAME with UNMAP usable only on the thin LUN",
    () =>
      run(
        Effect.gen(function* () {
          const plain = yield* (yield* BlockDevice.make(1)).capabilities
          const thin = yield* (yield* BlockDevice.make(4)).capabilities
          expect([plain.source, thin.source]).toEqual(["rsoc", "rsoc"])
          const dd = (c: typeof plain) => [c.features.unmap, c.features.writeSame16Unmap, c.features.getLbaStatus]
          expect(dd(plain)).toEqual(["unsupported", "unsupported", "supported"])
          expect(dd(thin)).toEqual(["supported", "supported", "supported"])
          expect([plain.features.compareAndWrite, plain.features.extendedCopy, plain.features.orWrite16]).toEqual([
            "unsupported",
            "unsupported",
            "supported"
          ])
          // what the answers mean: UNMAP is refused on LUN 1 and deallocates on LUN 4
          expect(checkOf(yield* Effect.flip(Scsi.unmap(1, [{ lba: 7060, blocks: 1 }])))[0]).toBe(
            Sense.SenseKey.IllegalRequest
          )
          yield* Scsi.write10(4, 7060, pattern(512, 1))
          yield* Scsi.unmap(4, [{ lba: 7060, blocks: 1 }])
          expect(yield* Scsi.read10(4, 7060, 1)).toEqual(new Uint8Array(512))
        })
      )
  )

  it.live("RESERVE (6) / RELEASE (6): another I_T nexus gets RESERVATION CONFLICT until the holder releases", () => {
    const m = tgt().targets.mutual
    const auth = {
      chap: { user: m.chap!.user, secret: Redacted.make(m.chap!.secret) },
      targetChap: { user: m.mutualChap!.user, secret: Redacted.make(m.mutualChap!.secret) }
    }
    const holder = client!.IscsiClient.layer({
      url: url("mutual"),
      initiatorName: "iqn.2026-11.io.effect-iscsi:holder",
      ...auth
    })
    const other = client!.IscsiClient.layer({
      url: url("mutual"),
      initiatorName: "iqn.2026-11.io.effect-iscsi:other",
      ...auth
    })
    const asOther = <A, E>(eff: Effect.Effect<A, E, ScsiTransport>) =>
      eff.pipe(Scsi.withPolicy({ retries: 5, backoff: () => 0 }), Effect.provide(other))
    return Effect.gen(function* () {
      yield* Scsi.testUnitReady(1)
      yield* Scsi.reserve6(1)
      const held = yield* Effect.gen(function* () {
        yield* Scsi.reserve6(1) // the holder may reserve again
        yield* Scsi.read10(1, 0, 1)
        const read = yield* Effect.flip(asOther(Scsi.read10(1, 0, 1)))
        const reserve = yield* Effect.flip(asOther(Scsi.reserve6(1)))
        const inquiry = yield* asOther(Scsi.inquiry(1))
        yield* asOther(Scsi.release6(1)) // releasing what it does not hold: GOOD, nothing changes
        const stillHeld = yield* Effect.flip(asOther(Scsi.read10(1, 0, 1)))
        return {
          read: checkOf(read),
          reserve: checkOf(reserve),
          inquiry: inquiry.peripheralDeviceType,
          stillHeld: checkOf(stillHeld)
        }
      }).pipe(Effect.ensuring(Effect.ignore(Scsi.release6(1))))
      expect(held).toEqual({
        read: "ScsiError/ReservationConflict",
        reserve: "ScsiError/ReservationConflict",
        inquiry: 0,
        stillHeld: "ScsiError/ReservationConflict"
      })
      expect((yield* asOther(Scsi.read10(1, 0, 1))).length).toBe(512)
    }).pipe(Scsi.withPolicy({ retries: 5, backoff: () => 0 }), Effect.provide(holder))
  })

  it.live(
    "refused by tgt, typed: SANITIZE, EXTENDED COPY, RECEIVE COPY RESULTS, WRITE ATOMIC, READ DEFECT DATA, READ TOC, REPORT TARGET PORT GROUPS",
    () =>
      run(
        Effect.gen(function* () {
          // SANITIZE on the null LUN, in case a future tgt implements it
          for (const action of [
            { _tag: "Overwrite", pattern: Uint8Array.of(0xa5) },
            { _tag: "BlockErase" },
            { _tag: "CryptographicErase" },
            { _tag: "ExitFailureMode" }
          ] as const) {
            expect(checkOf(yield* Effect.flip(Scsi.sanitize(3, action)))).toEqual(INVALID_OPCODE)
          }
          const naa = (yield* Scsi.deviceIdentification(1)).find((d) => d.designatorType === 3)!
          for (const lid4 of [false, true]) {
            const list = yield* Effect.fromResult(
              ExtendedCopy.encodeBlockCopy({
                listId: 1,
                source: { designation: naa, blockLength: 512 },
                ranges: [{ sourceLba: 7030, destinationLba: 7040, blocks: 1 }],
                lid4
              })
            )
            expect(checkOf(yield* Effect.flip(Scsi.extendedCopy(1, list, { lid4 })))).toEqual(INVALID_OPCODE)
          }
          expect(checkOf(yield* Effect.flip(Scsi.receiveCopyOperatingParameters(1)))).toEqual(INVALID_OPCODE)
          expect(checkOf(yield* Effect.flip(Scsi.receiveCopyStatus(1, 1)))).toEqual(INVALID_OPCODE)
          expect(checkOf(yield* Effect.flip(Scsi.receiveCopyStatusLid4(1, 1)))).toEqual(INVALID_OPCODE)
          expect(checkOf(yield* Effect.flip(Scsi.receiveCopyFailureDetails(1, 1)))).toEqual(INVALID_OPCODE)
          const before = fileBytes(lunPath(1), 7050 * 512, 2 * 512)
          expect(checkOf(yield* Effect.flip(Scsi.writeAtomic16(1, 7050, pattern(2 * 512, 3))))).toEqual(INVALID_OPCODE)
          expect(fileBytes(lunPath(1), 7050 * 512, 2 * 512)).toEqual(before)
          expect(checkOf(yield* Effect.flip(Scsi.readDefectData10(1, { grown: true })))).toEqual(INVALID_OPCODE)
          expect(checkOf(yield* Effect.flip(Scsi.readDefectData12(1, { primary: true })))).toEqual(INVALID_OPCODE)
          expect(checkOf(yield* Effect.flip(Scsi.readToc(1)))).toEqual(INVALID_OPCODE)
          // VPD 85h–88h: not in tgt's supported pages; asking for one is INVALID FIELD IN CDB
          const pages = yield* Scsi.supportedVpdPages(1)
          expect(pages.filter((p) => p >= 0x85 && p <= 0x88)).toEqual([])
          const vpdPages: ReadonlyArray<Effect.Effect<unknown, Scsi.CommandError, ScsiTransport>> = [
            Scsi.managementNetworkAddresses(1),
            Scsi.extendedInquiryData(1),
            Scsi.modePagePolicy(1),
            Scsi.scsiPorts(1)
          ]
          for (const page of vpdPages) expect(checkOf(yield* Effect.flip(page))).toEqual(INVALID_FIELD_IN_CDB)
          // tgt knows MAINTENANCE IN but not this service action (its LUNs report TPGS 0: no ALUA)
          expect(checkOf(yield* Effect.flip(Scsi.reportTargetPortGroups(1)))).toEqual(INVALID_FIELD_IN_CDB)
          expect((yield* Scsi.inquiry(1)).tpgs).toBe(0)
        })
      )
  )
})
