// A Twilio Video call (twilio-video): connect with Convene's token to the room it names, publish
// camera and microphone, show the others. Convene learns who is present from Twilio's room status
// callbacks, so the page calls no JoinSession here (as for LiveKit).
//
// How the Room's `disconnected` event tells why (twilio-video 2.36.0, read in its source,
// lib/signaling/v2/twilioconnectiontransport.js): with no error after our own room.disconnect();
// with TwilioError 53118 "Room completed" when the room was ended (REST `Status=completed`, or it
// timed out empty); with 53205 when the same identity connected elsewhere; with NO error when
// Twilio disconnected this participant for another reason, which is what the REST kick
// (`Participants/{sid}` with `Status=disconnected`) does: there is no separate "removed" code
// (no 53207 exists in the SDK's error table). Any other error (53000-53002 signaling, 53405 media,
// ...) is a lost connection.
//
// Not tested against a real Twilio here (none is reachable); test/providers.test.mjs checks that
// the page loads this module, tries to connect, and says so clearly when it cannot.
import type { JoinToken } from "@convene/web-client";
import {
  connect,
  createLocalVideoTrack,
  type LocalVideoTrack,
  type RemoteParticipant,
  type RemoteTrack,
  type Room,
  type TwilioError,
} from "twilio-video";
import { CallView, type Ending } from "./call-ui.js";
import type { Call, Ui } from "./main.js";

const ROOM_COMPLETED = 53118;
const DUPLICATE_IDENTITY = 53205;

function ending(error: TwilioError | null | undefined, leaving: boolean): Ending {
  if (leaving) {
    return "left";
  }
  if (!error) {
    return "removed";
  }
  return error.code === ROOM_COMPLETED ? "ended" : error.code === DUPLICATE_IDENTITY ? "duplicate" : "lost";
}

export async function joinTwilio(token: JoinToken, ui: Ui): Promise<Call> {
  const room: Room = await connect(token.token, { name: token.roomName, audio: true, video: true });
  const view = new CallView(ui);
  let leaving = false;
  const refreshPeople = () => view.people([...room.participants.values()].map((p) => p.identity));
  const keyOf = (participant: RemoteParticipant, track: RemoteTrack) => `${participant.sid}/${track.kind}/${track.name}`;
  const show = (track: RemoteTrack, participant: RemoteParticipant) => {
    if (track.kind === "video") {
      view.addVideo(keyOf(participant, track), participant.identity, participant.identity, track.attach());
    } else if (track.kind === "audio") {
      view.addAudio(keyOf(participant, track), track.attach());
    }
  };
  const selfView = () => {
    const camera = [...room.localParticipant.videoTracks.values()][0]?.track;
    camera?.attach(ui.selfVideo);
    return camera;
  };

  // Participants who were in the room before us, with what they already publish.
  for (const participant of room.participants.values()) {
    for (const publication of participant.tracks.values()) {
      if (publication.track) {
        show(publication.track as RemoteTrack, participant);
      }
    }
  }
  room
    .on("trackSubscribed", (track, _publication, participant) => show(track, participant))
    .on("trackUnsubscribed", (track, _publication, participant) => {
      if (track.kind !== "data") {
        track.detach();
      }
      view.remove(keyOf(participant, track));
    })
    .on("participantConnected", refreshPeople)
    .on("participantDisconnected", refreshPeople)
    .on("reconnecting", () => view.reconnecting())
    .on("reconnected", () => view.connected())
    .on("disconnected", (_room, error: TwilioError | null) => {
      room.localParticipant.tracks.forEach((publication) => {
        const track = publication.track;
        if (track.kind !== "data") {
          track.stop();
          track.detach();
        }
      });
      view.ended(ending(error, leaving), error ? `TWILIO_${error.code}` : leaving ? "CLIENT_INITIATED" : "SERVER_DISCONNECTED");
    });
  // Twilio keeps a participant whose tab closed for a while unless told: leave on the way out.
  addEventListener("pagehide", () => {
    leaving = true;
    room.disconnect();
  });

  selfView();
  refreshPeople();
  view.connected();
  // For tests and support: what this participant published (as the LiveKit path reports).
  document.body.dataset.published = [...room.localParticipant.tracks.values()]
    .map((p) => (p.kind === "video" ? "camera" : p.kind === "audio" ? "microphone" : p.kind))
    .sort()
    .join(",");

  return {
    setMicrophone: async (on) => {
      room.localParticipant.audioTracks.forEach((publication) => (on ? publication.track.enable() : publication.track.disable()));
    },
    // Off unpublishes and stops the camera (its light goes off); on takes a new camera track.
    setCamera: async (on) => {
      if (!on) {
        room.localParticipant.videoTracks.forEach((publication) => {
          const track: LocalVideoTrack = publication.track;
          room.localParticipant.unpublishTrack(track);
          track.stop();
          track.detach();
        });
        ui.selfVideo.srcObject = null;
        return;
      }
      const track = await createLocalVideoTrack();
      await room.localParticipant.publishTrack(track);
      track.attach(ui.selfVideo);
    },
    leave: async () => {
      leaving = true;
      room.disconnect();
    },
  };
}
