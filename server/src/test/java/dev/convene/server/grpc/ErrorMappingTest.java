package dev.convene.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.convene.server.testing.GrpcAssertions;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.sql.SQLTransientConnectionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** What a client sees when a handler throws. */
class ErrorMappingTest {
  private Server server;
  private ManagedChannel channel;

  private HealthGrpc.HealthBlockingStub serve(RuntimeException thrown) throws Exception {
    String name = InProcessServerBuilder.generateName();
    HealthGrpc.HealthImplBase failing = new HealthGrpc.HealthImplBase() {
      @Override
      public void check(HealthCheckRequest request, StreamObserver<HealthCheckResponse> observer) {
        throw thrown;
      }
    };
    server = InProcessServerBuilder.forName(name)
        .addService(ServerInterceptors.intercept(failing, new ErrorMappingInterceptor())).build().start();
    channel = InProcessChannelBuilder.forName(name).build();
    return HealthGrpc.newBlockingStub(channel);
  }

  @AfterEach
  void stop() {
    channel.shutdownNow();
    server.shutdownNow();
  }

  @Test
  void unexpectedException_isInternal_withNothingOfItsMessage() throws Exception {
    HealthGrpc.HealthBlockingStub stub = serve(new IllegalStateException("secret row 42 in table x"));
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.check(HealthCheckRequest.getDefaultInstance()));
    assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
    assertEquals("internal error", e.getStatus().getDescription());
    assertEquals("INTERNAL", GrpcAssertions.errorInfo(e).getReason());
    assertFalse(e.toString().contains("secret"));
  }

  @Test
  void connectionFailure_isUnavailable() throws Exception {
    HealthGrpc.HealthBlockingStub stub = serve(new RuntimeException(new SQLTransientConnectionException("pool timed out")));
    GrpcAssertions.assertStatus(Status.Code.UNAVAILABLE, "DATABASE_UNAVAILABLE",
        () -> stub.check(HealthCheckRequest.getDefaultInstance()));
  }
}
