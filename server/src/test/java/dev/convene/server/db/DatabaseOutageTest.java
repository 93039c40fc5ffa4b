package dev.convene.server.db;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.convene.server.platform.IdGenerator;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.ListSessionsRequest;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.util.concurrent.TimeUnit;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** PostgreSQL stopped under the running server: UNAVAILABLE, then serving again once it is back. */
class DatabaseOutageTest {
  private static EmbeddedPostgres startPostgres(Path dir, int port) throws Exception {
    return EmbeddedPostgres.builder().setDataDirectory(dir).setCleanDataDirectory(false).setPort(port).start();
  }

  private static ServingStatus health(TestServer server) {
    return HealthGrpc.newBlockingStub(server.channel).withDeadlineAfter(5, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance()).getStatus();
  }

  private static void awaitHealth(TestServer server, ServingStatus expected) throws InterruptedException {
    for (int i = 0; i < 100 && health(server) != expected; i++) {
      Thread.sleep(100);
    }
    assertEquals(expected, health(server));
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void startUp_waitsForADatabaseThatIsNotUpYet() throws Exception {
    Path dir = Files.createTempDirectory("convene-late");
    int port = freePort();
    // Initialise the data directory, then stop: the server starts before PostgreSQL does.
    startPostgres(dir, port).close();
    EmbeddedPostgres[] late = new EmbeddedPostgres[1];
    Thread starter = new Thread(() -> {
      try {
        Thread.sleep(2500);
        late[0] = startPostgres(dir, port);
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    starter.start();
    try (Database db = Database.open("jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres", "", "", 2,
        Duration.ofSeconds(1), Duration.ofSeconds(10), Duration.ofSeconds(60))) {
      int one = db.jdbi().withHandle(h -> h.createQuery("SELECT 1").mapTo(Integer.class).one());
      assertEquals(1, one);
    } finally {
      starter.join();
      if (late[0] != null) {
        late[0].close();
      }
    }
  }

  @Test
  void databaseStopped_givesUnavailable_andServerRecoversWithoutRestart() throws Exception {
    Path dir = Files.createTempDirectory("convene-outage");
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    EmbeddedPostgres pg = startPostgres(dir, port);
    Database db = Database.open("jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres", "", "", 4,
        Duration.ofSeconds(1));
    try (TestServer server = new TestServer(db, IdGenerator.random())) {
      server.watchDatabase();
      SessionServiceGrpc.SessionServiceBlockingStub stub = SessionServiceGrpc.newBlockingStub(server.channel)
          .withCallCredentials(TestServer.bearer(server.tenantA.key()));
      assertEquals(0, stub.listSessions(ListSessionsRequest.getDefaultInstance()).getSessionsCount());
      assertEquals(ServingStatus.SERVING, health(server));

      pg.close();
      // Readiness: the server reports NOT_SERVING while its database is away, so Envoy moves traffic.
      awaitHealth(server, ServingStatus.NOT_SERVING);
      assertStatus(Status.Code.UNAVAILABLE, "DATABASE_UNAVAILABLE",
          () -> stub.listSessions(ListSessionsRequest.getDefaultInstance()));
      assertStatus(Status.Code.UNAVAILABLE, "DATABASE_UNAVAILABLE",
          () -> stub.listSessions(ListSessionsRequest.getDefaultInstance()));
      // GetSession reads with plain JDBC; its failures map the same way.
      assertStatus(Status.Code.UNAVAILABLE, "DATABASE_UNAVAILABLE",
          () -> stub.getSession(dev.convene.v1.GetSessionRequest.newBuilder().setSessionId("ses_any").build()));

      pg = startPostgres(dir, port);
      // The pool reconnects by itself; give it a bounded number of tries.
      StatusRuntimeException last = null;
      for (int i = 0; i < 30; i++) {
        try {
          assertEquals(0, stub.listSessions(ListSessionsRequest.getDefaultInstance()).getSessionsCount());
          last = null;
          break;
        } catch (StatusRuntimeException e) {
          assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
          last = e;
          Thread.sleep(500);
        }
      }
      if (last != null) {
        throw last;
      }
      awaitHealth(server, ServingStatus.SERVING);
    } finally {
      pg.close();
    }
  }
}
