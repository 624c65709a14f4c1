/**
 * @effect-iscsi/core: the platform-free iSCSI protocol core (RFC 7143).
 * Import namespaces: `import { Pdu, Framer, IscsiError } from "@effect-iscsi/core"`.
 */
export * as IscsiError from "./IscsiError.ts"
export * as PduTypes from "./PduTypes.ts"
export * as ScsiTransport from "./ScsiTransport.ts"
