package dev.convene.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.config.ConveneConfig;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.ListSessionsRequest;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** How a replica leaves and how a production deployment refuses a missing database. */
class DeploymentTest {
  @Test
  void duringTheDrainDelay_healthIsNotServing_butCallsStillSucceed_thenTheServerStops() throws Exception {
    TestServer server = new TestServer();
    try {
      var stub = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
      var health = HealthGrpc.newBlockingStub(server.channel);
      assertEquals(ServingStatus.SERVING, health.check(HealthCheckRequest.getDefaultInstance()).getStatus());
      CompletableFuture<Void> stopping = CompletableFuture.runAsync(
          () -> server.shutdown(Duration.ofSeconds(2), Duration.ofSeconds(5)));
      for (int i = 0; i < 100 && health.check(HealthCheckRequest.getDefaultInstance()).getStatus() == ServingStatus.SERVING; i++) {
        Thread.sleep(10);
      }
      assertEquals(ServingStatus.NOT_SERVING, health.check(HealthCheckRequest.getDefaultInstance()).getStatus());
      // Still taking calls: Envoy has not yet noticed, and its calls must not fail.
      assertEquals(0, stub.listSessions(ListSessionsRequest.getDefaultInstance()).getSessionsCount());
      assertTrue(!stopping.isDone(), "the server stopped before its drain delay");
      stopping.get(20, TimeUnit.SECONDS);
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
          () -> stub.listSessions(ListSessionsRequest.getDefaultInstance()));
      assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
    } finally {
      server.close();
    }
  }

  @Test
  void production_withoutADatabaseUrl_refusesToStart_andStartsNoEmbeddedDatabase() throws Exception {
    var dir = Files.createTempDirectory("convene-prod");
    ConveneConfig config = ConveneConfig.fromEnv(Map.of("CONVENE_ENVIRONMENT", "production",
        "CONVENE_EMBEDDED_DATA_DIR", dir.resolve("pg").toString()));
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> new Main.Db(config, false));
    assertTrue(e.getMessage().contains("CONVENE_DATABASE_URL"), e.getMessage());
    assertTrue(!Files.exists(dir.resolve("pg")), "an embedded database was initialised");
  }

  @Test
  void anUnknownEnvironment_failsNamingTheVariable() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> ConveneConfig.fromEnv(Map.of("CONVENE_ENVIRONMENT", "prod")));
    assertTrue(e.getMessage().contains("CONVENE_ENVIRONMENT"), e.getMessage());
  }
}
