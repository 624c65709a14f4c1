/**
 * The iSNSP tables (RFC 4171): attribute tags with their names and value kinds (§6.1), function IDs
 * (§5.1.3) and status codes (§5.4). Data only; the codec is `../../Isns.ts`.
 * @internal
 */

/** How an attribute's value is laid out, which is what the decoder checks. */
export type Kind = "string" | "uint32" | "address" | "opaque"

interface TagInfo {
  readonly name: string
  readonly kind: Kind
}

/**
 * RFC 4171 §6.1, Table 9 (iSCSI, portal, portal group, entity and discovery-domain attributes; the
 * FC attributes are not listed, so they decode as raw values). Strings are null-terminated UTF-8
 * (§6.1, "String"), uint32 values are exactly 4 bytes, addresses exactly 16 bytes (IPv6 or
 * IPv4-mapped, §6.3.1), everything else (timestamps, certificates, ISAKMP payloads) is kept raw.
 */
export const tags: ReadonlyMap<number, TagInfo> = new Map<number, TagInfo>([
  [0, { name: "Delimiter", kind: "opaque" }],
  [1, { name: "Entity Identifier", kind: "string" }],
  [2, { name: "Entity Protocol", kind: "uint32" }],
  [3, { name: "Management IP Address", kind: "address" }],
  [4, { name: "Timestamp", kind: "opaque" }],
  [5, { name: "Protocol Version Range", kind: "uint32" }],
  [6, { name: "Registration Period", kind: "uint32" }],
  [7, { name: "Entity Index", kind: "uint32" }],
  [8, { name: "Entity Next Index", kind: "uint32" }],
  [11, { name: "Entity ISAKMP Phase-1", kind: "opaque" }],
  [12, { name: "Entity Certificate", kind: "opaque" }],
  [16, { name: "Portal IP Address", kind: "address" }],
  [17, { name: "Portal TCP/UDP Port", kind: "uint32" }],
  [18, { name: "Portal Symbolic Name", kind: "string" }],
  [19, { name: "ESI Interval", kind: "uint32" }],
  [20, { name: "ESI Port", kind: "uint32" }],
  [22, { name: "Portal Index", kind: "uint32" }],
  [23, { name: "SCN Port", kind: "uint32" }],
  [24, { name: "Portal Next Index", kind: "uint32" }],
  [27, { name: "Portal Security Bitmap", kind: "uint32" }],
  [28, { name: "Portal ISAKMP Phase-1", kind: "opaque" }],
  [29, { name: "Portal ISAKMP Phase-2", kind: "opaque" }],
  [31, { name: "Portal Certificate", kind: "opaque" }],
  [32, { name: "iSCSI Name", kind: "string" }],
  [33, { name: "iSCSI Node Type", kind: "uint32" }],
  [34, { name: "iSCSI Alias", kind: "string" }],
  [35, { name: "iSCSI SCN Bitmap", kind: "uint32" }],
  [36, { name: "iSCSI Node Index", kind: "uint32" }],
  [37, { name: "WWNN Token", kind: "opaque" }],
  [38, { name: "iSCSI Node Next Index", kind: "uint32" }],
  [42, { name: "iSCSI AuthMethod", kind: "string" }],
  [48, { name: "PG iSCSI Name", kind: "string" }],
  [49, { name: "PG Portal IP Addr", kind: "address" }],
  [50, { name: "PG Portal TCP/UDP Port", kind: "uint32" }],
  [51, { name: "PG Tag", kind: "uint32" }],
  [52, { name: "PG Index", kind: "uint32" }],
  [53, { name: "PG Next Index", kind: "uint32" }],
  [2049, { name: "DD_Set ID", kind: "uint32" }],
  [2050, { name: "DD_Set Sym Name", kind: "string" }],
  [2051, { name: "DD_Set Status", kind: "uint32" }],
  [2052, { name: "DD_Set_Next_ID", kind: "uint32" }],
  [2065, { name: "DD_ID", kind: "uint32" }],
  [2066, { name: "DD_Symbolic Name", kind: "string" }],
  [2067, { name: "DD_Member iSCSI Index", kind: "uint32" }],
  [2068, { name: "DD_Member iSCSI Name", kind: "string" }],
  [2070, { name: "DD_Member Portal Index", kind: "uint32" }],
  [2071, { name: "DD_Member Portal IP Addr", kind: "address" }],
  [2072, { name: "DD_Member Portal TCP/UDP Port", kind: "uint32" }],
  [2078, { name: "DD_Features", kind: "uint32" }],
  [2079, { name: "DD_ID Next ID", kind: "uint32" }]
])

/** RFC 4171 §5.1 (FUNCTION ID): the requests; a response is the request's ID | 0x8000. */
export const functions: ReadonlyMap<number, string> = new Map([
  [0x0001, "DevAttrReg"],
  [0x0002, "DevAttrQry"],
  [0x0003, "DevGetNext"],
  [0x0004, "DevDereg"],
  [0x0005, "SCNReg"],
  [0x0006, "SCNDereg"],
  [0x0007, "SCNEvent"],
  [0x0008, "SCN"],
  [0x0009, "DDReg"],
  [0x000a, "DDDereg"],
  [0x000b, "DDSReg"],
  [0x000c, "DDSDereg"],
  [0x000d, "ESI"],
  [0x000e, "Heartbeat"],
  [0x0011, "RqstDomId"],
  [0x0012, "RlseDomId"],
  [0x0013, "GetDomId"]
])

/** RFC 4171 §5.4, Table 5: response status codes. */
export const statuses: ReadonlyMap<number, string> = new Map([
  [0, "Successful"],
  [1, "Unknown Error"],
  [2, "Message Format Error"],
  [3, "Invalid Registration"],
  [5, "Invalid Query"],
  [6, "Source Unknown"],
  [7, "Source Absent"],
  [8, "Source Unauthorized"],
  [9, "No Such Entry"],
  [10, "Version Not Supported"],
  [11, "Internal Error"],
  [12, "Busy"],
  [13, "Option Not Understood"],
  [14, "Invalid Update"],
  [15, "Message (FUNCTION ID) Not Supported"],
  [16, "SCN Event Rejected"],
  [17, "SCN Registration Rejected"],
  [18, "Attribute Not Implemented"],
  [19, "FC_DOMAIN_ID Not Available"],
  [20, "FC_DOMAIN_ID Not Allocated"],
  [21, "ESI Not Available"],
  [22, "Invalid Deregistration"],
  [23, "Registration Feature Not Supported"]
])
