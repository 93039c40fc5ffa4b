package dev.convene.server.provider;

import java.time.Duration;

/**
 * Builds a {@link MediaProvider} for one tenant's settings. {@code timeout} bounds every provider
 * call (connect and response). {@code twilioApiOverride}, for tests only, sends the Twilio SDK's
 * requests to a local server (e.g. {@code http://localhost:8123}) instead of {@code *.twilio.com}.
 */
public final class ProviderFactory {
  private final Duration timeout;
  private final String twilioApiOverride;

  public ProviderFactory(Duration timeout, String twilioApiOverride) {
    this.timeout = timeout;
    this.twilioApiOverride = twilioApiOverride;
  }

  public Duration timeout() {
    return timeout;
  }

  public MediaProvider create(ProviderSettings settings) {
    throw new UnsupportedOperationException("providers are being built: " + settings);
  }

  /** For tests: where the Twilio SDK is pointed, or null for Twilio itself. */
  public String twilioApiOverride() {
    return twilioApiOverride;
  }
}
