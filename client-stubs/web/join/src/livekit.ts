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
import { CallView, type Ending } from "./call-ui.js";
import type { Call, Ui } from "./main.js";

const endings: Partial<Record<DisconnectReason, Ending>> = {
  [DisconnectReason.CLIENT_INITIATED]: "left",
  [DisconnectReason.PARTICIPANT_REMOVED]: "removed",
  [DisconnectReason.ROOM_DELETED]: "ended",
  [DisconnectReason.DUPLICATE_IDENTITY]: "duplicate",
};

export async function joinLiveKit(token: JoinToken, ui: Ui): Promise<Call> {
  const room = new Room({ adaptiveStream: true, dynacast: true });
  const view = new CallView(ui);
  const name = (p: Participant) => p.name || p.identity;
  const refreshPeople = () => view.people([...room.remoteParticipants.values()].map(name));

  room
    .on(RoomEvent.TrackSubscribed, (track: RemoteTrack, _pub, participant) => {
      const key = track.sid ?? `${participant.identity}/${track.kind}`;
      if (track.kind === Track.Kind.Video) {
        view.addVideo(key, participant.identity, name(participant), track.attach());
      } else {
        view.addAudio(key, track.attach());
      }
    })
    .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack, _pub, participant) => {
      track.detach();
      view.remove(track.sid ?? `${participant.identity}/${track.kind}`);
    })
    .on(RoomEvent.ParticipantConnected, refreshPeople)
    .on(RoomEvent.ParticipantDisconnected, refreshPeople)
    .on(RoomEvent.Reconnecting, () => view.reconnecting())
    .on(RoomEvent.Reconnected, () => view.connected())
    .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
      view.ended((reason !== undefined && endings[reason]) || "lost", reason === undefined ? "" : DisconnectReason[reason]);
    });

  await room.connect(token.connectUrl, token.token);
  await room.localParticipant.enableCameraAndMicrophone();
  const camera = room.localParticipant.getTrackPublication(Track.Source.Camera)?.track;
  camera?.attach(ui.selfVideo);
  refreshPeople();
  view.connected();
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
