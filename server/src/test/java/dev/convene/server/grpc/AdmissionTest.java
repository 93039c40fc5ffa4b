package dev.convene.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.IdGenerator;
import dev.convene.server.testing.GrpcAssertions;
import dev.convene.server.testing.TestPostgres;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.JoinSessionRequest;
import dev.convene.v1.MediaType;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ParticipantSpec;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Load shedding and queued deadlines, on the real server wiring with 2 request threads and room for
 * 2 waiting calls. Calls are held in the database by a row lock the test takes, so the server is
 * really saturated, not simulated.
 */
class AdmissionTest {
  private static final Instant START = Instant.parse("2030-01-01T10:00:00Z");

  private static CreateSessionRequest visit(String ref) {
    return CreateSessionRequest.newBuilder().setExternalRef(ref).setMedia(MediaType.MEDIA_TYPE_VIDEO)
        .setScheduledStartTime(ProtoTime.timestamp(START)).setScheduledEndTime(ProtoTime.timestamp(START.plusSeconds(1800)))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
        .build();
  }

  /** Holds the row lock of session {@code id} until closed. */
  private static Connection lockSession(TestServer server, String id) throws Exception {
    Connection c = server.database.dataSource().getConnection();
    c.setAutoCommit(false);
    try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM sessions WHERE id = ? FOR UPDATE")) {
      ps.setString(1, id);
      ps.executeQuery().close();
    }
    return c;
  }

  private static void await(String what, java.util.function.BooleanSupplier condition) throws InterruptedException {
    for (int i = 0; i < 1000 && !condition.getAsBoolean(); i++) {
      Thread.sleep(10);
    }
    assertTrue(condition.getAsBoolean(), what);
  }

  @Test
  void aFlood_isShedWithResourceExhausted_healthStillAnswers_andAdmittedCallsComplete() throws Exception {
    int flood = 40;
    try (TestServer server = new TestServer(TestPostgres.freshDatabase(8), IdGenerator.random(), new Admission(2, 2))) {
      var stub = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
      String id = stub.createSession(visit("flood")).getSession().getId();
      ExecutorService clients = Executors.newFixedThreadPool(flood);
      Connection lock = lockSession(server, id);
      List<CompletableFuture<Status.Code>> calls = new ArrayList<>();
      List<StatusRuntimeException> rejected = java.util.Collections.synchronizedList(new ArrayList<>());
      try {
        for (int i = 0; i < flood; i++) {
          calls.add(CompletableFuture.supplyAsync(() -> {
            try {
              stub.withDeadlineAfter(60, TimeUnit.SECONDS)
                  .joinSession(JoinSessionRequest.newBuilder().setSessionId(id).setUserId("dr").build());
              return Status.Code.OK;
            } catch (StatusRuntimeException e) {
              if (e.getStatus().getCode() == Status.Code.RESOURCE_EXHAUSTED) {
                rejected.add(e);
              }
              return e.getStatus().getCode();
            }
          }, clients));
        }
        // Two calls wait for the lock on the request threads, two wait for a thread, the rest are shed.
        await("all but the admitted calls answered", () -> calls.stream().filter(CompletableFuture::isDone).count() == flood - 4);
        assertEquals(4, server.admission.inFlight());
        var health = HealthGrpc.newBlockingStub(server.channel).withDeadlineAfter(5, TimeUnit.SECONDS)
            .check(HealthCheckRequest.getDefaultInstance());
        assertEquals(ServingStatus.SERVING, health.getStatus());
      } finally {
        lock.rollback();
        lock.close();
      }
      Map<Status.Code, Integer> codes = new EnumMap<>(Status.Code.class);
      for (CompletableFuture<Status.Code> call : calls) {
        codes.merge(call.get(30, TimeUnit.SECONDS), 1, Integer::sum);
      }
      clients.shutdownNow();
      assertEquals(Map.of(Status.Code.OK, 4, Status.Code.RESOURCE_EXHAUSTED, flood - 4), codes);
      for (StatusRuntimeException e : rejected) {
        assertEquals("SERVER_OVERLOADED", GrpcAssertions.errorInfo(e).getReason());
      }
      assertEquals(0, server.admission.inFlight());
    }
  }

  @Test
  void callsWhoseDeadlinePassedWhileQueued_areNotRun() throws Exception {
    int queued = 5;
    try (TestServer server = new TestServer(TestPostgres.freshDatabase(8), IdGenerator.random(), new Admission(1, queued))) {
      var stub = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
      String id = stub.createSession(visit("blocker")).getSession().getId();
      Connection lock = lockSession(server, id);
      CompletableFuture<Void> blocker;
      List<CompletableFuture<Status.Code>> creates = new ArrayList<>();
      try {
        // The only request thread waits for the lock...
        blocker = CompletableFuture.runAsync(() -> stub.withDeadlineAfter(60, TimeUnit.SECONDS)
            .joinSession(JoinSessionRequest.newBuilder().setSessionId(id).setUserId("dr").build()));
        await("the blocker holds the request thread", () -> server.admission.inFlight() == 1);
        // ...so these creates wait for it, and their clients give up meanwhile.
        for (int i = 0; i < queued; i++) {
          String ref = "queued-" + i;
          creates.add(CompletableFuture.supplyAsync(() -> {
            try {
              stub.withDeadlineAfter(300, TimeUnit.MILLISECONDS).createSession(visit(ref));
              return Status.Code.OK;
            } catch (StatusRuntimeException e) {
              return e.getStatus().getCode();
            }
          }));
        }
        for (CompletableFuture<Status.Code> c : creates) {
          assertEquals(Status.Code.DEADLINE_EXCEEDED, c.get(30, TimeUnit.SECONDS));
        }
      } finally {
        lock.rollback();
        lock.close();
      }
      blocker.get(30, TimeUnit.SECONDS);
      await("every queued call left", () -> server.admission.inFlight() == 0);
      long stored = server.jdbi().withHandle(h -> h.createQuery(
          "SELECT count(*) FROM sessions WHERE external_ref LIKE 'queued-%'").mapTo(Long.class).one());
      assertEquals(0, stored, "creates whose clients saw DEADLINE_EXCEEDED");
    }
  }
}
