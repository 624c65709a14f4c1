/**
 * Capabilities: the three answers (supported, unsupported, unknown) from REPORT SUPPORTED OPERATION
 * CODES and the provisioning facts, on tgtd's captured answers (LUN 1 fully provisioned, LUN 4
 * thin) and on the fake disk through `BlockDevice.capabilities` (discovered once, then kept).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { BlockDevice, Capabilities, Inquiry, OperationCodes, Scsi } from "../src/index.ts"
import { fromHex } from "../src/internal/bytes.ts"
import { rsoc as tgt } from "./support/captures.ts"
import * as Fake from "./support/FakeDisk.ts"

const rsoc = Result.getOrThrow(OperationCodes.decodeAll(fromHex(tgt.rsocAll))).commands
const b2 = (hex: string) => Result.getOrThrow(Inquiry.decodeLogicalBlockProvisioning(fromHex(hex)))
const b0 = (maxCaw: number, maxAtomic: number) => {
  const page = new Uint8Array(64)
  page[1] = 0xb0
  page[3] = 60
  page[5] = maxCaw
  page[47] = maxAtomic
  return Result.getOrThrow(Inquiry.decodeBlockLimits(page))
}

describe("Capabilities.make", () => {
  it("tgt LUN 1 (fully provisioned): UNMAP and WRITE SAME with UNMAP are listed but not usable", () => {
    const c = Capabilities.make({ commands: rsoc, lbpme: false, provisioning: b2("00b2000400000000") })
    expect(c.source).toBe("rsoc")
    expect(c.features).toMatchObject({
      unmap: "unsupported",
      writeSame16Unmap: "unsupported",
      writeSame10Unmap: "unsupported",
      writeSame16: "supported",
      writeSame10: "supported",
      getLbaStatus: "supported",
      compareAndWrite: "unsupported",
      writeAtomic16: "unsupported",
      orWrite16: "supported",
      extendedCopy: "unsupported",
      sanitize: "unsupported",
      read16: "supported"
    })
    expect([
      Capabilities.support(c, 0x28),
      Capabilities.supports(c, 0x9e, 0x10),
      Capabilities.support(c, 0x48)
    ]).toEqual(["supported", true, "unsupported"])
  })

  it("tgt LUN 4 (thin): UNMAP and WRITE SAME (10/16) with UNMAP are usable", () => {
    const c = Capabilities.make({ commands: rsoc, lbpme: true, provisioning: b2("00b2000400e40200") })
    expect([
      c.features.unmap,
      c.features.writeSame16Unmap,
      c.features.writeSame10Unmap,
      c.features.getLbaStatus
    ]).toEqual(["supported", "supported", "supported", "supported"])
  })

  it("without REPORT SUPPORTED OPERATION CODES: what VPD and READ CAPACITY say, the rest unknown", () => {
    const thin = Capabilities.make({ lbpme: true, provisioning: b2("00b2000400c40200"), blockLimits: b0(1, 0) })
    expect(thin.source).toBe("derived")
    expect(thin.commands).toEqual([])
    expect(thin.features).toMatchObject({
      unmap: "supported",
      writeSame16Unmap: "supported",
      writeSame10Unmap: "unsupported",
      getLbaStatus: "supported",
      compareAndWrite: "supported",
      writeAtomic16: "unsupported",
      writeSame16: "unknown",
      orWrite16: "unknown",
      read16: "unknown"
    })
    expect(Capabilities.support(thin, 0x28)).toBe("unknown")
    const nothing = Capabilities.make({})
    expect(Object.values(nothing.features).every((s) => s === "unknown")).toBe(true)
    // LBPME 0 settles the provisioning features even without a B2h page
    const full = Capabilities.make({ lbpme: false })
    expect([full.features.unmap, full.features.writeSame16Unmap, full.features.getLbaStatus]).toEqual([
      "unsupported",
      "unsupported",
      "unknown"
    ])
    // a listed command with LBPME but no B2h page: listed and provisioning-managed
    const noB2 = Capabilities.make({ commands: rsoc, lbpme: true })
    expect(noB2.features.unmap).toBe("supported")
  })
})

describe("BlockDevice.capabilities", () => {
  const run = <A, E>(
    disk: Fake.FakeDisk,
    eff: Effect.Effect<A, E, import("@effect-iscsi/core/ScsiTransport").ScsiTransport>
  ) => eff.pipe(Scsi.withPolicy({ retries: 2, backoff: () => 0 }), Effect.provide(Fake.layer(disk)))

  it.effect("asked once, on first use, then kept", () => {
    const disk = Fake.make()
    return run(
      disk,
      Effect.gen(function* () {
        const dev = yield* BlockDevice.make(1)
        expect(disk.log.length).toBe(1) // READ CAPACITY (16) only
        const c = yield* dev.capabilities
        const asked = disk.log.length
        expect(c.source).toBe("rsoc")
        expect(c.commands.length).toBe(Fake.SUPPORTED.length)
        expect(c.features).toMatchObject({
          unmap: "supported",
          writeSame16Unmap: "supported",
          getLbaStatus: "supported",
          writeAtomic16: "supported",
          extendedCopy: "supported",
          sanitize: "supported"
        })
        expect(yield* dev.supports(0x9c)).toBe("supported")
        expect(yield* dev.supports(0x9e, 0x12)).toBe("supported")
        expect(yield* dev.supports(0x99)).toBe("unsupported")
        expect(disk.log.length).toBe(asked)
        // LBPME came from make's READ CAPACITY (16): not asked again
        expect(disk.log.filter((r) => r.cdb[0] === 0x9e).length).toBe(1)
      })
    )
  })

  it.effect("a device without REPORT SUPPORTED OPERATION CODES: derived from VPD B0h/B2h", () => {
    const disk = Fake.make({ noRsoc: true })
    return run(
      disk,
      Effect.gen(function* () {
        const c = yield* (yield* BlockDevice.make(1)).capabilities
        expect([c.source, c.features.unmap, c.features.writeSame16Unmap, c.features.writeSame16]).toEqual([
          "derived",
          "supported",
          "supported",
          "unknown"
        ])
        expect([c.features.compareAndWrite, c.features.writeAtomic16]).toEqual(["supported", "supported"])
      })
    )
  })
})
