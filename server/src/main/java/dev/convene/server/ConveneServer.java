package dev.convene.server;

import dev.convene.server.platform.Threads;
import dev.convene.server.auth.AuthInterceptor;
import dev.convene.server.grpc.Admission;
import dev.convene.server.grpc.ErrorMappingInterceptor;
import dev.convene.server.grpc.ReflectedErrorDetails;
import dev.convene.server.grpc.ValidationInterceptor;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gRPC server: Convene's services behind error mapping, authentication and validation, plus
 * health and reflection. Takes a {@link ServerBuilder} so tests can pass an in-process one.
 */
public final class ConveneServer {
  private static final Logger log = LoggerFactory.getLogger(ConveneServer.class);

  private final Server server;
  private final HealthStatusManager health = new HealthStatusManager();
  private ScheduledExecutorService readiness;
  private volatile boolean databaseUp = true;
  private Runnable beforeStopping = () -> {};

  /**
   * The largest request accepted, in bytes. The largest valid request, a CreateSession with every
   * field at its limit in 4-byte characters (100 participants, 32 metadata pairs), is about 170 KB
   * (BadInputTest checks it fits); anything larger is RESOURCE_EXHAUSTED before it is parsed.
   */
  public static final int MAX_REQUEST_BYTES = 256 * 1024;
  /**
   * The largest request headers accepted, in bytes: above Envoy's limit (envoy.yaml,
   * max_request_headers_kb), so behind Envoy an oversized header is refused by Envoy for that call
   * alone and never reaches the server, where Netty would end the whole connection.
   */
  public static final int MAX_HEADER_BYTES = 64 * 1024;

  public ConveneServer(ServerBuilder<?> builder, Admission admission, AuthInterceptor auth,
      ValidationInterceptor validation, List<BindableService> services) {
    this(builder, admission, auth, validation, services, null);
  }

  /**
   * A server whose every call (health and reflection too, refused ones included) is counted and
   * timed in {@code metrics} by method and status (Micrometer's gRPC interceptor:
   * {@code grpc_server_processing_duration_seconds}).
   */
  public ConveneServer(ServerBuilder<?> builder, Admission admission, AuthInterceptor auth,
      ValidationInterceptor validation, List<BindableService> services, io.micrometer.core.instrument.MeterRegistry metrics) {
    if (metrics != null) {
      builder.intercept(new io.micrometer.core.instrument.binder.grpc.MetricCollectingServerInterceptor(metrics));
    }
    ErrorMappingInterceptor errors = new ErrorMappingInterceptor();
    // A direct executor: calls are looked up on the transport thread, and Admission places them.
    builder.directExecutor().callExecutor(admission)
        .maxInboundMessageSize(MAX_REQUEST_BYTES).maxInboundMetadataSize(MAX_HEADER_BYTES);
    for (BindableService service : services) {
      // The last interceptor listed runs first: admission, then errors around auth around validation.
      builder.addService(ServerInterceptors.intercept(
          ReflectedErrorDetails.include(auth.register(service.bindService())), validation, auth, errors, admission));
    }
    builder.addService(ServerInterceptors.intercept(health.getHealthService(), errors));
    builder.addService(ProtoReflectionServiceV1.newInstance());
    // Older tools (ghz, grpcurl before 1.9) only speak the v1alpha reflection protocol.
    builder.addService(v1alphaReflection());
    this.server = builder.build();
  }

  @SuppressWarnings("deprecation")
  private static io.grpc.BindableService v1alphaReflection() {
    return io.grpc.protobuf.services.ProtoReflectionService.newInstance();
  }

  public ConveneServer start() throws IOException {
    server.start();
    health.setStatus("", ServingStatus.SERVING);
    return this;
  }

  /**
   * Reports the server NOT_SERVING while {@code databaseAnswers} says no (checked every second),
   * so Envoy sends calls to replicas that can serve them; SERVING again once it says yes.
   */
  public ConveneServer watchDatabase(java.util.function.BooleanSupplier databaseAnswers) {
    readiness = Executors.newSingleThreadScheduledExecutor(Threads.daemon("convene-readiness"));
    readiness.scheduleWithFixedDelay(() -> {
      boolean up = databaseAnswers.getAsBoolean();
      if (up != databaseUp) {
        databaseUp = up;
        log.warn(up ? "The database answers again: SERVING" : "The database does not answer: NOT_SERVING");
        health.setStatus("", up ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
      }
    }, 1, 1, TimeUnit.SECONDS);
    return this;
  }

  /**
   * Runs {@code hook} on shutdown after the drain delay, before the server stops taking calls:
   * it ends what would otherwise hold the drain for its whole grace (open watch streams).
   */
  public ConveneServer beforeStopping(Runnable hook) {
    this.beforeStopping = hook;
    return this;
  }

  /** The port the server listens on (-1 for in-process). */
  public int port() {
    return server.getPort();
  }

  /** Reports NOT_SERVING, stops taking calls, and waits up to {@code grace} for in-flight ones. */
  public void shutdown(Duration grace) {
    shutdown(Duration.ZERO, grace);
  }

  /**
   * Reports NOT_SERVING and keeps serving for {@code drainDelay}, long enough for Envoy's health
   * checks to take this replica out of rotation; then stops taking calls and waits up to
   * {@code grace} for in-flight ones.
   */
  public void shutdown(Duration drainDelay, Duration grace) {
    if (readiness != null) {
      readiness.shutdownNow();
    }
    health.enterTerminalState();
    if (!drainDelay.isZero() && !drainDelay.isNegative()) {
      log.info("NOT_SERVING; still taking calls for {} while the load balancer moves traffic away", drainDelay);
      try {
        Thread.sleep(drainDelay.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    beforeStopping.run();
    server.shutdown();
    try {
      if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        log.warn("In-flight calls did not finish within {}; cancelling them", grace);
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }
}
