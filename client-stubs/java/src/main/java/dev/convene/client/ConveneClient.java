package dev.convene.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import com.google.protobuf.DescriptorProtos.MethodOptions.IdempotencyLevel;
import com.google.protobuf.Descriptors;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.CreateSessionResponse;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.SessionServiceProto;
import io.grpc.protobuf.StatusProto;
import io.grpc.CallCredentials;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.Deadline;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Convene stubs over a {@link Channel} the caller owns and configures (TLS, load balancing): this
 * helper only attaches the API key, a default deadline for calls that set none, and, through
 * {@link #configureRetries}, the retry policy for the caller's channel builder: retries only for
 * the methods the contract declares safe to repeat, and {@link #createSession(CreateSessionRequest)}
 * for creates that carry a {@code request_id}.
 */
public final class ConveneClient {
  /** Calls without a deadline of their own get this one. */
  public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(10);

  /** Attempts of a call that is safe to repeat, the first included. */
  public static final int MAX_ATTEMPTS = 4;
  /** Backoff before the first retry; each later one may wait {@link #BACKOFF_MULTIPLIER} times longer. */
  public static final Duration INITIAL_BACKOFF = Duration.ofMillis(100);
  /** The longest backoff between two attempts. */
  public static final Duration MAX_BACKOFF = Duration.ofSeconds(2);
  /** Growth of the backoff from one retry to the next. */
  public static final double BACKOFF_MULTIPLIER = 2.0;

  /**
   * The files whose services the retry policy covers: every method in them is read from its
   * descriptor, so a new RPC is retried once it declares an {@code idempotency_level}, and not before.
   */
  private static final List<Descriptors.FileDescriptor> CONTRACT = List.of(SessionServiceProto.getDescriptor(),
      dev.convene.v1.TokenServiceProto.getDescriptor(), dev.convene.v1.CallServiceProto.getDescriptor(),
      dev.convene.v1.CredentialServiceProto.getDescriptor(), dev.convene.v1.ProviderConfigServiceProto.getDescriptor(),
      dev.convene.v1.GroupServiceProto.getDescriptor(), dev.convene.v1.InvitationServiceProto.getDescriptor(),
      dev.convene.v1.UserServiceProto.getDescriptor(), dev.convene.v1.EventServiceProto.getDescriptor(),
      dev.convene.v1.WebhookServiceProto.getDescriptor());

  /** Failures after which a create that carries a {@code request_id} is repeated. */
  private static final Set<Status.Code> CREATE_RETRIED_ON = EnumSet.of(
      Status.Code.UNAVAILABLE, Status.Code.RESOURCE_EXHAUSTED, Status.Code.UNKNOWN, Status.Code.DEADLINE_EXCEEDED);

  private final Channel channel;
  private final Channel intercepted;
  private final CallCredentials credentials;
  private final Duration defaultDeadline;

  private ConveneClient(Channel channel, CallCredentials credentials, Duration defaultDeadline) {
    this.channel = channel;
    this.intercepted = ClientInterceptors.intercept(channel, defaultDeadline(defaultDeadline));
    this.credentials = credentials;
    this.defaultDeadline = defaultDeadline;
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
    return SessionServiceGrpc.newBlockingStub(intercepted).withCallCredentials(credentials);
  }

  public SessionServiceGrpc.SessionServiceFutureStub sessionsFuture() {
    return SessionServiceGrpc.newFutureStub(intercepted).withCallCredentials(credentials);
  }

  public SessionServiceGrpc.SessionServiceStub sessionsAsync() {
    return SessionServiceGrpc.newStub(intercepted).withCallCredentials(credentials);
  }

  /**
   * EventService's watch streams (WatchSession, WatchEvents), with no default deadline: a stream
   * lives until the caller cancels it. On UNAVAILABLE or RESOURCE_EXHAUSTED, watch again after the
   * last sequence or position received; nothing is missed.
   */
  public dev.convene.v1.EventServiceGrpc.EventServiceStub eventsAsync() {
    return dev.convene.v1.EventServiceGrpc.newStub(intercepted).withCallCredentials(credentials);
  }

  /** EventService with blocking iterators over the stream (see {@link #eventsAsync()}). */
  public dev.convene.v1.EventServiceGrpc.EventServiceBlockingStub events() {
    return dev.convene.v1.EventServiceGrpc.newBlockingStub(intercepted).withCallCredentials(credentials);
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

  /**
   * Gives unary calls that carry no deadline {@code deadline}; calls with their own keep it, and
   * watch streams (server streaming) get none: they live until the caller cancels them.
   */
  public static ClientInterceptor defaultDeadline(Duration deadline) {
    long nanos = deadline.toNanos();
    return new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        boolean unary = method.getType() == MethodDescriptor.MethodType.UNARY;
        CallOptions effective = unary && options.getDeadline() == null
            ? options.withDeadlineAfter(nanos, TimeUnit.NANOSECONDS) : options;
        return next.newCall(method, effective);
      }
    };
  }

  /**
   * Full names ({@code convene.v1.SessionService/GetSession}) of the methods whose contract declares
   * {@code idempotency_level} NO_SIDE_EFFECTS or IDEMPOTENT: repeating them changes nothing more
   * than one call would, so {@link #serviceConfig()} retries them. Read from the generated descriptors.
   */
  public static Set<String> retriedMethods() {
    Set<String> names = new TreeSet<>();
    for (Descriptors.FileDescriptor file : CONTRACT) {
      for (Descriptors.ServiceDescriptor service : file.getServices()) {
        for (Descriptors.MethodDescriptor method : service.getMethods()) {
          IdempotencyLevel level = method.getOptions().getIdempotencyLevel();
          if (level == IdempotencyLevel.NO_SIDE_EFFECTS || level == IdempotencyLevel.IDEMPOTENT) {
            names.add(service.getFullName() + "/" + method.getName());
          }
        }
      }
    }
    return Collections.unmodifiableSet(names);
  }

  /**
   * The service config Convene clients should use. Only the {@link #retriedMethods()} get a retry
   * policy: on UNAVAILABLE (a replica or the database briefly away) and RESOURCE_EXHAUSTED (the
   * server shed the call), up to {@link #MAX_ATTEMPTS} attempts with exponential backoff, within the
   * call's deadline. Every other method has none: an UNAVAILABLE can come from a connection that
   * broke after the server applied the change, and a blind retry would apply it twice. A create is
   * retried by {@link #createSession(CreateSessionRequest)} when it carries a {@code request_id}.
   */
  public static Map<String, ?> serviceConfig() {
    Map<String, Object> retry = Map.of(
        "maxAttempts", (double) MAX_ATTEMPTS,
        "initialBackoff", seconds(INITIAL_BACKOFF),
        "maxBackoff", seconds(MAX_BACKOFF),
        "backoffMultiplier", BACKOFF_MULTIPLIER,
        "retryableStatusCodes", List.of("UNAVAILABLE", "RESOURCE_EXHAUSTED"));
    List<Map<String, String>> names = new ArrayList<>();
    for (String method : retriedMethods()) {
      int slash = method.indexOf('/');
      names.add(Map.of("service", method.substring(0, slash), "method", method.substring(slash + 1)));
    }
    if (names.isEmpty()) {
      return Map.of();
    }
    return Map.of("methodConfig", List.of(Map.of("name", names, "retryPolicy", retry)));
  }

  private static String seconds(Duration d) {
    return BigDecimal.valueOf(d.toNanos(), 9).stripTrailingZeros().toPlainString() + "s";
  }

  /** Applies {@link #serviceConfig()} and enables retries on the caller's channel builder. */
  public static <T extends ManagedChannelBuilder<T>> T configureRetries(T builder) {
    return builder.defaultServiceConfig(serviceConfig()).enableRetry();
  }

  /** {@link #createSession(CreateSessionRequest, Deadline)} within this client's default deadline. */
  public CreateSessionResponse createSession(CreateSessionRequest request) {
    return createSession(request, Deadline.after(defaultDeadline.toNanos(), TimeUnit.NANOSECONDS));
  }

  /**
   * CreateSession, retried when that is safe. With a {@code request_id} the server returns the
   * session the first attempt created, so an attempt that failed with UNAVAILABLE,
   * RESOURCE_EXHAUSTED, UNKNOWN (COMMIT_OUTCOME_UNKNOWN: it may have been applied) or
   * DEADLINE_EXCEEDED is repeated with the same request, up to {@link #MAX_ATTEMPTS} attempts with
   * the same backoff as {@link #serviceConfig()}, while {@code deadline} (shared by all attempts)
   * leaves time. Any other failure, INVALID_ARGUMENT (REQUEST_ID_REUSED) included, is thrown at once,
   * as is every failure of a create without a {@code request_id}: that one is never repeated.
   *
   * @throws StatusRuntimeException the last attempt's failure
   */
  public CreateSessionResponse createSession(CreateSessionRequest request, Deadline deadline) {
    SessionServiceGrpc.SessionServiceBlockingStub stub = sessions().withDeadline(deadline);
    boolean repeatable = !request.getRequestId().isEmpty();
    double backoffNanos = INITIAL_BACKOFF.toNanos();
    for (int attempt = 1; ; attempt++) {
      try {
        return stub.createSession(request);
      } catch (StatusRuntimeException e) {
        if (!repeatable || attempt >= MAX_ATTEMPTS || !CREATE_RETRIED_ON.contains(e.getStatus().getCode())) {
          throw e;
        }
        // Full jitter, as gRPC's own retries do: random(0, backoff).
        long pause = (long) (ThreadLocalRandom.current().nextDouble() * backoffNanos);
        backoffNanos = Math.min(backoffNanos * BACKOFF_MULTIPLIER, MAX_BACKOFF.toNanos());
        if (deadline.timeRemaining(TimeUnit.NANOSECONDS) <= pause) {
          throw e;
        }
        try {
          TimeUnit.NANOSECONDS.sleep(pause);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw e;
        }
      }
    }
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
