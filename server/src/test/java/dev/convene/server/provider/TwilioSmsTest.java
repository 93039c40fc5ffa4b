package dev.convene.server.provider;

import static dev.convene.server.testing.FakeTwilio.ACCOUNT;
import static dev.convene.server.testing.FakeTwilio.KEY;
import static dev.convene.server.testing.FakeTwilio.MESSAGES_PATH;
import static dev.convene.server.testing.FakeTwilio.error;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.grpc.ConveneException;
import dev.convene.server.testing.FakeTwilio;
import dev.convene.server.testing.FakeTwilio.Answer;
import dev.convene.server.testing.FakeTwilio.Hit;
import dev.convene.v1.ErrorReason;
import io.grpc.Status;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** TwilioSms through the real twilio-java SDK against a local fake of Twilio's Messaging API. */
class TwilioSmsTest {
  static final String SECRET = "test-secret-0123456789-abcdefghijklmnop";
  static final Duration TIMEOUT = Duration.ofMillis(800);
  static final String FROM = "+15005550006";
  static final String SERVICE = "MG" + "00112233445566778899aabbccddeeff";
  // Marker values: a test below proves none of them reaches a failure's text.
  static final String TO = "+14155550123";
  static final String CODE = "K7Q2-PX9M";
  static final String BODY = "Dr. Lee invites you to your visit: https://convene.example/j/" + CODE;
  static final String CALLBACK = "https://convene.example/webhooks/twilio/ten_A1";

  FakeTwilio fake;

  @BeforeEach
  void startFake() throws IOException {
    fake = new FakeTwilio();
  }

  @AfterEach
  void stopFake() {
    fake.close();
  }

  private TwilioSms sms(String from, String service) {
    return sms(fake.url(), from, service);
  }

  private static TwilioSms sms(String base, String from, String service) {
    return new ProviderFactory(TIMEOUT, base).sms(new ProviderSettings.Twilio(ACCOUNT, KEY, SECRET,
        "auth-token-not-used-here-0123456789", null, from, service));
  }

  private List<Hit> posts() {
    return fake.hits.stream().filter(h -> h.method().equals("POST")).toList();
  }

  @Test
  void send_fromNumber_postsToFromBodyAndStatusCallbackOnce_andReturnsTheSid() {
    fake.responder = fake::messaging;

    String sid = sms(FROM, null).send(TO, BODY, CALLBACK);

    assertEquals(1, fake.messages.size());
    assertEquals(fake.messages.get(0).sid(), sid);
    assertTrue(sid.matches("^SM[0-9a-f]{32}$"), sid);
    assertEquals(1, fake.hits.size());
    Hit hit = fake.hits.get(0);
    assertEquals("POST", hit.method());
    assertEquals("/2010-04-01/Accounts/" + ACCOUNT + "/Messages.json", hit.path());
    assertEquals(Map.of("To", TO, "From", FROM, "Body", BODY, "StatusCallback", CALLBACK), hit.form());
    assertEquals("Basic " + Base64.getEncoder().encodeToString((KEY + ":" + SECRET).getBytes(StandardCharsets.UTF_8)),
        hit.authorization());
  }

  @Test
  void send_withMessagingService_sendsTheServiceInsteadOfFrom_andNoCallbackWhenNoneGiven() {
    fake.responder = fake::messaging;

    sms(FROM, SERVICE).send(TO, BODY, null);
    sms(null, SERVICE).send(TO, BODY, "");

    assertEquals(2, fake.hits.size());
    for (Hit hit : fake.hits) {
      assertEquals(MESSAGES_PATH, hit.path());
      assertEquals(Map.of("To", TO, "MessagingServiceSid", SERVICE, "Body", BODY), hit.form());
    }
  }

  @ParameterizedTest
  @CsvSource({"429, 20429", "500, 20500", "503, 20503"})
  void send_rateLimitedOrServerError_isTransient_andReachedTwilioExactlyOnce(int http, int code) {
    fake.responder = hit -> new Answer(http, error(code, http));

    SmsFailure f = assertThrows(SmsFailure.class, () -> sms(FROM, null).send(TO, BODY, CALLBACK));

    assertEquals(SmsFailure.Kind.TRANSIENT, f.kind());
    assertEquals(code, f.twilioCode());
    assertEquals(http, f.httpStatus());
    // The SDK's own reliableRequest would have sent three POSTs on a 5xx.
    assertEquals(1, fake.hits.size(), "the SDK did not retry the POST");
  }

