package dev.convene.server.session;

import java.time.Instant;

/**
 * One stored roster entry with its presence. {@code role}, {@code admission} and
 * {@code recordingConsent} hold short enum names ("HOST", "NONE", "GRANTED").
 */
public record ParticipantRow(
    long id,
    String sessionId,
    String userId,
    String displayName,
    String role,
    boolean present,
    Instant firstJoinTime,
    Instant lastJoinTime,
    Instant lastLeaveTime,
    long connectedMs,
    int joinCount,
    Instant addTime,
    boolean banned,
    String admission,
    Instant lobbyEnterTime,
    String recordingConsent,
    Instant recordingConsentTime) {

  /** This entry after joining at {@code at}. */
  ParticipantRow joined(Instant at) {
    return new ParticipantRow(id, sessionId, userId, displayName, role, true,
        firstJoinTime == null ? at : firstJoinTime, at, lastLeaveTime, connectedMs, joinCount + 1, addTime, banned,
        admission, lobbyEnterTime, recordingConsent, recordingConsentTime);
  }

  /** This entry after leaving at {@code at}, with the time since the last join added. */
  ParticipantRow left(Instant at) {
    long span = Math.max(0, at.toEpochMilli() - lastJoinTime.toEpochMilli());
    return new ParticipantRow(id, sessionId, userId, displayName, role, false,
        firstJoinTime, lastJoinTime, at, connectedMs + span, joinCount, addTime, banned,
        admission, lobbyEnterTime, recordingConsent, recordingConsentTime);
  }
}
