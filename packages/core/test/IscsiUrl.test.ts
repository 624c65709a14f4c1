import { describe, expect, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as IscsiUrl from "../src/IscsiUrl.ts"

const SECRET = "s3cr3t-Pa55"
const TSECRET = "t-s3cr3t-99"

const plain = (u: IscsiUrl.IscsiUrl) => ({
  ...u,
  ...(u.secret !== undefined ? { secret: Redacted.value(u.secret) } : {}),
  ...(u.targetSecret !== undefined ? { targetSecret: Redacted.value(u.targetSecret) } : {})
})

describe("IscsiUrl.parse: good forms", () => {
  it.each([
    ["iscsi://192.0.2.1", { host: "192.0.2.1", port: 3260 }],
    ["iscsi://192.0.2.1/", { host: "192.0.2.1", port: 3260 }],
    ["iscsi://127.0.0.1:3299/", { host: "127.0.0.1", port: 3299 }],
    ["iscsi://[2001:DB8::1]:3261", { host: "2001:DB8::1", port: 3261 }],
    ["iscsi://[::1]/iqn.2026-11.test:disk/1", { host: "::1", port: 3260, target: "iqn.2026-11.test:disk", lun: 1 }],
    ["iscsi://192.0.2.1/iqn.ronnie.test/1", { host: "192.0.2.1", port: 3260, target: "iqn.ronnie.test", lun: 1 }],
    ["iscsi://host.example.com/iqn.ronnie.test", { host: "host.example.com", port: 3260, target: "iqn.ronnie.test" }],
    ["iscsi://host/iqn.x:y/0/", { host: "host", port: 3260, target: "iqn.x:y", lun: 0 }],
    [
      "iscsi://ronnie@iscsi.example.com/iqn.ronnie.test/1",
      { host: "iscsi.example.com", port: 3260, target: "iqn.ronnie.test", lun: 1, user: "ronnie" }
    ],
    [
      `iscsi://ronnie%${SECRET}@iscsi.example.com/iqn.ronnie.test/1`,
      { host: "iscsi.example.com", port: 3260, target: "iqn.ronnie.test", lun: 1, user: "ronnie", secret: SECRET }
    ],
    [
      "iscsi://u%p@ss%w/rd@h:3300/iqn.a/2",
      { host: "h", port: 3300, target: "iqn.a", lun: 2, user: "u", secret: "p@ss%w/rd" }
    ],
    [
      `iscsi://u%${SECRET}@h/iqn.a/1?target_user=tu&target_password=${TSECRET}&header_digest=CRC32C-none`,
      {
        host: "h",
        port: 3260,
        target: "iqn.a",
        lun: 1,
        user: "u",
        secret: SECRET,
        targetUser: "tu",
        targetSecret: TSECRET,
        headerDigest: ["CRC32C", "None"]
      }
    ],
    ["ISCSI://h?header_digest=none", { host: "h", port: 3260, headerDigest: ["None"] }],
    [
      "iscsi://h/iqn.a/1?data_digest=crc32c&header_digest=CRC32C",
      { host: "h", port: 3260, target: "iqn.a", lun: 1, headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] }
    ],
    [
      "iscsi://h/iqn.a/1?data_digest=none-crc32c",
      { host: "h", port: 3260, target: "iqn.a", lun: 1, dataDigest: ["None", "CRC32C"] }
    ]
  ])("%s", (url, expected) => {
    const r = IscsiUrl.parse(url)
    expect(Result.map(r, plain)).toEqual(Result.succeed(expected))
  })

  it("secrets are Redacted", () => {
    const r = Result.getOrThrow(IscsiUrl.parse(`iscsi://u%${SECRET}@h/iqn.a/1`))
    expect(Redacted.isRedacted(r.secret)).toBe(true)
    expect(String(r.secret)).not.toContain(SECRET)
    expect(JSON.stringify(r)).not.toContain(SECRET)
  })

  it("target credentials from options win over the query", () => {
    const r = IscsiUrl.parse(`iscsi://u%${SECRET}@h/iqn.a/1?target_user=q&target_password=qq`, {
      targetUser: "tu",
      targetSecret: Redacted.make(TSECRET)
    })
    expect(Result.map(r, (u) => [u.targetUser, u.targetSecret && Redacted.value(u.targetSecret)])).toEqual(
      Result.succeed(["tu", TSECRET])
    )
    const s = IscsiUrl.parse(`iscsi://u%${SECRET}@h/iqn.a/1`, { targetUser: "tu", targetSecret: TSECRET })
    expect(Result.map(s, (u) => u.targetSecret !== undefined && Redacted.isRedacted(u.targetSecret))).toEqual(
      Result.succeed(true)
    )
  })
})

