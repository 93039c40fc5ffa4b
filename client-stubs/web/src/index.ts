/**
 * Convene for browsers: typed clients of convene.v1 (SessionService, TokenService, CallService,
 * GroupService, InvitationService, UserService, EventService, WebhookService)
 * over gRPC-Web (through the Envoy edge), with the credential attached to every call, a default
 * deadline, and retries of what is safe to repeat.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { createClient, ConnectError, Code, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { SessionService, type CreateSessionRequest } from "./gen/convene/v1/session_service_pb.js";
import { TokenService } from "./gen/convene/v1/token_service_pb.js";
import { CallService } from "./gen/convene/v1/call_service_pb.js";
import { GroupService } from "./gen/convene/v1/group_service_pb.js";
import { InvitationService } from "./gen/convene/v1/invitation_service_pb.js";
import { CredentialService } from "./gen/convene/v1/credential_service_pb.js";
import { UserService } from "./gen/convene/v1/user_service_pb.js";
import { EventService } from "./gen/convene/v1/event_service_pb.js";
import { WebhookService } from "./gen/convene/v1/webhook_service_pb.js";
import type { SessionEvent } from "./gen/convene/v1/session_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "./gen/convene/v1/errors_pb.js";

export * from "./gen/convene/v1/session_pb.js";
export * from "./gen/convene/v1/session_service_pb.js";
export * from "./gen/convene/v1/token_service_pb.js";
export * from "./gen/convene/v1/call_service_pb.js";
export * from "./gen/convene/v1/provider_pb.js";
export * from "./gen/convene/v1/group_pb.js";
export * from "./gen/convene/v1/group_service_pb.js";
export * from "./gen/convene/v1/invitation_service_pb.js";
export * from "./gen/convene/v1/user_service_pb.js";
export * from "./gen/convene/v1/event_service_pb.js";
export * from "./gen/convene/v1/webhook_service_pb.js";
export { CredentialSchema, type Credential } from "./gen/convene/v1/credential_service_pb.js";
export { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
export { ErrorReason } from "./gen/convene/v1/errors_pb.js";
export type { BadRequest, ErrorInfo } from "./gen/google/rpc/error_details_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";

/** A typed client of convene.v1.SessionService. */
export type SessionServiceClient = Client<typeof SessionService>;
/** A typed client of convene.v1.TokenService. */
export type TokenServiceClient = Client<typeof TokenService>;
/** A typed client of convene.v1.CallService. */
export type CallServiceClient = Client<typeof CallService>;
/** A typed client of convene.v1.GroupService. */
export type GroupServiceClient = Client<typeof GroupService>;
/** A typed client of convene.v1.InvitationService. */
export type InvitationServiceClient = Client<typeof InvitationService>;
/** A typed client of convene.v1.UserService. */
export type UserServiceClient = Client<typeof UserService>;
/** A typed client of convene.v1.EventService. */
export type EventServiceClient = Client<typeof EventService>;
/** A typed client of convene.v1.WebhookService (a tenant's backend: API keys never belong in a browser). */
export type WebhookServiceClient = Client<typeof WebhookService>;

export interface ConveneClientOptions {
  /** Deadline of a call that sets no `timeoutMs` of its own. Default 10 000 ms. */
  defaultTimeoutMs?: number;
  /** A fetch implementation (tests, service workers); default the global one. */
  fetch?: typeof globalThis.fetch;
  /**
   * More interceptors, run after the one that adds the credential and before the retries (see
   * `retryInterceptor`): they see each call once, not each attempt.
   */
  interceptors?: Interceptor[];
}

/**
 * Creates a SessionService client that calls `baseUrl` (the Envoy edge, e.g.
 * `https://api.example.com`) over gRPC-Web and sends `authorization: Bearer <credential>` on
 * every call. In a browser the credential should be the short-lived user credential your
 * backend obtained for this user, not a tenant API key. Calls are retried only when that is safe
 * (see `retryInterceptor`).
 */
export function createConveneClient(
  baseUrl: string,
  credential: string,
  options: ConveneClientOptions = {},
): SessionServiceClient {
  return createServiceClient(SessionService, baseUrl, requireCredential(credential), options);
}

