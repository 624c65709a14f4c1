import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Negotiation from "../src/Negotiation.ts"
import type { Pair } from "../src/TextKeys.ts"

const normal: Negotiation.Context = { sessionType: "Normal", leading: true }

type Outcome =
  | { readonly params: Negotiation.OperationalParameters; readonly reply: ReadonlyArray<Pair> }
  | { readonly error: string; readonly key?: string }

/** Offer `offer`, receive `answers` (one batch), finish. */
const run = (
  offer: Partial<Negotiation.Offer>,
  answers: ReadonlyArray<Pair>,
  context: Negotiation.Context = normal
): Outcome => {
  const proposed = Negotiation.propose(Negotiation.make({ ...Negotiation.defaultOffer, ...offer }, context))
  // Answer every proposal with the offered value unless the row says otherwise (a cooperative target).
  const answered = new Set(answers.map(([k]) => k))
  const echo = proposed.pairs.filter(([k]) => !answered.has(k) && k !== "MaxRecvDataSegmentLength")
  const r = Negotiation.respond(proposed.state, [...echo.map(([k, v]) => [k, v.split(",")[0]!] as const), ...answers])
  if (Result.isFailure(r)) return { error: r.failure.reason._tag, ...keyOf(r.failure.reason) }
  const f = Negotiation.finish(r.success.state)
  if (Result.isFailure(f)) return { error: f.failure.reason._tag, ...keyOf(f.failure.reason) }
  return { params: f.success, reply: r.success.reply }
}
const keyOf = (reason: object) => ("key" in reason ? { key: String(reason.key) } : {})

interface Row {
  readonly name: string
  readonly offered: Partial<Negotiation.Offer>
  readonly answered: ReadonlyArray<Pair>
  readonly expected: Partial<Negotiation.OperationalParameters> | { readonly error: string; readonly key?: string }
}

const check = (row: Row) => {
  const out = run(row.offered, row.answered)
  if ("error" in row.expected) {
    expect(out).toEqual(row.expected)
  } else {
    expect("params" in out ? out.params : out).toMatchObject(row.expected)
  }
}

describe("Negotiation: list keys (HeaderDigest, DataDigest)", () => {
  const rows: ReadonlyArray<Row> = [
    {
      name: "target picks our first",
      offered: { headerDigest: ["CRC32C", "None"] },
      answered: [["HeaderDigest", "CRC32C"]],
      expected: { headerDigest: true }
    },
    {
      name: "target picks our second",
      offered: { headerDigest: ["CRC32C", "None"] },
      answered: [["HeaderDigest", "None"]],
      expected: { headerDigest: false }
    },
    {
      name: "data digest",
      offered: { dataDigest: ["None", "CRC32C"] },
      answered: [["DataDigest", "CRC32C"]],
      expected: { dataDigest: true }
    },
    {
      name: "value never offered",
      offered: { headerDigest: ["None"] },
      answered: [["HeaderDigest", "CRC32C"]],
      expected: { error: "NegotiationFailed", key: "HeaderDigest" }
    },
    {
      name: "a list as the answer",
      offered: { headerDigest: ["CRC32C", "None"] },
      answered: [["HeaderDigest", "CRC32C,None"]],
      expected: { error: "NegotiationFailed", key: "HeaderDigest" }
    },
    {
      name: "Reject → default None (acceptable)",
      offered: { headerDigest: ["CRC32C", "None"] },
      answered: [["HeaderDigest", "Reject"]],
      expected: { headerDigest: false, rejectedKeys: ["HeaderDigest"] }
    },
    {
      name: "Reject of None alone (a target that insists on CRC32C): None applies, the rejection is recorded (§6.2)",
      offered: { headerDigest: ["None"], dataDigest: ["None"] },
      answered: [
        ["HeaderDigest", "Reject"],
        ["DataDigest", "Reject"]
      ],
      expected: { headerDigest: false, dataDigest: false, rejectedKeys: ["HeaderDigest", "DataDigest"] }
    },
    {
      name: "the default offer None,CRC32C: a target that insists answers CRC32C",
      offered: {},
      answered: [
        ["HeaderDigest", "CRC32C"],
        ["DataDigest", "CRC32C"]
      ],
      expected: { headerDigest: true, dataDigest: true }
    },
    {
      name: "Reject when we require CRC32C",
      offered: { dataDigest: ["CRC32C"] },
      answered: [["DataDigest", "Reject"]],
      expected: { error: "NegotiationFailed", key: "DataDigest" }
    },
    {
      name: "Irrelevant → off",
      offered: { headerDigest: ["CRC32C"] },
      answered: [["HeaderDigest", "Irrelevant"]],
      expected: { headerDigest: false }
    },
    {
      name: "NotUnderstood for an RFC key",
      offered: {},
      answered: [["HeaderDigest", "NotUnderstood"]],
      expected: { error: "NegotiationFailed", key: "HeaderDigest" }
    }
  ]
  for (const row of rows) it(row.name, () => check(row))
})

