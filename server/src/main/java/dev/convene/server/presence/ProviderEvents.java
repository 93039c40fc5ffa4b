package dev.convene.server.presence;

import dev.convene.server.platform.Platform;
import dev.convene.server.session.ProviderPresence;
import dev.convene.v1.ProviderKind;
import java.time.Duration;
import java.time.Instant;

/**
 * Stores each verified provider callback once per provider event id and applies it to presence, in
 * one transaction: a repeat (the provider retrying, or a replay within the accepted age) is found by
 * its id and changes nothing. Raw bodies are kept for {@code retention}; each callback removes a
 * bounded number of its tenant's expired ones, so the table stays bounded without a sweeper.
 */
final class ProviderEvents {
  static final int EXPIRED_DELETED_PER_CALLBACK = 100;

  /** What became of a callback. */
  record Result(boolean duplicate, String outcome) {
    boolean applied() {
      return outcome.equals(ProviderPresence.Outcome.APPLIED.name());
    }
  }

  private final Platform platform;
  private final Duration retention;
  /** The feature that sent the messages whose status callbacks come here; none until wired. */
  private volatile MessageStatus.Listener messages;

  ProviderEvents(Platform platform, Duration retention) {
    this.platform = platform;
    this.retention = retention;
  }

  /** Adds the feature that applies message status callbacks (registered once, when the features are wired). */
  void onMessageStatus(MessageStatus.Listener listener) {
    messages = listener;
  }

  Result record(String tenantId, ProviderKind kind, ProviderCallback cb, String contentType, byte[] body) {
    String provider = kind.name().substring("PROVIDER_KIND_".length());
    // The receive time is read from the clock, not the transaction's time, which must be read after
    // the session's lock (taken when the callback is applied).
    Instant received = platform.clock().instant();
    return platform.uow().write(tenantId, "provider:" + provider.toLowerCase(java.util.Locale.ROOT), tx -> {
      int inserted = tx.handle().createUpdate("""
              INSERT INTO provider_events (tenant_id, provider, event_id, event_type, room_name, identity,
                                           provider_time, receive_time, outcome, content_type, body)
              VALUES (:tenantId, :provider, :eventId, :eventType, :room, :identity, :time, :received, 'RECEIVED',
                      :contentType, :body)
              ON CONFLICT (tenant_id, provider, event_id) DO NOTHING
              """)
          .bind("tenantId", tenantId).bind("provider", provider).bind("eventId", cb.eventId())
          .bind("eventType", cb.eventType()).bind("room", cb.roomName()).bind("identity", cb.identity())
          .bind("time", cb.time()).bind("received", received).bind("contentType", contentType).bind("body", body)
          .execute();
      if (inserted == 0) {
        return new Result(true, "DUPLICATE");
      }
      String outcome = apply(tx, kind, cb);
      tx.handle().createUpdate("""
              UPDATE provider_events SET outcome = :outcome
              WHERE tenant_id = :tenantId AND provider = :provider AND event_id = :eventId
              """).bind("outcome", outcome).bind("tenantId", tenantId).bind("provider", provider)
          .bind("eventId", cb.eventId()).execute();
      tx.handle().createUpdate("""
              DELETE FROM provider_events WHERE ctid IN (
                SELECT ctid FROM provider_events WHERE tenant_id = :tenantId AND receive_time < :cutoff LIMIT :limit)
              """).bind("tenantId", tenantId).bind("cutoff", received.minus(retention))
          .bind("limit", EXPIRED_DELETED_PER_CALLBACK).execute();
      return new Result(false, outcome);
    });
  }

  private String apply(dev.convene.server.platform.Tx tx, ProviderKind kind, ProviderCallback cb) {
    if (cb.change() == ProviderCallback.Change.MESSAGE_STATUS) {
      MessageStatus.Listener listener = messages;
      return listener == null ? ProviderPresence.Outcome.IGNORED.name() : listener.apply(tx, cb.message());
    }
    if (cb.roomName() == null || cb.roomName().isEmpty()) {
      return cb.change() == ProviderCallback.Change.NONE ? "STORED" : ProviderPresence.Outcome.IGNORED.name();
    }
    return switch (cb.change()) {
      case CONNECTED, DISCONNECTED -> cb.identity() == null || cb.identity().isEmpty()
          ? ProviderPresence.Outcome.IGNORED.name()
          : ProviderPresence.participant(tx, kind.name(), cb.roomName(), cb.identity(),
              cb.change() == ProviderCallback.Change.CONNECTED, cb.time()).name();
      case ROOM_ENDED -> ProviderPresence.roomEnded(tx, kind.name(), cb.roomName(), cb.time()).name();
      case NONE, MESSAGE_STATUS -> "STORED";
    };
  }
}