/**
 * Creates a client of any convene.v1 service (`TokenService`, `CallService`, ...) with the same
 * transport, deadline and retry rules as `createConveneClient`. `credential` null sends no
 * `authorization` header: only for methods the contract lets anonymous callers use
 * (`TokenService.RedeemAccessCode`, whose answer is a guest credential for the other calls).
 */
export function createServiceClient<S extends DescService>(
  service: S,
  baseUrl: string,
  credential: string | null,
  options: ConveneClientOptions = {},
): Client<S> {
  const bearer: Interceptor[] = [];
  if (credential !== null) {
    const value = `Bearer ${requireCredential(credential)}`;
    bearer.push((next) => async (req) => {
      req.header.set("authorization", value);
      return next(req);
    });
  }
  const transport = createGrpcWebTransport({
    baseUrl,
    // gRPC-Web with protobuf on the wire; Envoy's grpc_web filter bridges it to gRPC.
    useBinaryFormat: true,
    defaultTimeoutMs: options.defaultTimeoutMs ?? 10_000,
    interceptors: [...bearer, ...(options.interceptors ?? []), retryInterceptor()],
    fetch: options.fetch,
  });
  return createClient(service, transport);
}

function requireCredential(credential: string): string {
  if (!credential) {
    throw new TypeError("createConveneClient: credential is empty");
  }
  return credential;
}

/** Attempts of a call that is safe to repeat, the first included. */
export const MAX_ATTEMPTS = 4;
/** Backoff before the first retry, in ms; each later one may wait twice as long, up to MAX_BACKOFF_MS. */
export const INITIAL_BACKOFF_MS = 100;
/** The longest backoff between two attempts, in ms. */
export const MAX_BACKOFF_MS = 2_000;
const BACKOFF_MULTIPLIER = 2;

/** The services whose methods the retry rules read their idempotency level from. */
const CONTRACT: readonly DescService[] = [
  SessionService,
  TokenService,
  CallService,
  CredentialService,
  GroupService,
  InvitationService,
  UserService,
  EventService,
  WebhookService,
];

/** After these, a method the contract declares safe to repeat is retried. */
const SAFE_RETRY_CODES: ReadonlySet<Code> = new Set([Code.Unavailable, Code.ResourceExhausted]);
/** After these, a CreateSession that carries a request_id is retried. */
const CREATE_RETRY_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.ResourceExhausted,
  Code.Unknown,
  Code.DeadlineExceeded,
]);

/** Whether the contract declares `idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT for `method`. */
function safeToRepeat(method: DescMethod): boolean {
  return (
    method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS ||
    method.idempotency === MethodOptions_IdempotencyLevel.IDEMPOTENT
  );
}

/**
 * Full names (`convene.v1.SessionService/GetSession`) of the unary methods whose contract declares
 * `idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT, read from the generated descriptors
 * (`DescMethod.idempotency`): a new RPC is retried once it declares a level, and not before. Watch
 * streams are not retried but resumed from their last position (`followSession`).
 */
export function retriedMethods(): string[] {
  return CONTRACT.flatMap((service) =>
    service.methods
      .filter((method) => method.methodKind === "unary" && safeToRepeat(method))
      .map((method) => `${service.typeName}/${method.name}`),
  );
}

/**
 * The retry rules every Convene client helper follows; `createConveneClient` installs it.
 *
 * - A unary method whose contract declares `idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT is
 *   retried after UNAVAILABLE or RESOURCE_EXHAUSTED.
 * - CreateSession carrying a `requestId` (the server returns the session the first attempt
 *   created) is retried after UNAVAILABLE, RESOURCE_EXHAUSTED, UNKNOWN (COMMIT_OUTCOME_UNKNOWN) or
 *   DEADLINE_EXCEEDED. Never after INVALID_ARGUMENT (REQUEST_ID_REUSED) or any other code.
 * - Nothing else is retried: an UNAVAILABLE can come from a connection that broke after the
 *   server applied a change, and repeating it would apply it twice.
 *
 * At most MAX_ATTEMPTS attempts, with a random backoff of up to 100 ms doubling to at most 2 s,
 * all within the call's one deadline: each retry sends the time that is left as `grpc-timeout`.
 */
