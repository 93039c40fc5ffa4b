// The client's retry rules against a scripted fake `fetch` that answers in gRPC-Web: needs no
// server. Each method fails its first attempts as queued, then answers; attempts are counted.
// Run `npm run build` first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import {
  AddParticipantRequestSchema,
  Code,
  CreateSessionRequestSchema,
  CreateSessionResponseSchema,
  ErrorInfoSchema,
  ErrorReason,
  GetSessionResponseSchema,
  JoinSessionResponseSchema,
  MAX_ATTEMPTS,
  SessionSchema,
  StartSessionRequestSchema,
  RedeemAccessCodeResponseSchema,
  TokenService,
  conveneErrorDetails,
  createConveneClient,
  createServiceClient,
  retriedMethods,
} from "../dist/index.js";
import { StatusSchema } from "../dist/gen/google/rpc/status_pb.js";

const codes = {
  [Code.Unknown]: 2,
  [Code.DeadlineExceeded]: 4,
  [Code.AlreadyExists]: 6,
  [Code.InvalidArgument]: 3,
  [Code.ResourceExhausted]: 8,
  [Code.Unavailable]: 14,
};

/** An error as the server (through Envoy) sends it: trailers-only, with an ErrorInfo. */
function error(code, reason) {
  const status = create(StatusSchema, {
    code: codes[code],
    message: `scripted ${reason}`,
    details: [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { domain: "convene.dev", reason }))],
  });
  return { code: codes[code], details: Buffer.from(toBinary(StatusSchema, status)).toString("base64") };
}

function envelope(flags, bytes) {
  const frame = new Uint8Array(5 + bytes.length);
  frame[0] = flags;
  new DataView(frame.buffer).setUint32(1, bytes.length);
  frame.set(bytes, 5);
  return frame;
}

/** A scripted server: `fail(method, ...errors)`, then the method answers with `responses[method]`. */
function flakyServer() {
  const failures = new Map();
  const attempts = new Map();
  const requests = new Map();
  const timeouts = [];
  let hang = false;
  const responses = {
    GetSession: toBinary(GetSessionResponseSchema, create(GetSessionResponseSchema, {
      session: create(SessionSchema, { id: "ses_1" }),
    })),
    JoinSession: toBinary(JoinSessionResponseSchema, create(JoinSessionResponseSchema)),
    CreateSession: toBinary(CreateSessionResponseSchema, create(CreateSessionResponseSchema, {
      session: create(SessionSchema, { id: "ses_created" }),
    })),
  };
  async function fetch(url, init) {
    const method = String(url).split("/").pop();
    attempts.set(method, (attempts.get(method) ?? 0) + 1);
    requests.set(method, [...(requests.get(method) ?? []), new Uint8Array(await new Response(init.body).arrayBuffer()).slice(5)]);
    timeouts.push(new Headers(init.headers).get("grpc-timeout"));
    if (hang) {
      return new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));
    }
    const failure = failures.get(method)?.shift();
    if (failure) {
      return new Response(null, {
        status: 200,
        headers: {
          "content-type": "application/grpc-web+proto",
          "grpc-status": String(failure.code),
          "grpc-message": "scripted",
          "grpc-status-details-bin": failure.details,
        },
      });
    }
    const body = responses[method] ?? new Uint8Array();
    const trailer = new TextEncoder().encode("grpc-status: 0\r\n");
    return new Response(new Blob([envelope(0, body), envelope(0x80, trailer)]), {
      status: 200,
      headers: { "content-type": "application/grpc-web+proto" },
    });
  }
  return {
    client: createConveneClient("http://convene.test", "cvk_any_key", { fetch }),
    fail: (method, ...errors) => failures.set(method, [...(failures.get(method) ?? []), ...errors]),
    attempts: (method) => attempts.get(method) ?? 0,
    requests: (method) => requests.get(method) ?? [],
    timeouts,
    hang: () => {
      hang = true;
    },
  };
}

/** Awaits a call that must fail and returns its decoded error. */
async function failure(call) {
  try {
    await call;
  } catch (e) {
    return conveneErrorDetails(e);
  }
  assert.fail("the call succeeded but should have failed");
}

const createRequest = (requestId = "") => ({ requestId, externalRef: "appt-1" });

