/**
 * What makes a path fail and whether a command could have reached the target before it did: the
 * two rules `PathSet` re-issues commands by (the rest is proven over sockets in node-transport's
 * Multipath tests).
 */
import { describe, expect, it } from "@effect/vitest"
import { IscsiError, PathSet } from "@effect-iscsi/core"

const e = (reason: IscsiError.IscsiErrorReason) => IscsiError.make(reason)

describe("PathSet rules", () => {
  const rows: ReadonlyArray<readonly [string, IscsiError.IscsiError, boolean, boolean]> = [
    ["connection lost", e(new IscsiError.ConnectionLost({ message: "" })), true, true],
    ["digest error", e(new IscsiError.DigestError({ which: "data", expected: 1, actual: 2, message: "" })), true, true],
    ["protocol error", e(new IscsiError.ProtocolError({ message: "" })), true, true],
    ["session closed", e(new IscsiError.SessionClosed({ message: "" })), true, true],
    ["keepalive timeout", e(new IscsiError.Timeout({ operation: "keepalive", message: "" })), true, true],
    ["connect failed", e(new IscsiError.ConnectFailed({ host: "h", port: 1, message: "" })), true, false],
    [
      "login failed",
      e(new IscsiError.LoginFailed({ statusClass: 3, statusDetail: 1, status: "x", message: "" })),
      true,
      false
    ],
    ["login timeout", e(new IscsiError.Timeout({ operation: "login", message: "" })), true, false],
    ["authentication", e(new IscsiError.AuthenticationFailed({ message: "" })), true, false],
    // the command's own business: the path is fine
    ["command deadline", e(new IscsiError.Timeout({ operation: "SCSI command", message: "" })), false, true],
    ["reject", e(new IscsiError.PduRejected({ reason: 4, description: "", message: "" })), false, true],
    ["invalid argument", e(new IscsiError.InvalidArgument({ message: "" })), false, true],
    ["task management", e(new IscsiError.TaskManagementFailed({ function: 2, response: 5, message: "" })), false, true]
  ]
  for (const [name, error, failure, sent] of rows) {
    it(`${name}: path failure ${failure}, command may have been sent ${sent}`, () => {
      expect(PathSet.isPathFailure(error)).toBe(failure)
      expect(PathSet.wasSent(error)).toBe(sent)
    })
  }
})
