package dev.convene.server.session;

import static dev.convene.server.session.SessionFixtures.stub;
import static dev.convene.server.session.SessionFixtures.visit;
import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.badFields;
import static dev.convene.server.testing.TestServer.T0;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A create carrying a request_id is safe to retry, concurrently too, and cannot be reused for another request. */
class IdempotentCreateTest {
  @RegisterExtension
  static final TestServerExtension servers = new TestServerExtension();
  static TestServer server;
  static SessionServiceGrpc.SessionServiceBlockingStub a;

  @BeforeAll
  static void stubs() {
    server = servers.get();
    a = stub(server, server.tenantA.key());
  }

  private long rows(String requestId) {
    return server.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM sessions WHERE request_id = :r")
        .bind("r", requestId).mapTo(Long.class).one());
  }

  @Test
  void twoHundredConcurrentIdenticalCreates_makeOneSession() throws Exception {
    int trials = 20;
    int callers = 200;
    ExecutorService pool = Executors.newFixedThreadPool(32);
    try {
      for (int trial = 0; trial < trials; trial++) {
        String requestId = "idem-" + trial + "-" + System.nanoTime();
        CreateSessionRequest req = visit("ref-" + requestId, T0.plusSeconds(3600)).setRequestId(requestId)
            .putMetadata("b", "2").putMetadata("a", "1").build();
        CountDownLatch start = new CountDownLatch(1);
        List<Future<String>> results = new ArrayList<>();
        for (int i = 0; i < callers; i++) {
          results.add(pool.submit(() -> {
            start.await();
            return a.createSession(req).getSession().getId();
          }));
        }
        start.countDown();
        Set<String> ids = new HashSet<>();
        for (Future<String> f : results) {
          ids.add(f.get());
        }
        assertEquals(1, ids.size(), "trial " + trial + ": distinct sessions returned " + ids);
        assertEquals(1, rows(requestId), "trial " + trial + ": sessions stored");
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void theSameRequestWithMapEntriesInAnotherOrder_isTheSameRequest() {
    String requestId = "idem-order-" + System.nanoTime();
    var first = a.createSession(visit("ref-" + requestId, T0.plusSeconds(3600)).setRequestId(requestId)
        .putMetadata("a", "1").putMetadata("b", "2").build());
    var again = a.createSession(visit("ref-" + requestId, T0.plusSeconds(3600)).setRequestId(requestId)
        .putMetadata("b", "2").putMetadata("a", "1").build());
    assertEquals(first.getSession().getId(), again.getSession().getId());
  }

  @Test
  void theSameRequestIdWithAnotherBody_isRequestIdReused_andChangesNothing() {
    String requestId = "idem-reuse-" + System.nanoTime();
    CreateSessionRequest first = visit("ref-" + requestId, T0.plusSeconds(3600)).setRequestId(requestId).build();
    a.createSession(first);
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "REQUEST_ID_REUSED",
        () -> a.createSession(first.toBuilder().setTitle("another visit").build()));
    assertEquals(List.of("request_id"), badFields(e));
    assertStatus(Code.INVALID_ARGUMENT, "REQUEST_ID_REUSED",
        () -> a.createSession(first.toBuilder().setExternalRef("another-ref-" + requestId).build()));
    assertEquals(1, rows(requestId));
  }
}
