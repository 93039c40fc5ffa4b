package dev.convene.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.grpc.ErrorMapping;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.JoinSessionRequest;
import dev.convene.v1.MediaType;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ParticipantSpec;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The unit of work's timeouts: a change stops when its call's deadline passes, even while waiting for a lock. */
class UnitOfWorkTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  private static int waitingForLocks(TestServer server) {
    return server.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM pg_locks WHERE NOT granted")
        .mapTo(Integer.class).one());
  }

  @Test
  void aChangeWaitingForALock_stopsWhenItsCallsDeadlinePasses() throws Exception {
    TestServer server = servers.get();
    var stub = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    String id = stub.createSession(CreateSessionRequest.newBuilder().setExternalRef("locked").setMedia(MediaType.MEDIA_TYPE_AUDIO)
        .setScheduledStartTime(com.google.protobuf.util.Timestamps.fromSeconds(1_900_000_000))
        .setScheduledEndTime(com.google.protobuf.util.Timestamps.fromSeconds(1_900_003_600))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("u").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
        .build()).getSession().getId();
    try (Handle holder = server.jdbi().open()) {
      holder.begin();
      holder.createQuery("SELECT id FROM sessions WHERE id = :id FOR UPDATE").bind("id", id).mapTo(String.class).one();

      StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub
          .withDeadlineAfter(400, TimeUnit.MILLISECONDS)
          .joinSession(JoinSessionRequest.newBuilder().setSessionId(id).setUserId("u").build()));
      assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
      // The server's statement gave up too (lock_timeout from the deadline), while the lock is still held.
      int waiting = waitingForLocks(server);
      for (int i = 0; i < 60 && waiting > 0; i++) {
        Thread.sleep(50);
        waiting = waitingForLocks(server);
      }
      assertEquals(0, waiting, "the server still waits for the lock after its caller gave up");
      holder.rollback();
    }
  }

  @Test
  void withoutACall_theCeilingApplies_andTheTimeoutIsReportedAsDeadlineExceeded() throws Exception {
    TestServer server = servers.get();
    // A pool whose connections carry a 300 ms ceiling.
    String url = server.jdbi().withHandle(h -> h.getConnection().getMetaData().getURL() + "&user=postgres");
    RuntimeException e;
    long start = System.nanoTime();
    try (var db = dev.convene.server.db.Database.open(url, "", "", 2, Duration.ofSeconds(5), Duration.ofMillis(300))) {
      UnitOfWork uow = new UnitOfWork(db.jdbi(), Clock.systemUTC(), Duration.ofMillis(300));
      e = assertThrows(RuntimeException.class, () -> uow.write(server.tenantA.tenantId(), "test",
          tx -> tx.handle().createQuery("SELECT pg_sleep(5)").mapTo(String.class).one()));
    }
    assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(4));
    StatusRuntimeException mapped = ErrorMapping.toStatus(e, "test");
    assertEquals(Status.Code.DEADLINE_EXCEEDED, mapped.getStatus().getCode());
    assertEquals("DEADLINE_EXCEEDED", dev.convene.server.testing.GrpcAssertions.errorInfo(mapped).getReason());
  }

  /** Ends the backend serving {@code tx}'s connection, from another connection. */
  private static void killBackendOf(TestServer server, Tx tx) {
    int pid = tx.handle().createQuery("SELECT pg_backend_pid()").mapTo(Integer.class).one();
    // A connection of its own: Jdbi would hand this thread the transaction's handle again.
    try (var c = server.database.dataSource().getConnection();
        var ps = c.prepareStatement("SELECT pg_terminate_backend(?)")) {
      ps.setInt(1, pid);
      ps.executeQuery().close();
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void aConnectionLostAtCommit_isOutcomeUnknown_andOneLostBeforeIsUnavailable() {
    TestServer server = servers.get();
    UnitOfWork uow = server.platform.uow();
    String tenant = server.tenantA.tenantId();
    // Lost while committing: the change may have been applied, so the caller must not be told to retry.
    // (Nothing is appended, so the next thing the connection sends is COMMIT.)
    RuntimeException atCommit = assertThrows(RuntimeException.class, () -> uow.write(tenant, "test", tx -> {
      tx.handle().createUpdate("UPDATE tenants SET name = name WHERE id = :t").bind("t", tenant).execute();
      killBackendOf(server, tx);
      return null;
    }));
    StatusRuntimeException mapped = ErrorMapping.toStatus(atCommit, "test");
    assertEquals(Status.Code.UNKNOWN, mapped.getStatus().getCode());
    assertEquals("COMMIT_OUTCOME_UNKNOWN", dev.convene.server.testing.GrpcAssertions.errorInfo(mapped).getReason());
    // Lost while the change still ran: nothing was applied, so UNAVAILABLE (retry later) is true.
    RuntimeException before = assertThrows(RuntimeException.class, () -> uow.write(tenant, "test", tx -> {
      killBackendOf(server, tx);
      return tx.handle().createQuery("SELECT 1").mapTo(Integer.class).one();
    }));
    mapped = ErrorMapping.toStatus(before, "test");
    assertEquals(Status.Code.UNAVAILABLE, mapped.getStatus().getCode());
    assertEquals("DATABASE_UNAVAILABLE", dev.convene.server.testing.GrpcAssertions.errorInfo(mapped).getReason());
  }

  @Test
  void eventsAndJobs_areWrittenWithTheChange_andNotWithoutIt() {
    TestServer server = servers.get();
    UnitOfWork uow = server.platform.uow();
    String tenant = server.tenantA.tenantId();
    assertThrows(IllegalStateException.class, () -> uow.write(tenant, "test", tx -> {
      tx.append("test", "rolled-back", "APPENDED", Map.of());
      tx.schedule("test.kind", "rolled-back", tx.now());
      tx.flush();
      throw new IllegalStateException("the change fails");
    }));
    uow.write(tenant, "test", tx -> {
      tx.append("test", "kept", "APPENDED", Map.of("n", 1));
      tx.schedule("test.kind", "kept", tx.now());
      return null;
    });
    assertEquals(Map.of("kept", 1L), server.jdbi().withHandle(h -> h.createQuery(
            "SELECT aggregate_id, count(*) AS n FROM events WHERE aggregate_type = 'test' GROUP BY aggregate_id")
        .reduceRows(new java.util.HashMap<String, Long>(), (m, rv) -> {
          m.put(rv.getColumn("aggregate_id", String.class), rv.getColumn("n", Long.class));
          return m;
        })));
    assertEquals(1, (int) server.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM jobs WHERE kind = 'test.kind'")
        .mapTo(Integer.class).one()));
  }
}
