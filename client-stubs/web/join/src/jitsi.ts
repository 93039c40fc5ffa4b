// A Jitsi call through the Jitsi Meet iframe API, loaded from the meeting link's own domain
// (https://<domain>/external_api.js). Jitsi sends Convene no webhooks, so the page reports
// presence itself: JoinSession when the conference is joined, LeaveSession when it is left, both
// with the guest credential. Not tested against a real Jitsi here (none runs in the test network):
// test/providers.test.mjs checks only what the page says when external_api.js cannot be loaded.
import type { JoinToken, SessionServiceClient } from "@convene/web-client";
import type { Call, Ui } from "./main.js";

interface JitsiApi {
  executeCommand(command: string, ...args: unknown[]): void;
  addListener(event: string, listener: (payload: unknown) => void): void;
  isAudioMuted(): Promise<boolean>;
  isVideoMuted(): Promise<boolean>;
  dispose(): void;
}
type JitsiConstructor = new (domain: string, options: Record<string, unknown>) => JitsiApi;

/** The Jitsi server's iframe API could not be loaded (messages.ts tells the patient so). */
class ProviderUnreachable extends Error {
  override name = "ProviderUnreachable";
}

function loadScript(src: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.async = true;
    script.onload = () => resolve();
    script.onerror = () => reject(new ProviderUnreachable(`could not load ${src}`));
    document.head.append(script);
  });
}

export async function joinJitsi(token: JoinToken, ui: Ui, sessions: SessionServiceClient): Promise<Call> {
  const link = new URL(token.connectUrl); // https://<domain>/<room>?jwt=<token>
  if (link.protocol !== "https:") {
    throw new Error("the Jitsi meeting link is not https");
  }
  await loadScript(`https://${link.host}/external_api.js`);
  const JitsiMeetExternalAPI = (window as unknown as { JitsiMeetExternalAPI?: JitsiConstructor }).JitsiMeetExternalAPI;
  if (!JitsiMeetExternalAPI) {
    throw new ProviderUnreachable("the Jitsi iframe API did not load");
  }
  ui.videos.hidden = true;
  ui.jitsi.hidden = false;
  const presence = { sessionId: token.sessionId, userId: token.identity };
  let present = false;
  const api = new JitsiMeetExternalAPI(link.host, {
    roomName: decodeURIComponent(link.pathname.replace(/^\//, "")),
    jwt: token.token,
    parentNode: ui.jitsi,
    configOverwrite: { prejoinPageEnabled: false, startWithAudioMuted: false, startWithVideoMuted: false },
    interfaceConfigOverwrite: { SHOW_JITSI_WATERMARK: false },
  });
  const leave = async () => {
    if (present) {
      present = false;
      await sessions.leaveSession(presence).catch(() => undefined);
    }
  };
  api.addListener("videoConferenceJoined", () => {
    present = true;
    ui.setState("connected", "You are in the call.");
    void sessions.joinSession(presence).catch(() => undefined);
  });
  api.addListener("participantKickedOut", (payload) => {
    const kicked = (payload as { kicked?: { local?: boolean } }).kicked;
    if (kicked?.local) {
      void leave();
      ui.setState("removed", "You were removed from the call.");
    }
  });
  api.addListener("videoConferenceLeft", () => {
    void leave();
    if (document.body.dataset.state !== "removed") {
      ui.setState("left", "You left the call. You can close this page.");
    }
  });
  addEventListener("pagehide", () => void leave());

  const toggle = async (command: string, muted: () => Promise<boolean>, on: boolean) => {
    if ((await muted()) === on) {
      api.executeCommand(command);
    }
  };
  return {
    setMicrophone: (on) => toggle("toggleAudio", () => api.isAudioMuted(), on),
    setCamera: (on) => toggle("toggleVideo", () => api.isVideoMuted(), on),
    leave: async () => {
      api.executeCommand("hangup");
      await leave();
    },
  };
}
