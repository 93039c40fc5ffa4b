package dev.convene.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.auth.AuthInterceptor;
import dev.convene.server.testing.TestPostgres;
import dev.convene.server.auth.Tenants;
import dev.convene.server.platform.IdGenerator;
import dev.convene.server.grpc.Admission;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.GetSessionRequest;
import dev.convene.v1.ListSessionsRequest;
import dev.convene.v1.ListSessionsResponse;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Shutdown stops taking calls but lets the ones in flight finish. */
class ShutdownTest {
  @Test
  void shutdown_drainsInFlightCalls_andRefusesNewOnes() throws Exception {
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    SessionServiceGrpc.SessionServiceImplBase slow = new SessionServiceGrpc.SessionServiceImplBase() {
      @Override
      public void listSessions(ListSessionsRequest request, StreamObserver<ListSessionsResponse> observer) {
        entered.countDown();
        try {
          release.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        observer.onNext(ListSessionsResponse.newBuilder().setNextPageToken("finished").build());
        observer.onCompleted();
      }
    };
    try (var db = TestPostgres.freshDatabase(2)) {
      String key = new Tenants(db.jdbi(), Clock.systemUTC(), IdGenerator.random()).createTenant("t").key();
      String name = InProcessServerBuilder.generateName();
      Admission admission = new Admission(4, 10);
      ConveneServer server = new ConveneServer(InProcessServerBuilder.forName(name), admission,
          new AuthInterceptor(db.jdbi(), Clock.systemUTC(), Duration.ZERO), Main.validation(), List.of(slow)).start();
      ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
      var stub = SessionServiceGrpc.newBlockingStub(channel).withCallCredentials(TestServer.bearer(key));

      CompletableFuture<ListSessionsResponse> inFlight =
          CompletableFuture.supplyAsync(() -> stub.listSessions(ListSessionsRequest.getDefaultInstance()));
      assertTrue(entered.await(10, TimeUnit.SECONDS));
      CompletableFuture<Void> stopping = CompletableFuture.runAsync(() -> server.shutdown(Duration.ofSeconds(20)));

      // Probe with an RPC the slow service does not implement: while the server still takes
      // calls the probe gets UNIMPLEMENTED; once shutdown has begun it gets UNAVAILABLE.
      // (Probing with the slow RPC itself would block a probe accepted just before shutdown.)
      Status.Code probe = Status.Code.UNIMPLEMENTED;
      ManagedChannel probeChannel = InProcessChannelBuilder.forName(name).build();
      for (int i = 0; i < 500 && probe == Status.Code.UNIMPLEMENTED; i++) {
        Thread.sleep(10);
        try {
          SessionServiceGrpc.newBlockingStub(probeChannel)
              .withCallCredentials(TestServer.bearer(key)).withDeadlineAfter(5, TimeUnit.SECONDS)
              .getSession(GetSessionRequest.newBuilder().setSessionId("ses_probe").build());
          probe = Status.Code.OK;
        } catch (StatusRuntimeException e) {
          probe = e.getStatus().getCode();
        }
      }
      probeChannel.shutdownNow();
      assertEquals(Status.Code.UNAVAILABLE, probe);
      release.countDown();

      assertEquals("finished", inFlight.get(20, TimeUnit.SECONDS).getNextPageToken());
      stopping.get(20, TimeUnit.SECONDS);
      channel.shutdownNow();
      admission.close();
      assertThrows(StatusRuntimeException.class, () -> stub.listSessions(ListSessionsRequest.getDefaultInstance()));
    }
  }
}
