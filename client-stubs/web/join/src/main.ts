// The join page: a patient opens a join link (`join/#session=ses_...&code=ABCD-EFGH`), the page
// redeems the access code over gRPC-Web (no credential needed), waits in the lobby while the host
// has not admitted them, then joins the call with the provider's browser SDK.
//
// A member's group calls: opened with a user credential (`join/#credential=<JWT>`, handed over by
// the tenant's app) or with a group invitation's link (`join/#group=grp_...&code=...`, accepted
// here for a user credential), the page lists the user's groups and joins (or starts) a group's
// call through the same provider code.
//
// The session id and the code travel in the URL fragment, which browsers never send to a server,
// so no static server or proxy log carries the code; the page also takes them out of the address
// bar once read. The gRPC-Web base URL of the Convene edge (Envoy) is the `edge` query parameter,
// else this page's origin.
import {
  EventService,
  type Group,
  GroupService,
  InvitationService,
  type JoinToken,
  ProviderKind,
  SessionService,
  type SessionServiceClient,
  TokenService,
  conveneErrorDetails,
  createServiceClient,
  followSession,
  SessionEventType,
  type SessionEvent,
} from "@convene/web-client";
import { callFailure, messageFor } from "./messages.js";

export type PageState =
  | "starting" // reading the link
  | "groups" // a member's groups, to join or start a call
  | "code" // asking for the code (the link carried none)
  | "redeeming"
  | "lobby" // waiting for the host
  | "connecting"
  | "connected"
  | "left"
  | "removed" // the host removed the participant from the call
  | "denied" // the host turned them away from the lobby
  | "error";

/** What a provider's call looks like to the controls. */
export interface Call {
  setMicrophone(on: boolean): Promise<void>;
  setCamera(on: boolean): Promise<void>;
  leave(): Promise<void>;
}

