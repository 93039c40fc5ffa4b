package dev.convene.server.provider;

import dev.convene.v1.ParticipantRole;
import java.time.Instant;

/**
 * What a participant's token grants.
 *
 * @param roomName    the room (the session id)
 * @param identity    the roster user id, as the provider will show it
 * @param displayName the roster display name (may be empty)
 * @param role        the roster role the rights come from (HOST, PARTICIPANT or OBSERVER)
 * @param issueTime   now; the token is not valid before it
 * @param expireTime  when the token stops working (always set: Jitsi tokens without exp never expire)
 * @param recordingAllowed whether the session is being recorded with everyone present consenting,
 *                    and this participant too (Jitsi gives a HOST the recording feature only then)
 */
public record TokenSpec(String roomName, String identity, String displayName, ParticipantRole role,
    Instant issueTime, Instant expireTime, boolean recordingAllowed) {}
