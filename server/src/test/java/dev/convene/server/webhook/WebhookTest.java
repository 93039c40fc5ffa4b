package dev.convene.server.webhook;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.FieldMask;
import com.standardwebhooks.Webhook;
import dev.convene.server.Main;
import dev.convene.server.event.EventFeature;
import dev.convene.server.platform.JobRunner;
import dev.convene.server.presence.PresenceFeature;
import dev.convene.server.testing.TestPostgres;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.Visits;
import dev.convene.v1.CreateWebhookEndpointRequest;
import dev.convene.v1.CreateWebhookEndpointResponse;
import dev.convene.v1.DeleteWebhookEndpointRequest;
import dev.convene.v1.GetWebhookEndpointRequest;
import dev.convene.v1.JoinSessionRequest;
import dev.convene.v1.LeaveSessionRequest;
import dev.convene.v1.ListWebhookDeliveriesRequest;
import dev.convene.v1.ListWebhookEndpointsRequest;
import dev.convene.v1.RedeliverWebhookRequest;
import dev.convene.v1.RotateWebhookSecretRequest;
import dev.convene.v1.Session;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.UpdateWebhookEndpointRequest;
import dev.convene.v1.WebhookDeliveryStatus;
import dev.convene.v1.WebhookEndpoint;
import dev.convene.v1.WebhookServiceGrpc;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Outbound webhooks against a local receiver: the endpoints' API and its refusals, deliveries
 * signed per Standard Webhooks (checked with the Standard Webhooks library), in log order, retried
 * until a failing receiver recovers with each event accepted exactly once, 410, rotation and
 * redelivery.
 */
class WebhookTest {
  /** Webhooks may go to loopback here (the receiver), with short attempts. */
  static Main.FeatureSettings loopback() {
    return loopback(Duration.ofMinutes(10));
  }

  /** The same, sweeping every {@code sweep}. */
  static Main.FeatureSettings loopback(Duration sweep) {
    Main.FeatureSettings d = Main.FeatureSettings.defaults();
    return new Main.FeatureSettings(PresenceFeature.Settings.defaults(), d.inviteBaseUrl(), EventFeature.Settings.defaults(),
        new WebhookFeature.Settings(Duration.ofSeconds(2), List.of("127.0.0.0/8"), sweep));
  }

  TestServer server;
  WebhookReceiver receiver;
  WebhookServiceGrpc.WebhookServiceBlockingStub webhooks;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;

  @BeforeEach
  void start() throws Exception {
    server = new TestServer(TestPostgres.freshDatabase(8), loopback());
    // Real time: the Standard Webhooks library checks a delivery's timestamp against its own clock.
    server.clock.set(java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
    receiver = new WebhookReceiver();
    webhooks = WebhookServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
  }

  @AfterEach
  void stop() {
    receiver.close();
    server.close();
  }

  CreateWebhookEndpointResponse create(String url, String... types) {
    return webhooks.createWebhookEndpoint(CreateWebhookEndpointRequest.newBuilder().setUrl(url)
        .addAllEventTypes(List.of(types)).setDescription("the clinic's backend").build());
  }

  /** A session's worth of events: created, two joins and leaves. */
  Session activity() {
    Session s = Visits.create(sessions, TestServer.T0.plusSeconds(600));
    for (String user : List.of("dr", "pat")) {
      sessions.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId(user).build());
      sessions.leaveSession(LeaveSessionRequest.newBuilder().setSessionId(s.getId()).setUserId(user).build());
    }
    return s;
  }

  /** Runs the sweep and the job runner as a replica would, {@code rounds} times, moving the clock by {@code step}. */
  void deliver(JobRunner jobs, int rounds, Duration step) {
    WebhookFeature feature = server.feature(WebhookFeature.class);
    for (int i = 0; i < rounds; i++) {
      feature.sweep();
      jobs.runOnce();
      server.clock.advance(step);
    }
  }

  List<Long> positionsOf(String... types) {
    return server.jdbi().withHandle(h -> h.createQuery("SELECT position FROM events WHERE tenant_id = :t"
            + " AND aggregate_type || '.' || type = ANY(:types) ORDER BY position")
        .bind("t", server.tenantA.tenantId()).bind("types", types).mapTo(Long.class).list());
  }