test("retried methods are exactly those the contract declares idempotent", () => {
  assert.deepEqual(retriedMethods().sort(), [
    "convene.v1.CallService/AdmitParticipant",
    "convene.v1.CallService/DenyParticipant",
    "convene.v1.CallService/KickParticipant",
    "convene.v1.CallService/ListLobby",
    "convene.v1.CallService/SetRecordingConsent",
    "convene.v1.CallService/StartRecording",
    "convene.v1.CallService/StopRecording",
    "convene.v1.CallService/UnbanParticipant",
    "convene.v1.CredentialService/GetSigningKeys",
    "convene.v1.GroupService/DeleteGroup",
    "convene.v1.GroupService/GetGroup",
    "convene.v1.GroupService/GetGroupUsage",
    "convene.v1.GroupService/GetTenantUsage",
    "convene.v1.GroupService/ListGroupActivities",
    "convene.v1.GroupService/ListGroupCallParticipants",
    "convene.v1.GroupService/ListGroupInvitations",
    "convene.v1.GroupService/ListGroupMembers",
    "convene.v1.GroupService/ListGroups",
    "convene.v1.GroupService/UpdateGroup",
    "convene.v1.GroupService/UpdateGroupMember",
    "convene.v1.InvitationService/DeclineInvitation",
    "convene.v1.InvitationService/GetInvitation",
    "convene.v1.InvitationService/GetInvitationSettings",
    "convene.v1.InvitationService/ListInvitations",
    "convene.v1.InvitationService/RevokeInvitation",
    "convene.v1.InvitationService/SetInvitationSettings",
    "convene.v1.SessionService/GetSession",
    "convene.v1.SessionService/GetSessionStats",
    "convene.v1.SessionService/JoinSession",
    "convene.v1.SessionService/ListParticipants",
    "convene.v1.SessionService/ListSessionEvents",
    "convene.v1.SessionService/ListSessions",
    "convene.v1.TokenService/ListAccessCodes",
    "convene.v1.TokenService/RevokeAccessCode",
    "convene.v1.UserService/GetUser",
    "convene.v1.UserService/GetUserOverview",
    "convene.v1.UserService/ListUsers",
    "convene.v1.UserService/UpsertUser",
    "convene.v1.WebhookService/DeleteWebhookEndpoint",
    "convene.v1.WebhookService/GetWebhookEndpoint",
    "convene.v1.WebhookService/ListWebhookDeliveries",
    "convene.v1.WebhookService/ListWebhookEndpoints",
    "convene.v1.WebhookService/RedeliverWebhook",
    "convene.v1.WebhookService/UpdateWebhookEndpoint",
  ]);
  assert.equal(MAX_ATTEMPTS, 4);
});

test("a NO_SIDE_EFFECTS method is retried on UNAVAILABLE and succeeds, within the deadline", async () => {
  const server = flakyServer();
  server.fail("GetSession", error(Code.Unavailable, "DATABASE_UNAVAILABLE"), error(Code.Unavailable, "DATABASE_UNAVAILABLE"));

  const { session } = await server.client.getSession({ sessionId: "ses_1" }, { timeoutMs: 5_000 });

  assert.equal(session.id, "ses_1");
  assert.equal(server.attempts("GetSession"), 3);
  // Each retry sends the time left, never the whole timeout again.
  const sent = server.timeouts.map((t) => Number(t.slice(0, -1)));
  assert.equal(sent[0], 5_000);
  assert.ok(sent[1] < 5_000 && sent[2] <= sent[1], `grpc-timeout ${server.timeouts}`);
});

test("an IDEMPOTENT method is retried on RESOURCE_EXHAUSTED and succeeds", async () => {
  const server = flakyServer();
  server.fail("JoinSession", error(Code.ResourceExhausted, "SERVER_OVERLOADED"));

  await server.client.joinSession({ sessionId: "ses_1", userId: "u" });

  assert.equal(server.attempts("JoinSession"), 2);
});