/** Everything a provider adapter may touch on the page. */
export interface Ui {
  setState(state: PageState, status: string): void;
  videos: HTMLElement;
  selfVideo: HTMLVideoElement;
  jitsi: HTMLElement;
  /** Who else is in the call, by display name or identity. */
  showPeople(names: string[]): void;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $("status");
const codeForm = $<HTMLFormElement>("code-form");
const codeInput = $<HTMLInputElement>("code");
const callSection = $("call");
const people = $("people");
const muteButton = $<HTMLButtonElement>("mute");
const cameraButton = $<HTMLButtonElement>("camera");
const leaveButton = $<HTMLButtonElement>("leave");
const groupsSection = $("groups");
const groupList = $<HTMLUListElement>("group-list");
/** Set in group mode: the member's credential, to list the groups again after a call. */
let member: { credential: string; userId: string } | null = null;

/** Seconds between two IssueJoinToken calls while waiting in the lobby (`poll` query parameter). */
const params = new URLSearchParams(location.search);
const lobbyPollMs = Math.max(1, Number(params.get("poll") ?? "3")) * 1000;
const edge = params.get("edge") || location.origin;

const ui: Ui = {
  setState(state, text) {
    document.body.dataset.state = state;
    status.textContent = text;
    callSection.hidden = !["connecting", "connected"].includes(state);
    groupsSection.hidden = !(member && ["groups", "left", "error"].includes(state));
    if (member && state === "left") {
      // Back from a call: the list again, with which calls are live now.
      void showGroups(status.textContent ?? "");
    }
  },
  videos: $("videos"),
  selfVideo: $<HTMLVideoElement>("self-video"),
  jitsi: $("jitsi"),
  showPeople(names) {
    people.textContent = names.length ? `In the call with you: ${names.join(", ")}` : "Nobody else is in the call yet.";
  },
};

function readLink(): { sessionId: string; groupId: string; code: string; credential: string } {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const sessionId = fragment.get("session") ?? "";
  const groupId = fragment.get("group") ?? "";
  const code = fragment.get("code") ?? "";
  const credential = fragment.get("credential") ?? "";
  if (credential || groupId) {
    // Neither a credential nor a group code stays in the address bar.
    history.replaceState(null, "", `${location.pathname}${location.search}`);
  } else if (code) {
    // Keep the session in the address bar (a reload asks for the code) but not the code.
    history.replaceState(null, "", `${location.pathname}${location.search}#session=${encodeURIComponent(sessionId)}`);
  }
  return { sessionId, groupId, code, credential };
}

function fail(error: unknown): void {
  const m = messageFor(conveneErrorDetails(error));
  ui.setState(m.state, m.text);
  if (m.askAgain) {
    askForCode();
  }
}

function askForCode(): void {
  codeForm.hidden = false;
  codeInput.focus();
}

/**
 * The user id a guest credential is for: its JWT subject. RedeemAccessCodeResponse names the user
 * only inside the join token, which is unset while the guest waits in the lobby, so the page reads
 * the (unverified; it is the page's own) credential instead.
 */
function subjectOf(credential: string): string {
  const payload = credential.split(".")[1] ?? "";
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  return String((JSON.parse(json) as { sub?: unknown }).sub ?? "");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function join(sessionId: string, code: string): Promise<void> {
  codeForm.hidden = true;
  ui.setState("redeeming", "Checking your access code…");
  const anonymous = createServiceClient(TokenService, edge, null);
  let redeemed;
  try {
    redeemed = await anonymous.redeemAccessCode({ sessionId, code });
  } catch (error) {
    fail(error);
    return;
  }
  const credential = redeemed.guestCredential?.credential ?? "";
  void followActivity(sessionId, credential);
  const tokens = createServiceClient(TokenService, edge, credential);
  let token: JoinToken | undefined = redeemed.joinToken;
  if (redeemed.awaitingAdmission || !token) {
    const userId = subjectOf(credential);
    ui.setState("lobby", "Waiting for the host to let you in. Please keep this page open.");
    while (!token) {
      await sleep(lobbyPollMs);
      try {
        token = (await tokens.issueJoinToken({ sessionId, userId })).joinToken;
      } catch (error) {
        const d = conveneErrorDetails(error);
        if (d.reason === "AWAITING_ADMISSION") {
          continue;
        }
        // A brief outage of the edge should not end the wait.
        if (d.codeName === "UNAVAILABLE") {
          continue;
        }
        fail(error);
        return;
      }
    }
  }
  await connect(token, credential);
}

const activitySection = $("activity-section");
const activity = $<HTMLOListElement>("activity");

/**
 * Follows the session live over gRPC-Web (EventService.WatchSession, resumed if the stream
 * breaks) and lists who joined and left, so a patient in the lobby or the call sees "Dr Ada
 * joined". Names come from the roster; the list ends with the visit.
 */
async function followActivity(sessionId: string, credential: string): Promise<void> {
  const names = new Map<string, string>();
  try {
    const roster = await createServiceClient(SessionService, edge, credential).listParticipants({ sessionId });
    roster.participants.forEach((p) => names.set(p.userId, p.displayName || p.userId));
  } catch {
    // Names are a nicety: the user ids stand in.
  }
  const events = createServiceClient(EventService, edge, credential);
  try {
    // Resumes are counted (data-resumes): heartbeats should keep the stream open through proxies.
    const onResume = () => {
      activitySection.dataset.resumes = String(Number(activitySection.dataset.resumes ?? "0") + 1);
    };
    for await (const event of followSession(events, sessionId, { onResume })) {
      const line = describe(event, names);
      if (!line) {
        continue;
      }
      const item = document.createElement("li");
      item.textContent = line;
      item.dataset.sequence = String(event.sequence);
      item.dataset.type = SessionEventType[event.type].replace("SESSION_EVENT_TYPE_", "");
      item.dataset.user = userOf(event);
      activity.append(item);
      activitySection.hidden = false;
    }
  } catch (error) {
    // The call itself goes on; only the list stops.
    activitySection.dataset.stopped = conveneErrorDetails(error).codeName;
  }
}

function userOf(event: SessionEvent): string {
  const user = event.payload?.["user_id"];
  return typeof user === "string" ? user : "";
}

/** A line for the events a patient cares about; undefined for the rest. */
function describe(event: SessionEvent, names: Map<string, string>): string | undefined {
  const user = userOf(event);
  const who = names.get(user) ?? user;
  switch (event.type) {
    case SessionEventType.PARTICIPANT_JOINED:
      return `${who} joined`;
    case SessionEventType.PARTICIPANT_LEFT:
      return `${who} left`;
    case SessionEventType.STATUS_CHANGED: {
      const status = String(event.payload?.["to"] ?? "");
      return ["COMPLETED", "CANCELLED", "NO_SHOW", "FAILED"].includes(status) ? "The visit has ended" : undefined;
    }
    default:
      return undefined;
  }
}

/** Joins the call of {@code token} with the provider's SDK, on behalf of {@code credential}'s holder. */
async function connect(token: JoinToken, credential: string): Promise<void> {
  ui.setState("connecting", "Connecting to the call…");
  const sessions = createServiceClient(SessionService, edge, credential);
  let call: Call;
  try {
    call = await openCall(token, sessions);
  } catch (error) {
    if (error instanceof Unsupported) {
      ui.setState("error", "This call uses a video service this page cannot open yet. Please use the app your clinic gave you.");
      return;
    }
    const failure = callFailure(error, conveneErrorDetails(error));
    document.body.dataset.failure = failure.kind;
    // For tests and support: the provider's error code or the error's name (never its message,
    // which could carry a URL with a token).
    const code = (error as { code?: unknown } | null)?.code;
    document.body.dataset.failureDetail = typeof code === "number" ? String(code) : error instanceof Error ? error.name : "";
    ui.setState("error", failure.text);
    return;
  }
  wireControls(call);
}

/** Accepts a group invitation's code (no credential needed): the answer is the new member's credential. */
async function acceptGroupInvitation(groupId: string, code: string): Promise<void> {
  ui.setState("redeeming", "Checking your invitation…");
  try {
    const accepted = await createServiceClient(InvitationService, edge, null).acceptInvitation({ groupId, code });
    await openGroups(accepted.userCredential?.credential ?? "");
  } catch (error) {
    fail(error);
  }
}

/** Group mode: the member's groups, each with its call to join or start. */
async function openGroups(credential: string): Promise<void> {
  member = { credential, userId: subjectOf(credential) };
  await showGroups("");
}

async function showGroups(before: string): Promise<void> {
  if (!member) {
    return;
  }
  let groups: Group[];
  try {
    groups = (await createServiceClient(GroupService, edge, member.credential).listGroups({ userId: member.userId }))
      .groups;
  } catch (error) {
    fail(error);
    return;
  }
  groupList.replaceChildren(
    ...groups.map((g) => {
      const item = document.createElement("li");
      item.dataset.group = g.id;
      const name = document.createElement("span");
      name.textContent = g.name;
      const button = document.createElement("button");
      button.type = "button";
      const live = g.liveSessionId !== "";
      button.textContent = live ? "Join call" : "Start call";
      button.setAttribute("aria-label", `${button.textContent}: ${g.name}`);
      button.onclick = () => void joinGroup(g.id, live);
      item.append(name, " ", button);
      return item;
    }),
  );
  const choose = groups.length ? "Your groups: join a call, or start one." : "You are not in any group yet.";
  document.body.dataset.state = "groups";
  status.textContent = before ? `${before} ${choose}` : choose;
  groupsSection.hidden = false;
  callSection.hidden = true;
}

async function joinGroup(groupId: string, live: boolean): Promise<void> {
  if (!member) {
    return;
  }
  const groups = createServiceClient(GroupService, edge, member.credential);
  groupsSection.hidden = true;
  ui.setState("connecting", live ? "Joining the call…" : "Starting the call…");
  let token: JoinToken | undefined;
  try {
    if (!live) {
      await groups.startGroupCall({ groupId, userId: member.userId });
    }
    token = (await groups.joinGroupCall({ groupId, userId: member.userId })).joinToken;
  } catch (error) {
    fail(error);
    return;
  }
  if (token) {
    await connect(token, member.credential);
  }
}

class Unsupported extends Error {}

/** Thrown when a provider's adapter (and its SDK) could not be loaded. */
class SdkLoadError extends Error {
  override name = "SdkLoadError";
}

/**
 * Each provider's adapter and SDK is a chunk of its own, loaded only for a call on that provider:
 * a LiveKit patient downloads no Twilio code, and the other way round.
 */
async function load<T>(module: () => Promise<T>): Promise<T> {
  try {
    return await module();
  } catch (error) {
    throw new SdkLoadError(String(error));
  }
}

async function openCall(token: JoinToken, sessions: SessionServiceClient): Promise<Call> {
  document.body.dataset.provider = ProviderKind[token.provider] ?? String(token.provider);
  switch (token.provider) {
    case ProviderKind.LIVEKIT:
      return (await load(() => import("./livekit.js"))).joinLiveKit(token, ui);
    case ProviderKind.TWILIO:
      return (await load(() => import("./twilio.js"))).joinTwilio(token, ui);
    case ProviderKind.JITSI:
      return (await load(() => import("./jitsi.js"))).joinJitsi(token, ui, sessions);
    default:
      throw new Unsupported();
  }
}

function wireControls(call: Call): void {
  let micOn = true;
  let cameraOn = true;
  const busy = async (button: HTMLButtonElement, action: () => Promise<void>) => {
    button.disabled = true;
    try {
      await action();
    } catch {
      status.textContent = "That did not work. Please try again.";
    } finally {
      button.disabled = false;
    }
  };
  muteButton.onclick = () =>
    busy(muteButton, async () => {
      await call.setMicrophone(!micOn);
      micOn = !micOn;
      muteButton.setAttribute("aria-pressed", String(!micOn));
      muteButton.textContent = micOn ? "Mute microphone" : "Unmute microphone";
    });
  cameraButton.onclick = () =>
    busy(cameraButton, async () => {
      await call.setCamera(!cameraOn);
      cameraOn = !cameraOn;
      cameraButton.setAttribute("aria-pressed", String(!cameraOn));
      cameraButton.textContent = cameraOn ? "Turn camera off" : "Turn camera on";
    });
  leaveButton.onclick = () => busy(leaveButton, () => call.leave());
}

codeForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const { sessionId } = readLink();
  void join(sessionId, codeInput.value.trim());
});

// A join link opened again in this tab changes only the fragment, which loads nothing: start over.
addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.replace(/^#/, "")).get("code")) {
    location.reload();
  }
});

const link = readLink();
if (link.credential) {
  void openGroups(link.credential);
} else if (/^grp_[A-Za-z0-9]+$/.test(link.groupId) && link.code) {
  void acceptGroupInvitation(link.groupId, link.code);
} else if (!/^ses_[A-Za-z0-9]+$/.test(link.sessionId)) {
  ui.setState("error", "This join link is incomplete. Please open the link from your invitation again.");
} else if (!link.code) {
  ui.setState("code", "Enter the access code from your invitation.");
  askForCode();
} else {
  void join(link.sessionId, link.code);
}