  List<Long> positionsOfAggregateType(String aggregateType) {
    return server.jdbi().withHandle(h -> h.createQuery("SELECT position FROM events WHERE tenant_id = :t"
            + " AND aggregate_type = :type ORDER BY position")
        .bind("t", server.tenantA.tenantId()).bind("type", aggregateType).mapTo(Long.class).list());
  }

  static long positionOf(WebhookReceiver.Hit hit) {
    var m = java.util.regex.Pattern.compile("\"position\":\"(\\d+)\"").matcher(hit.body());
    assertTrue(m.find(), hit.body());
    return Long.parseLong(m.group(1));
  }

  @Test
  void endpoints_createGetListUpdateDelete_andTheSecretIsShownOnce() {
    CreateWebhookEndpointResponse made = create(receiver.url(), "session.PARTICIPANT_JOINED", "group.*");
    assertTrue(made.getSecret().startsWith("whsec_") && made.getSecret().length() > 40, made.getSecret());
    WebhookEndpoint e = made.getEndpoint();
    assertTrue(e.getId().startsWith("whe_") && e.getEnabled());
    assertEquals(e, webhooks.getWebhookEndpoint(GetWebhookEndpointRequest.newBuilder().setEndpointId(e.getId()).build())
        .getEndpoint());
    assertEquals(List.of(e), webhooks.listWebhookEndpoints(ListWebhookEndpointsRequest.getDefaultInstance())
        .getEndpointsList());
    String stored = server.jdbi().withHandle(h -> h.createQuery("SELECT encode(secret_sealed, 'escape') FROM "
        + "webhook_endpoints WHERE id = :id").bind("id", e.getId()).mapTo(String.class).one());
    assertFalse(stored.contains(made.getSecret().substring(6)), "the secret is stored sealed");

    WebhookEndpoint updated = webhooks.updateWebhookEndpoint(UpdateWebhookEndpointRequest.newBuilder()
        .setEndpoint(WebhookEndpoint.newBuilder().setId(e.getId()).setDescription("billing").setEnabled(false))
        .setUpdateMask(FieldMask.newBuilder().addPaths("description").addPaths("enabled")).build()).getEndpoint();
    assertEquals("billing", updated.getDescription());
    assertFalse(updated.getEnabled());
    assertEquals("BY_TENANT", updated.getDisabledReason());
    assertEquals(List.of("session.PARTICIPANT_JOINED", "group.*"), updated.getEventTypesList(), "not in the mask");

    var rotated = webhooks.rotateWebhookSecret(RotateWebhookSecretRequest.newBuilder().setEndpointId(e.getId()).build());
    assertTrue(rotated.getSecret().startsWith("whsec_") && !rotated.getSecret().equals(made.getSecret()));
    assertEquals(server.clock.instant().plus(Duration.ofHours(24)).getEpochSecond(),
        rotated.getEndpoint().getPreviousSecretExpireTime().getSeconds());

    webhooks.deleteWebhookEndpoint(DeleteWebhookEndpointRequest.newBuilder().setEndpointId(e.getId()).build());
    assertStatus(Status.Code.NOT_FOUND, "WEBHOOK_ENDPOINT_NOT_FOUND",
        () -> webhooks.getWebhookEndpoint(GetWebhookEndpointRequest.newBuilder().setEndpointId(e.getId()).build()));
    List<String> types = server.jdbi().withHandle(h -> h.createQuery("SELECT type FROM events WHERE aggregate_id = :id"
        + " ORDER BY aggregate_seq").bind("id", e.getId()).mapTo(String.class).list());
    assertEquals(List.of("WEBHOOK_ENDPOINT_CREATED", "WEBHOOK_ENDPOINT_UPDATED", "WEBHOOK_SECRET_ROTATED",
        "WEBHOOK_ENDPOINT_DELETED"), types);
  }

  @Test
  void aCreateRetriedWithItsRequestId_returnsTheFirstEndpointWithoutItsSecret() {
    CreateWebhookEndpointRequest req = CreateWebhookEndpointRequest.newBuilder().setUrl(receiver.url())
        .setRequestId("req-1").build();
    CreateWebhookEndpointResponse first = webhooks.createWebhookEndpoint(req);
    CreateWebhookEndpointResponse again = webhooks.createWebhookEndpoint(req);
    assertEquals(first.getEndpoint(), again.getEndpoint());
    assertEquals("", again.getSecret());
    assertStatus(Status.Code.INVALID_ARGUMENT, "REQUEST_ID_REUSED",
        () -> webhooks.createWebhookEndpoint(req.toBuilder().setDescription("other").build()));
  }