describe("Negotiation: boolean AND (ImmediateData)", () => {
  const rows: ReadonlyArray<Row> = [
    {
      name: "Yes AND Yes",
      offered: { immediateData: true },
      answered: [["ImmediateData", "Yes"]],
      expected: { immediateData: true }
    },
    {
      name: "Yes AND No",
      offered: { immediateData: true },
      answered: [["ImmediateData", "No"]],
      expected: { immediateData: false }
    },
    {
      name: "No AND No",
      offered: { immediateData: false },
      answered: [["ImmediateData", "No"]],
      expected: { immediateData: false }
    },
    {
      name: "No answered Yes is not admissible",
      offered: { immediateData: false },
      answered: [["ImmediateData", "Yes"]],
      expected: { error: "NegotiationFailed", key: "ImmediateData" }
    },
    {
      name: "not Yes/No",
      offered: {},
      answered: [["ImmediateData", "Maybe"]],
      expected: { error: "NegotiationFailed", key: "ImmediateData" }
    },
    {
      name: "Reject → default Yes AND ours",
      offered: { immediateData: true },
      answered: [["ImmediateData", "Reject"]],
      expected: { immediateData: true }
    }
  ]
  for (const row of rows) it(row.name, () => check(row))
})

describe("Negotiation: boolean OR (InitialR2T, DataPDUInOrder, DataSequenceInOrder)", () => {
  const rows: ReadonlyArray<Row> = [
    {
      name: "No OR Yes (tgt default)",
      offered: { initialR2T: false },
      answered: [["InitialR2T", "Yes"]],
      expected: { initialR2T: true }
    },
    {
      name: "No OR No",
      offered: { initialR2T: false },
      answered: [["InitialR2T", "No"]],
      expected: { initialR2T: false }
    },
    {
      name: "Yes answered No is not admissible",
      offered: { initialR2T: true },
      answered: [["InitialR2T", "No"]],
      expected: { error: "NegotiationFailed", key: "InitialR2T" }
    },
    {
      name: "DataPDUInOrder No OR No",
      offered: { dataPDUInOrder: false },
      answered: [["DataPDUInOrder", "No"]],
      expected: { dataPDUInOrder: false }
    },
    {
      name: "DataSequenceInOrder No OR Yes",
      offered: { dataSequenceInOrder: false },
      answered: [["DataSequenceInOrder", "Yes"]],
      expected: { dataSequenceInOrder: true }
    }
  ]
  for (const row of rows) it(row.name, () => check(row))
})

