package dev.convene.server.db;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.convene.server.platform.IdGenerator;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.ListSessionsRequest;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
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
      SessionServiceGrpc.SessionServiceBlockingStub stub = SessionServiceGrpc.newBlockingStub(server.channel)
          .withCallCredentials(TestServer.bearer(server.tenantA.key()));
      assertEquals(0, stub.listSessions(ListSessionsRequest.getDefaultInstance()).getSessionsCount());

      pg.close();
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
    } finally {
      pg.close();
    }
  }
}
