/**
 * The platform crypto that core's CHAP needs (RFC 1994 / RFC 7143 §12.1.3), from `node:crypto`:
 * message digests for CHAP responses and strong random bytes for CHAP challenges and ISIDs.
 *
 * Not here: the CHAP exchange or encodings (`@effect-iscsi/core` `Chap`, `LoginMachine`).
 */
import { createHash, randomBytes as nodeRandomBytes } from "node:crypto"
import type { Chap } from "@effect-iscsi/core"

const nodeNames: { readonly [A in Chap.Algorithm]: string } = {
  MD5: "md5",
  SHA1: "sha1",
  SHA256: "sha256",
  "SHA3-256": "sha3-256"
}

/** `Chap.Hash` over node:crypto's `createHash`. */
export const hash: Chap.Hash = (algorithm, data) => {
  const digest = createHash(nodeNames[algorithm]).update(data).digest()
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength)
}

/** Cryptographically strong random bytes. */
export const randomBytes = (n: number): Uint8Array => {
  const b = nodeRandomBytes(n)
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}
