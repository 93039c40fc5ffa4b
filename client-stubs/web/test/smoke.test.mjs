// Smoke test of the built client (dist/) against a running Convene behind Envoy's gRPC-Web
// listener. Needs CONVENE_EDGE_URL (e.g. http://127.0.0.1:8080) and CONVENE_API_KEY; without
// them the tests are skipped. Run `npm run build` first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ErrorReason,
  MediaType,
  ParticipantRole,
  SessionStatus,
  conveneErrorDetails,
  createConveneClient,
} from "../dist/index.js";

const baseUrl = process.env.CONVENE_EDGE_URL;
const apiKey = process.env.CONVENE_API_KEY;
const skip = !baseUrl || !apiKey ? "set CONVENE_EDGE_URL and CONVENE_API_KEY" : false;

const hour = 3600 * 1000;
const start = new Date(Date.now() + 24 * hour);

/** Awaits a call that must fail and returns its decoded error. */
async function failure(call) {
  try {
    await call;
  } catch (error) {
    return conveneErrorDetails(error);
  }
  assert.fail("the call succeeded but should have failed");
}

test("creates, gets and lists a session over gRPC-Web", { skip }, async () => {
  const client = createConveneClient(baseUrl, apiKey);
  const externalRef = `web-smoke-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

  const { session } = await client.createSession({
    externalRef,
    title: "web smoke",
    media: MediaType.VIDEO,
    scheduledStartTime: timestampFromDate(start),
    scheduledEndTime: timestampFromDate(new Date(start.getTime() + hour)),
    participants: [{ userId: "host-1", displayName: "Host", role: ParticipantRole.HOST }],
  });
  assert.match(session.id, /^ses_/);
  assert.equal(session.externalRef, externalRef);
  assert.equal(session.status, SessionStatus.SCHEDULED);

  const got = await client.getSession({ sessionId: session.id });
  assert.equal(got.session.id, session.id);
  assert.equal(got.session.media, MediaType.VIDEO);

  const listed = await client.listSessions({ externalRef });
  assert.deepEqual(listed.sessions.map((s) => s.id), [session.id]);
});

test("bad input is INVALID_ARGUMENT with ErrorInfo and the offending field", { skip }, async () => {
  const client = createConveneClient(baseUrl, apiKey);
  const error = await failure(
    client.createSession({
      externalRef: "",
      media: MediaType.VIDEO,
      scheduledStartTime: timestampFromDate(start),
      scheduledEndTime: timestampFromDate(new Date(start.getTime() + hour)),
    }),
  );
  assert.equal(error.code, Code.InvalidArgument);
  assert.equal(error.codeName, "INVALID_ARGUMENT");
  assert.equal(error.reason, "INVALID_ARGUMENT");
  assert.equal(error.domain, "convene.dev");
  assert.ok(
    error.fieldViolations.some((v) => v.field === "external_ref"),
    `no violation for external_ref in ${JSON.stringify(error.fieldViolations)}`,
  );
});

test("an unknown session is NOT_FOUND with reason SESSION_NOT_FOUND", { skip }, async () => {
  const client = createConveneClient(baseUrl, apiKey);
  const error = await failure(client.getSession({ sessionId: "ses_doesnotexist0000" }));
  assert.equal(error.code, Code.NotFound);
  assert.equal(error.reason, "SESSION_NOT_FOUND");
  assert.equal(error.errorReason, ErrorReason.SESSION_NOT_FOUND);
});

test("a wrong credential is UNAUTHENTICATED with reason INVALID_CREDENTIAL", { skip }, async () => {
  const client = createConveneClient(baseUrl, "cvk_not_a_real_key");
  const error = await failure(client.listSessions({}));
  assert.equal(error.code, Code.Unauthenticated);
  assert.equal(error.reason, "INVALID_CREDENTIAL");
});
