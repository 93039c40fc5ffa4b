// A LiveKit call: connect with Convene's token, publish camera and microphone, show the others.
// Convene learns who is present from LiveKit's webhooks, so the page calls no JoinSession here.
import type { JoinToken } from "@convene/web-client";
import {
  DisconnectReason,
  type Participant,
  type RemoteTrack,
  Room,
  RoomEvent,
  Track,
} from "livekit-client";
import type { Call, PageState, Ui } from "./main.js";

const endings: Partial<Record<DisconnectReason, [PageState, string]>> = {
  [DisconnectReason.CLIENT_INITIATED]: ["left", "You left the call. You can close this page."],
  [DisconnectReason.PARTICIPANT_REMOVED]: ["removed", "You were removed from the call."],
  [DisconnectReason.ROOM_DELETED]: ["left", "The call has ended. You can close this page."],
  [DisconnectReason.DUPLICATE_IDENTITY]: ["left", "You joined this call from another window or device, so this one was closed."],
};

export async function joinLiveKit(token: JoinToken, ui: Ui): Promise<Call> {
  const room = new Room({ adaptiveStream: true, dynacast: true });
  const tiles = new Map<string, HTMLElement>();
  const name = (p: Participant) => p.name || p.identity;
  const refreshPeople = () => ui.showPeople([...room.remoteParticipants.values()].map(name));

  room
    .on(RoomEvent.TrackSubscribed, (track: RemoteTrack, _pub, participant) => {
      if (track.kind === Track.Kind.Video) {
        const figure = document.createElement("figure");
        figure.className = "tile";
        figure.dataset.identity = participant.identity;
        const video = track.attach() as HTMLVideoElement;
        video.setAttribute("aria-label", `${name(participant)}'s camera`);
        const caption = document.createElement("figcaption");
        caption.textContent = name(participant);
        figure.append(video, caption);
        ui.videos.append(figure);
        tiles.set(track.sid ?? participant.identity, figure);
      } else {
        document.body.append(track.attach()); // an <audio> element, not shown
      }
    })
    .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => {
      track.detach().forEach((el) => el.remove());
      tiles.get(track.sid ?? "")?.remove();
    })
    .on(RoomEvent.ParticipantConnected, refreshPeople)
    .on(RoomEvent.ParticipantDisconnected, refreshPeople)
    .on(RoomEvent.Reconnecting, () => ui.setState("connecting", "Connection lost. Reconnecting…"))
    .on(RoomEvent.Reconnected, () => ui.setState("connected", "You are in the call."))
    .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
      const [state, text] = (reason !== undefined && endings[reason]) || [
        "left",
        "The connection to the call was lost. Reload the page to join again.",
      ];
      ui.setState(state, text);
      document.body.dataset.disconnectReason = reason === undefined ? "" : DisconnectReason[reason];
      ui.videos.querySelectorAll("figure[data-identity]").forEach((el) => el.remove());
      ui.selfVideo.srcObject = null;
    });

  await room.connect(token.connectUrl, token.token);
  await room.localParticipant.enableCameraAndMicrophone();
  const camera = room.localParticipant.getTrackPublication(Track.Source.Camera)?.track;
  camera?.attach(ui.selfVideo);
  refreshPeople();
  ui.setState("connected", "You are in the call.");
  // For tests and support: what LiveKit says this participant published.
  document.body.dataset.published = [...room.localParticipant.trackPublications.values()]
    .map((p) => p.source)
    .sort()
    .join(",");

  return {
    setMicrophone: async (on) => {
      await room.localParticipant.setMicrophoneEnabled(on);
    },
    setCamera: async (on) => {
      await room.localParticipant.setCameraEnabled(on);
      if (on) {
        room.localParticipant.getTrackPublication(Track.Source.Camera)?.track?.attach(ui.selfVideo);
      }
    },
    leave: () => room.disconnect(),
  };
}
