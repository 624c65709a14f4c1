/**
 * @effect-iscsi/cli: the `iscsi` command (see `Cli.ts`) and the loops it is built from, reusable
 * by scripts: `Bench.run` (the benchmark) and `Copy.copy` (the dd engine), plus URL/credential
 * handling (`Connect`) and error reporting (`Failure`).
 */
export * as Bench from "./Bench.ts"
export * as Cli from "./Cli.ts"
export * as Connect from "./Connect.ts"
export * as Copy from "./Copy.ts"
export * as Failure from "./Failure.ts"
export * as Format from "./Format.ts"
export * as Observability from "./Observability.ts"
export * as Opcodes from "./Opcodes.ts"
export * as Progress from "./Progress.ts"
export * as Vpd from "./Vpd.ts"