test("a NO_SIDE_EFFECTS method gives up after four attempts, and is not retried on other codes", async () => {
  const server = flakyServer();
  server.fail("GetSession", ...Array(5).fill(error(Code.Unavailable, "DATABASE_UNAVAILABLE")));

  const e = await failure(server.client.getSession({ sessionId: "ses_1" }));

  assert.equal(e.code, Code.Unavailable);
  assert.equal(server.attempts("GetSession"), 4);

  const other = flakyServer();
  other.fail("GetSession", error(Code.Unknown, "INTERNAL"));
  assert.equal((await failure(other.client.getSession({ sessionId: "ses_1" }))).code, Code.Unknown);
  assert.equal(other.attempts("GetSession"), 1);
});

test("non-idempotent methods are attempted once on UNAVAILABLE", async () => {
  const server = flakyServer();
  server.fail("StartSession", error(Code.Unavailable, "DATABASE_UNAVAILABLE"));
  server.fail("AddParticipant", error(Code.Unavailable, "DATABASE_UNAVAILABLE"));

  const start = await failure(server.client.startSession(create(StartSessionRequestSchema, { sessionId: "ses_1" })));
  const add = await failure(server.client.addParticipant(create(AddParticipantRequestSchema, { sessionId: "ses_1" })));

  assert.equal(start.code, Code.Unavailable);
  assert.equal(add.code, Code.Unavailable);
  assert.equal(server.attempts("StartSession"), 1);
  assert.equal(server.attempts("AddParticipant"), 1);
});

test("CreateSession with a request_id is retried on UNAVAILABLE, UNKNOWN and DEADLINE_EXCEEDED and succeeds", async () => {
  const server = flakyServer();
  server.fail(
    "CreateSession",
    error(Code.Unavailable, "DATABASE_UNAVAILABLE"),
    error(Code.Unknown, "COMMIT_OUTCOME_UNKNOWN"),
    error(Code.DeadlineExceeded, "DEADLINE_EXCEEDED"),
  );

  const { session } = await server.client.createSession(createRequest("create-appt-1"));

  assert.equal(session.id, "ses_created");
  assert.equal(server.attempts("CreateSession"), 4);
  const sent = server.requests("CreateSession").map((b) => fromBinary(CreateSessionRequestSchema, b));
  assert.deepEqual(sent.map((r) => r.requestId), Array(4).fill("create-appt-1"));
});

test("CreateSession with a request_id is retried on RESOURCE_EXHAUSTED and gives up after four attempts", async () => {
  const server = flakyServer();
  server.fail("CreateSession", ...Array(5).fill(error(Code.ResourceExhausted, "SERVER_OVERLOADED")));

  const e = await failure(server.client.createSession(createRequest("create-appt-2")));

  assert.equal(e.errorReason, ErrorReason.SERVER_OVERLOADED);
  assert.equal(server.attempts("CreateSession"), 4);
});

test("CreateSession without a request_id is attempted once", async () => {
  const server = flakyServer();
  server.fail("CreateSession", error(Code.Unavailable, "DATABASE_UNAVAILABLE"));

  const e = await failure(server.client.createSession(createRequest()));

  assert.equal(e.code, Code.Unavailable);
  assert.equal(server.attempts("CreateSession"), 1);
});

test("CreateSession REQUEST_ID_REUSED, or any other code, is not retried", async () => {
  const server = flakyServer();
  server.fail("CreateSession", error(Code.InvalidArgument, "REQUEST_ID_REUSED"));

  const reused = await failure(server.client.createSession(createRequest("create-appt-4")));

  assert.equal(reused.code, Code.InvalidArgument);
  assert.equal(reused.errorReason, ErrorReason.REQUEST_ID_REUSED);
  assert.equal(server.attempts("CreateSession"), 1);

  const exists = flakyServer();
  exists.fail("CreateSession", error(Code.AlreadyExists, "EXTERNAL_REF_ALREADY_EXISTS"));
  assert.equal((await failure(exists.client.createSession(createRequest("create-appt-5")))).errorReason,
    ErrorReason.EXTERNAL_REF_ALREADY_EXISTS);
  assert.equal(exists.attempts("CreateSession"), 1);
});

test("CreateSession with a request_id stops at the call's deadline", async () => {
  const server = flakyServer();
  server.hang();
  const started = Date.now();

  const e = await failure(server.client.createSession(createRequest("create-appt-6"), { timeoutMs: 300 }));

  assert.equal(e.code, Code.DeadlineExceeded);
  assert.equal(server.attempts("CreateSession"), 1, "no attempt after the deadline passed");
  assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
});

