// Drives the join page in headless Chromium (playwright-core) for an end-to-end test: one JSON
// command per line on stdin, one JSON answer per line on stdout. The join links it is given carry
// access codes, so it never prints a URL; page console lines go to stderr with JWTs and the
// fragment masked.
//
//   {"op": "open", "tab": "a", "url": "..."}            opens (or reuses) tab "a" at url
//   {"op": "wait", "tab": "a", "states": ["connected"], "timeout": 30}
//                                                        until body[data-state] is one of states
//   {"op": "look", "tab": "a"}                           what the page shows now
//   {"op": "click", "tab": "a", "selector": "#leave"}    keyboard: focus + Enter (as a user would)
//   {"op": "screenshot", "tab": "a", "path": "x.png"}
//   {"op": "close", "tab": "a"} / {"op": "quit"}
// Every answer carries "ok" and, for a tab, "look": {state, status, people, published,
// disconnectReason, remoteVideos, playingRemoteVideos, selfVideoPlaying, buttons}.
//
// Env: CHROMIUM (default /usr/bin/chromium), USER_DATA_DIR (a fresh profile directory).
import { chromium } from "playwright-core";
import { chromiumOptions } from "./chromium.mjs";
import { createInterface } from "node:readline";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const mask = (text) =>
  String(text)
    .replace(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, "<jwt>")
    .replace(/#[^\s"']*/g, "#<fragment>")
    .replace(/access_token=[^&\s"']+/g, "access_token=<jwt>");

const context = await chromium.launchPersistentContext(
  process.env.USER_DATA_DIR || mkdtempSync(join(tmpdir(), "convene-join-")),
  {
    ...chromiumOptions,
    viewport: { width: 1000, height: 720 },
  },
);
const tabs = new Map();

async function tab(name) {
  let page = tabs.get(name);
  if (!page) {
    page = tabs.size === 0 && context.pages()[0] ? context.pages()[0] : await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") {
        process.stderr.write(`[${name}] console.${m.type()}: ${mask(m.text()).slice(0, 300)}\n`);
      }
    });
    page.on("pageerror", (e) => process.stderr.write(`[${name}] page error: ${mask(e.message).slice(0, 300)}\n`));
    // Only 127.0.0.1 exists in the test's network; anything else is the page's bug.
    await page.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => {
      process.stderr.write(`[${name}] blocked a request to ${mask(route.request().url())}\n`);
      return route.abort();
    });
    tabs.set(name, page);
  }
  return page;
}

async function look(page) {
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id)?.textContent?.trim() ?? "";
    const playing = (v) => !v.paused && v.readyState >= 2 && v.videoWidth > 0;
    const remote = [...document.querySelectorAll("#videos figure[data-identity] video")];
    const self = document.getElementById("self-video");
    return {
      state: document.body.dataset.state ?? "",
      status: text("status"),
      statusLive: document.getElementById("status")?.getAttribute("aria-live") ?? "",
      people: text("people"),
      published: document.body.dataset.published ?? "",
      disconnectReason: document.body.dataset.disconnectReason ?? "",
      remoteVideos: remote.map((v) => v.closest("figure").dataset.identity),
      playingRemoteVideos: remote.filter(playing).length,
      selfVideoPlaying: self ? playing(self) : false,
      codeFormShown: !document.getElementById("code-form")?.hidden,
      activity: [...document.querySelectorAll("#activity li")].map((li) => ({
        sequence: Number(li.dataset.sequence),
        type: li.dataset.type,
        user: li.dataset.user,
        text: li.textContent,
      })),
      activityLive: document.getElementById("activity")?.getAttribute("aria-live") ?? "",
      activityResumes: Number(document.getElementById("activity-section")?.dataset.resumes ?? "0"),
      groups: [...document.querySelectorAll("#group-list li")].map((li) => ({
        id: li.dataset.group,
        name: li.querySelector("span")?.textContent ?? "",
        action: li.querySelector("button")?.textContent ?? "",
        visible: li.offsetParent !== null,
      })),
      buttons: [...document.querySelectorAll("#controls button")].map((b) => ({
        id: b.id,
        label: b.textContent.trim(),
        pressed: b.getAttribute("aria-pressed"),
        visible: b.offsetParent !== null,
      })),
    };
  });
}

async function handle(cmd) {
  if (cmd.op === "quit") {
    await context.close();
    return { ok: true };
  }
  const page = await tab(cmd.tab ?? "a");
  switch (cmd.op) {
    case "open":
      await page.goto(cmd.url);
      break;
    case "wait":
      try {
        await page.waitForFunction((states) => states.includes(document.body.dataset.state), cmd.states, {
          timeout: (cmd.timeout ?? 30) * 1000,
          polling: 100,
        });
      } catch {
        return { ok: false, error: `state not in ${cmd.states.join("|")}`, look: await look(page) };
      }
      break;
    case "click":
      await page.focus(cmd.selector);
      await page.keyboard.press("Enter");
      break;
    case "screenshot":
      mkdirSync(dirname(cmd.path), { recursive: true });
      await page.screenshot({ path: cmd.path, fullPage: true });
      break;
    case "close":
      await page.close();
      tabs.delete(cmd.tab ?? "a");
      return { ok: true };
    case "look":
      break;
    default:
      return { ok: false, error: `unknown op ${cmd.op}` };
  }
  return { ok: true, look: await look(page) };
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = await handle(JSON.parse(line));
  } catch (e) {
    answer = { ok: false, error: mask(e?.message ?? e).slice(0, 300) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
  if (answer.ok && JSON.parse(line).op === "quit") break;
}
process.exit(0);
