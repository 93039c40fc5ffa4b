package dev.convene.server.provider;

import dev.convene.server.platform.Threads;
import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import io.grpc.BindableService;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Media providers: the tenants' provider configurations (ProviderConfigService) and the factory
 * that drives Twilio, LiveKit and Jitsi for them. The token feature creates and ends rooms through it.
 */
public final class ProviderFeature implements Feature {
  private static final Logger log = LoggerFactory.getLogger(ProviderFeature.class);
  /** How many configurations the start-up check looks at. */
  static final int STARTUP_CHECK_LIMIT = 1000;

  private final ProviderConfigs configs;
  private final ProviderFactory factory;
  private final ProviderConfigService service;

  public ProviderFeature(Platform platform, ProviderFactory factory) {
    this.configs = new ProviderConfigs(platform.jdbi(), platform.secrets());
    this.factory = factory;
    factory.recordTo(platform.metrics());
    this.service = new ProviderConfigService(platform, configs, factory);
  }

  public ProviderConfigs configs() {
    return configs;
  }

  public ProviderFactory factory() {
    return factory;
  }

  /** The tenants' configured providers, for the jobs that make provider rooms follow Convene. */
  public TenantProviders tenantProviders() {
    return new TenantProviders(configs, factory);
  }

  /**
   * Checks every stored configuration against its provider and logs each result per tenant (what
   * the deployment guides ask operators to confirm at start-up). Runs on its own daemon thread so
   * a slow provider does not hold up serving.
   */
  public void checkAllInBackground() {
    Thread t = Threads.daemon("convene-provider-check").newThread(() -> {
      try {
        for (ProviderConfigs.Row row : configs.all(STARTUP_CHECK_LIMIT)) {
          service.check(row);
        }
      } catch (RuntimeException e) {
        log.warn("The start-up check of provider credentials stopped: {}", e.getClass().getSimpleName());
      }
    });
    t.start();
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of();
  }
}