  @ParameterizedTest
  @CsvSource({
      "400, 21610, the recipient has unsubscribed from this sender (replied STOP)",
      "400, 21211, the phone number is not valid",
      "400, 21408, SMS to this country is not enabled on the Twilio account",
      "400, 21614, the phone number is not a mobile number",
      "401, 20003, Twilio refused the configured credentials",
      "400, 29999, Twilio refused the message"})
  void send_refusedByTwilio_isPermanent_withTheCodeAndATenantReadableReason(int http, int code, String reason) {
    // Twilio's own text quotes the number; it must not reach the failure.
    fake.responder = hit -> new Answer(http, """
        {"code":%d,"message":"The 'To' number %s is not valid.","more_info":"x","status":%d}
        """.formatted(code, TO, http));

    SmsFailure f = assertThrows(SmsFailure.class, () -> sms(FROM, null).send(TO, BODY, CALLBACK));

    assertEquals(SmsFailure.Kind.PERMANENT, f.kind());
    assertEquals(code, f.twilioCode());
    assertEquals(http, f.httpStatus());
    assertEquals(reason, f.tenantMessage());
    assertNoPersonalData(f);
    assertEquals(1, fake.hits.size());
  }

  @Test
  void send_queueFull21611_isTransient() {
    fake.responder = hit -> new Answer(400, error(21611, 400));

    SmsFailure f = assertThrows(SmsFailure.class, () -> sms(FROM, null).send(TO, BODY, CALLBACK));

    assertEquals(SmsFailure.Kind.TRANSIENT, f.kind());
    assertEquals(21611, f.twilioCode());
  }

  @Test
  void send_acceptedThenStalledPastTheTimeout_isUnknownOutcome_andReconcileFindsTheMessage() {
    fake.responder = hit -> {
      fake.acceptMessage(hit);
      return Answer.stalled();
    };
    Instant since = Instant.now().minusSeconds(5);
    TwilioSms sms = sms(FROM, null);

    long start = System.nanoTime();
    SmsFailure f = assertThrows(SmsFailure.class, () -> sms.send(TO, BODY, CALLBACK));
    Duration took = Duration.ofNanos(System.nanoTime() - start);

    assertEquals(SmsFailure.Kind.UNKNOWN_OUTCOME, f.kind());
    assertNull(f.twilioCode());
    assertNull(f.httpStatus());
    assertTrue(took.compareTo(TIMEOUT) >= 0 && took.compareTo(TIMEOUT.multipliedBy(4)) < 0, "took " + took);
    assertEquals(1, fake.messages.size(), "the fake counted the message");
    assertEquals(1, posts().size(), "and got exactly one POST");
    assertNoPersonalData(f);

    // What the dispatcher does next: reconcile before any resend.
    fake.responder = fake::messaging;
    assertEquals(Optional.of(fake.messages.get(0).sid()), sms.findSent(TO, since, CODE));
    assertEquals(1, posts().size());
  }

  @Test
  void send_connectionRefused_isTransient() throws IOException {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }

    SmsFailure f = assertThrows(SmsFailure.class,
        () -> sms("http://localhost:" + closedPort, FROM, null).send(TO, BODY, CALLBACK));

