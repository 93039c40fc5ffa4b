// Opens the bundled page (served at PAGE_URL) in headless Debian Chromium through playwright-core,
// lets it call Convene through Envoy's gRPC-Web bridge, asserts what the page shows and saves a
// screenshot. Exits non-zero with a message on any failed expectation.
//
// Env: PAGE_URL, CONVENE_EDGE_URL, CONVENE_API_KEY, SCREENSHOT (png path), CHROMIUM (default
// /usr/bin/chromium), USER_DATA_DIR (a fresh profile directory).
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`browser-test: set ${name}`);
    process.exit(2);
  }
  return value;
};
const pageUrl = need("PAGE_URL");
const edgeUrl = need("CONVENE_EDGE_URL");
const credential = need("CONVENE_API_KEY");
const screenshot = need("SCREENSHOT");
const userDataDir = process.env.USER_DATA_DIR || mkdtempSync(join(tmpdir(), "convene-chromium-"));
const externalRef = `browser-${Date.now()}`;

const failures = [];
const expect = (ok, what) => {
  console.log(`${ok ? "  ok  " : "  FAIL"} ${what}`);
  if (!ok) failures.push(what);
};

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 900, height: 640 },
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  // Only 127.0.0.1 is reachable from this test; anything else is a bug in the page.
  await page.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => {
    expect(false, `page tried to reach ${route.request().url()}`);
    return route.abort();
  });
  await page.addInitScript((cfg) => {
    window.__CONVENE__ = cfg;
  }, { edgeUrl, credential, externalRef });

  await page.goto(pageUrl);
  await page.waitForSelector('#status[data-state="done"], #status[data-state="failed"]', { timeout: 30_000 });

  const state = await page.getAttribute("#status", "data-state");
  const text = (id) => page.locator(`#${id}`).innerText().catch(() => "");
  const created = await text("created");
  const listed = await text("listed");
  const invalid = await text("invalid");
  const missing = await text("missing");
  const sessionId = (created.match(/ses_[A-Za-z0-9]+/) ?? [""])[0];

  expect(state === "done", `page finished (state=${state}${state === "failed" ? `: ${await text("unexpected")}` : ""})`);
  expect(sessionId !== "" && created.includes(externalRef), `page created a session (${sessionId})`);
  expect(sessionId !== "" && /Listed 1 session/.test(listed) && listed.includes(sessionId), "page listed exactly that session");
  expect(/gRPC code: INVALID_ARGUMENT \(3\)/.test(invalid), "bad create shows gRPC code INVALID_ARGUMENT");
  expect(/reason: INVALID_ARGUMENT in convene\.dev/.test(invalid), "bad create shows ErrorInfo reason from grpc-status-details-bin");
  expect(/fields: .*external_ref/.test(invalid), "bad create names the field external_ref (BadRequest)");
  expect(/gRPC code: NOT_FOUND \(5\)/.test(missing) && /reason: SESSION_NOT_FOUND/.test(missing), "unknown session shows NOT_FOUND / SESSION_NOT_FOUND");

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`  screenshot: ${screenshot}`);
  // Expected failures show up as console errors only if the page mishandled them.
  expect(consoleErrors.length === 0, `no console errors${consoleErrors.length ? `: ${consoleErrors.join(" | ")}` : ""}`);
} finally {
  await context.close();
}

if (failures.length) {
  console.error(`browser-test: ${failures.length} expectation(s) failed`);
  process.exit(1);
}