  @Test
  void urlsThatCouldReachPrivateNetworks_areRefused() {
    for (String url : List.of("https://10.1.2.3/hook", "https://169.254.169.254/latest/meta-data",
        "https://192.168.0.10/", "https://[::1]/hook", "https://[fd00::1]/", "http://example.invalid/hook",
        "https://100.64.0.1/")) {
      assertStatus(Status.Code.INVALID_ARGUMENT, "WEBHOOK_URL_NOT_ALLOWED", () -> create(url));
    }
    assertStatus(Status.Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> create("ftp://example.com/x"));
    assertStatus(Status.Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> create(receiver.url(), "session.joined"));
    // Without CONVENE_WEBHOOK_ALLOWED_NETWORKS, loopback is refused too.
    try (TestServer strict = new TestServer()) {
      var stub = WebhookServiceGrpc.newBlockingStub(strict.channel).withCallCredentials(TestServer.bearer(strict.tenantA.key()));
      assertStatus(Status.Code.INVALID_ARGUMENT, "WEBHOOK_URL_NOT_ALLOWED", () -> stub.createWebhookEndpoint(
          CreateWebhookEndpointRequest.newBuilder().setUrl(receiver.url()).build()));
    }
    for (int i = 0; i < WebhookService.MAX_ENDPOINTS; i++) {
      create(receiver.url());
    }
    assertStatus(Status.Code.RESOURCE_EXHAUSTED, "TOO_MANY_WEBHOOK_ENDPOINTS", () -> create(receiver.url()));
  }

  @Test
  void events_areDeliveredSignedPerStandardWebhooks_inLogOrder_onlyTheWantedTypes() throws Exception {
    CreateWebhookEndpointResponse made = create(receiver.url(), "session.PARTICIPANT_JOINED", "session.PARTICIPANT_LEFT");
    activity();
    activity();
    deliver(server.jobs(), 3, Duration.ofSeconds(1));

    List<Long> expected = positionsOf("session.PARTICIPANT_JOINED", "session.PARTICIPANT_LEFT");
    assertEquals(8, expected.size());
    assertEquals(expected, receiver.accepted().stream().map(WebhookTest::positionOf).toList(), "each once, in order");
    Webhook verifier = new Webhook(made.getSecret());
    for (WebhookReceiver.Hit hit : receiver.hits) {
      verifier.verify(hit.body(), hit.headers()); // throws unless the signature and timestamp check out
      assertTrue(hit.id().startsWith("msg_"));
      assertTrue(hit.body().startsWith("{\"type\":\"session.PARTICIPANT_"), hit.body());
    }
    var deliveries = webhooks.listWebhookDeliveries(ListWebhookDeliveriesRequest.newBuilder()
        .setEndpointId(made.getEndpoint().getId()).build()).getDeliveriesList();
    assertEquals(8, deliveries.size());
    assertTrue(deliveries.stream().allMatch(d -> d.getStatus() == WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_DELIVERED
        && d.getAttempts() == 1 && d.getLastStatusCode() == 200));
    assertEquals(receiver.hits.get(receiver.hits.size() - 1).id(), deliveries.get(0).getId(), "newest first");
    assertEquals(8.0, server.metrics.registry().counter("convene.webhooks.delivered").count());
  }