test("a client made with credential null sends no authorization header (RedeemAccessCode)", async () => {
  const seen = [];
  const fetch = async (url, init) => {
    seen.push({ method: String(url).split("/").pop(), authorization: new Headers(init.headers).get("authorization") });
    const body = toBinary(RedeemAccessCodeResponseSchema, create(RedeemAccessCodeResponseSchema, { awaitingAdmission: true }));
    const trailer = new TextEncoder().encode("grpc-status: 0\r\n");
    return new Response(new Blob([envelope(0, body), envelope(0x80, trailer)]), {
      status: 200,
      headers: { "content-type": "application/grpc-web+proto" },
    });
  };
  const anonymous = createServiceClient(TokenService, "http://convene.test", null, { fetch });
  const redeemed = await anonymous.redeemAccessCode({ sessionId: "ses_1", code: "ABCD-EFGH" });
  assert.equal(redeemed.awaitingAdmission, true);
  const guest = createServiceClient(TokenService, "http://convene.test", "guest-credential", { fetch });
  await guest.issueJoinToken({ sessionId: "ses_1", userId: "pat" });
  assert.deepEqual(seen, [
    { method: "RedeemAccessCode", authorization: null },
    { method: "IssueJoinToken", authorization: "Bearer guest-credential" },
  ]);
  assert.throws(() => createServiceClient(TokenService, "http://convene.test", ""), TypeError);
});

test("followSession resumes a broken stream after the last event, and ends with the session", async () => {
  const { WatchSessionRequestSchema, WatchSessionResponseSchema, SessionEventSchema, EventService, followSession } =
    await import("../dist/index.js");
  const asked = [];
  const event = (sequence) => envelope(0, toBinary(WatchSessionResponseSchema, create(WatchSessionResponseSchema, {
    kind: { case: "event", value: create(SessionEventSchema, { sequence, sessionId: "ses_1" }) },
  })));
  const heartbeat = envelope(0, toBinary(WatchSessionResponseSchema, create(WatchSessionResponseSchema, {
    kind: { case: "heartbeat", value: {} },
  })));
  const trailer = (status) => envelope(0x80, new TextEncoder().encode(`grpc-status: ${status}\r\n`));
  // First stream: events 1 and 2, then the replica stops (UNAVAILABLE). Second: 2 again (it
  // must not be yielded twice), 3, and the session's end (OK).
  const script = [[event(1n), heartbeat, event(2n), trailer(14)], [event(2n), event(3n), trailer(0)]];
  async function fetch(url, init) {
    const body = new Uint8Array(await new Response(init.body).arrayBuffer()).slice(5);
    asked.push({ path: new URL(url).pathname, after: fromBinary(WatchSessionRequestSchema, body).afterSequence,
      timeout: new Headers(init.headers).get("grpc-timeout") });
    return new Response(new Blob(script.shift()), {
      status: 200, headers: { "content-type": "application/grpc-web+proto" },
    });
  }
  const client = createServiceClient(EventService, "http://convene.test", "cvk_any_key", { fetch });
  const resumes = [];
  const seen = [];
  for await (const e of followSession(client, "ses_1", { onResume: (err) => resumes.push(err.code) })) {
    seen.push(e.sequence);
  }
  assert.deepEqual(seen, [1n, 2n, 3n]);
  assert.deepEqual(asked.map((a) => a.after), [0n, 2n], "resumed after the last event yielded");
  assert.deepEqual(asked.map((a) => a.path), ["/convene.v1.EventService/WatchSession", "/convene.v1.EventService/WatchSession"]);
  assert.deepEqual(asked.map((a) => a.timeout), [null, null], "a watch stream has no deadline");
  assert.deepEqual(resumes, [Code.Unavailable]);
});

test("followSession throws what resuming cannot fix", async () => {
  const { EventService, followSession } = await import("../dist/index.js");
  const fetch = async () => new Response(null, { status: 200, headers: {
    "content-type": "application/grpc-web+proto", "grpc-status": "5", "grpc-message": "no such session" } });
  const client = createServiceClient(EventService, "http://convene.test", "cvk_any_key", { fetch });
  const err = await failure((async () => { for await (const _ of followSession(client, "ses_x")) { /* none */ } })());
  assert.equal(err.code, Code.NotFound);
});
