// The join page's branches that cannot reach a real provider here, in headless Chromium
// (playwright-core, Debian's /usr/bin/chromium, fake camera and microphone). No Convene server
// either: the page's gRPC-Web calls are answered with page.route, in real gRPC-Web frames built
// from @convene/web-client's generated messages (and google.rpc.Status with an ErrorInfo in
// grpc-status-details-bin for the errors). The built page (dist/, `npm run build`) is served from
// 127.0.0.1; every request to another host is refused, and every WebSocket (Twilio's signaling)
// is closed by the test, so nothing leaves the machine even outside test/providers.sh's private
// network namespace.
//
// Checked: a Twilio token loads the Twilio chunk (not LiveKit's), tries to connect, and says
// clearly that it could not; a Jitsi token says so when the domain's external_api.js cannot be
// loaded; a Twilio SDK that cannot be downloaded; each ErrorInfo reason's plain message; the
// status line is a polite live region and the code field gets the focus when the code was wrong.
// Screenshots in test/out/ (gitignored). Tokens here are fake and say so.
//
// Env: CHROMIUM (default /usr/bin/chromium).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { chromium } from "playwright-core";
import { chromiumOptions } from "./chromium.mjs";
import {
  CredentialSchema,
  ErrorInfoSchema,
  JoinTokenSchema,
  ParticipantRole,
  ProviderKind,
  RedeemAccessCodeResponseSchema,
} from "@convene/web-client";
import { StatusSchema } from "../../dist/gen/google/rpc/status_pb.js";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");
const out = join(here, "out");
const SESSION = "ses_providertest1";
// Obviously fake: no provider accepts these; they only have the shape the SDKs expect.
const b64url = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const FAKE_TWILIO_TOKEN = `${b64url({ typ: "JWT", alg: "HS256", cty: "twilio-fpa;v=1" })}.${b64url({
  jti: "SKfake-0",
  iss: "SKfake",
  sub: "ACfake",
  exp: 4102444800,
  grants: { identity: "usr_patient", video: { room: SESSION } },
})}.fake-signature-not-a-secret`;
const FAKE_CREDENTIAL = "fake-guest-credential-not-a-secret";

// ------------------------------------------------------------------ gRPC-Web answers
const frame = (flag, bytes) => {
  const head = Buffer.alloc(5);
  head.writeUInt8(flag, 0);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, Buffer.from(bytes)]);
};
const GRPC_WEB = "application/grpc-web+proto";

/** A unary gRPC-Web answer: one message frame and a trailer frame with grpc-status 0. */
function ok(schema, message) {
  return {
    status: 200,
    headers: { "content-type": GRPC_WEB },
    body: Buffer.concat([
      frame(0x00, toBinary(schema, create(schema, message))),
      frame(0x80, Buffer.from("grpc-status: 0\r\ngrpc-message: \r\n")),
    ]),
  };
}

/** A trailers-only gRPC-Web error, as Envoy's grpc_web filter sends one: google.rpc.Status with an ErrorInfo. */
function failure(code, reason, message) {
  const status = create(StatusSchema, {
    code,
    message,
    details: [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason, domain: "convene.dev" }))],
  });
  return {
    status: 200,
    headers: {
      "content-type": GRPC_WEB,
      "grpc-status": String(code),
      "grpc-message": encodeURIComponent(message),
      "grpc-status-details-bin": Buffer.from(toBinary(StatusSchema, status)).toString("base64").replace(/=+$/, ""),
    },
    body: Buffer.alloc(0),
  };
}

function redeemed(provider, fields = {}) {
  return ok(RedeemAccessCodeResponseSchema, {
    guestCredential: create(CredentialSchema, { credential: FAKE_CREDENTIAL }),
    joinToken: create(JoinTokenSchema, {
      tokenId: "tok_fake",
      sessionId: SESSION,
      provider,
      token: FAKE_TWILIO_TOKEN,
      roomName: SESSION,
      identity: "usr_patient",
      role: ParticipantRole.PARTICIPANT,
      expireTime: timestampFromDate(new Date(Date.now() + 3600_000)),
      ...fields,
    }),
  });
}

// ------------------------------------------------------------------ static server, browser
let server;
let origin;
let browser;

before(async () => {
  assert.ok(existsSync(join(dist, "join.js")), "no dist/join.js: run `npm run build` first");
  mkdirSync(out, { recursive: true });
  const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".map": "application/json" };
  server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(dist, path.endsWith("/") ? `${path}index.html` : path);
    if (!file.startsWith(dist) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve) ?? resolve());
});