export function retryInterceptor(): Interceptor {
  return (next) => async (req) => {
    const codes = req.stream
      ? undefined // server streams: resumed from their last position instead (followSession)
      : safeToRepeat(req.method)
        ? SAFE_RETRY_CODES
        : req.method === SessionService.method.createSession && (req.message as CreateSessionRequest).requestId
          ? CREATE_RETRY_CODES
          : undefined;
    if (codes === undefined) {
      return next(req);
    }
    const timeoutMs = parseGrpcTimeout(req.header.get("grpc-timeout"));
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    let backoff = INITIAL_BACKOFF_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || req.signal.aborted || !codes.has(ConnectError.from(error).code)) {
          throw error;
        }
        const pause = Math.random() * backoff; // full jitter, as gRPC's own retries
        backoff = Math.min(backoff * BACKOFF_MULTIPLIER, MAX_BACKOFF_MS);
        if (deadline !== undefined && deadline - Date.now() <= pause) {
          throw error;
        }
        if (!(await sleep(pause, req.signal))) {
          throw error;
        }
        if (deadline !== undefined) {
          req.header.set("grpc-timeout", `${Math.max(1, Math.floor(deadline - Date.now()))}m`);
        }
      }
    }
  };
}

/** Failures after which followSession resumes the stream: a replica stopping, shed or too slow, the network. */
const RESUME_CODES: ReadonlySet<Code> = new Set([Code.Unavailable, Code.ResourceExhausted, Code.Unknown]);

export interface FollowSessionOptions {
  /** Start after this sequence (the last event already shown); default 0, the whole log. */
  afterSequence?: bigint;
  /** Stops following. */
  signal?: AbortSignal;
  /** Told of each break the stream is resumed after (for a "reconnecting" hint). */
  onResume?: (error: ConnectError) => void;
}

/**
 * Follows a session live with EventService.WatchSession: yields each of its events once, in
 * sequence order, and returns when the session has ended. The stream has no deadline. When it
 * breaks (UNAVAILABLE: a replica stopping; RESOURCE_EXHAUSTED: too many streams, or this page read
 * too slowly; a network failure) it is resumed after the last event yielded, with backoff, so
 * nothing is missed or repeated. Any other error (NOT_FOUND, UNAUTHENTICATED, ...) is thrown.
 */
export async function* followSession(
  client: EventServiceClient,
  sessionId: string,
  options: FollowSessionOptions = {},
): AsyncGenerator<SessionEvent> {
  let after = options.afterSequence ?? 0n;
  let backoff = INITIAL_BACKOFF_MS;
  const signal = options.signal ?? new AbortController().signal;
  for (;;) {
    try {
      for await (const message of client.watchSession({ sessionId, afterSequence: after }, { timeoutMs: 0, signal })) {
        if (message.kind.case === "event" && message.kind.value.sequence > after) {
          after = message.kind.value.sequence;
          backoff = INITIAL_BACKOFF_MS;
          yield message.kind.value;
        }
      }
      return;
    } catch (error) {
      const connectError = ConnectError.from(error);
      if (signal.aborted || !RESUME_CODES.has(connectError.code)) {
        throw error;
      }
      options.onResume?.(connectError);
      const pause = Math.random() * backoff;
      backoff = Math.min(backoff * BACKOFF_MULTIPLIER, MAX_BACKOFF_MS);
      if (!(await sleep(pause, signal))) {
        throw error;
      }
    }
  }
}

/** Milliseconds of a `grpc-timeout` header value ("10000m", "10S"); undefined if none. */
function parseGrpcTimeout(value: string | null): number | undefined {
  const match = value?.match(/^(\d{1,8})([HMSmun])$/);
  if (!match) {
    return undefined;
  }
  const perUnit: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };
  return Number(match[1]) * perUnit[match[2]];
}

/** Waits `ms`; false if `signal` aborted first (the deadline passed or the caller cancelled). */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
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