  @Test
  void events_areSentAsTheyCommit_withoutWaitingForTheJobRunnersRound() throws Exception {
    // The runner's rounds are an hour apart: only a wake-up (the sweep that a commit's signal runs
    // at once, or the periodic one every second, scheduling the endpoint's job) can deliver here.
    server.close();
    server = new TestServer(TestPostgres.freshDatabase(8), loopback(Duration.ofSeconds(1)));
    server.clock.set(java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
    webhooks = WebhookServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    JobRunner jobs = server.jobs();
    jobs.start(Duration.ofHours(1));
    try {
      create(receiver.url(), "session.PARTICIPANT_JOINED", "session.PARTICIPANT_LEFT");
      activity();
      activity();
      List<Long> expected = positionsOf("session.PARTICIPANT_JOINED", "session.PARTICIPANT_LEFT");
      assertEquals(8, expected.size());
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (receiver.accepted().size() < expected.size() && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertEquals(expected, receiver.accepted().stream().map(WebhookTest::positionOf).toList(), "each once, in order");
    } finally {
      jobs.close();
    }
  }

  @Test
  void aReceiverThatFailsForAWhile_getsEveryEventExactlyOnceInOrder() throws Exception {
    receiver.answer = n -> n < 6 ? (n % 2 == 0 ? 503 : 500) : 200;
    String endpointId = create(receiver.url(), "session.*").getEndpoint().getId();
    activity();
    // Backoff is at most 6 hours: rounds an hour apart retry within a few rounds.
    deliver(server.jobs(), 30, Duration.ofMinutes(20));

    List<Long> expected = positionsOfAggregateType("session");
    assertEquals(expected, receiver.accepted().stream().map(WebhookTest::positionOf).toList());
    Map<String, Integer> acceptedPerId = new HashMap<>();
    receiver.accepted().forEach(h -> acceptedPerId.merge(h.id(), 1, Integer::sum));
    assertTrue(acceptedPerId.values().stream().allMatch(n -> n == 1), "each accepted exactly once: " + acceptedPerId);
    assertEquals(6, receiver.hits.size() - receiver.accepted().size(), "six failed attempts, all of the first event");
    assertEquals(1, receiver.hits.stream().limit(7).map(WebhookReceiver.Hit::id).distinct().count(),
        "the failing event held the others back and kept its webhook-id");
    var endpoint = webhooks.getWebhookEndpoint(GetWebhookEndpointRequest.newBuilder().setEndpointId(endpointId).build())
        .getEndpoint();
    assertTrue(endpoint.getEnabled() && !endpoint.hasFailingSinceTime(), "recovered: " + endpoint);
  }

  @Test
  void anEndpointAnswering410_isDisabled_andItsDeliveryFails() {
    receiver.answer = n -> 410;
    String endpointId = create(receiver.url(), "session.SESSION_CREATED").getEndpoint().getId();
    activity();
    deliver(server.jobs(), 3, Duration.ofSeconds(1));
    WebhookEndpoint e = webhooks.getWebhookEndpoint(GetWebhookEndpointRequest.newBuilder().setEndpointId(endpointId)
        .build()).getEndpoint();
    assertFalse(e.getEnabled());
    assertEquals("GONE", e.getDisabledReason());
    assertEquals(1, receiver.hits.size(), "nothing more after the 410");
    var d = webhooks.listWebhookDeliveries(ListWebhookDeliveriesRequest.newBuilder().setEndpointId(endpointId).build())
        .getDeliveries(0);
    assertEquals(WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_FAILED, d.getStatus());
    assertEquals(410, d.getLastStatusCode());

    // Re-enabled and redelivered, it goes again with the same webhook-id.
    receiver.answer = n -> 204;
    webhooks.updateWebhookEndpoint(UpdateWebhookEndpointRequest.newBuilder()
        .setEndpoint(WebhookEndpoint.newBuilder().setId(endpointId).setEnabled(true))
        .setUpdateMask(FieldMask.newBuilder().addPaths("enabled")).build());
    webhooks.redeliverWebhook(RedeliverWebhookRequest.newBuilder().setEndpointId(endpointId).setDeliveryId(d.getId())
        .build());
    deliver(server.jobs(), 2, Duration.ofSeconds(1));
    assertEquals(d.getId(), receiver.hits.get(receiver.hits.size() - 1).id());
    assertEquals(204, receiver.hits.get(receiver.hits.size() - 1).answered());
  }

  @Test
  void anEndpointThatKeepsFailing_givesUpOnEachDeliveryAfter3Days_andIsDisabledAfter5() {
    receiver.answer = n -> n % 2 == 0 ? 500 : 302; // a redirect is a failure, never followed
    String endpointId = create(receiver.url(), "session.SESSION_CREATED").getEndpoint().getId();
    // A new visit every 6 hours, each failing: the queue keeps failing for 6 days.
    for (int round = 0; round < 24; round++) {
      Visits.create(sessions, server.clock.instant().plus(Duration.ofDays(30)));
      deliver(server.jobs(), 1, Duration.ofHours(6));
    }
    WebhookEndpoint e = webhooks.getWebhookEndpoint(GetWebhookEndpointRequest.newBuilder().setEndpointId(endpointId)
        .build()).getEndpoint();
    assertFalse(e.getEnabled());
    assertEquals("FAILING", e.getDisabledReason());
    assertTrue(e.hasFailingSinceTime());
    var failed = webhooks.listWebhookDeliveries(ListWebhookDeliveriesRequest.newBuilder().setEndpointId(endpointId)
        .setStatus(WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_FAILED).build()).getDeliveriesList();
    assertTrue(!failed.isEmpty() && failed.stream().allMatch(d -> d.getLastStatusCode() == 500
        || d.getLastStatusCode() == 302 && d.getLastError().equals("redirect")), failed.toString());
    assertTrue(receiver.hits.stream().allMatch(h -> h.method().equals("POST") && h.id() != null),
        "only deliveries, no redirect followed");
    List<String> types = server.jdbi().withHandle(h -> h.createQuery("SELECT type FROM events WHERE aggregate_id = :id"
        + " ORDER BY aggregate_seq").bind("id", endpointId).mapTo(String.class).list());
    assertEquals(List.of("WEBHOOK_ENDPOINT_CREATED", "WEBHOOK_ENDPOINT_DISABLED"), types);
  }

  @Test
  void afterARotation_bothSecretsVerifyUntilTheGraceEnds() throws Exception {
    CreateWebhookEndpointResponse made = create(receiver.url(), "session.SESSION_CREATED");
    String fresh = webhooks.rotateWebhookSecret(RotateWebhookSecretRequest.newBuilder()
        .setEndpointId(made.getEndpoint().getId()).setGrace(com.google.protobuf.Duration.newBuilder().setSeconds(3600))
        .build()).getSecret();
    activity();
    deliver(server.jobs(), 1, Duration.ZERO);
    WebhookReceiver.Hit during = receiver.hits.get(0);
    assertEquals(2, during.signature().split(" ").length, during.signature());
    new Webhook(made.getSecret()).verify(during.body(), during.headers());
    new Webhook(fresh).verify(during.body(), during.headers());
  }

  @Test
  void twoReplicas_neverDeliverOneEventTwice() throws Exception {
    TestPostgres.Fresh db = TestPostgres.fresh(8);
    try (TestServer a = new TestServer(db.database(), loopback());
        TestServer b = new TestServer(dev.convene.server.db.Database.open(db.url(), "", "", 8, Duration.ofSeconds(5)),
            loopback())) {
      var stub = WebhookServiceGrpc.newBlockingStub(a.channel).withCallCredentials(TestServer.bearer(a.tenantA.key()));
      stub.createWebhookEndpoint(CreateWebhookEndpointRequest.newBuilder().setUrl(receiver.url()).build());
      var onA = SessionServiceGrpc.newBlockingStub(a.channel).withCallCredentials(TestServer.bearer(a.tenantA.key()));
      for (int i = 0; i < 30; i++) {
        Visits.create(onA, TestServer.T0.plusSeconds(600));
      }
      // Every event from the endpoint's own creation on.
      List<Long> expected = a.jdbi().withHandle(h -> h.createQuery("SELECT position FROM events WHERE tenant_id = :t"
          + " AND position >= (SELECT position FROM events WHERE tenant_id = :t AND type = 'WEBHOOK_ENDPOINT_CREATED')"
          + " ORDER BY position").bind("t", a.tenantA.tenantId()).mapTo(Long.class).list());
      JobRunner runA = a.jobs();
      JobRunner runB = b.jobs();
      List<Thread> replicas = new ArrayList<>();
      for (TestServer s : List.of(a, b)) {
        JobRunner runner = s == a ? runA : runB;
        Thread t = new Thread(() -> {
          for (int i = 0; i < 200 && receiver.accepted().size() < expected.size(); i++) {
            s.feature(WebhookFeature.class).sweep();
            runner.runOnce();
          }
        });
        t.start();
        replicas.add(t);
      }
      for (Thread t : replicas) {
        t.join(TimeUnit.SECONDS.toMillis(120));
      }
      Map<String, Integer> perId = new HashMap<>();
      receiver.hits.forEach(h -> perId.merge(h.id(), 1, Integer::sum));
      List<Long> got = receiver.accepted().stream().map(WebhookTest::positionOf).toList();
      System.out.printf("two replicas: %d events, %d requests, %d ids sent more than once%n", got.size(),
          receiver.hits.size(), perId.values().stream().filter(n -> n > 1).count());
      assertTrue(perId.values().stream().allMatch(n -> n == 1), "one request per webhook-id: " + perId);
      assertEquals(expected, got, "every event from the endpoint's creation on, in log order");
    }
  }
}
