import { describe, expect, it } from "@effect/vitest"
import * as LoginStatus from "../src/LoginStatus.ts"

describe("LoginStatus", () => {
  it.each([
    [0, 0, "Success"],
    [1, 1, "TargetMovedTemporarily"],
    [1, 2, "TargetMovedPermanently"],
    [2, 0, "InitiatorError"],
    [2, 1, "AuthenticationFailure"],
    [2, 2, "AuthorizationFailure"],
    [2, 3, "NotFound"],
    [2, 4, "TargetRemoved"],
    [2, 5, "UnsupportedVersion"],
    [2, 6, "TooManyConnections"],
    [2, 7, "MissingParameter"],
    [2, 8, "CantIncludeInSession"],
    [2, 9, "SessionTypeNotSupported"],
    [2, 10, "SessionDoesNotExist"],
    [2, 11, "InvalidDuringLogin"],
    [3, 0, "TargetError"],
    [3, 1, "ServiceUnavailable"],
    [3, 2, "OutOfResources"],
    [2, 0xff, "Unknown02ff"]
  ])("class %i detail %i is %s", (c, d, name) => {
    expect(LoginStatus.name(c, d)).toBe(name)
    expect(LoginStatus.toError(c, d).reason).toMatchObject({
      _tag: "LoginFailed",
      statusClass: c,
      statusDetail: d,
      status: name
    })
  })

  it("retryable: target errors, redirects and too many connections; not initiator errors", () => {
    expect(LoginStatus.toError(3, 2).isRetryable).toBe(true)
    expect(LoginStatus.toError(3, 1).isRetryable).toBe(true)
    expect(LoginStatus.toError(2, 6).isRetryable).toBe(true)
    expect(LoginStatus.toError(2, 1).isRetryable).toBe(false)
    expect(LoginStatus.toError(2, 3).isRetryable).toBe(false)
  })

  it("redirect helpers", () => {
    expect(LoginStatus.isRedirect(1)).toBe(true)
    expect(LoginStatus.isRedirect(2)).toBe(false)
    expect(LoginStatus.isTemporaryRedirect(1)).toBe(true)
    expect(LoginStatus.isTemporaryRedirect(2)).toBe(false)
  })
})
