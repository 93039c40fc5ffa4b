package dev.convene.server.session;

import java.time.Instant;

/**
 * One stored session. {@code status} holds the short status name ("IN_PROGRESS");
 * {@code metadata} is the jsonb object as text; {@code presentCount} is derived on read.
 */
public record SessionRow(
    String id,
    String tenantId,
    String externalRef,
    String requestId,
    String title,
    String media,
    String status,
    Instant scheduledStartTime,
    Instant scheduledEndTime,
    int maxParticipants,
    boolean lobbyEnabled,
    long noShowGraceMs,
    long emptyTimeoutMs,
    String metadata,
    String statusReason,
    String[] missingRoles,
    Instant createTime,
    Instant updateTime,
    Instant startTime,
    Instant endTime,
    Instant emptySince,
    Instant noShowDeadline,
    int presentCount,
    long joinLeadMs,
    Room room,
    String duplicateIdentity,
    Recording recording) {

  /**
   * The session's media provider and its room: {@code provider} is null until fixed (at create, or
   * at the first join token), {@code state} follows the room (null, CREATING, ACTIVE, ENDING, ENDED;
   * see migration V6).
   */
  public record Room(String provider, String name, String sid, String state) {
    static final Room NONE = new Room(null, null, null, null);
  }

  /**
   * Whether the call is being recorded, when that last changed (null if never started) and why it
   * stopped (a RecordingStopReason's short name; null while on or never started).
   */
  public record Recording(boolean active, Instant changeTime, String stopReason) {
    static final Recording OFF = new Recording(false, null, null);
  }

  /** This row with a new lifecycle state; everything else stays. */
  SessionRow withLifecycle(String status, String statusReason, String[] missingRoles, Instant updateTime,
      Instant startTime, Instant endTime, Instant emptySince) {
    return new SessionRow(id, tenantId, externalRef, requestId, title, media, status, scheduledStartTime,
        scheduledEndTime, maxParticipants, lobbyEnabled, noShowGraceMs, emptyTimeoutMs, metadata, statusReason,
        missingRoles, createTime, updateTime, startTime, endTime, emptySince, noShowDeadline, presentCount, joinLeadMs,
        room, duplicateIdentity, recording);
  }

  SessionRow withPresentCount(int count) {
    return new SessionRow(id, tenantId, externalRef, requestId, title, media, status, scheduledStartTime,
        scheduledEndTime, maxParticipants, lobbyEnabled, noShowGraceMs, emptyTimeoutMs, metadata, statusReason,
        missingRoles, createTime, updateTime, startTime, endTime, emptySince, noShowDeadline, count, joinLeadMs, room,
        duplicateIdentity, recording);
  }

  SessionRow withRecording(Recording r) {
    return new SessionRow(id, tenantId, externalRef, requestId, title, media, status, scheduledStartTime,
        scheduledEndTime, maxParticipants, lobbyEnabled, noShowGraceMs, emptyTimeoutMs, metadata, statusReason,
        missingRoles, createTime, updateTime, startTime, endTime, emptySince, noShowDeadline, presentCount, joinLeadMs,
        room, duplicateIdentity, r);
  }

  SessionRow withRoom(Room next) {
    return new SessionRow(id, tenantId, externalRef, requestId, title, media, status, scheduledStartTime,
        scheduledEndTime, maxParticipants, lobbyEnabled, noShowGraceMs, emptyTimeoutMs, metadata, statusReason,
        missingRoles, createTime, updateTime, startTime, endTime, emptySince, noShowDeadline, presentCount, joinLeadMs,
        next, duplicateIdentity, recording);
  }
}
