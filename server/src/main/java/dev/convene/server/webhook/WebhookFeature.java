package dev.convene.server.webhook;

import dev.convene.server.platform.Threads;
import dev.convene.server.platform.EventSignal;
import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.WakeUp;
import io.grpc.BindableService;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Outbound webhooks: the endpoints (WebhookService) and their deliveries, sent by the job runner
 * ({@link WebhookDeliveries}). A sweep schedules the delivery job of every enabled endpoint whose
 * cursor is behind its tenant's log (one statement; a job already scheduled is left as it is) and
 * wakes the job runner. A replica sweeps when a commit of a tenant with endpoints signals new events
 * (here or, by NOTIFY, on another replica), and every {@code sweep} in case a signal was lost; so
 * an event reaches its endpoints within milliseconds, or a sweep interval at worst.
 */
public final class WebhookFeature implements Feature, EventSignal.Listener {
  private static final Logger log = LoggerFactory.getLogger(WebhookFeature.class);

  /** CONVENE_WEBHOOK_TIMEOUT, CONVENE_WEBHOOK_ALLOWED_NETWORKS, and how often replicas look for new events. */
  public record Settings(Duration timeout, List<String> allowedNetworks, Duration sweep) {
    public static Settings defaults() {
      return new Settings(Duration.ofSeconds(10), List.of(), Duration.ofSeconds(1));
    }
  }

  private final Platform platform;
  private final Settings settings;
  private final WebhookService service;
  private final WebhookDeliveries deliveries;
  private volatile ScheduledExecutorService sweeper;
  /** Deliveries waiting across tenants, as the last sweep counted them. */
  private volatile long pending;
  /**
   * The tenants with enabled endpoints, as the last periodic sweep read them and as this replica
   * enabled them since: whose events are swept at once.
   */
  private final Set<String> tenantsWithEndpoints = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private final WakeUp sweepNow = new WakeUp(() -> sweepQuietly(false));

  public WebhookFeature(Platform platform, Settings settings) {
    this.platform = platform;
    this.settings = settings;
    Destinations destinations = new Destinations(settings.allowedNetworks());
    WebhookSecrets secrets = new WebhookSecrets(platform.secrets());
    this.service = new WebhookService(platform, destinations, secrets, tenantsWithEndpoints::add);
    this.deliveries = new WebhookDeliveries(platform, destinations, secrets, settings.timeout());
    io.micrometer.core.instrument.Gauge.builder("convene.webhooks.pending", this, f -> f.pending)
        .description("Webhook deliveries waiting to be sent, across tenants").register(platform.metrics());
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of(deliveries);
  }

  @Override
  public synchronized void start() {
    sweeper = Executors.newSingleThreadScheduledExecutor(Threads.daemon("convene-webhook-sweep"));
    long ms = settings.sweep().toMillis();
    sweeper.scheduleWithFixedDelay(() -> sweepQuietly(true), 0, ms, TimeUnit.MILLISECONDS);
    platform.signal().subscribe(this);
  }

  @Override
  public void grew(String tenantId, long position) {
    if (tenantsWithEndpoints.contains(tenantId)) {
      sweepSoon();
    }
  }

  @Override
  public void missed() {
    sweepSoon();
  }

  /** Sweeps as soon as the sweeper is free; requests while one is queued are one. Never blocks. */
  private void sweepSoon() {
    sweepNow.request(sweeper);
  }

  /** A sweep; the periodic ones also count what is pending and read which tenants have endpoints. */
  private void sweepQuietly(boolean periodic) {
    try {
      if (periodic) {
        Set<String> read = platform.jdbi().withHandle(h -> h.createQuery(
            "SELECT DISTINCT tenant_id FROM webhook_endpoints WHERE enabled").mapTo(String.class).set());
        tenantsWithEndpoints.addAll(read);
        tenantsWithEndpoints.retainAll(read);
      }
      sweep();
      if (periodic) {
        pending = platform.jdbi().withHandle(h -> h.createQuery(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING'").mapTo(Long.class).one());
      }
    } catch (RuntimeException e) {
      log.warn("Could not look for events to deliver to webhooks: {}", e.getClass().getSimpleName());
    }
  }

  /**
   * Schedules the delivery job of each enabled endpoint that is behind its tenant's log and wakes
   * the job runner if it did; returns how many.
   */
  public int sweep() {
    int scheduled = platform.jdbi().withHandle(h -> h.createUpdate("""
            INSERT INTO jobs (tenant_id, kind, subject_id, due_time)
            SELECT e.tenant_id, :kind, e.id, :now FROM webhook_endpoints e
             WHERE e.enabled AND EXISTS (SELECT 1 FROM events x
                                          WHERE x.tenant_id = e.tenant_id AND x.position > e.cursor_position)
            ON CONFLICT (tenant_id, kind, subject_id) DO NOTHING
            """).bind("kind", WebhookDeliveries.KIND).bind("now", platform.clock().instant()).execute());
    if (scheduled > 0) {
      platform.uow().jobsDue();
    }
    return scheduled;
  }

  @Override
  public synchronized void stop() {
    platform.signal().unsubscribe(this);
    if (sweeper != null) {
      sweeper.shutdownNow();
    }
  }
}
