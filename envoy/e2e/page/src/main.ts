// Calls Convene through Envoy's gRPC-Web listener with @convene/web-client and shows what came
// back, including the structured error of a bad call. The edge URL, credential and external
// reference are injected by browser-test.mjs (never put in the URL, so no log carries the key).
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createConveneClient, conveneErrorDetails, MediaType, ParticipantRole } from "@convene/web-client";

interface PageConfig {
  edgeUrl: string;
  credential: string;
  externalRef: string;
}

const config = (window as unknown as { __CONVENE__?: PageConfig }).__CONVENE__;
const results = document.getElementById("results")!;
const status = document.getElementById("status")!;

function show(id: string, kind: "ok" | "error", html: string) {
  const section = document.createElement("section");
  section.id = id;
  section.className = kind;
  section.innerHTML = html;
  results.append(section);
}

function escape(text: string): string {
  const div = document.createElement("div");
  div.textContent = text;
  return div.innerHTML;
}

function describeError(id: string, title: string, error: unknown) {
  const d = conveneErrorDetails(error);
  const fields = d.fieldViolations.map((v) => `<code>${escape(v.field)}</code>`).join(", ");
  show(
    id,
    "error",
    `<b>${escape(title)}</b><br>gRPC code: <code>${d.codeName}</code> (${d.code})<br>` +
      `reason: <code>${escape(d.reason)}</code> in <code>${escape(d.domain)}</code><br>` +
      `message: ${escape(d.message)}` +
      (fields ? `<br>fields: ${fields}` : ""),
  );
}

async function run(cfg: PageConfig) {
  const client = createConveneClient(cfg.edgeUrl, cfg.credential);
  const start = new Date(Date.now() + 24 * 3600 * 1000);
  const end = new Date(start.getTime() + 3600 * 1000);

  const { session } = await client.createSession({
    externalRef: cfg.externalRef,
    title: "Browser check",
    media: MediaType.VIDEO,
    scheduledStartTime: timestampFromDate(start),
    scheduledEndTime: timestampFromDate(end),
    participants: [{ userId: "dr-house", displayName: "Dr House", role: ParticipantRole.HOST }],
  });
  show("created", "ok", `<b>Created</b> <code>${escape(session.id)}</code> for <code>${escape(session.externalRef)}</code>`);

  const listed = await client.listSessions({ externalRef: cfg.externalRef });
  show(
    "listed",
    "ok",
    `<b>Listed</b> ${listed.sessions.length} session(s): ` +
      listed.sessions.map((s) => `<code>${escape(s.id)}</code>`).join(", "),
  );

  try {
    await client.createSession({ externalRef: "", media: MediaType.VIDEO, scheduledStartTime: timestampFromDate(start), scheduledEndTime: timestampFromDate(end) });
    show("invalid", "ok", "<b>Bad create</b> unexpectedly succeeded");
  } catch (error) {
    describeError("invalid", "Bad create (empty external_ref)", error);
  }

  try {
    await client.getSession({ sessionId: "ses_doesnotexist0000" });
    show("missing", "ok", "<b>Unknown session</b> unexpectedly found");
  } catch (error) {
    describeError("missing", "Unknown session", error);
  }
}

if (!config) {
  status.textContent = "No configuration injected.";
  status.dataset.state = "failed";
} else {
  run(config).then(
    () => {
      status.textContent = "Done.";
      status.dataset.state = "done";
    },
    (error) => {
      describeError("unexpected", "Unexpected failure", error);
      status.textContent = "Failed.";
      status.dataset.state = "failed";
    },
  );
}
