package dev.convene.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.Visits;
import dev.convene.v1.EventServiceGrpc;
import dev.convene.v1.GetSessionRequest;
import dev.convene.v1.IssueJoinTokenRequest;
import dev.convene.v1.ProviderConfigServiceGrpc;
import dev.convene.v1.Session;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.TokenServiceGrpc;
import dev.convene.v1.WatchEventsRequest;
import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What an operator's Prometheus reads from a replica after real calls: calls by method and status,
 * the pool, jobs, open streams, provider calls, SMS and the JVM; served over HTTP on its own port;
 * and every metric the Grafana dashboard (envoy/monitoring/grafana/convene.json) queries exists.
 */
class MetricsTest {
  TestServer server;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;

  @BeforeEach
  void start() {
    server = new TestServer();
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
  }

  @AfterEach
  void stop() {
    server.close();
  }

  /** The value of the first sample whose line starts with {@code prefix} and contains every one of {@code parts}. */
  static double sample(String scrape, String prefix, String... parts) {
    return scrape.lines().filter(l -> l.startsWith(prefix)).filter(l -> {
      for (String p : parts) {
        if (!l.contains(p)) {
          return false;
        }
      }
      return true;
    }).mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst().orElse(Double.NaN);
  }

  @Test
  void afterRealCalls_theScrapeHasCallsPoolJobsStreamsProvidersAndSms() throws Exception {
    Visits.useJitsi(ProviderConfigServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantA.key())));
    Session s = Visits.create(sessions, TestServer.T0.plusSeconds(300));
    sessions.getSession(GetSessionRequest.newBuilder().setSessionId(s.getId()).build());
    assertThrows(StatusRuntimeException.class,
        () -> sessions.getSession(GetSessionRequest.newBuilder().setSessionId("ses_missing").build()));
    TokenServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()))
        .issueJoinToken(IssueJoinTokenRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build());
    Context.CancellableContext watching = Context.current().withCancellation();
    watching.run(() -> EventServiceGrpc.newStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()))
        .watchEvents(WatchEventsRequest.newBuilder().setStartAtEnd(true).build(), new io.grpc.stub.StreamObserver<>() {
          @Override
          public void onNext(dev.convene.v1.WatchEventsResponse value) {}

          @Override
          public void onError(Throwable t) {}

          @Override
          public void onCompleted() {}
        }));
    server.clock.advance(Duration.ofHours(3));
    server.jobs().runOnce();

    String scrape = server.metrics.scrape();
    // The stream opens on the server's threads: its gauge goes to 1 soon after the call.
    for (int i = 0; i < 100 && sample(scrape, "convene_streams_open ") != 1.0; i++) {
      Thread.sleep(50);
      scrape = server.metrics.scrape();
    }
    assertEquals(1.0, sample(scrape, "grpc_server_processing_duration_seconds_count{", "method=\"GetSession\"",
        "statusCode=\"OK\""), scrape);
    assertEquals(1.0, sample(scrape, "grpc_server_processing_duration_seconds_count{", "method=\"GetSession\"",
        "statusCode=\"NOT_FOUND\""));
    assertTrue(sample(scrape, "grpc_server_processing_duration_seconds_bucket{", "method=\"CreateSession\"",
        "le=\"+Inf\"") >= 1,
        "latency histograms for p99");
    assertEquals(1.0, sample(scrape, "convene_streams_open "));
    assertTrue(sample(scrape, "convene_db_pool_connections{", "state=\"total\"") >= 1);
    assertEquals(1.0, sample(scrape, "convene_provider_calls_seconds_count{", "operation=\"token\"", "outcome=\"ok\"",
        "provider=\"jitsi\""));
    assertTrue(sample(scrape, "convene_jobs_claimed_total{", "kind=\"session.no_show\"") >= 1, "the no-show job ran");
    assertTrue(sample(scrape, "convene_jobs_lag_seconds_max{", "kind=\"session.no_show\"") > 0, "late by the clock's jump");
    assertEquals(0.0, sample(scrape, "convene_sms_sent_total "));
    assertTrue(sample(scrape, "jvm_threads_live_threads ") > 0);
    watching.cancel(null);
  }

  @Test
  void theDashboardQueriesOnlyMetricsTheServerHas() throws Exception {
    Session s = Visits.create(sessions, TestServer.T0.plusSeconds(300));
    sessions.getSession(GetSessionRequest.newBuilder().setSessionId(s.getId()).build());
    server.clock.advance(Duration.ofHours(3));
    server.jobs().runOnce();
    Visits.useJitsi(ProviderConfigServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantA.key())));
    Session later = Visits.create(sessions, TestServer.T0.plus(Duration.ofHours(3)).plusSeconds(300));
    TokenServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()))
        .issueJoinToken(IssueJoinTokenRequest.newBuilder().setSessionId(later.getId()).setUserId("dr").build());
    Set<String> families = server.metrics.scrape().lines().filter(l -> !l.startsWith("#") && !l.isBlank())
        .map(l -> l.split("[{ ]")[0]).collect(Collectors.toCollection(TreeSet::new));
    String dashboard = Files.readString(Path.of("../envoy/monitoring/grafana/convene.json"));
    Matcher expr = Pattern.compile("\"expr\": \"((?:[^\"\\\\]|\\\\.)*)\"").matcher(dashboard);
    Set<String> queried = new TreeSet<>();
    while (expr.find()) {
      // Metric names only: label values ("convene_edge") are quoted.
      String query = expr.group(1).replaceAll("\\\\\"[^\\\\]*\\\\\"", "");
      Matcher name = Pattern.compile("\\b((?:convene|grpc|jvm|process|hikaricp)_[a-z0-9_]+)").matcher(query);
      while (name.find()) {
        queried.add(name.group(1));
      }
    }
    assertTrue(queried.size() >= 10, "the dashboard was read: " + queried);
    Set<String> missing = new TreeSet<>(queried);
    missing.removeAll(families);
    assertEquals(Set.of(), missing, "queried by the dashboard but not served");
  }

  @Test
  void theEndpointServesPrometheusTextOnItsOwnPort() throws Exception {
    int port = server.metrics.serve("127.0.0.1", 0);
    HttpClient http = HttpClient.newHttpClient();
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode());
    assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/plain"));
    assertTrue(r.body().contains("convene_db_pool_connections"), r.body());
    HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(405, post.statusCode());
    server.metrics.close();
  }
}
