package dev.convene.server.webhook;

import com.google.protobuf.util.JsonFormat;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.EventLog;
import dev.convene.server.platform.EventRow;
import dev.convene.server.platform.IdKind;
import dev.convene.server.platform.OutsideJobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.v1.LoggedEvent;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The job {@value #KIND} of one endpoint: queues the log's new events for it (one delivery per
 * event it wants, in the same transaction that moves its cursor, so none is queued twice or
 * missed), then sends its pending deliveries in log order, one at a time. A failed delivery is
 * retried with exponential backoff and jitter and holds back the ones after it (order per endpoint);
 * after {@link #GIVE_UP} it is FAILED and the next one goes. 2xx delivers; 410 disables the endpoint;
 * {@link #DISABLE_AFTER} of nothing but failures disables it too. Each attempt leases its delivery,
 * so two replicas never send it at once; a replica that dies mid-attempt leaves the lease to run
 * out, and the delivery goes again with the same {@code webhook-id}.
 */
final class WebhookDeliveries implements OutsideJobHandler {
  private static final Logger log = LoggerFactory.getLogger(WebhookDeliveries.class);
  static final String KIND = "webhook.deliver";
  static final Duration GIVE_UP = Duration.ofDays(3);
  static final Duration DISABLE_AFTER = Duration.ofDays(5);
  static final Duration FIRST_BACKOFF = Duration.ofSeconds(5);
  static final Duration MAX_BACKOFF = Duration.ofHours(6);
  /** The most of a response body read (and then dropped): a receiver cannot make us read more. */
  static final int MAX_RESPONSE_BYTES = 8192;
  /** A run sends at most this many, then yields to other jobs (it is scheduled again at once). */
  static final int BATCH = 100;

  /** What the job needs to know about the world outside. */
  private final Platform platform;
  private final Destinations destinations;
  private final WebhookSecrets secrets;
  private final Duration timeout;
  private final HttpClient http;
  private final Counter sent;
  private final Counter failedAttempts;

  /** {@code timeout} bounds each attempt (connect, and the whole answer). */
  WebhookDeliveries(Platform platform, Destinations destinations, WebhookSecrets secrets, Duration timeout) {
    this.platform = platform;
    this.destinations = destinations;
    this.secrets = secrets;
    this.timeout = timeout;
    // Redirects are not followed: a receiver cannot send the signed body elsewhere.
    this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).connectTimeout(timeout)
        .build();
    MeterRegistry metrics = platform.metrics();
    this.sent = Counter.builder("convene.webhooks.delivered").description("Webhook deliveries an endpoint accepted (2xx)")
        .register(metrics);
    this.failedAttempts = Counter.builder("convene.webhooks.failed.attempts")
        .description("Webhook attempts that got no 2xx").register(metrics);
  }

  @Override
  public String kind() {
    return KIND;
  }

  @Override
  public void runOutside(String tenantId, String endpointId) {
    queue(tenantId, endpointId);
    Instant started = platform.clock().instant();
    for (int i = 0; i < BATCH; i++) {
      // What committed while this run was sending is queued before the run ends: a sweep meanwhile
      // found this job already scheduled and left it.
      if (!sendNext(tenantId, endpointId) && !queue(tenantId, endpointId)) {
        return;
      }
      if (Duration.between(started, platform.clock().instant()).compareTo(Duration.ofSeconds(30)) > 0) {
        break;
      }
    }
    reschedule(tenantId, endpointId, platform.clock().instant());
  }

  /**
   * Queues the events after the endpoint's cursor (up to the log's final part) that it wants;
   * whether there were any past the cursor.
   */
  private boolean queue(String tenantId, String endpointId) {
    boolean read = false;
    while (true) {
      Optional<Endpoints.Row> e = platform.jdbi().withHandle(h -> Endpoints.get(h, tenantId, endpointId));
      if (e.isEmpty() || !e.get().enabled()) {
        return read;
      }
      List<EventRow> rows = platform.events().follow(tenantId, e.get().cursorPosition(), 500);
      if (rows.isEmpty()) {
        return read;
      }
      read = true;
      platform.uow().write(tenantId, "system:job:" + KIND, tx -> {
        Endpoints.Row locked = Endpoints.lock(tx, endpointId).orElse(null);
        if (locked == null) {
          return null;
        }
        long cursor = locked.cursorPosition();
        for (EventRow r : rows) {
          // Another replica may have queued some meanwhile: only what lies past the locked cursor.
          if (r.position() > cursor && locked.wants(r.aggregateType(), r.type())) {
            Endpoints.queue(tx, endpointId, platform.ids().next(IdKind.WEBHOOK_MESSAGE), r.position(),
                r.aggregateType() + "." + r.type(), tx.now());
          }
        }
        long last = rows.get(rows.size() - 1).position();
        if (last > cursor) {
          Endpoints.update(tx, locked.withCursor(last));
        }
        return null;
      });
      if (rows.size() < 500) {
        return true;
      }
    }
  }

  /** Sends the endpoint's next pending delivery; false when there is nothing more to send now. */
  private boolean sendNext(String tenantId, String endpointId) {
    Optional<Endpoints.Row> endpoint = platform.jdbi().withHandle(h -> Endpoints.get(h, tenantId, endpointId));
    if (endpoint.isEmpty() || !endpoint.get().enabled()) {
      return false;
    }
    Endpoints.Row e = endpoint.get();
    Optional<Endpoints.Delivery> next = platform.jdbi().withHandle(h -> Endpoints.nextPending(h, tenantId, endpointId));
    if (next.isEmpty()) {
      return false;
    }
    Instant now = platform.clock().instant();
    if (next.get().nextAttemptTime().isAfter(now)) {
      reschedule(tenantId, endpointId, next.get().nextAttemptTime());
      return false;
    }
    // The lease outlasts the request's timeout, so it never runs out under a live attempt.
    Instant leaseUntil = now.plus(timeout.multipliedBy(3));
    Optional<Endpoints.Delivery> leased = platform.jdbi().withHandle(h ->
        Endpoints.lease(h, tenantId, endpointId, next.get().id(), now, leaseUntil));
    if (leased.isEmpty()) {
      reschedule(tenantId, endpointId, leaseUntil); // another replica is sending it
      return false;
    }
    Endpoints.Delivery d = leased.get();
    Outcome outcome = attempt(e, d);
    return settle(tenantId, endpointId, d, outcome);
  }

  /** What one attempt got: the HTTP status (0 for none) and, without one, why. */
  record Outcome(int status, String error) {
    boolean delivered() {
      return status >= 200 && status < 300;
    }
  }

  private Outcome attempt(Endpoints.Row e, Endpoints.Delivery d) {
    Optional<String> refused = destinations.refusal(e.url());
    if (refused.isPresent()) {
      return new Outcome(0, "address_not_allowed");
    }
    Optional<EventRow> event = platform.events().at(e.tenantId(), d.position());
    if (event.isEmpty()) {
      return new Outcome(0, "event_missing");
    }
    String body = payload(event.get());
    Instant now = platform.clock().instant();
    long timestamp = now.getEpochSecond();
    HttpRequest request = HttpRequest.newBuilder(URI.create(e.url())).timeout(timeout)
        .header("content-type", "application/json").header("user-agent", "Convene-Webhooks/1")
        .header("webhook-id", d.id()).header("webhook-timestamp", Long.toString(timestamp))
        .header("webhook-signature", secrets.signature(e, d.id(), timestamp, body, now))
        .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    try {
      HttpResponse<InputStream> response = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
      try (InputStream in = response.body()) {
        in.readNBytes(MAX_RESPONSE_BYTES); // bounded, and never kept: it may hold anything
      }
      int status = response.statusCode();
      return new Outcome(status, status >= 300 && status < 400 ? "redirect" : "");
    } catch (HttpTimeoutException ex) {
      return new Outcome(0, "timeout");
    } catch (IOException ex) {
      return new Outcome(0, "connection");
    } catch (InterruptedException ex) {
      Thread.currentThread().interrupt();
      return new Outcome(0, "interrupted");
    }
  }

  /**
   * The body: the Standard Webhooks shape {@code {type, timestamp, data}}, with the event as
   * WatchEvents sends it (LoggedEvent's JSON) as {@code data}.
   */
  static String payload(EventRow r) {
    LoggedEvent event = LoggedEvent.newBuilder().setPosition(r.position()).setAggregateType(r.aggregateType())
        .setAggregateId(r.aggregateId()).setAggregateSequence(r.aggregateSeq()).setType(r.type()).setActor(r.actor())
        .setEventTime(ProtoTime.timestamp(r.eventTime())).setPayload(EventLog.payload(r)).build();
    try {
      String data = JsonFormat.printer().omittingInsignificantWhitespace().print(event);
      return "{\"type\":\"" + r.aggregateType() + "." + r.type() + "\",\"timestamp\":\"" + r.eventTime()
          + "\",\"data\":" + data + "}";
    } catch (com.google.protobuf.InvalidProtocolBufferException ex) {
      throw new IllegalStateException(ex);
    }
  }

  /** Records {@code outcome}; true when the next delivery may go now. */
  private boolean settle(String tenantId, String endpointId, Endpoints.Delivery d, Outcome outcome) {
    if (outcome.delivered()) {
      sent.increment();
    } else {
      failedAttempts.increment();
      log.info("Webhook delivery {} to endpoint {} failed (attempt {}): {}", d.id(), endpointId, d.attempts(),
          outcome.status() == 0 ? outcome.error() : "HTTP " + outcome.status());
    }
    return platform.uow().write(tenantId, "system:job:" + KIND, tx -> {
      Endpoints.Row e = Endpoints.lock(tx, endpointId).orElse(null);
      if (e == null) {
        return false; // deleted meanwhile: its deliveries went with it
      }
      Instant now = tx.now();
      if (outcome.delivered()) {
        Endpoints.settle(tx, endpointId, d.id(), Endpoints.DELIVERED, outcome.status(), "", null, now);
        if (e.failingSince() != null) {
          Endpoints.update(tx, e.withFailingSince(null, now));
        }
        return true;
      }
      if (outcome.status() == 410) {
        Endpoints.settle(tx, endpointId, d.id(), Endpoints.FAILED, 410, "", null, null);
        disable(tx, e, "GONE", now);
        return false;
      }
      Instant failingSince = e.failingSince() == null ? now : e.failingSince();
      if (!now.isBefore(d.createTime().plus(GIVE_UP))) {
        Endpoints.settle(tx, endpointId, d.id(), Endpoints.FAILED, outcome.status(), outcome.error(), null, null);
      } else {
        Instant next = now.plus(backoff(d.attempts()));
        Endpoints.settle(tx, endpointId, d.id(), Endpoints.PENDING, outcome.status(), outcome.error(), next, null);
        tx.schedule(KIND, endpointId, next);
      }
      if (!now.isBefore(failingSince.plus(DISABLE_AFTER))) {
        disable(tx, e, "FAILING", now);
      } else if (e.failingSince() == null) {
        Endpoints.update(tx, e.withFailingSince(now, now));
      }
      return false;
    });
  }

  private void disable(dev.convene.server.platform.Tx tx, Endpoints.Row e, String reason, Instant now) {
    Endpoints.update(tx, e.withEnabled(false, reason, now));
    tx.append(WebhookService.AGGREGATE, e.id(), "WEBHOOK_ENDPOINT_DISABLED", Map.of("reason", reason));
    log.warn("Webhook endpoint {} disabled: {}", e.id(), reason);
  }

  /** Exponential from FIRST_BACKOFF, capped at MAX_BACKOFF, with full jitter over its upper half. */
  static Duration backoff(int attempts) {
    long ms = Math.min(MAX_BACKOFF.toMillis(), FIRST_BACKOFF.toMillis() << Math.min(20, Math.max(0, attempts - 1)));
    return Duration.ofMillis(ms / 2 + ThreadLocalRandom.current().nextLong(ms / 2 + 1));
  }

  private void reschedule(String tenantId, String endpointId, Instant due) {
    platform.uow().write(tenantId, "system:job:" + KIND, tx -> {
      tx.schedule(KIND, endpointId, due);
      return null;
    });
  }
}
