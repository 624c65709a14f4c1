/** Test and benchmark harness for effect-iscsi (private; not published). */
export * as Tgt from "./Tgt.ts"
export * as Libiscsi from "./Libiscsi.ts"
export * as FakeTarget from "./FakeTarget.ts"
export * as FaultProxy from "./FaultProxy.ts"
export * as Exports from "./Exports.ts"
export * as Isns from "./Isns.ts"
export * as Recorder from "./Recorder.ts"
export * as Prometheus from "./Prometheus.ts"
