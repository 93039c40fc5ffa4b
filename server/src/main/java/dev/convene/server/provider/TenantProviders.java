package dev.convene.server.provider;

import dev.convene.v1.ProviderKind;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A tenant's configured provider of one kind, ready to call: what the background jobs that make a
 * provider's room follow Convene (ending rooms, dropping participants) share.
 */
public final class TenantProviders {
  private final ProviderConfigs configs;
  private final ProviderFactory factory;

  public TenantProviders(ProviderConfigs configs, ProviderFactory factory) {
    this.configs = configs;
    this.factory = factory;
  }

  /**
   * Runs {@code call} on the tenant's {@code kind} provider; nothing when the tenant no longer
   * configures that provider (its room then ends by the provider's own timeouts). A provider
   * failure becomes an IllegalStateException naming {@code what}, so the job runner retries.
   * Returns whether the provider was called.
   */
  public boolean call(String tenantId, ProviderKind kind, String what, Consumer<MediaProvider> call) {
    Optional<ProviderConfigs.Resolved> resolved = configs.resolve(tenantId, kind);
    if (resolved.isEmpty()) {
      return false;
    }
    try {
      call.accept(factory.create(resolved.get().settings()));
      return true;
    } catch (ProviderException e) {
      throw new IllegalStateException(what + " on " + kind.name() + " failed: " + e.getMessage());
    }
  }
}