describe("IscsiUrl.parse: bad forms", () => {
  it.each([
    ["http://h/iqn.a/1"],
    ["iscsi://"],
    ["iscsi:///iqn.a/1"],
    [`iscsi://%${SECRET}@h/iqn.a/1`],
    ["iscsi://u%@h/iqn.a/1"],
    ["iscsi://h:0/"],
    ["iscsi://h:65536/"],
    ["iscsi://h:port/"],
    ["iscsi://2001:db8::1/iqn.a/1"],
    ["iscsi://[2001:db8::1/iqn.a/1"],
    ["iscsi://[nothex]/"],
    ["iscsi://[::1]x/"],
    ["iscsi://h/iqn.a/lun"],
    ["iscsi://h/iqn.a/-1"],
    ["iscsi://h/iqn.a/70000"],
    ["iscsi://h/iqn.a/1/extra"],
    ["iscsi://h//1"],
    ["iscsi://h/iqn with space/1"],
    ["iscsi://ho st/"],
    [`iscsi://u%${SECRET}@h/iqn.a/1?iser`],
    [`iscsi://u%${SECRET}@h/iqn.a/1?target_user=t`],
    [`iscsi://u%${SECRET}@h/iqn.a/1?target_password=${TSECRET}`],
    [`iscsi://h/iqn.a/1?target_user=t&target_password=${TSECRET}`],
    [`iscsi://u%${SECRET}@h/iqn.a/1?header_digest=md5`],
    [`iscsi://u%${SECRET}@h/iqn.a/1?data_digest=crc32c-crc32c`],
    [`iscsi://u%${SECRET}@h/iqn.a/1?data_digest=`],
    [`iscsi://u%${SECRET}@h/iqn.a/1?data_digest=none,crc32c`],
    [`iscsi://u%${SECRET}@h/iqn.a/1?data_digest=none&data_digest=crc32c`],
    [`iscsi://u%${SECRET}@h/iqn.a/1?target_user=a&target_user=b&target_password=${TSECRET}`]
  ])("%s → InvalidArgument, secrets never in the message", (url) => {
    const r = IscsiUrl.parse(url)
    expect(Result.isFailure(r) && r.failure.reason._tag).toBe("InvalidArgument")
    if (Result.isFailure(r)) {
      const text = `${r.failure.message} ${JSON.stringify(r.failure)} ${String(r.failure)}`
      expect(text).not.toContain(SECRET)
      expect(text).not.toContain(TSECRET)
    }
  })
})

describe("IscsiUrl.format", () => {
  it("prints the URL back with secrets masked", () => {
    const u = Result.getOrThrow(
      IscsiUrl.parse(
        `iscsi://u%${SECRET}@[::1]:3261/iqn.a/1?target_user=tu&target_password=${TSECRET}&header_digest=none-crc32c`
      )
    )
    const s = IscsiUrl.format(u)
    expect(s).toBe("iscsi://u%***@[::1]:3261/iqn.a/1?target_user=tu&target_password=***&header_digest=none-crc32c")
    expect(s).not.toContain(SECRET)
    expect(s).not.toContain(TSECRET)
  })

  it("round-trips URLs without secrets", () => {
    for (const url of [
      "iscsi://h/",
      "iscsi://h:3299/iqn.a:b/3",
      "iscsi://u@h/iqn.a",
      "iscsi://h/iqn.a/1?header_digest=crc32c-none&data_digest=crc32c"
    ]) {
      const u = Result.getOrThrow(IscsiUrl.parse(url))
      expect(Result.map(IscsiUrl.parse(IscsiUrl.format(u)), plain)).toEqual(Result.succeed(plain(u)))
    }
  })
})
