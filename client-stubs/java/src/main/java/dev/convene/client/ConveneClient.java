package dev.convene.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.protobuf.StatusProto;
import io.grpc.CallCredentials;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * Convene stubs over a {@link Channel} the caller owns and configures (TLS, load balancing): this
 * helper only attaches the API key, a default deadline for calls that set none, and, through
 * {@link #configureRetries}, the retry policy for the caller's channel builder.
 */
public final class ConveneClient {
  /** Calls without a deadline of their own get this one. */
  public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(10);

  private final Channel channel;
  private final CallCredentials credentials;

  private ConveneClient(Channel channel, CallCredentials credentials, Duration defaultDeadline) {
    this.channel = ClientInterceptors.intercept(channel, defaultDeadline(defaultDeadline));
    this.credentials = credentials;
  }

  /** A client that authenticates with a tenant API key ({@code cvk_...}). The channel stays the caller's. */
  public static ConveneClient withApiKey(Channel channel, String apiKey) {
    return new ConveneClient(Objects.requireNonNull(channel, "channel"), bearer(apiKey), DEFAULT_DEADLINE);
  }

  /** The same client with another default deadline. */
  public ConveneClient withDefaultDeadline(Duration deadline) {
    return new ConveneClient(channel, credentials, deadline);
  }

  public SessionServiceGrpc.SessionServiceBlockingStub sessions() {
    return SessionServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials);
  }

  public SessionServiceGrpc.SessionServiceFutureStub sessionsFuture() {
    return SessionServiceGrpc.newFutureStub(channel).withCallCredentials(credentials);
  }

  public SessionServiceGrpc.SessionServiceStub sessionsAsync() {
    return SessionServiceGrpc.newStub(channel).withCallCredentials(credentials);
  }

  /** {@code authorization: Bearer <key>} on every call. */
  public static CallCredentials bearer(String apiKey) {
    if (apiKey == null || apiKey.isBlank()) {
      throw new IllegalArgumentException("apiKey is empty");
    }
    String value = "Bearer " + apiKey;
    Metadata.Key<String> header = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    return new CallCredentials() {
      @Override
      public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
        Metadata m = new Metadata();
        m.put(header, value);
        applier.apply(m);
      }

      @Override
      public String toString() {
        return "bearer(<redacted>)";
      }
    };
  }

  /** Gives calls that carry no deadline {@code deadline}; calls with their own keep it. */
  public static ClientInterceptor defaultDeadline(Duration deadline) {
    long nanos = deadline.toNanos();
    return new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        CallOptions effective = options.getDeadline() == null ? options.withDeadlineAfter(nanos, TimeUnit.NANOSECONDS) : options;
        return next.newCall(method, effective);
      }
    };
  }

  /**
   * The service config Convene clients should use: every convene.v1 method is retried on
   * UNAVAILABLE (a replica or the database briefly away), up to 4 attempts with exponential
   * backoff. Creates are safe to retry when they carry a {@code request_id}.
   */
  public static Map<String, ?> serviceConfig() {
    Map<String, Object> retry = Map.of(
        "maxAttempts", 4.0,
        "initialBackoff", "0.1s",
        "maxBackoff", "2s",
        "backoffMultiplier", 2.0,
        "retryableStatusCodes", List.of("UNAVAILABLE"));
    return Map.of("methodConfig", List.of(Map.of(
        "name", List.of(Map.of("service", SessionServiceGrpc.SERVICE_NAME)),
        "retryPolicy", retry)));
  }

  /** Applies {@link #serviceConfig()} and enables retries on the caller's channel builder. */
  public static <T extends ManagedChannelBuilder<T>> T configureRetries(T builder) {
    return builder.defaultServiceConfig(serviceConfig()).enableRetry();
  }

  /**
   * The {@code google.rpc.ErrorInfo} reason of a failed call as the generated constant to switch
   * on ({@code ErrorReason.SESSION_NOT_FOUND}); {@code ERROR_REASON_UNSPECIFIED} when the error
   * carries none, or one this client is too old to know.
   */
  public static ErrorReason errorReason(Throwable error) {
    com.google.rpc.Status status = StatusProto.fromThrowable(error);
    if (status != null) {
      for (Any detail : status.getDetailsList()) {
        if (detail.is(ErrorInfo.class)) {
          try {
            ErrorReason reason = ErrorReason.valueOf(detail.unpack(ErrorInfo.class).getReason());
            return reason == ErrorReason.UNRECOGNIZED ? ErrorReason.ERROR_REASON_UNSPECIFIED : reason;
          } catch (IllegalArgumentException | InvalidProtocolBufferException unknown) {
            return ErrorReason.ERROR_REASON_UNSPECIFIED;
          }
        }
      }
    }
    return ErrorReason.ERROR_REASON_UNSPECIFIED;
  }
}