const mask = (text) =>
  String(text)
    .replace(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, "<jwt>")
    .replace(/code=[^&\s"']+/g, "code=<code>");

/**
 * Opens the page with a join link and answers RedeemAccessCode with `answer` (one per call, the
 * last repeated). Returns what the page did: requested paths, refused hosts, WebSockets opened,
 * gRPC-Web calls, console errors and uncaught errors.
 */
async function openPage(answers, { blockPaths = [] } = {}) {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  const page = await context.newPage();
  const seen = { paths: [], refused: [], sockets: [], calls: [], consoleErrors: [], pageErrors: [] };
  page.on("console", (m) => m.type() === "error" && seen.consoleErrors.push(mask(m.text()).slice(0, 300)));
  page.on("pageerror", (e) => seen.pageErrors.push(mask(e.message).slice(0, 300)));
  // Anything not on 127.0.0.1 is refused, as it would be by a network that does not reach it.
  await page.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => {
    seen.refused.push(new URL(route.request().url()).host + new URL(route.request().url()).pathname);
    return route.abort("internetdisconnected");
  });
  // Every WebSocket (Twilio's signaling is one) is closed at once, as a server that is not there.
  await page.routeWebSocket(/.*/, (ws) => {
    seen.sockets.push(new URL(ws.url()).host);
    return ws.close({ code: 1011, reason: "no network in this test" });
  });
  let n = 0;
  await page.route(`${origin}/convene.v1.*/**`, (route) => {
    const method = new URL(route.request().url()).pathname.slice(1);
    seen.calls.push(method);
    return route.fulfill(answers[Math.min(n++, answers.length - 1)]);
  });
  await page.route(`${origin}/**/*.js`, (route) => {
    const path = new URL(route.request().url()).pathname;
    seen.paths.push(path);
    return blockPaths.some((re) => re.test(path)) ? route.abort("internetdisconnected") : route.continue();
  });
  await page.goto(`${origin}/#session=${SESSION}&code=TEST-CODE`);
  return { page, context, seen };
}

async function waitForState(page, states, seconds) {
  await page.waitForFunction((s) => s.includes(document.body.dataset.state), states, { timeout: seconds * 1000, polling: 100 });
  return page.evaluate(() => ({
    state: document.body.dataset.state,
    provider: document.body.dataset.provider ?? "",
    failure: document.body.dataset.failure ?? "",
    failureDetail: document.body.dataset.failureDetail ?? "",
    status: document.getElementById("status").textContent.trim(),
    statusRole: document.getElementById("status").getAttribute("role"),
    statusLive: document.getElementById("status").getAttribute("aria-live"),
    callShown: !document.getElementById("call").hidden,
    codeFormShown: !document.getElementById("code-form").hidden,
    focused: document.activeElement?.id ?? "",
  }));
}

// The calls that decide the join; the page also reads the roster and follows the session live.
const tokenCalls = (seen) => seen.calls.filter((c) => c.startsWith("convene.v1.TokenService/"));
const chunk = (seen, name) => seen.paths.some((p) => new RegExp(`/${name}-[A-Z0-9]+\\.js$`).test(p));
const report = (name, seen) =>
  console.log(
    `${name}: chunks ${seen.paths.join(" ")}; refused ${seen.refused.join(" ") || "none"}; ` +
      `websockets ${seen.sockets.join(" ") || "none"}; console errors ${JSON.stringify(seen.consoleErrors)}`,
  );

// ------------------------------------------------------------------ the tests
test("Twilio token: loads twilio-video (not LiveKit), tries to connect, says it could not", { timeout: 90_000 }, async () => {
  const { page, context, seen } = await openPage([redeemed(ProviderKind.TWILIO)]);
  try {
    await waitForState(page, ["connecting"], 15);
    const look = await waitForState(page, ["error", "connected", "left"], 60);
    await page.screenshot({ path: join(out, "twilio-unreachable.png"), fullPage: true });
    report("twilio", seen);
    assert.deepEqual(tokenCalls(seen), ["convene.v1.TokenService/RedeemAccessCode"]);
    assert.ok(seen.calls.includes("convene.v1.EventService/WatchSession"), `it follows the session (${seen.calls})`);
    assert.ok(chunk(seen, "twilio"), "the Twilio chunk was requested");
    assert.ok(!chunk(seen, "livekit"), "the LiveKit chunk was not requested");
    assert.ok(!chunk(seen, "jitsi"), "the Jitsi chunk was not requested");
    assert.ok(seen.sockets.some((h) => h.endsWith(".twilio.com")), `twilio-video opened its signaling WebSocket (${seen.sockets})`);
    assert.equal(look.provider, "TWILIO");
    assert.equal(look.state, "error");
    assert.equal(look.failure, "unreachable");
    console.log(`twilio: connect() failed with ${look.failureDetail}`);
    assert.match(look.failureDetail, /^5300[0-6]$/, "a TwilioError of the signaling connection");
    assert.match(look.status, /^We could not connect to the video service\. Check your internet connection/);
    assert.equal(look.callShown, false);
    assert.deepEqual(seen.pageErrors, [], "no uncaught error");
  } finally {
    await context.close();
  }
});

test("Twilio token, SDK chunk cannot be downloaded: says the call could not be loaded", { timeout: 60_000 }, async () => {
  const { page, context, seen } = await openPage([redeemed(ProviderKind.TWILIO)], { blockPaths: [/\/twilio-[A-Z0-9]+\.js$/] });
  try {
    const look = await waitForState(page, ["error"], 20);
    await page.screenshot({ path: join(out, "twilio-sdk-not-loaded.png"), fullPage: true });
    report("twilio sdk blocked", seen);
    assert.equal(look.failure, "sdk");
    assert.equal(look.status, "We could not load the video call. Check your internet connection, then reload the page.");
    assert.deepEqual(seen.sockets, []);
    assert.deepEqual(seen.pageErrors, []);
  } finally {
    await context.close();
  }
});

test("Jitsi token: the domain's external_api.js cannot load, the page says so", { timeout: 60_000 }, async () => {
  const { page, context, seen } = await openPage([
    redeemed(ProviderKind.JITSI, {
      token: "fake-jitsi-jwt-not-a-secret",
      connectUrl: `https://meet.example.invalid/${SESSION}?jwt=fake-jitsi-jwt-not-a-secret`,
    }),
  ]);
  try {
    const look = await waitForState(page, ["error", "connected"], 30);
    await page.screenshot({ path: join(out, "jitsi-unreachable.png"), fullPage: true });
    report("jitsi", seen);
    assert.ok(chunk(seen, "jitsi"), "the Jitsi chunk was requested");
    assert.ok(!chunk(seen, "livekit") && !chunk(seen, "twilio"), "no LiveKit or Twilio chunk");
    assert.deepEqual(seen.refused, ["meet.example.invalid/external_api.js"]);
    assert.equal(look.provider, "JITSI");
    assert.equal(look.state, "error");
    assert.equal(look.failure, "unreachable");
    assert.equal(look.failureDetail, "ProviderUnreachable");
    assert.match(look.status, /^We could not connect to the video service\./);
    assert.deepEqual(seen.pageErrors, []);
  } finally {
    await context.close();
  }
});

test("a provider the page does not know: says so, loads no SDK", { timeout: 60_000 }, async () => {
  const { page, context, seen } = await openPage([redeemed(ProviderKind.UNSPECIFIED)]);
  try {
    const look = await waitForState(page, ["error"], 20);
    assert.match(look.status, /^This call uses a video service this page cannot open yet\./);
    assert.ok(!chunk(seen, "livekit") && !chunk(seen, "twilio") && !chunk(seen, "jitsi"));
    assert.deepEqual(seen.pageErrors, []);
  } finally {
    await context.close();
  }
});

// gRPC code numbers: 5 NOT_FOUND, 7 PERMISSION_DENIED, 8 RESOURCE_EXHAUSTED, 9 FAILED_PRECONDITION.
const refusals = [
  [9, "ACCESS_CODE_EXPIRED", "This access code has expired. Please ask the clinic for a new invitation."],
  [7, "PARTICIPANT_BANNED", "You cannot join this call: the host has removed you from it."],
  [8, "SESSION_FULL", "This call is full. Please try again in a few minutes or contact the clinic."],
  [9, "SESSION_ENDED", "This call has ended."],
  [5, "ACCESS_CODE_NOT_FOUND", "That access code is not right. Check the code in your invitation and try again."],
];
for (const [code, reason, text] of refusals) {
  test(`RedeemAccessCode refused with ${reason}: the plain message`, { timeout: 60_000 }, async () => {
    const { page, context, seen } = await openPage([failure(code, reason, `refused: ${reason}`)]);
    try {
      const look = await waitForState(page, ["error"], 20);
      await page.screenshot({ path: join(out, `refused-${reason.toLowerCase().replaceAll("_", "-")}.png`), fullPage: true });
      assert.equal(look.status, text);
      assert.equal(look.statusRole, "status");
      assert.equal(look.statusLive, "polite");
      assert.equal(look.callShown, false);
      assert.ok(!chunk(seen, "livekit") && !chunk(seen, "twilio") && !chunk(seen, "jitsi"), `no provider chunk (${seen.paths})`);
      assert.deepEqual(seen.pageErrors, []);
      if (reason === "ACCESS_CODE_NOT_FOUND") {
        // The code was the problem: the field is offered again, with the focus, for the keyboard.
        assert.equal(look.codeFormShown, true);
        assert.equal(look.focused, "code");
        assert.equal(await page.locator("label[for=code]").textContent(), "Access code");
      } else {
        assert.equal(look.codeFormShown, false);
      }
    } finally {
      await context.close();
    }
  });
}

test("a wrong code, then the right one typed with the keyboard: on to the Twilio call", { timeout: 90_000 }, async () => {
  const { page, context, seen } = await openPage([
    failure(5, "ACCESS_CODE_NOT_FOUND", "no such code"),
    redeemed(ProviderKind.TWILIO),
  ]);
  try {
    await waitForState(page, ["error"], 20);
    await page.keyboard.type("WXYZ-2345");
    await page.keyboard.press("Enter");
    await waitForState(page, ["connecting", "error"], 20);
    const look = await waitForState(page, ["error"], 60);
    report("keyboard retry", seen);
    assert.deepEqual(tokenCalls(seen), ["convene.v1.TokenService/RedeemAccessCode", "convene.v1.TokenService/RedeemAccessCode"]);
    assert.equal(look.failure, "unreachable");
    assert.ok(chunk(seen, "twilio"));
  } finally {
    await context.close();
  }
});
