package dev.convene.server.provider;

import java.time.Duration;

/**
 * The room of one session, as Convene asks a provider for it.
 *
 * @param roomName          the room's unique name: the session id
 * @param audioOnly         an AUDIO session (Twilio {@code AudioOnly})
 * @param maxParticipants   the session's max_participants (Twilio caps at 50)
 * @param emptyTimeout      how long a room nobody joined, or everybody left, lives on
 * @param statusCallbackUrl where the provider reports room events (Twilio {@code StatusCallback}); null for none
 * @param mediaRegion       Twilio {@code MediaRegion}; null lets the provider choose
 */
public record RoomSpec(String roomName, boolean audioOnly, int maxParticipants, Duration emptyTimeout,
    String statusCallbackUrl, String mediaRegion) {}
