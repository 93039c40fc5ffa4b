/**
 * Convene for browsers: a typed SessionService client over gRPC-Web (through the Envoy edge),
 * with the credential attached to every call and a default deadline.
 */
import { createClient, ConnectError, Code, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { SessionService } from "./gen/convene/v1/session_service_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "./gen/convene/v1/errors_pb.js";

export * from "./gen/convene/v1/session_pb.js";
export * from "./gen/convene/v1/session_service_pb.js";
export { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
export { ErrorReason } from "./gen/convene/v1/errors_pb.js";
export type { BadRequest, ErrorInfo } from "./gen/google/rpc/error_details_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";

/** A typed client of convene.v1.SessionService. */
export type SessionServiceClient = Client<typeof SessionService>;

export interface ConveneClientOptions {
  /** Deadline of a call that sets no `timeoutMs` of its own. Default 10 000 ms. */
  defaultTimeoutMs?: number;
  /** A fetch implementation (tests, service workers); default the global one. */
  fetch?: typeof globalThis.fetch;
  /** More interceptors, run after the one that adds the credential. */
  interceptors?: Interceptor[];
}

/**
 * Creates a SessionService client that calls `baseUrl` (the Envoy edge, e.g.
 * `https://api.example.com`) over gRPC-Web and sends `authorization: Bearer <credential>` on
 * every call. In a browser the credential should be the short-lived user credential your
 * backend obtained for this user, not a tenant API key.
 */
export function createConveneClient(
  baseUrl: string,
  credential: string,
  options: ConveneClientOptions = {},
): SessionServiceClient {
  if (!credential) {
    throw new TypeError("createConveneClient: credential is empty");
  }
  const bearer: Interceptor = (next) => async (req) => {
    req.header.set("authorization", `Bearer ${credential}`);
    return next(req);
  };
  const transport = createGrpcWebTransport({
    baseUrl,
    // gRPC-Web with protobuf on the wire; Envoy's grpc_web filter bridges it to gRPC.
    useBinaryFormat: true,
    defaultTimeoutMs: options.defaultTimeoutMs ?? 10_000,
    interceptors: [bearer, ...(options.interceptors ?? [])],
    fetch: options.fetch,
  });
  return createClient(SessionService, transport);
}

/** What a failed call says, decoded from grpc-status, grpc-message and grpc-status-details-bin. */
export interface ConveneErrorDetails {
  /** The gRPC status code, e.g. Code.InvalidArgument. */
  code: Code;
  /** The code's name as gRPC spells it, e.g. "INVALID_ARGUMENT". */
  codeName: string;
  /** The server's message (never contains personal data). */
  message: string;
  /** The stable ErrorInfo reason, e.g. "SESSION_NOT_FOUND"; "" if the error carried none. */
  reason: string;
  /**
   * The reason as a generated constant to switch on (ErrorReason.SESSION_NOT_FOUND);
   * ErrorReason.ERROR_REASON_UNSPECIFIED for none, or for one this client is too old to know.
   */
  errorReason: ErrorReason;
  /** The ErrorInfo domain ("convene.dev"); "" if none. */
  domain: string;
  /** For INVALID_ARGUMENT: each offending field with what is wrong with it. */
  fieldViolations: { field: string; description: string }[];
}

/** Decodes any error thrown by a client call into its gRPC code and Convene error details. */
export function conveneErrorDetails(error: unknown): ConveneErrorDetails {
  const connectError = ConnectError.from(error);
  const [info] = connectError.findDetails(ErrorInfoSchema);
  const violations = connectError
    .findDetails(BadRequestSchema)
    .flatMap((badRequest) => badRequest.fieldViolations)
    .map((v) => ({ field: v.field, description: v.description }));
  return {
    code: connectError.code,
    codeName: codeName(connectError.code),
    message: connectError.rawMessage,
    reason: info?.reason ?? "",
    errorReason: errorReasonOf(info?.reason ?? ""),
    domain: info?.domain ?? "",
    fieldViolations: violations,
  };
}

/** The generated ErrorReason constant named by an ErrorInfo reason string. */
export function errorReasonOf(reason: string): ErrorReason {
  const value = (ErrorReason as unknown as Record<string, ErrorReason | undefined>)[reason];
  return typeof value === "number" ? value : ErrorReason.ERROR_REASON_UNSPECIFIED;
}

/** "INVALID_ARGUMENT" for Code.InvalidArgument, and so on. */
export function codeName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
