/**
 * Login Response Status-Class / Status-Detail (RFC 7143 §11.13.5) as names and typed errors.
 *
 * | class | detail | name                      | meaning                                           |
 * |-------|--------|---------------------------|---------------------------------------------------|
 * | 0x00  | 0x00   | Success                   | login proceeds                                    |
 * | 0x01  | 0x01   | TargetMovedTemporarily    | redirect: use TargetAddress for this login        |
 * | 0x01  | 0x02   | TargetMovedPermanently    | redirect: use TargetAddress from now on           |
 * | 0x02  | 0x00   | InitiatorError            | miscellaneous initiator error                     |
 * | 0x02  | 0x01   | AuthenticationFailure     | the initiator could not be authenticated          |
 * | 0x02  | 0x02   | AuthorizationFailure      | not allowed to access this target                 |
 * | 0x02  | 0x03   | NotFound                  | TargetName does not exist                         |
 * | 0x02  | 0x04   | TargetRemoved             | target removed, no forwarding address             |
 * | 0x02  | 0x05   | UnsupportedVersion        | no version in VersionMin..VersionMax              |
 * | 0x02  | 0x06   | TooManyConnections        | no more connections in this session               |
 * | 0x02  | 0x07   | MissingParameter          | a mandatory key is missing                        |
 * | 0x02  | 0x08   | CantIncludeInSession      | the connection cannot join this session           |
 * | 0x02  | 0x09   | SessionTypeNotSupported   | SessionType not supported                         |
 * | 0x02  | 0x0a   | SessionDoesNotExist       | TSIH names no session                             |
 * | 0x02  | 0x0b   | InvalidDuringLogin        | request not valid during login                    |
 * | 0x03  | 0x00   | TargetError               | miscellaneous target error                        |
 * | 0x03  | 0x01   | ServiceUnavailable        | target or service temporarily unavailable         |
 * | 0x03  | 0x02   | OutOfResources            | target out of resources                           |
 *
 * `LoginFailed.isRetryable` is true for class 3, class 1 and TooManyConnections (see IscsiError).
 * Redirects are normally followed by the login driver; they only become errors when the bound on
 * redirects is exceeded or the TargetAddress is unusable.
 */
import * as IscsiError from "./IscsiError.ts"

/** Status-Class values. */
export const StatusClass = {
  Success: 0x00,
  Redirection: 0x01,
  InitiatorError: 0x02,
  TargetError: 0x03
} as const

const names: ReadonlyMap<number, string> = new Map([
  [0x0000, "Success"],
  [0x0101, "TargetMovedTemporarily"],
  [0x0102, "TargetMovedPermanently"],
  [0x0200, "InitiatorError"],
  [0x0201, "AuthenticationFailure"],
  [0x0202, "AuthorizationFailure"],
  [0x0203, "NotFound"],
  [0x0204, "TargetRemoved"],
  [0x0205, "UnsupportedVersion"],
  [0x0206, "TooManyConnections"],
  [0x0207, "MissingParameter"],
  [0x0208, "CantIncludeInSession"],
  [0x0209, "SessionTypeNotSupported"],
  [0x020a, "SessionDoesNotExist"],
  [0x020b, "InvalidDuringLogin"],
  [0x0300, "TargetError"],
  [0x0301, "ServiceUnavailable"],
  [0x0302, "OutOfResources"]
])

const descriptions: ReadonlyMap<string, string> = new Map([
  ["Success", "login succeeded"],
  ["TargetMovedTemporarily", "the target moved temporarily"],
  ["TargetMovedPermanently", "the target moved permanently"],
  ["InitiatorError", "initiator error"],
  ["AuthenticationFailure", "authentication failed"],
  ["AuthorizationFailure", "the initiator is not authorized to access this target"],
  ["NotFound", "the target was not found"],
  ["TargetRemoved", "the target was removed"],
  ["UnsupportedVersion", "unsupported iSCSI version"],
  ["TooManyConnections", "too many connections in the session"],
  ["MissingParameter", "a required parameter is missing"],
  ["CantIncludeInSession", "the connection cannot be included in the session"],
  ["SessionTypeNotSupported", "the session type is not supported"],
  ["SessionDoesNotExist", "the session does not exist"],
  ["InvalidDuringLogin", "the request is invalid during login"],
  ["TargetError", "target error"],
  ["ServiceUnavailable", "the service is temporarily unavailable"],
  ["OutOfResources", "the target is out of resources"]
])

const hex2 = (n: number): string => n.toString(16).padStart(2, "0")

/** The RFC name of a status, or `Unknown<class><detail>` in hex (e.g. "Unknown02ff") for values the RFC does not define. */
export const name = (statusClass: number, statusDetail: number): string =>
  names.get(((statusClass & 0xff) << 8) | (statusDetail & 0xff)) ??
  `Unknown${hex2(statusClass & 0xff)}${hex2(statusDetail & 0xff)}`

/** Class 1: the target wants us elsewhere (TargetAddress in the data segment). */
export const isRedirect = (statusClass: number): boolean => statusClass === StatusClass.Redirection

/** A redirect is temporary unless the detail says "moved permanently". */
export const isTemporaryRedirect = (statusDetail: number): boolean => statusDetail !== 0x02

/** The typed error for a login status (a `LoginFailed` reason), with what to do about it when known. */
export const toError = (statusClass: number, statusDetail: number, hint?: string): IscsiError.IscsiError => {
  const status = name(statusClass, statusDetail)
  const what = descriptions.get(status) ?? "unknown login status"
  return IscsiError.make(
    new IscsiError.LoginFailed({
      statusClass,
      statusDetail,
      status,
      message: `login failed: ${what} (class 0x${hex2(statusClass)}, detail 0x${hex2(statusDetail)})${
        hint !== undefined ? `: ${hint}` : ""
      }`,
      ...(hint !== undefined ? { hint } : {})
    })
  )
}
