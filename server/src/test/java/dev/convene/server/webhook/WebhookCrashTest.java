package dev.convene.server.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.convene.server.testing.TestPostgres;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.Visits;
import dev.convene.v1.CreateWebhookEndpointRequest;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.WebhookServiceGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A Convene server (its own JVM) is SIGKILLed while its webhook request is in flight; a second
 * server started afterwards sends the same delivery again with the same webhook-id, which the
 * receiver accepts: at least once, and a receiver that dedupes on webhook-id sees it once.
 */
class WebhookCrashTest {
  Process convene(TestPostgres.Fresh db, Path logs, String name) throws Exception {
    return dev.convene.server.testing.ServerProcess.start(db.url(), logs.resolve(name + ".log"),
        Map.of("CONVENE_WEBHOOK_TIMEOUT", "PT1S", "CONVENE_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8"));
  }

  @Test
  void aServerKilledMidDelivery_theNextOneRedeliversWithTheSameWebhookId() throws Exception {
    Path logs = Path.of("target", "webhook-crash-logs");
    Files.createDirectories(logs);
    TestPostgres.Fresh db = TestPostgres.fresh(8);
    try (TestServer server = new TestServer(db.database(), WebhookTest.loopback());
        WebhookReceiver receiver = new WebhookReceiver()) {
      server.clock.set(Instant.now()); // the servers started below run on the real clock
      var key = TestServer.bearer(server.tenantA.key());
      receiver.answer = n -> n == 0 ? -1 : 200; // the first request never gets its answer
      WebhookServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key).createWebhookEndpoint(
          CreateWebhookEndpointRequest.newBuilder().setUrl(receiver.url()).addEventTypes("session.SESSION_CREATED").build());
      Visits.create(SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key),
          Instant.now().plus(Duration.ofDays(1)));

      Process first = convene(db, logs, "first");
      try {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (receiver.hits.isEmpty() && System.nanoTime() < deadline) {
          Thread.sleep(50);
        }
        assertEquals(1, receiver.hits.size(), "the first server sent it; see " + logs.resolve("first.log"));
        first.destroyForcibly().waitFor(10, TimeUnit.SECONDS); // SIGKILL, mid-request
      } finally {
        first.destroyForcibly();
      }

      Process second = convene(db, logs, "second");
      String status = "";
      try {
        // The receiver's 200 comes before the second server records it: wait for the row, not the
        // receiver, before stopping that server (killing it in between would be a third crash).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!(status = delivery(server)).startsWith("DELIVERED") && System.nanoTime() < deadline) {
          Thread.sleep(100);
        }
      } finally {
        second.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
      List<WebhookReceiver.Hit> hits = receiver.hits;
      assertEquals(1, receiver.accepted().size(), "accepted once; see " + logs.resolve("second.log"));
      assertEquals(hits.get(0).id(), receiver.accepted().get(0).id(), "the same webhook-id");
      assertEquals(hits.get(0).body(), receiver.accepted().get(0).body(), "the same event");
      assertEquals("DELIVERED 2", status, "see " + logs.resolve("second.log"));
    }
  }

  private static String delivery(TestServer server) {
    return server.jdbi().withHandle(h -> h.createQuery("SELECT status || ' ' || attempts FROM webhook_deliveries")
        .mapTo(String.class).findOne().orElse(""));
  }
}
