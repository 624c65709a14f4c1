/**
 * Continuation of full-feature Text Responses (RFC 7143 §11.10, §11.11, Appendix C), e.g. the
 * answer to `SendTargets=All`, as a pure accumulator.
 *
 * A Text Response with F=0 (not final) means more follows: the initiator sends an empty Text
 * Request (F=1, same ITT) carrying the Target Transfer Tag of that response, until a response with
 * F=1 arrives. The C bit may split a key=value across responses; pieces are concatenated before
 * decoding. The total size is bounded.
 *
 * ```text
 *   → TextRequest  F=1 ITT=i TTT=0xffffffff  "SendTargets=All"
 *   ← TextResponse F=0 C=1 TTT=t1            "TargetName=iqn…:a\0TargetAdd"
 *   → TextRequest  F=1 ITT=i TTT=t1          ""          (push → Continue { ttt: t1 })
 *   ← TextResponse F=1 C=0 TTT=0xffffffff    "ress=127.0.0.1:3260,1\0"
 *                                                         (push → Done { pairs })
 * ```
 *
 * Checks: a response with F=1 must not have C=1 (§11.11.2); a non-final response must carry a TTT
 * other than 0xffffffff (§11.11.4).
 *
 * Not here: building or sending the Text Request, ITT/CmdSN (the session's), the meaning of keys
 * (`SendTargets.parse`).
 */
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as IscsiError from "./IscsiError.ts"
import { failProtocol } from "./internal/textErrors.ts"
import type { TextResponse } from "./PduTypes.ts"
import { RESERVED_TAG } from "./PduTypes.ts"
import * as TextKeys from "./TextKeys.ts"

export type Outcome =
  | { readonly _tag: "Continue"; readonly ttt: number }
  | { readonly _tag: "Done"; readonly pairs: ReadonlyArray<TextKeys.Pair> }

export interface Options {
  /** Bound on the whole answer, in bytes (default 1 MiB). */
  readonly maxBytes?: number
}

export interface TextExchange {
  /** Feed the next Text Response of this exchange. */
  readonly push: (response: TextResponse) => Result.Result<Outcome, IscsiError.IscsiError>
}

/** Start accumulating one Text exchange. */
export const make = (options?: Options): TextExchange => {
  const reassembler = TextKeys.makeReassembler({ maxBytes: options?.maxBytes ?? TextKeys.DEFAULT_MAX_TEXT_BYTES })
  let done = false
  return {
    push: (response) => {
      if (done) return failProtocol("Text Response after the exchange completed")
      if (response.final && response.continue) return failProtocol("Text Response with both F and C set")
      if (!response.final && response.ttt === RESERVED_TAG) {
        return failProtocol("non-final Text Response without a Target Transfer Tag")
      }
      const r = reassembler.push(response.data, !response.final)
      if (Result.isFailure(r)) {
        done = true
        return Result.fail(r.failure)
      }
      if (Option.isSome(r.success)) {
        done = true
        return Result.succeed({ _tag: "Done", pairs: r.success.value })
      }
      return Result.succeed({ _tag: "Continue", ttt: response.ttt })
    }
  }
}
