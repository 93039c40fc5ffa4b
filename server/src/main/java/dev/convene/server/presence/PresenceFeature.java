package dev.convene.server.presence;

import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.provider.ProviderFeature;
import io.grpc.BindableService;
import java.time.Duration;
import java.util.List;

/**
 * Presence as the media provider sees it: provider callbacks in (ProviderWebhookService) and the
 * reconciliation job that repairs what callbacks missed.
 */
public final class PresenceFeature implements Feature {
  /**
   * @param reconcileInterval CONVENE_RECONCILE_INTERVAL: how often a live room is compared with the provider
   * @param eventRetention    CONVENE_PROVIDER_EVENT_RETENTION: how long raw provider callbacks are kept
   */
  public record Settings(Duration reconcileInterval, Duration eventRetention) {
    public static Settings defaults() {
      return new Settings(Duration.ofSeconds(60), Duration.ofDays(7));
    }
  }

  private final ProviderWebhookService service;
  private final ProviderEvents events;
  private final ReconcileJob reconcile;

  public PresenceFeature(Platform platform, ProviderFeature providers, Settings settings) {
    this.events = new ProviderEvents(platform, settings.eventRetention());
    this.service = new ProviderWebhookService(platform, providers.configs(), events);
    this.reconcile = new ReconcileJob(platform, providers.tenantProviders(), settings.reconcileInterval());
  }

  /** Message status callbacks go to {@code listener} (the feature that sends messages: invitations). */
  public void onMessageStatus(MessageStatus.Listener listener) {
    events.onMessageStatus(listener);
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of(reconcile);
  }
}
