package dev.convene.server.presence;

import java.time.Instant;

/**
 * One verified provider callback, as Convene reads it whichever provider sent it.
 *
 * @param eventId   the provider's event id (LiveKit's {@code id}; Twilio's idempotency token, else a
 *                  hash of the signed parameters): the dedupe key
 * @param eventType the provider's own name of the event ({@code participant_joined}, {@code room-ended})
 * @param change    what it means for presence
 * @param roomName  the room's name (Convene names rooms after their sessions)
 * @param identity  the participant's identity (Convene's roster user id), or null
 * @param time      when the provider says it happened (a message status callback has no time: when it came)
 * @param message   a message status callback's message (Twilio Messaging), else null
 */
record ProviderCallback(String eventId, String eventType, Change change, String roomName, String identity,
    Instant time, MessageStatus message) {

  /** What a callback is about. */
  enum Change { CONNECTED, DISCONNECTED, ROOM_ENDED, MESSAGE_STATUS, NONE }
}