    assertEquals(SmsFailure.Kind.TRANSIENT, f.kind());
    assertNull(f.httpStatus());
  }

  @Test
  void send_badInput_isInvalidArgumentNamingTheField_andSendsNothing() {
    TwilioSms sms = sms(FROM, null);

    assertInvalid("to", () -> sms.send("4155550123", BODY, CALLBACK));
    assertInvalid("to", () -> sms.send(null, BODY, CALLBACK));
    assertInvalid("body", () -> sms.send(TO, " ", CALLBACK));
    assertInvalid("body", () -> sms.send(TO, "x".repeat(1601), CALLBACK));
    assertInvalid("status_callback_url", () -> sms.send(TO, BODY, "https://my_host.example/cb"));
    assertInvalid("status_callback_url", () -> sms.send(TO, BODY, "ftp://convene.example/cb"));
    assertInvalid("marker", () -> sms.findSent(TO, Instant.now(), ""));
    assertInvalid("since", () -> sms.findSent(TO, null, CODE));
    assertEquals(List.of(), fake.hits);
  }

  @Test
  void sms_withoutAnySender_isFailedPrecondition() {
    ConveneException e = assertThrows(ConveneException.class, () -> sms(null, null));

    assertEquals(Status.Code.FAILED_PRECONDITION, e.code());
    assertEquals(ErrorReason.PROVIDER_NOT_CONFIGURED, e.reason());
  }

  @Test
  void findSent_matchesOnlyAMessageToThatNumberContainingTheMarker_withToAndDateSentFilters() {
    fake.responder = fake::messaging;
    Instant since = Instant.now().minusSeconds(60);
    TwilioSms sms = sms(FROM, null);
    sms.send(TO, "Your visit: https://convene.example/j/OTHER-CODE", null);
    String wanted = sms.send(TO, BODY, null);
    sms.send("+14155550999", BODY, null); // same code, other number
    fake.hits.clear();

    assertEquals(Optional.of(wanted), sms.findSent(TO, since, CODE));

    assertEquals(1, fake.hits.size());
    Hit list = fake.hits.get(0);
    assertEquals("GET", list.method());
    assertEquals(MESSAGES_PATH, list.path());
    assertEquals(Map.of("To", TO, "DateSent>=", since.atZone(ZoneOffset.UTC).toLocalDate().toString(),
        "PageSize", "50"), list.query());
  }

  @Test
  void findSent_noMessageWithTheMarker_isEmpty_afterAlsoCheckingTheNewestPageWithoutDateFilter() {
    fake.responder = fake::messaging;
    Instant since = Instant.now().minusSeconds(60);
    TwilioSms sms = sms(FROM, null);
    sms.send(TO, "Your visit: https://convene.example/j/OTHER-CODE", null);
    fake.hits.clear();

    assertEquals(Optional.empty(), sms.findSent(TO, since, CODE));

    assertEquals(2, fake.hits.size());
    assertTrue(fake.hits.get(0).query().containsKey("DateSent>="));
    assertEquals(Map.of("To", TO, "PageSize", "50"), fake.hits.get(1).query());
  }

  @Test
  void findSent_ignoresAnEarlierMessageWithTheSameCode_aResendsPredecessor() {
    fake.responder = fake::messaging;
    Instant now = Instant.now();
    fake.clock = () -> now.minusSeconds(3600);
    TwilioSms sms = sms(FROM, null);
    sms.send(TO, BODY, null); // the first send of the invitation, an hour ago
    fake.clock = Instant::now;

    assertEquals(Optional.empty(), sms.findSent(TO, now.minusSeconds(60), CODE));
  }

  @Test
  void findSent_followsNextPages_andGivesUpAsUnknownAfterThePageBound() {
    fake.responder = fake::messaging;
    Instant since = Instant.now().minusSeconds(600);
    Instant t = Instant.now().minusSeconds(300);
    TwilioSms sms = sms(FROM, null);
    fake.clock = () -> t;
    String wanted = sms.send(TO, BODY, null); // the oldest
    // Later messages to the same number, stored directly (150 SDK round trips would only cost time).
    java.util.function.IntConsumer later = i -> fake.messages.add(new FakeTwilio.Sms("SM%032x".formatted(1000 + i),
        TO, FROM, null, "reminder " + i, null, t.plusSeconds(i + 1)));
    for (int i = 0; i < 60; i++) {
      later.accept(i);
    }
    fake.hits.clear();

    assertEquals(Optional.of(wanted), sms.findSent(TO, since, CODE));
    assertEquals(2, fake.hits.size());
    assertEquals("1", fake.hits.get(1).query().get("Page"), "the next page's query reached the fake");
    assertEquals(TO, fake.hits.get(1).query().get("To"));

    for (int i = 60; i < TwilioSms.PAGE_SIZE * TwilioSms.MAX_PAGES; i++) {
      later.accept(i);
    }
    fake.hits.clear();

    SmsFailure f = assertThrows(SmsFailure.class, () -> sms.findSent(TO, since, CODE));
    assertEquals(SmsFailure.Kind.UNKNOWN_OUTCOME, f.kind());
    assertEquals(TwilioSms.MAX_PAGES, fake.hits.size());
  }

  @Test
  void findSent_twilioDown_isTransient_andRefused_isPermanent() {
    TwilioSms sms = sms(FROM, null);
    fake.responder = hit -> new Answer(503, error(20503, 503));
    assertEquals(SmsFailure.Kind.TRANSIENT,
        assertThrows(SmsFailure.class, () -> sms.findSent(TO, Instant.now(), CODE)).kind());
    fake.responder = hit -> new Answer(401, error(20003, 401));
    SmsFailure f = assertThrows(SmsFailure.class, () -> sms.findSent(TO, Instant.now(), CODE));
    assertEquals(SmsFailure.Kind.PERMANENT, f.kind());
    assertEquals(20003, f.twilioCode());
  }

  @Test
  void nothingLogged_carriesTheNumberTheBodyOrACredential_evenWithTheServerLogLevelAtDebug() throws Exception {
    ch.qos.logback.classic.LoggerContext logs =
        (ch.qos.logback.classic.LoggerContext) org.slf4j.LoggerFactory.getILoggerFactory();
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> captured =
        new ch.qos.logback.core.read.ListAppender<>();
    try {
      // The production configuration, as a server started with CONVENE_LOG_LEVEL=DEBUG reads it.
      logs.reset();
      logs.putProperty("CONVENE_LOG_LEVEL", "DEBUG");
      ch.qos.logback.classic.joran.JoranConfigurator config = new ch.qos.logback.classic.joran.JoranConfigurator();
      config.setContext(logs);
      config.doConfigure(TwilioSmsTest.class.getResource("/logback.xml"));
      captured.setContext(logs);
      captured.start();
      ch.qos.logback.classic.Logger root = logs.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
      root.detachAndStopAllAppenders(); // keep the test's output quiet
      root.addAppender(captured);
      fake.responder = fake::messaging;
      TwilioSms sms = sms(FROM, null);

      sms.send(TO, BODY, CALLBACK);
      sms.findSent(TO, Instant.now().minusSeconds(60), CODE);
      sms.findSent(TO, Instant.now().minusSeconds(60), "ABSENT-CODE");
      fake.responder = hit -> new Answer(400, error(21211, 400));
      assertThrows(SmsFailure.class, () -> sms.send(TO, BODY, CALLBACK));

      assertTrue(root.isDebugEnabled(), "the server's own code logs at DEBUG here");
      String basic = Base64.getEncoder().encodeToString((KEY + ":" + SECRET).getBytes(StandardCharsets.UTF_8));
      for (ch.qos.logback.classic.spi.ILoggingEvent event : captured.list) {
        String text = event.getLoggerName() + " " + event.getFormattedMessage()
            + (event.getThrowableProxy() == null ? "" : " " + event.getThrowableProxy().getMessage());
        for (String marker : List.of(TO, "4155550123", "%2B14155550123", CODE, SECRET, basic)) {
          assertFalse(text.contains(marker), () -> "logged " + marker + ": " + text);
        }
      }
    } finally {
      logs.reset();
      ch.qos.logback.classic.joran.JoranConfigurator config = new ch.qos.logback.classic.joran.JoranConfigurator();
      config.setContext(logs);
      config.doConfigure(TwilioSmsTest.class.getResource("/logback-test.xml"));
    }
  }

  private static void assertInvalid(String field, org.junit.jupiter.api.function.Executable call) {
    ConveneException e = assertThrows(ConveneException.class, call);
    assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
    assertEquals(field, e.field());
  }

  /** Neither the failure's texts nor its causes carry the number, the body or the secret. */
  private static void assertNoPersonalData(Throwable f) {
    for (Throwable t = f; t != null; t = t.getCause()) {
      String text = String.valueOf(t.getMessage()) + " " + t;
      for (String marker : List.of(TO, CODE, SECRET, "4155550123")) {
        assertFalse(text.contains(marker), () -> "leaks " + marker + ": " + text);
      }
    }
  }
}
