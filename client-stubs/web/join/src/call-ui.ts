// The call's DOM, shared by the provider adapters that draw their own video (LiveKit, Twilio):
// one tile per remote camera, hidden <audio> elements for remote microphones, the "who is here"
// line, the self view, and how an ended call is told to the patient.
import type { PageState, Ui } from "./main.js";

/** How a call ended, in the patient's terms; each provider maps its own reasons onto these. */
export type Ending = "left" | "removed" | "ended" | "duplicate" | "lost";

const endings: Record<Ending, [PageState, string]> = {
  left: ["left", "You left the call. You can close this page."],
  removed: ["removed", "You were removed from the call."],
  ended: ["left", "The call has ended. You can close this page."],
  duplicate: ["left", "You joined this call from another window or device, so this one was closed."],
  lost: ["left", "The connection to the call was lost. Reload the page to join again."],
};

export class CallView {
  private readonly tiles = new Map<string, HTMLElement>();
  private readonly audio = new Map<string, HTMLMediaElement>();

  constructor(private readonly ui: Ui) {}

  /** Shows a remote camera: `video` is the provider SDK's attached element. */
  addVideo(key: string, identity: string, name: string, video: HTMLMediaElement): void {
    this.remove(key);
    const figure = document.createElement("figure");
    figure.className = "tile";
    figure.dataset.identity = identity;
    video.setAttribute("aria-label", `${name}'s camera`);
    const caption = document.createElement("figcaption");
    caption.textContent = name;
    figure.append(video, caption);
    this.ui.videos.append(figure);
    this.tiles.set(key, figure);
  }

  /** Plays a remote microphone (an <audio> element, not shown). */
  addAudio(key: string, element: HTMLMediaElement): void {
    this.remove(key);
    document.body.append(element);
    this.audio.set(key, element);
  }

  /** Takes away what addVideo or addAudio added under `key`. */
  remove(key: string): void {
    this.tiles.get(key)?.remove();
    this.tiles.delete(key);
    this.audio.get(key)?.remove();
    this.audio.delete(key);
  }

  /** "In the call with you: …" */
  people(names: string[]): void {
    this.ui.showPeople(names);
  }

  connected(): void {
    this.ui.setState("connected", "You are in the call.");
  }

  reconnecting(): void {
    this.ui.setState("connecting", "Connection lost. Reconnecting…");
  }

  /** The call is over: says why, clears the tiles and the self view. `detail` is for tests and support. */
  ended(ending: Ending, detail: string): void {
    const [state, text] = endings[ending];
    this.ui.setState(state, text);
    document.body.dataset.disconnectReason = detail;
    for (const key of [...this.tiles.keys(), ...this.audio.keys()]) {
      this.remove(key);
    }
    this.ui.selfVideo.srcObject = null;
  }
}