describe("Negotiation: numeric min", () => {
  const rows: ReadonlyArray<Row> = [
    {
      name: "MaxBurstLength lowered by the target",
      offered: {},
      answered: [["MaxBurstLength", "262144"]],
      expected: { maxBurstLength: 262144 }
    },
    {
      name: "FirstBurstLength lowered",
      offered: {},
      answered: [["FirstBurstLength", "65536"]],
      expected: { firstBurstLength: 65536 }
    },
    {
      name: "MaxOutstandingR2T equal",
      offered: { maxOutstandingR2T: 4 },
      answered: [["MaxOutstandingR2T", "1"]],
      expected: { maxOutstandingR2T: 1 }
    },
    {
      name: "MaxConnections above our offer",
      offered: { maxConnections: 1 },
      answered: [["MaxConnections", "4"]],
      expected: { error: "NegotiationFailed", key: "MaxConnections" }
    },
    {
      name: "MaxConnections within our offer",
      offered: { maxConnections: 4 },
      answered: [["MaxConnections", "2"]],
      expected: { maxConnections: 2 }
    },
    {
      name: "ErrorRecoveryLevel 2 to our 0",
      offered: {},
      answered: [["ErrorRecoveryLevel", "2"]],
      expected: { error: "NegotiationFailed", key: "ErrorRecoveryLevel" }
    },
    {
      name: "out of RFC range",
      offered: {},
      answered: [["MaxBurstLength", "100"]],
      expected: { error: "NegotiationFailed", key: "MaxBurstLength" }
    },
    {
      name: "hex numbers",
      offered: {},
      answered: [["DefaultTime2Retain", "0x0"]],
      expected: { defaultTime2Retain: 0 }
    },
    {
      name: "not a number",
      offered: {},
      answered: [["DefaultTime2Retain", "soon"]],
      expected: { error: "NegotiationFailed", key: "DefaultTime2Retain" }
    },
    {
      name: "Reject → min(ours, default)",
      offered: {},
      answered: [["MaxBurstLength", "Reject"]],
      expected: { maxBurstLength: 262144 }
    },
    {
      name: "FirstBurstLength clamped to MaxBurstLength",
      offered: { firstBurstLength: 262144, maxBurstLength: 262144 },
      answered: [["MaxBurstLength", "65536"]],
      expected: { maxBurstLength: 65536, firstBurstLength: 65536 }
    }
  ]
  for (const row of rows) it(row.name, () => check(row))
})

describe("Negotiation: numeric max (DefaultTime2Wait)", () => {
  const rows: ReadonlyArray<Row> = [
    {
      name: "raised by the target",
      offered: { defaultTime2Wait: 2 },
      answered: [["DefaultTime2Wait", "5"]],
      expected: { defaultTime2Wait: 5 }
    },
    {
      name: "below our offer",
      offered: { defaultTime2Wait: 2 },
      answered: [["DefaultTime2Wait", "1"]],
      expected: { error: "NegotiationFailed", key: "DefaultTime2Wait" }
    }
  ]
  for (const row of rows) it(row.name, () => check(row))
})

describe("Negotiation: declarative MaxRecvDataSegmentLength (per direction)", () => {
  it("ours is what we declared; the target's bounds what we send", () => {
    const out = run({ maxRecvDataSegmentLength: 262144 }, [["MaxRecvDataSegmentLength", "8192"]])
    expect(out).toMatchObject({ params: { maxRecvDataSegmentLength: 262144, maxXmitDataSegmentLength: 8192 } })
  })
  it("8192 when the target declares none", () => {
    expect(run({ maxRecvDataSegmentLength: 65536 }, [])).toMatchObject({
      params: { maxRecvDataSegmentLength: 65536, maxXmitDataSegmentLength: 8192 }
    })
  })
  it("the target may declare more than we did", () => {
    expect(run({ maxRecvDataSegmentLength: 8192 }, [["MaxRecvDataSegmentLength", "1048576"]])).toMatchObject({
      params: { maxRecvDataSegmentLength: 8192, maxXmitDataSegmentLength: 1048576 }
    })
  })
  it("out of range is NegotiationFailed", () => {
    expect(run({}, [["MaxRecvDataSegmentLength", "100"]])).toEqual({
      error: "NegotiationFailed",
      key: "MaxRecvDataSegmentLength"
    })
  })
  it("records TargetAlias and TargetPortalGroupTag", () => {
    expect(
      run({}, [
        ["TargetAlias", "disk one"],
        ["TargetPortalGroupTag", "1"]
      ])
    ).toMatchObject({
      params: { targetAlias: "disk one", targetPortalGroupTag: 1 },
      reply: []
    })
  })
})

