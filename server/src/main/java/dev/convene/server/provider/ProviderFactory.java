package dev.convene.server.provider;

import java.time.Duration;
import okhttp3.OkHttpClient;

/**
 * Builds a {@link MediaProvider} for one tenant's settings. {@code timeout} bounds every provider
 * call (connect and response). {@code twilioApiOverride}, for tests only, sends the Twilio SDK's
 * requests to a local server (e.g. {@code http://localhost:8123}) instead of {@code *.twilio.com}.
 * The HTTP clients (connection pools, threads) are built once per factory and shared by every
 * provider it makes, so building a provider per call costs no sockets.
 */
public final class ProviderFactory {
  private final Duration timeout;
  private final String twilioApiOverride;
  private volatile TwilioHttpClient twilioHttp;
  private volatile OkHttpClient liveKitHttp;
  private volatile io.micrometer.core.instrument.MeterRegistry metrics;

  public ProviderFactory(Duration timeout, String twilioApiOverride) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("provider timeout must be positive");
    }
    this.timeout = timeout;
    this.twilioApiOverride = twilioApiOverride;
  }

  public Duration timeout() {
    return timeout;
  }

  /** Times every call of the providers this factory makes from now on in {@code metrics} (see MeteredProvider). */
  public void recordTo(io.micrometer.core.instrument.MeterRegistry metrics) {
    this.metrics = metrics;
  }

  /** A provider for these settings; cheap (no network), may be built per call. */
  public MediaProvider create(ProviderSettings settings) {
    MediaProvider provider = build(settings);
    return metrics == null ? provider : new MeteredProvider(provider, metrics);
  }

  private MediaProvider build(ProviderSettings settings) {
    // Java 17 has no pattern switch (preview only), so the sealed cases are tested in turn.
    if (settings instanceof ProviderSettings.Twilio twilio) {
      return new TwilioProvider(twilio, twilioHttp());
    } else if (settings instanceof ProviderSettings.LiveKit liveKit) {
      return new LiveKitProvider(liveKit, liveKitHttp());
    } else if (settings instanceof ProviderSettings.Jitsi jitsi) {
      return new JitsiProvider(jitsi);
    }
    throw new IllegalArgumentException("unknown provider settings " + settings);
  }

  /**
   * The SMS sender of a tenant's Twilio settings (same HTTP client as Twilio Video: one attempt per
   * request, bounded by {@link #timeout()}); cheap, may be built per call. FAILED_PRECONDITION
   * (PROVIDER_NOT_CONFIGURED) when the settings have neither {@code sms_from} nor
   * {@code messaging_service_sid}.
   */
  public TwilioSms sms(ProviderSettings.Twilio settings) {
    return new TwilioSms(settings, twilioHttp());
  }

  private TwilioHttpClient twilioHttp() {
    TwilioHttpClient http = twilioHttp;
    if (http == null) {
      synchronized (this) {
        http = twilioHttp;
        if (http == null) {
          http = twilioHttp = new TwilioHttpClient(timeout, twilioApiOverride);
        }
      }
    }
    return http;
  }

  private OkHttpClient liveKitHttp() {
    OkHttpClient http = liveKitHttp;
    if (http == null) {
      synchronized (this) {
        http = liveKitHttp;
        if (http == null) {
          // callTimeout bounds the whole call (connect, write, read) like the Twilio side's limits.
          http = liveKitHttp = new OkHttpClient.Builder()
              .connectTimeout(timeout)
              .readTimeout(timeout)
              .writeTimeout(timeout)
              .callTimeout(timeout)
              .build();
        }
      }
    }
    return http;
  }

  /** For tests: where the Twilio SDK is pointed, or null for Twilio itself. */
  public String twilioApiOverride() {
    return twilioApiOverride;
  }
}
