import { describe, expect, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Chap from "../src/Chap.ts"
import * as LoginMachine from "../src/LoginMachine.ts"
import * as Negotiation from "../src/Negotiation.ts"
import type { LoginRequest, LoginResponse } from "../src/PduTypes.ts"
import * as TextKeys from "../src/TextKeys.ts"

// A deterministic stand-in for a digest (test double, not crypto): the machine only needs H to be a function.
const fakeHash: Chap.Hash = (algorithm, data) => {
  const out = new Uint8Array(Chap.digestLength[algorithm])
  let h = 0x811c9dc5 ^ Chap.algorithmNumber[algorithm]
  for (let i = 0; i < out.length; i++) {
    for (const b of data) h = Math.imul(h ^ b, 0x01000193) >>> 0
    out[i] = h & 0xff
  }
  return out
}

/** randomBytes that returns the scripted values in turn, then counts up. */
const scriptedRandom = (values: ReadonlyArray<Uint8Array> = []) => {
  const queue = [...values]
  let n = 0
  return (len: number) => queue.shift() ?? Uint8Array.from({ length: len }, () => (n++ * 37 + 11) & 0xff)
}

const env = (values?: ReadonlyArray<Uint8Array>): LoginMachine.Env => ({
  hash: fakeHash,
  randomBytes: scriptedRandom(values)
})

const ISID = 0x400001234567
const ITT = 0x11
const initiatorSecret = "initiator-secret-1"
const targetSecret = "target-secret-01"

const config = (overrides: Partial<LoginMachine.Config> = {}): LoginMachine.Config => ({
  initiatorName: "iqn.2026-11.test:initiator",
  sessionType: "Normal",
  targetName: "iqn.2026-11.test:disk",
  isid: ISID,
  tsih: 0,
  cid: 0,
  itt: ITT,
  cmdSN: 1,
  expStatSN: 0,
  auth: { _tag: "None" },
  offer: Negotiation.defaultOffer,
  leading: true,
  ...overrides
})

const chapAuth = (mutual: boolean, algorithms?: ReadonlyArray<Chap.Algorithm>): LoginMachine.Auth => ({
  _tag: "Chap",
  user: "initiator-user",
  secret: Redacted.make(initiatorSecret),
  ...(mutual ? { mutual: { user: "target-user", secret: Redacted.make(targetSecret) } } : {}),
  ...(algorithms !== undefined ? { algorithms } : {})
})

const response = (
  fields: Partial<Omit<LoginResponse, "data">> & {
    readonly pairs?: ReadonlyArray<TextKeys.Pair>
    readonly raw?: Uint8Array
  }
): LoginResponse => {
  const { pairs, raw, ...rest } = fields
  return {
    _tag: "LoginResponse",
    transit: false,
    continue: false,
    csg: 0,
    nsg: 0,
    versionMax: 0,
    versionActive: 0,
    isid: ISID,
    tsih: 0,
    itt: ITT,
    statSN: 100,
    expCmdSN: 1,
    maxCmdSN: 1,
    statusClass: 0,
    statusDetail: 0,
    data: raw ?? TextKeys.encode(pairs ?? []),
    ...rest
  }
}

const pairsOf = (req: LoginRequest) => Result.getOrThrow(TextKeys.decode(req.data))

const tgtOperationalAnswers: ReadonlyArray<TextKeys.Pair> = [
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

const errorOf = <A>(r: Result.Result<A, { reason: object }>) => (Result.isFailure(r) ? r.failure.reason : undefined)

type Step = LoginMachine.Step
const sendOf = (r: Result.Result<Step, unknown>) => {
  const s = Result.getOrThrow(r as Result.Result<Step, never>)
  if (s._tag !== "Send") throw new Error(`expected Send, got ${s._tag}`)
  return s
}

/** Drive the operational stage with tgt's default answers and return the completion. */
const finishOperational = (state: LoginMachine.State, statSN: number) =>
  LoginMachine.step(
    state,
    response({
      csg: 1,
      nsg: 3,
      transit: true,
      tsih: 7,
      statSN,
      expCmdSN: 1,
      maxCmdSN: 33,
      pairs: tgtOperationalAnswers
    })
  )

describe("LoginMachine: AuthMethod=None (tgt-like exchange)", () => {
  it("security → operational → full feature", () => {
    const started = Result.getOrThrow(LoginMachine.start(config(), env()))
    const r1 = started.request
    expect(r1).toMatchObject({
      transit: true,
      continue: false,
      csg: 0,
      nsg: 1,
      versionMax: 0,
      versionMin: 0,
      isid: ISID,
      tsih: 0,
      itt: ITT,
      cid: 0,
      cmdSN: 1,
      expStatSN: 0
    })
    expect(pairsOf(r1)).toEqual([
      ["InitiatorName", "iqn.2026-11.test:initiator"],
      ["SessionType", "Normal"],
      ["TargetName", "iqn.2026-11.test:disk"],
      ["AuthMethod", "None"]
    ])

    const s2 = sendOf(
      LoginMachine.step(
        started.state,
        response({
          csg: 0,
          nsg: 1,
          transit: true,
          statSN: 100,
          pairs: [
            ["TargetPortalGroupTag", "1"],
            ["AuthMethod", "None"]
          ]
        })
      )
    )
    expect(s2.request).toMatchObject({ transit: true, csg: 1, nsg: 3, itt: ITT, cmdSN: 1, expStatSN: 101, isid: ISID })
    expect(pairsOf(s2.request).map(([k]) => k)).toEqual(
      Negotiation.proposalKeys({ sessionType: "Normal", leading: true })
    )
    expect(pairsOf(s2.request)).toContainEqual(["ErrorRecoveryLevel", "0"])

    const done = Result.getOrThrow(finishOperational(s2.state, 101))
    expect(done).toEqual({
      _tag: "Complete",
      result: {
        params: {
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
          dataSequenceInOrder: true,
          targetPortalGroupTag: 1
        },
        tsih: 7,
        statSN: 101,
        expCmdSN: 1,
        maxCmdSN: 33,
        targetPortalGroupTag: 1,
        authMethod: "None"
      }
    })
  })

  it("a discovery session sends no TargetName and offers no data-transfer keys", () => {
    const started = Result.getOrThrow(
      LoginMachine.start(config({ sessionType: "Discovery", targetName: "ignored" }), env())
    )
    expect(pairsOf(started.request)).toEqual([
      ["InitiatorName", "iqn.2026-11.test:initiator"],
      ["SessionType", "Discovery"],
      ["AuthMethod", "None"]
    ])
    const s2 = sendOf(
      LoginMachine.step(started.state, response({ csg: 0, nsg: 1, transit: true, pairs: [["AuthMethod", "None"]] }))
    )
    expect(pairsOf(s2.request).map(([k]) => k)).not.toContain("MaxBurstLength")
  })

  it("waits when the target does not transit yet, asking again", () => {
    const started = Result.getOrThrow(LoginMachine.start(config(), env()))
    const s2 = sendOf(LoginMachine.step(started.state, response({ pairs: [["AuthMethod", "None"]] })))
    expect(s2.request).toMatchObject({ csg: 0, nsg: 1, transit: true })
    expect(s2.request.data.length).toBe(0)
    const s3 = sendOf(LoginMachine.step(s2.state, response({ csg: 0, nsg: 1, transit: true, statSN: 100 })))
    expect(s3.request).toMatchObject({ csg: 1, nsg: 3, transit: true })
  })

  it("answers keys the target proposes in the operational stage, then completes", () => {
    const started = Result.getOrThrow(LoginMachine.start(config(), env()))
    const s2 = sendOf(
      LoginMachine.step(started.state, response({ csg: 0, nsg: 1, transit: true, pairs: [["AuthMethod", "None"]] }))
    )
    const s3 = sendOf(
      LoginMachine.step(
        s2.state,
        response({
          csg: 1,
          nsg: 0,
          transit: false,
          pairs: [...tgtOperationalAnswers, ["X-com.example.Foo", "1"], ["IFMarker", "No"]]
        })
      )
    )
    expect(pairsOf(s3.request)).toEqual([
      ["X-com.example.Foo", "NotUnderstood"],
      ["IFMarker", "Reject"]
    ])
    expect(s3.request).toMatchObject({ csg: 1, nsg: 3, transit: true })
    const done = Result.getOrThrow(
      LoginMachine.step(s3.state, response({ csg: 1, nsg: 3, transit: true, tsih: 9, statSN: 102 }))
    )
    expect(done._tag === "Complete" && done.result.tsih).toBe(9)
  })

  it("reassembles a response continued with the C bit", () => {
    const started = Result.getOrThrow(LoginMachine.start(config(), env()))
    const s2 = sendOf(
      LoginMachine.step(started.state, response({ csg: 0, nsg: 1, transit: true, pairs: [["AuthMethod", "None"]] }))
    )
    const whole = TextKeys.encode(tgtOperationalAnswers)
    const cut = 37
    const s3 = sendOf(
      LoginMachine.step(s2.state, response({ csg: 1, continue: true, raw: whole.subarray(0, cut), statSN: 101 }))
    )
    expect(s3.request).toMatchObject({ csg: 1, transit: false, continue: false, expStatSN: 102 })
    expect(s3.request.data.length).toBe(0)
    const done = Result.getOrThrow(
      LoginMachine.step(
        s3.state,
        response({ csg: 1, nsg: 3, transit: true, tsih: 3, raw: whole.subarray(cut), statSN: 102 })
      )
    )
    expect(done._tag === "Complete" && done.result.params.maxBurstLength).toBe(262144)
  })
})

describe("LoginMachine: CHAP", () => {
  const challenge = Uint8Array.from({ length: 16 }, (_, i) => i * 17)

  const throughChallenge = (mutual: boolean, values?: ReadonlyArray<Uint8Array>) => {
    const started = Result.getOrThrow(LoginMachine.start(config({ auth: chapAuth(mutual, ["MD5"]) }), env(values)))
    expect(started.request).toMatchObject({ transit: false, csg: 0 })
    expect(TextKeys.get(pairsOf(started.request), "AuthMethod")).toBe(mutual ? "CHAP" : "CHAP,None")
    const s2 = sendOf(
      LoginMachine.step(
        started.state,
        response({
          pairs: [
            ["TargetPortalGroupTag", "1"],
            ["AuthMethod", "CHAP"]
          ]
        })
      )
    )
    expect(pairsOf(s2.request)).toEqual([["CHAP_A", "5"]])
    expect(s2.request.transit).toBe(false)
    const s3 = sendOf(
      LoginMachine.step(
        s2.state,
        response({
          pairs: [
            ["CHAP_A", "5"],
            ["CHAP_I", "42"],
            ["CHAP_C", Chap.encodeHex(challenge)]
          ],
          statSN: 100
        })
      )
    )
    return s3
  }

  it("one-way: answers the challenge with H(id ‖ secret ‖ challenge) and transits", () => {
    const s3 = throughChallenge(false)
    const expected = Chap.response(fakeHash, "MD5", 42, new TextEncoder().encode(initiatorSecret), challenge)
    expect(pairsOf(s3.request)).toEqual([
      ["CHAP_N", "initiator-user"],
      ["CHAP_R", Chap.encodeHex(expected)]
    ])
    expect(s3.request).toMatchObject({ transit: true, csg: 0, nsg: 1 })
    const s4 = sendOf(LoginMachine.step(s3.state, response({ csg: 0, nsg: 1, transit: true, statSN: 100 })))
    expect(s4.request).toMatchObject({ csg: 1, nsg: 3 })
    const done = Result.getOrThrow(finishOperational(s4.state, 100))
    expect(done._tag === "Complete" && done.result.authMethod).toBe("CHAP")
  })

  it("offers the configured algorithms, strongest first, with MD5 always", () => {
    const started = Result.getOrThrow(LoginMachine.start(config({ auth: chapAuth(false) }), env()))
    const s2 = sendOf(LoginMachine.step(started.state, response({ pairs: [["AuthMethod", "CHAP"]] })))
    // Default order (see Chap.allAlgorithms): SHA3-256, SHA-1, MD5, SHA-256 (tgt's CHAP_A=7 quirk).
    expect(pairsOf(s2.request)).toEqual([["CHAP_A", "8,6,5,7"]])
    const s3 = sendOf(
      LoginMachine.step(
        s2.state,
        response({
          pairs: [
            ["CHAP_A", "7"],
            ["CHAP_I", "0x01"],
            ["CHAP_C", "0bAAECAw=="]
          ]
        })
      )
    )
    const expected = Chap.response(
      fakeHash,
      "SHA256",
      1,
      new TextEncoder().encode(initiatorSecret),
      new Uint8Array([0, 1, 2, 3])
    )
    expect(TextKeys.get(pairsOf(s3.request), "CHAP_R")).toBe(Chap.encodeHex(expected))
  })

  it("one-way CHAP accepts a target that settles for AuthMethod=None", () => {
    const started = Result.getOrThrow(LoginMachine.start(config({ auth: chapAuth(false) }), env()))
    const s2 = sendOf(LoginMachine.step(started.state, response({ pairs: [["AuthMethod", "None"]] })))
    expect(s2.request).toMatchObject({ transit: true, csg: 0, nsg: 1 })
  })

  it("mutual: sends CHAP_I/CHAP_C and verifies the target's CHAP_N/CHAP_R", () => {
    const myChallenge = Uint8Array.from({ length: 16 }, (_, i) => 200 - i)
    const s3 = throughChallenge(true, [myChallenge, new Uint8Array([77])])
    const p = pairsOf(s3.request)
    expect(p.map(([k]) => k)).toEqual(["CHAP_N", "CHAP_R", "CHAP_I", "CHAP_C"])
    expect(TextKeys.get(p, "CHAP_I")).toBe("77")
    expect(TextKeys.get(p, "CHAP_C")).toBe(Chap.encodeHex(myChallenge))
    const targetR = Chap.response(fakeHash, "MD5", 77, new TextEncoder().encode(targetSecret), myChallenge)
    const s4 = sendOf(
      LoginMachine.step(
        s3.state,
        response({
          csg: 0,
          nsg: 1,
          transit: true,
          pairs: [
            ["CHAP_N", "target-user"],
            ["CHAP_R", Chap.encodeHex(targetR)]
          ]
        })
      )
    )
    expect(s4.request).toMatchObject({ csg: 1, nsg: 3 })
  })

  const mutualFailures: ReadonlyArray<{ name: string; pairs: ReadonlyArray<TextKeys.Pair> }> = [
    {
      name: "wrong CHAP_R",
      pairs: [
        ["CHAP_N", "target-user"],
        ["CHAP_R", `0x${"00".repeat(16)}`]
      ]
    },
    {
      name: "wrong CHAP_N",
      pairs: [
        ["CHAP_N", "someone-else"],
        ["CHAP_R", `0x${"00".repeat(16)}`]
      ]
    },
    { name: "no answer to our challenge", pairs: [] },
    {
      name: "undecodable CHAP_R",
      pairs: [
        ["CHAP_N", "target-user"],
        ["CHAP_R", "zz"]
      ]
    }
  ]
  for (const row of mutualFailures) {
    it(`mutual: ${row.name} → AuthenticationFailed without secrets in the error`, () => {
      const s3 = throughChallenge(true)
      const r = LoginMachine.step(s3.state, response({ csg: 0, nsg: 1, transit: true, pairs: row.pairs }))
      expect(errorOf(r)).toMatchObject({ _tag: "AuthenticationFailed" })
      const text = JSON.stringify(errorOf(r)) + String(Result.isFailure(r) && r.failure.message)
      expect(text).not.toContain(initiatorSecret)
      expect(text).not.toContain(targetSecret)
    })
  }

  it("mutual: our challenge is never the target's (regenerated on a collision)", () => {
    const fresh = Uint8Array.from({ length: 16 }, () => 9)
    const s3 = throughChallenge(true, [challenge, fresh, new Uint8Array([5])])
    expect(TextKeys.get(pairsOf(s3.request), "CHAP_C")).toBe(Chap.encodeHex(fresh))
  })

  it("mutual: refuses a target that insists on AuthMethod=None", () => {
    const started = Result.getOrThrow(LoginMachine.start(config({ auth: chapAuth(true) }), env()))
    const r = LoginMachine.step(started.state, response({ pairs: [["AuthMethod", "None"]] }))
    expect(errorOf(r)).toMatchObject({ _tag: "NegotiationFailed", key: "AuthMethod" })
  })

  it("an algorithm we did not offer is NegotiationFailed(CHAP_A)", () => {
    const started = Result.getOrThrow(LoginMachine.start(config({ auth: chapAuth(false, ["MD5"]) }), env()))
    const s2 = sendOf(LoginMachine.step(started.state, response({ pairs: [["AuthMethod", "CHAP"]] })))
    const r = LoginMachine.step(
      s2.state,
      response({
        pairs: [
          ["CHAP_A", "7"],
          ["CHAP_I", "1"],
          ["CHAP_C", "0x0102"]
        ]
      })
    )
    expect(errorOf(r)).toMatchObject({ _tag: "NegotiationFailed", key: "CHAP_A" })
  })

  it.each([
    [
      "missing CHAP_C",
      [
        ["CHAP_A", "5"],
        ["CHAP_I", "1"]
      ]
    ],
    [
      "CHAP_I out of range",
      [
        ["CHAP_A", "5"],
        ["CHAP_I", "256"],
        ["CHAP_C", "0x01"]
      ]
    ],
    [
      "bad CHAP_C",
      [
        ["CHAP_A", "5"],
        ["CHAP_I", "1"],
        ["CHAP_C", "0xzz"]
      ]
    ]
  ] as const)("a malformed challenge (%s) is AuthenticationFailed", (_n, pairs) => {
    const started = Result.getOrThrow(LoginMachine.start(config({ auth: chapAuth(false, ["MD5"]) }), env()))
    const s2 = sendOf(LoginMachine.step(started.state, response({ pairs: [["AuthMethod", "CHAP"]] })))
    expect(errorOf(LoginMachine.step(s2.state, response({ pairs })))).toMatchObject({ _tag: "AuthenticationFailed" })
  })

  it("the target may not leave the security stage before CHAP finished", () => {
    const started = Result.getOrThrow(LoginMachine.start(config({ auth: chapAuth(false) }), env()))
    const s2 = sendOf(LoginMachine.step(started.state, response({ pairs: [["AuthMethod", "CHAP"]] })))
    // We sent T=0 with CHAP_A: a transit now breaks the protocol.
    const r = LoginMachine.step(s2.state, response({ transit: true, nsg: 1, pairs: [] }))
    expect(errorOf(r)).toMatchObject({ _tag: "ProtocolError" })
  })
})

describe("LoginMachine: status classes and redirects", () => {
  const first = () => Result.getOrThrow(LoginMachine.start(config(), env())).state

  it.each([
    [1, 1, "10.0.0.2:3261,1", "10.0.0.2", 3261, true],
    [1, 2, "[2001:db8::1]:3260,2", "2001:db8::1", 3260, false],
    [1, 1, "storage.example.com,1", "storage.example.com", 3260, true]
  ])("class %i detail %i redirects to %s", (statusClass, statusDetail, address, host, port, temporary) => {
    const r = LoginMachine.step(first(), response({ statusClass, statusDetail, pairs: [["TargetAddress", address]] }))
    expect(r).toEqual(Result.succeed({ _tag: "Redirect", host, port, temporary }))
  })

  it("a redirect without TargetAddress is a ProtocolError", () => {
    expect(errorOf(LoginMachine.step(first(), response({ statusClass: 1, statusDetail: 1 })))).toMatchObject({
      _tag: "ProtocolError"
    })
  })

  it.each([
    [2, 0x01, "AuthenticationFailure", false],
    [2, 0x02, "AuthorizationFailure", false],
    [2, 0x03, "NotFound", false],
    [2, 0x04, "TargetRemoved", false],
    [2, 0x05, "UnsupportedVersion", false],
    [2, 0x06, "TooManyConnections", true],
    [2, 0x07, "MissingParameter", false],
    [3, 0x01, "ServiceUnavailable", true],
    [3, 0x02, "OutOfResources", true]
  ])("class %i detail %i fails with LoginFailed(%s)", (statusClass, statusDetail, status, retryable) => {
    const r = LoginMachine.step(first(), response({ statusClass, statusDetail }))
    expect(errorOf(r)).toMatchObject({ _tag: "LoginFailed", statusClass, statusDetail, status })
    expect(Result.isFailure(r) && r.failure.isRetryable).toBe(retryable)
  })

  it("AuthenticationFailure when we offered no credentials carries the hint on passing them", () => {
    const none = LoginMachine.step(first(), response({ statusClass: 2, statusDetail: 1 }))
    expect(errorOf(none)).toMatchObject({
      _tag: "LoginFailed",
      status: "AuthenticationFailure",
      hint: LoginMachine.CHAP_REQUIRED
    })
    expect(Result.isFailure(none) && none.failure.message).toContain("ISCSI_CHAP_USER")
    // with credentials (a wrong secret) there is nothing to suggest
    const chap = Result.getOrThrow(LoginMachine.start(config({ auth: chapAuth(false) }), env())).state
    const wrong = LoginMachine.step(chap, response({ statusClass: 2, statusDetail: 1 }))
    expect(Result.isFailure(wrong) && wrong.failure.reason._tag === "LoginFailed" && wrong.failure.reason.hint).toBe(
      undefined
    )
  })

  it("AuthMethod=CHAP to our None says how to pass credentials", () => {
    const r = LoginMachine.step(first(), response({ csg: 0, nsg: 0, pairs: [["AuthMethod", "CHAP"]] }))
    expect(Result.isFailure(r) && r.failure.message).toContain(LoginMachine.CHAP_REQUIRED)
  })
})

describe("LoginMachine: protocol checks", () => {
  const first = () => Result.getOrThrow(LoginMachine.start(config(), env())).state
  const rows: ReadonlyArray<{ name: string; response: LoginResponse; tag: string }> = [
    { name: "foreign ITT", response: response({ itt: 99, csg: 0, nsg: 1, transit: true }), tag: "ProtocolError" },
    { name: "another ISID", response: response({ isid: 1, csg: 0, nsg: 1, transit: true }), tag: "ProtocolError" },
    { name: "NSG beyond what we asked", response: response({ csg: 0, nsg: 3, transit: true }), tag: "ProtocolError" },
    { name: "wrong CSG", response: response({ csg: 1, nsg: 3, transit: true }), tag: "ProtocolError" },
    {
      name: "C and T both set",
      response: response({ csg: 0, nsg: 1, transit: true, continue: true }),
      tag: "ProtocolError"
    },
    {
      name: "unsupported version",
      response: response({ versionActive: 1, csg: 0, nsg: 1, transit: true }),
      tag: "ProtocolError"
    },
    {
      name: "AuthMethod=CHAP to our None: the target requires CHAP (AuthenticationFailed)",
      response: response({ csg: 0, nsg: 0, pairs: [["AuthMethod", "CHAP"]] }),
      tag: "AuthenticationFailed"
    },
    {
      name: "AuthMethod=Reject to our None: the target requires authentication (AuthenticationFailed)",
      response: response({ csg: 0, nsg: 0, pairs: [["AuthMethod", "Reject"]] }),
      tag: "AuthenticationFailed"
    },
    {
      name: "an AuthMethod we neither offered nor support",
      response: response({ csg: 0, nsg: 1, transit: true, pairs: [["AuthMethod", "KRB5"]] }),
      tag: "NegotiationFailed"
    },
    { name: "CHAP keys without CHAP", response: response({ pairs: [["CHAP_A", "5"]] }), tag: "ProtocolError" },
    { name: "malformed text", response: response({ raw: new TextEncoder().encode("garbage\0") }), tag: "ProtocolError" }
  ]
  for (const row of rows) {
    it(row.name, () => {
      expect(errorOf(LoginMachine.step(first(), row.response))).toMatchObject({ _tag: row.tag })
    })
  }

  it("a final response without TSIH is a ProtocolError", () => {
    const s2 = sendOf(LoginMachine.step(first(), response({ csg: 0, nsg: 1, transit: true })))
    const r = LoginMachine.step(
      s2.state,
      response({ csg: 1, nsg: 3, transit: true, tsih: 0, pairs: tgtOperationalAnswers })
    )
    expect(errorOf(r)).toMatchObject({ _tag: "ProtocolError" })
  })

  it("an unanswered offer at completion is NegotiationFailed", () => {
    const s2 = sendOf(LoginMachine.step(first(), response({ csg: 0, nsg: 1, transit: true })))
    const r = LoginMachine.step(s2.state, response({ csg: 1, nsg: 3, transit: true, tsih: 1, pairs: [] }))
    expect(errorOf(r)).toMatchObject({ _tag: "NegotiationFailed" })
  })

  it("a target that never transits is cut off after MAX_EXCHANGES", () => {
    let state = first()
    let last: Result.Result<Step, unknown> = Result.succeed({ _tag: "Redirect", host: "", port: 0, temporary: true })
    for (let i = 0; i <= LoginMachine.MAX_EXCHANGES; i++) {
      last = LoginMachine.step(state, response({}))
      if (Result.isFailure(last)) break
      state = sendOf(last).state
    }
    expect(errorOf(last as Result.Result<Step, { reason: object }>)).toMatchObject({ _tag: "ProtocolError" })
  })

  it("a non-leading connection carries the TSIH and no SessionType", () => {
    const started = Result.getOrThrow(
      LoginMachine.start(config({ leading: false, tsih: 7, cid: 1, session: Negotiation.rfcDefaults }), env())
    )
    expect(started.request).toMatchObject({ tsih: 7, cid: 1 })
    expect(pairsOf(started.request).map(([k]) => k)).toEqual(["InitiatorName", "TargetName", "AuthMethod"])
    const s2 = sendOf(LoginMachine.step(started.state, response({ csg: 0, nsg: 1, transit: true, tsih: 7 })))
    const r = LoginMachine.step(
      s2.state,
      response({ csg: 1, nsg: 3, transit: true, tsih: 8, pairs: tgtOperationalAnswers.slice(0, 3) })
    )
    expect(errorOf(r)).toMatchObject({ _tag: "ProtocolError" })
  })
})

describe("LoginMachine.start: configuration", () => {
  it.each([
    ["Normal without targetName", config({ targetName: undefined as unknown as string })],
    ["empty initiator name", config({ initiatorName: "" })],
    ["non-leading without TSIH", config({ leading: false })],
    ["bad offer", config({ offer: { ...Negotiation.defaultOffer, maxRecvDataSegmentLength: 1 } })],
    ["ISID wider than 48 bits", config({ isid: 2 ** 48 })]
  ])("%s → InvalidArgument", (_n, c) => {
    expect(errorOf(LoginMachine.start(c, env()))).toMatchObject({ _tag: "InvalidArgument" })
  })

  it("the same secret both ways is refused, without showing it", () => {
    const auth: LoginMachine.Auth = {
      _tag: "Chap",
      user: "u",
      secret: Redacted.make(initiatorSecret),
      mutual: { user: "t", secret: Redacted.make(initiatorSecret) }
    }
    const r = LoginMachine.start(config({ auth }), env())
    expect(errorOf(r)).toMatchObject({ _tag: "InvalidArgument" })
    expect(Result.isFailure(r) && r.failure.message).not.toContain(initiatorSecret)
  })
})
