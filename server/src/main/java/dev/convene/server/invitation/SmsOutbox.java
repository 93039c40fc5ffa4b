package dev.convene.server.invitation;

import dev.convene.server.platform.OutsideJobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.Tx;
import dev.convene.server.presence.MessageStatus;
import dev.convene.server.provider.SmsFailure;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The SMS outbox: an SMS invitation is committed with its job ({@link #KIND}); the job runner claims
 * it on one replica (SKIP LOCKED and a lease) and this handler sends it with no transaction open.
 * Before each call the row is marked SENDING in its own commit; a run that finds a row SENDING (a
 * crash mid-send, a failure that may have come after Twilio took the message, an unknown outcome)
 * first asks Twilio whether a message carrying this invitation's code went to that number since the
 * first attempt, and sends only if none did: no duplicate, no loss. Transient failures retry with
 * the runner's backoff up to {@link #MAX_ATTEMPTS} attempts, then FAILED; permanent ones fail at
 * once with Twilio's code. Status callbacks then move delivery forward only.
 */
final class SmsOutbox implements OutsideJobHandler, MessageStatus.Listener {
  static final String KIND = "invitation.send_sms";
  static final int MAX_ATTEMPTS = 8;
  /** A margin for the clocks of Convene and Twilio when a reconciliation looks for messages since the first attempt. */
  static final Duration LOOK_BACK = Duration.ofMinutes(5);

  private final Platform platform;
  private final SmsGateway gateway;
  private final Templates templates;

  private final io.micrometer.core.instrument.Counter sent;
  private final io.micrometer.core.instrument.Counter failed;

  SmsOutbox(Platform platform, SmsGateway gateway, Templates templates) {
    this.platform = platform;
    this.gateway = gateway;
    this.templates = templates;
    // Registered at zero, so a dashboard shows "none sent" rather than no data.
    this.sent = io.micrometer.core.instrument.Counter.builder("convene.sms.sent")
        .description("SMS invitations Twilio accepted").register(platform.metrics());
    this.failed = io.micrometer.core.instrument.Counter.builder("convene.sms.failed")
        .description("SMS invitations Twilio refused or that could not be sent").register(platform.metrics());
  }

  @Override
  public String kind() {
    return KIND;
  }

  /** What a run found to do. */
  private record Work(String to, String code, String body, boolean reconcile, Instant since) {}

  /** The outbox's view of a locked invitation. */
  private record Outgoing(String delivery, String status, byte[] phoneSealed, byte[] codeSealed, Instant sendStarted) {}

  @Override
  public void runOutside(String tenantId, String invitationId) {
    String actor = "system:job:" + KIND;
    Optional<Work> work = platform.uow().write(tenantId, actor, tx -> claim(tx, invitationId));
    if (work.isEmpty()) {
      return;
    }
    Work w = work.get();
    if (w.reconcile()) {
      Optional<String> sent = gateway.findSent(tenantId, w.to(), w.since().minus(LOOK_BACK), w.code());
      if (sent.isPresent()) {
        platform.uow().write(tenantId, actor, tx -> sent(tx, invitationId, sent.get(), true));
        return;
      }
    }
    String sid;
    try {
      sid = gateway.send(tenantId, w.to(), w.body());
    } catch (SmsFailure f) {
      failed.increment();
      boolean retry = platform.uow().write(tenantId, actor, tx -> failed(tx, invitationId, f));
      if (retry) {
        throw new IllegalStateException("sending SMS invitation " + invitationId + " failed: " + f.getMessage());
      }
      return;
    }
    sent.increment();
    platform.uow().write(tenantId, actor, tx -> sent(tx, invitationId, sid, false));
  }

  /** Marks the invitation SENDING (committed before the call) and reads what to send; empty when there is nothing to do. */
  private Optional<Work> claim(Tx tx, String invitationId) {
    Optional<Target> target = Target.ofInvitation(tx, invitationId);
    if (target.isEmpty()) {
      return Optional.empty();
    }
    Outgoing row = tx.handle().createQuery("""
            SELECT delivery, status, phone_sealed, code_sealed, send_started_time FROM invitations
            WHERE tenant_id = :tenantId AND id = :id FOR UPDATE
            """).bind("tenantId", tx.tenantId()).bind("id", invitationId).map((rs, ctx) -> {
              java.time.OffsetDateTime started = rs.getObject(5, java.time.OffsetDateTime.class);
              return new Outgoing(rs.getString(1), rs.getString(2), rs.getBytes(3), rs.getBytes(4),
                  started == null ? null : started.toInstant());
            }).one();
    boolean reconcile = row.delivery().equals("SENDING");
    if (!reconcile && !row.delivery().equals("QUEUED")) {
      return Optional.empty();
    }
    if (!row.status().equals("PENDING") && !reconcile) {
      // Revoked or answered before it left: nothing to send.
      tx.handle().createUpdate("UPDATE invitations SET delivery = 'CANCELED' WHERE tenant_id = :tenantId AND id = :id")
          .bind("tenantId", tx.tenantId()).bind("id", invitationId).execute();
      return Optional.empty();
    }
    String context = tx.tenantId() + "/" + invitationId;
    String to = new String(platform.secrets().open(row.phoneSealed(), context + "/phone"), StandardCharsets.UTF_8);
    String code = new String(platform.secrets().open(row.codeSealed(), context + "/code"), StandardCharsets.UTF_8);
    // Every attempt is counted and leaves the row SENDING until its outcome is known; the first
    // attempt's start bounds the search for a message that left without an answer.
    Instant since = row.sendStarted() == null ? tx.now() : row.sendStarted();
    tx.handle().createUpdate("""
            UPDATE invitations SET delivery = 'SENDING', send_started_time = :since, send_attempts = send_attempts + 1
            WHERE tenant_id = :tenantId AND id = :id
            """).bind("since", since).bind("tenantId", tx.tenantId()).bind("id", invitationId).execute();
    String body = Templates.render(templates.settings(tx.handle(), tx.tenantId()), target.get(), code);
    return Optional.of(new Work(to, code, body, reconcile, since));
  }

  private Object sent(Tx tx, String invitationId, String sid, boolean found) {
    Target target = Target.ofInvitation(tx, invitationId).orElseThrow();
    int moved = tx.handle().createUpdate("""
            UPDATE invitations SET delivery = 'SENT', message_sid = :sid
            WHERE tenant_id = :tenantId AND id = :id AND delivery IN ('QUEUED', 'SENDING')
            """).bind("sid", sid).bind("tenantId", tx.tenantId()).bind("id", invitationId).execute();
    if (moved == 0) {
      return null; // another run (a replica that took over) recorded it already
    }
    Map<String, Object> payload = new LinkedHashMap<>();
    payload.put("invitation_id", invitationId);
    if (found) {
      payload.put("found_after_interruption", true);
    }
    target.event(tx, "INVITATION_SENT", payload);
    return null;
  }

  /** Records a failed send; true when the job should run again. */
  private boolean failed(Tx tx, String invitationId, SmsFailure f) {
    Target target = Target.ofInvitation(tx, invitationId).orElseThrow();
    int attempts = tx.handle().createQuery("SELECT send_attempts FROM invitations WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tx.tenantId()).bind("id", invitationId).mapTo(Integer.class).one();
    if (f.kind() != SmsFailure.Kind.PERMANENT && attempts < MAX_ATTEMPTS) {
      // Stays SENDING: a 5xx or a lost answer may still have left a message, so the next run asks
      // Twilio before it sends again.
      return true;
    }
    tx.handle().createUpdate("""
            UPDATE invitations SET delivery = 'FAILED', delivery_error_code = :code WHERE tenant_id = :tenantId AND id = :id
            """).bind("code", code(f)).bind("tenantId", tx.tenantId()).bind("id", invitationId).execute();
    target.event(tx, "INVITATION_FAILED", Map.of("invitation_id", invitationId, "error_code", code(f)));
    return false;
  }

  /** Twilio's error code, or the HTTP status, or the kind: what the tenant reads on a failed invitation. */
  private static String code(SmsFailure f) {
    return f.twilioCode() != null ? f.twilioCode().toString()
        : f.httpStatus() != null ? "HTTP " + f.httpStatus() : f.kind().name();
  }

  /** Delivery moves forward only: QUEUED/SENDING (0) → SENT (1) → DELIVERED or FAILED (2). */
  private static int rank(String delivery) {
    return switch (delivery) {
      case "SENT" -> 1;
      case "DELIVERED", "FAILED" -> 2;
      default -> 0;
    };
  }

  @Override
  public String apply(Tx tx, MessageStatus m) {
    String to = switch (m.status()) {
      case "sent" -> "SENT";
      case "delivered", "read" -> "DELIVERED";
      case "undelivered", "failed" -> "FAILED";
      default -> null; // queued, sending, accepted: nothing new
    };
    Optional<String> found = tx.handle().createQuery(
            "SELECT id FROM invitations WHERE tenant_id = :tenantId AND message_sid = :sid")
        .bind("tenantId", tx.tenantId()).bind("sid", m.sid()).mapTo(String.class).findOne();
    if (found.isEmpty()) {
      return "IGNORED";
    }
    String id = found.get();
    Target target = Target.ofInvitation(tx, id).orElseThrow();
    String current = tx.handle().createQuery(
            "SELECT delivery FROM invitations WHERE tenant_id = :tenantId AND id = :id FOR UPDATE")
        .bind("tenantId", tx.tenantId()).bind("id", id).mapTo(String.class).one();
    if (to == null || rank(to) <= rank(current)) {
      return "STALE";
    }
    tx.handle().createUpdate("""
            UPDATE invitations SET delivery = :to, delivery_error_code = :code WHERE tenant_id = :tenantId AND id = :id
            """).bind("to", to).bind("code", to.equals("FAILED") ? m.errorCode() : null).bind("tenantId", tx.tenantId())
        .bind("id", id).execute();
    if (to.equals("DELIVERED")) {
      target.event(tx, "INVITATION_DELIVERED", Map.of("invitation_id", id));
    } else if (to.equals("FAILED")) {
      target.event(tx, "INVITATION_FAILED",
          Map.of("invitation_id", id, "error_code", m.errorCode() == null ? "" : m.errorCode()));
    }
    return "APPLIED";
  }

}
