/** Test and benchmark harness for effect-iscsi (private; not published). */
export * as Tgt from "./Tgt.ts"
export * as Libiscsi from "./Libiscsi.ts"