describe("Negotiation: keys the target proposes", () => {
  const targetOnly = (pairs: ReadonlyArray<Pair>, offer: Partial<Negotiation.Offer> = {}, context = normal) => {
    const s = Negotiation.make({ ...Negotiation.defaultOffer, ...offer }, context)
    const r = Negotiation.respond(s, pairs)
    return Result.isFailure(r)
      ? { error: r.failure.reason._tag, ...keyOf(r.failure.reason) }
      : { reply: r.success.reply, state: r.success.state }
  }
  const rows: ReadonlyArray<{
    name: string
    proposed: ReadonlyArray<Pair>
    offer?: Partial<Negotiation.Offer>
    context?: Negotiation.Context
    reply: ReadonlyArray<Pair> | { error: string; key?: string }
  }> = [
    {
      name: "min key: answer min(ours, theirs)",
      proposed: [["MaxBurstLength", "1048576"]],
      offer: { maxBurstLength: 262144 },
      reply: [["MaxBurstLength", "262144"]]
    },
    { name: "max key: answer max", proposed: [["DefaultTime2Wait", "0"]], reply: [["DefaultTime2Wait", "2"]] },
    {
      name: "AND key",
      proposed: [["ImmediateData", "Yes"]],
      offer: { immediateData: false },
      reply: [["ImmediateData", "No"]]
    },
    { name: "OR key", proposed: [["InitialR2T", "Yes"]], offer: { initialR2T: false }, reply: [["InitialR2T", "Yes"]] },
    { name: "ERL: never above 0", proposed: [["ErrorRecoveryLevel", "2"]], reply: [["ErrorRecoveryLevel", "0"]] },
    {
      name: "list: first of theirs we support",
      proposed: [["HeaderDigest", "CRC32C,None"]],
      offer: { headerDigest: ["None"] },
      reply: [["HeaderDigest", "None"]]
    },
    {
      name: "list: the default offer (None,CRC32C) takes a target's CRC32C first",
      proposed: [["HeaderDigest", "CRC32C,None"]],
      reply: [["HeaderDigest", "CRC32C"]]
    },
    {
      name: "list: our preference does not override theirs",
      proposed: [["DataDigest", "None,CRC32C"]],
      offer: { dataDigest: ["CRC32C", "None"] },
      reply: [["DataDigest", "None"]]
    },
    {
      name: "list: none we support → Reject (default None applies)",
      proposed: [["DataDigest", "CRC32C"]],
      offer: { dataDigest: ["None"] },
      reply: [["DataDigest", "Reject"]]
    },
    {
      name: "list: nothing in common and default unacceptable",
      proposed: [["DataDigest", "None"]],
      offer: { dataDigest: ["CRC32C"] },
      reply: { error: "NegotiationFailed", key: "DataDigest" }
    },
    {
      name: "unknown key → NotUnderstood",
      proposed: [["X-com.example.Foo", "1"]],
      reply: [["X-com.example.Foo", "NotUnderstood"]]
    },
    {
      name: "RFC 3720 markers → Reject",
      proposed: [
        ["IFMarker", "No"],
        ["OFMarkInt", "2048"]
      ],
      reply: [
        ["IFMarker", "Reject"],
        ["OFMarkInt", "Reject"]
      ]
    },
    {
      // tgt echoes session-wide keys on every new connection and fails the login if answered Irrelevant
      name: "leading-only key on a non-leading connection → taken silently (the session's value stands)",
      proposed: [["MaxBurstLength", "65536"]],
      context: { sessionType: "Normal", leading: false },
      reply: []
    },
    {
      name: "session key in a discovery session → Irrelevant",
      proposed: [["InitialR2T", "Yes"]],
      context: { sessionType: "Discovery", leading: true },
      reply: [["InitialR2T", "Irrelevant"]]
    },
    {
      name: "TaskReporting → RFC3720",
      proposed: [["TaskReporting", "FastAbort,RFC3720"]],
      reply: [["TaskReporting", "RFC3720"]]
    },
    {
      name: "initiator-only key from the target",
      proposed: [["InitiatorName", "iqn.x"]],
      reply: { error: "NegotiationFailed", key: "InitiatorName" }
    },
    {
      name: "a key twice in one batch",
      proposed: [
        ["MaxBurstLength", "512"],
        ["MaxBurstLength", "512"]
      ],
      reply: { error: "NegotiationFailed", key: "MaxBurstLength" }
    },
    { name: "Reject as a proposal", proposed: [["MaxBurstLength", "Reject"]], reply: { error: "ProtocolError" } },
    {
      name: "a security key outside the security stage",
      proposed: [["CHAP_A", "5"]],
      reply: { error: "ProtocolError" }
    }
  ]
  for (const row of rows) {
    it(row.name, () => {
      const out = targetOnly(row.proposed, row.offer, row.context)
      if ("error" in row.reply) expect(out).toEqual(row.reply)
      else expect("reply" in out ? out.reply : out).toEqual(row.reply)
    })
  }

  it("a target-proposed value is applied only by finish, with our answer", () => {
    const s = Negotiation.make(Negotiation.defaultOffer, normal)
    const r = Negotiation.respond(s, [["MaxBurstLength", "65536"]])
    expect(s.values.size).toBe(0)
    const f = Result.flatMap(r, ({ state }) => Negotiation.finish(state))
    expect(Result.map(f, (p) => p.maxBurstLength)).toEqual(Result.succeed(65536))
  })
})

