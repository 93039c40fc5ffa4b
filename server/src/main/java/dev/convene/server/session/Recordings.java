package dev.convene.server.session;

import dev.convene.server.grpc.ConveneException;
import dev.convene.server.platform.Tx;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.SessionEventType;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Recording consent and a session's recording (seed 003: recording off unless consented): a
 * participant's consent, starting only when everyone present has consented, and stopping at once
 * when someone withdraws, when someone without consent joins, or when the session ends. Every
 * change runs under the session's row lock and writes its event; the provider's room follows
 * through the {@link #JOB} outbox job (subject: the session id), which applies whatever the
 * session says when it runs.
 */
public final class Recordings {
  /** Makes a session's provider room record, or stop, as the session says now. */
  public static final String JOB = "provider.set_recording";
  /** When the job is due after a change through CallService, if its immediate attempt does not settle it. */
  public static final Duration FALLBACK_DELAY = Duration.ofSeconds(30);
  /** How many user ids RECORDING_CONSENT_MISSING names (its metadata stays small). */
  static final int MISSING_LIMIT = 10;

  static final String GRANTED = "GRANTED";
  static final String WITHDRAWN = "WITHDRAWN";
  static final String REQUESTED = "REQUESTED";
  static final String CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN";
  static final String PARTICIPANT_WITHOUT_CONSENT = "PARTICIPANT_WITHOUT_CONSENT";
  static final String SESSION_ENDED = "SESSION_ENDED";

  private Recordings() {}

  /** A roster entry and its session after a consent change. */
  public record Consent(SessionRow session, ParticipantRow participant) {}

  /**
   * Records {@code userId}'s consent in the locked, open session {@code s} (an event only when it
   * changes); a withdrawal while recording stops the recording (CONSENT_WITHDRAWN).
   */
  public static Consent setConsent(Tx tx, SessionRow s, String userId, boolean granted) {
    SessionChanges changes = new SessionChanges(tx);
    ParticipantRow p = changes.participant(s, userId);
    String to = granted ? GRANTED : WITHDRAWN;
    if (!p.recordingConsent().equals(to)) {
      tx.handle().createUpdate("""
              UPDATE participants SET recording_consent = :consent, recording_consent_time = :now
              WHERE tenant_id = :tenantId AND session_id = :sessionId AND id = :id
              """)
          .bind("consent", to).bind("now", tx.now()).bind("tenantId", tx.tenantId()).bind("sessionId", s.id())
          .bind("id", p.id()).execute();
      changes.event(s, SessionEventType.SESSION_EVENT_TYPE_RECORDING_CONSENT_CHANGED,
          Map.of("user_id", userId, "consent", to));
    }
    SessionRow next = granted ? s : stop(tx, s, CONSENT_WITHDRAWN, userId, FALLBACK_DELAY);
    return new Consent(next, changes.participant(s, userId));
  }

  /**
   * Starts recording the locked, open session {@code s}: FAILED_PRECONDITION
   * (RECORDING_CONSENT_MISSING, metadata {@code missing_user_ids} and {@code missing_count}) unless
   * everyone present has granted consent. Nothing happens when it is on already.
   */
  public static SessionRow start(Tx tx, SessionRow s) {
    if (s.recording().active()) {
      return s;
    }
    // Read after the session's lock: a join committed while this call waited is counted.
    List<String> missing = tx.handle().createQuery("""
            SELECT user_id FROM participants
            WHERE tenant_id = :tenantId AND session_id = :sessionId AND present AND recording_consent <> 'GRANTED'
            ORDER BY id
            """)
        .bind("tenantId", tx.tenantId()).bind("sessionId", s.id()).mapTo(String.class).list();
    if (!missing.isEmpty()) {
      throw ConveneException.failedPrecondition(ErrorReason.RECORDING_CONSENT_MISSING,
          missing.size() + " participant(s) present in session " + s.id() + " have not consented to recording",
          Map.of("missing_user_ids", String.join(",", missing.subList(0, Math.min(MISSING_LIMIT, missing.size()))),
              "missing_count", Integer.toString(missing.size())));
    }
    SessionRow next = set(tx, s, new SessionRow.Recording(true, tx.now(), null), FALLBACK_DELAY);
    new SessionChanges(tx).event(s, SessionEventType.SESSION_EVENT_TYPE_RECORDING_STARTED, Map.of());
    return next;
  }

  /** Stops recording the locked, open session {@code s} on request; nothing happens when it is off. */
  public static SessionRow stop(Tx tx, SessionRow s) {
    return stop(tx, s, REQUESTED, null, FALLBACK_DELAY);
  }

  /**
   * Schedules the provider job for a session whose room has just become active while recording is
   * on (a room created after StartRecording must start recording too).
   */
  public static void roomActive(Tx tx, SessionRow s) {
    if (s.recording().active()) {
      tx.schedule(JOB, s.id(), tx.now());
    }
  }

  /** After {@code p} joined the locked session {@code s}: a join without consent stops the recording. */
  static SessionRow afterJoin(Tx tx, SessionRow s, ParticipantRow p) {
    return p.recordingConsent().equals(GRANTED) ? s : stop(tx, s, PARTICIPANT_WITHOUT_CONSENT, p.userId(), Duration.ZERO);
  }

  /** Before {@code s} moves to a terminal status: recording stops (the provider's room ends with the session). */
  static SessionRow beforeEnd(Tx tx, SessionRow s) {
    return stop(tx, s, SESSION_ENDED, null, null);
  }

  /**
   * Stops the recording for {@code reason} (a RecordingStopReason's short name) with a
   * RECORDING_STOPPED event naming {@code userId} when a participant caused it; the provider job is
   * due after {@code providerDelay} (null: no job, the room is ending anyway).
   */
  private static SessionRow stop(Tx tx, SessionRow s, String reason, String userId, Duration providerDelay) {
    if (!s.recording().active()) {
      return s;
    }
    SessionRow next = set(tx, s, new SessionRow.Recording(false, tx.now(), reason), providerDelay);
    Map<String, Object> payload = new LinkedHashMap<>();
    payload.put("reason", reason);
    if (userId != null) {
      payload.put("user_id", userId);
    }
    new SessionChanges(tx).event(s, SessionEventType.SESSION_EVENT_TYPE_RECORDING_STOPPED, payload);
    return next;
  }

  private static SessionRow set(Tx tx, SessionRow s, SessionRow.Recording r, Duration providerDelay) {
    tx.handle().createUpdate("""
            UPDATE sessions SET recording = :on, recording_change_time = :at, recording_stop_reason = :reason
            WHERE tenant_id = :tenantId AND id = :id
            """)
        .bind("on", r.active()).bind("at", r.changeTime()).bind("reason", r.stopReason())
        .bind("tenantId", tx.tenantId()).bind("id", s.id()).execute();
    if (providerDelay != null && SessionChanges.ROOM_ACTIVE.equals(s.room().state())) {
      tx.schedule(JOB, s.id(), tx.now().plus(providerDelay));
    }
    return s.withRecording(r);
  }

  /** The recording state as the contract shows it. */
  public static dev.convene.v1.RecordingState toProto(SessionRow.Recording r) {
    return SessionMapper.toProto(r);
  }
}
