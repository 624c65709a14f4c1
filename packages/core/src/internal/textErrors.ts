/**
 * Small constructors for the `IscsiError`s raised by the text/login modules (private helper).
 */
import * as Result from "effect/Result"
import * as IscsiError from "../IscsiError.ts"

export const protocol = (message: string): IscsiError.IscsiError =>
  IscsiError.make(new IscsiError.ProtocolError({ message }))

export const negotiation = (key: string, message: string): IscsiError.IscsiError =>
  IscsiError.make(new IscsiError.NegotiationFailed({ key, message }))

export const auth = (message: string): IscsiError.IscsiError =>
  IscsiError.make(new IscsiError.AuthenticationFailed({ message }))

export const invalid = (message: string): IscsiError.IscsiError =>
  IscsiError.make(new IscsiError.InvalidArgument({ message }))

export const failProtocol = (message: string): Result.Result<never, IscsiError.IscsiError> =>
  Result.fail(protocol(message))

export const failNegotiation = (key: string, message: string): Result.Result<never, IscsiError.IscsiError> =>
  Result.fail(negotiation(key, message))

export const failAuth = (message: string): Result.Result<never, IscsiError.IscsiError> => Result.fail(auth(message))

export const failInvalid = (message: string): Result.Result<never, IscsiError.IscsiError> =>
  Result.fail(invalid(message))