describe("Negotiation: proposals and finish", () => {
  it("offers all leading keys with ERL 0 and the configured MaxConnections", () => {
    const { pairs } = Negotiation.propose(Negotiation.make({ ...Negotiation.defaultOffer, maxConnections: 4 }, normal))
    expect(pairs).toEqual([
      ["HeaderDigest", "None,CRC32C"],
      ["DataDigest", "None,CRC32C"],
      ["MaxRecvDataSegmentLength", "262144"],
      ["InitialR2T", "No"],
      ["ImmediateData", "Yes"],
      ["MaxBurstLength", "16776192"],
      ["FirstBurstLength", "262144"],
      ["DefaultTime2Wait", "2"],
      ["DefaultTime2Retain", "20"],
      ["MaxOutstandingR2T", String(Negotiation.defaultOffer.maxOutstandingR2T)],
      ["DataPDUInOrder", "Yes"],
      ["DataSequenceInOrder", "Yes"],
      ["ErrorRecoveryLevel", "0"],
      ["MaxConnections", "4"]
    ])
  })

  it("offers only connection keys on a non-leading connection, keeping the session's values", () => {
    const session = { ...Negotiation.rfcDefaults, maxBurstLength: 65536, immediateData: false }
    const ctx: Negotiation.Context = { sessionType: "Normal", leading: false, session }
    const p = Negotiation.propose(Negotiation.make(Negotiation.defaultOffer, ctx))
    expect(p.pairs.map(([k]) => k)).toEqual(["HeaderDigest", "DataDigest", "MaxRecvDataSegmentLength"])
    const r = Result.flatMap(
      Negotiation.respond(p.state, [
        ["HeaderDigest", "None"],
        ["DataDigest", "None"],
        ["MaxRecvDataSegmentLength", "32768"]
      ]),
      ({ state }) => Negotiation.finish(state)
    )
    expect(r).toEqual(Result.succeed({ ...session, maxRecvDataSegmentLength: 262144, maxXmitDataSegmentLength: 32768 }))
  })

  it("a discovery session offers no data-transfer keys", () => {
    const p = Negotiation.propose(
      Negotiation.make(Negotiation.defaultOffer, { sessionType: "Discovery", leading: true })
    )
    expect(p.pairs.map(([k]) => k)).toEqual([
      "HeaderDigest",
      "DataDigest",
      "MaxRecvDataSegmentLength",
      "DefaultTime2Wait",
      "DefaultTime2Retain",
      "ErrorRecoveryLevel"
    ])
  })

  it("a missing answer is NegotiationFailed, except AND=No / OR=Yes", () => {
    const p = Negotiation.propose(
      Negotiation.make(
        { ...Negotiation.defaultOffer, immediateData: false, headerDigest: ["None"], dataDigest: ["None"] },
        normal
      )
    )
    const answers = p.pairs.filter(([k]) => k !== "MaxBurstLength" && k !== "ImmediateData" && k !== "DataPDUInOrder")
    const f = Result.flatMap(Negotiation.respond(p.state, answers), ({ state }) => Negotiation.finish(state))
    expect(Result.isFailure(f) && f.failure.reason).toMatchObject({ _tag: "NegotiationFailed", key: "MaxBurstLength" })
    const all = p.pairs.filter(([k]) => k !== "ImmediateData" && k !== "DataPDUInOrder")
    const ok = Result.flatMap(Negotiation.respond(p.state, all), ({ state }) => Negotiation.finish(state))
    expect(Result.map(ok, (x) => [x.immediateData, x.dataPDUInOrder])).toEqual(Result.succeed([false, true]))
  })

  it("the tgt default answers give tgt's record", () => {
    const tgtAnswers: ReadonlyArray<Pair> = [
      ["HeaderDigest", "None"],
      ["DataDigest", "None"],
      ["MaxRecvDataSegmentLength", "8192"],
      ["InitialR2T", "Yes"],
      ["ImmediateData", "Yes"],
      ["MaxBurstLength", "262144"],
      ["FirstBurstLength", "65536"],
      ["DefaultTime2Wait", "2"],
      ["DefaultTime2Retain", "20"],
      ["MaxOutstandingR2T", "1"],
      ["DataPDUInOrder", "Yes"],
      ["DataSequenceInOrder", "Yes"],
      ["ErrorRecoveryLevel", "0"],
      ["MaxConnections", "1"]
    ]
    const p = Negotiation.propose(Negotiation.make(Negotiation.defaultOffer, normal))
    const f = Result.flatMap(Negotiation.respond(p.state, tgtAnswers), ({ state }) => Negotiation.finish(state))
    expect(f).toEqual(
      Result.succeed({
        headerDigest: false,
        dataDigest: false,
        maxRecvDataSegmentLength: 262144,
        maxXmitDataSegmentLength: 8192,
        maxBurstLength: 262144,
        firstBurstLength: 65536,
        initialR2T: true,
        immediateData: true,
        maxConnections: 1,
        maxOutstandingR2T: 1,
        defaultTime2Wait: 2,
        defaultTime2Retain: 20,
        errorRecoveryLevel: 0,
        dataPDUInOrder: true,
        dataSequenceInOrder: true
      })
    )
  })

  it("validateOffer rejects out-of-range configuration", () => {
    const bad: ReadonlyArray<Partial<Negotiation.Offer>> = [
      { maxRecvDataSegmentLength: 100 },
      { maxBurstLength: 2 ** 24 },
      { firstBurstLength: 1048576, maxBurstLength: 262144 },
      { headerDigest: [] },
      { dataDigest: ["None", "None"] },
      { maxConnections: 0 },
      { defaultTime2Wait: 3601 }
    ]
    for (const b of bad) {
      const r = Negotiation.validateOffer({ ...Negotiation.defaultOffer, ...b })
      expect(Result.isFailure(r) && r.failure.reason._tag).toBe("InvalidArgument")
    }
    expect(Negotiation.validateOffer(Negotiation.defaultOffer)).toEqual(Result.succeed(Negotiation.defaultOffer))
  })

  it("every RFC 7143 §13 key is in the table with its result function", () => {
    const expected: Record<string, Negotiation.KeyType> = {
      HeaderDigest: "list",
      DataDigest: "list",
      MaxConnections: "numeric-min",
      InitialR2T: "boolean-or",
      ImmediateData: "boolean-and",
      MaxRecvDataSegmentLength: "declarative",
      MaxBurstLength: "numeric-min",
      FirstBurstLength: "numeric-min",
      DefaultTime2Wait: "numeric-max",
      DefaultTime2Retain: "numeric-min",
      MaxOutstandingR2T: "numeric-min",
      DataPDUInOrder: "boolean-or",
      DataSequenceInOrder: "boolean-or",
      ErrorRecoveryLevel: "numeric-min",
      TaskReporting: "list",
      iSCSIProtocolLevel: "numeric-min",
      SessionType: "declarative",
      TargetPortalGroupTag: "declarative",
      AuthMethod: "list"
    }
    for (const [k, t] of Object.entries(expected)) expect(Negotiation.keys.get(k)?.type).toBe(t)
  })
})

describe("Negotiation.parseDigests", () => {
  it.each([
    ["None", ["None"]],
    ["crc32c", ["CRC32C"]],
    ["None,CRC32C", ["None", "CRC32C"]],
    [" CRC32C , none ", ["CRC32C", "None"]],
    ["crc32c-none", ["CRC32C", "None"]],
    ["", undefined],
    ["md5", undefined],
    ["None,None", undefined],
    ["None,", undefined]
  ])("%j", (text, expected) => {
    expect(Negotiation.parseDigests(text)).toEqual(expected)
  })
})
