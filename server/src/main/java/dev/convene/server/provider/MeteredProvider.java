package dev.convene.server.provider;

import dev.convene.v1.ProviderKind;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.List;
import java.util.function.Supplier;

/**
 * A provider whose every call is timed in {@code convene_provider_calls_seconds} by provider,
 * operation and outcome ({@code ok}, or {@code error} when it threw): what operators watch when a
 * provider slows down or fails. Made by {@link ProviderFactory}; the provider itself is untouched.
 */
final class MeteredProvider implements MediaProvider {
  private final MediaProvider delegate;
  private final MeterRegistry metrics;
  private final String provider;

  MeteredProvider(MediaProvider delegate, MeterRegistry metrics) {
    this.delegate = delegate;
    this.metrics = metrics;
    this.provider = delegate.kind().name().substring("PROVIDER_KIND_".length()).toLowerCase();
  }

  private <T> T timed(String operation, Supplier<T> call) {
    long start = System.nanoTime();
    String outcome = "error";
    try {
      T result = call.get();
      outcome = "ok";
      return result;
    } finally {
      Timer.builder("convene.provider.calls").description("Calls to media providers")
          .tag("provider", provider).tag("operation", operation).tag("outcome", outcome)
          .register(metrics).record(System.nanoTime() - start, java.util.concurrent.TimeUnit.NANOSECONDS);
    }
  }

  private void timed(String operation, Runnable call) {
    timed(operation, () -> {
      call.run();
      return null;
    });
  }

  @Override
  public ProviderKind kind() {
    return delegate.kind();
  }

  @Override
  public ProviderRoom ensureRoom(RoomSpec spec) {
    return timed("ensure_room", () -> delegate.ensureRoom(spec));
  }

  @Override
  public void endRoom(String roomName) {
    timed("end_room", () -> delegate.endRoom(roomName));
  }

  @Override
  public List<String> connectedIdentities(String roomName) {
    return timed("list_participants", () -> delegate.connectedIdentities(roomName));
  }

  @Override
  public void removeParticipant(String roomName, String identity) {
    timed("remove_participant", () -> delegate.removeParticipant(roomName, identity));
  }

  @Override
  public RecordingControl setRecording(String roomName, boolean on) {
    return timed("set_recording", () -> delegate.setRecording(roomName, on));
  }

  @Override
  public IssuedToken token(TokenSpec spec) {
    return timed("token", () -> delegate.token(spec));
  }

  @Override
  public CredentialCheckResult checkCredentials() {
    return timed("check_credentials", delegate::checkCredentials);
  }
}
