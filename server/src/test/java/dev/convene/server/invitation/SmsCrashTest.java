package dev.convene.server.invitation;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.convene.server.grpc.Admission;
import dev.convene.server.platform.IdGenerator;
import dev.convene.server.provider.ProviderFactory;
import dev.convene.server.testing.FakeTwilio;
import dev.convene.server.testing.TestPostgres;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.Visits;
import dev.convene.v1.*;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The outbox's crash test with real processes: a Convene server (its own JVM, on this test's
 * database, its Twilio pointed at the fake) is SIGKILLed while its call to Twilio is in flight,
 * after or before Twilio accepted the message; a second server started afterwards finishes the
 * invitation, and the fake counts exactly one message either way.
 */
class SmsCrashTest {
  static final String PHONE = "+14155550123";

  FakeTwilio twilio;
  TestPostgres.Fresh db;
  TestServer server;
  InvitationServiceGrpc.InvitationServiceBlockingStub invitations;
  Path logs;

  @BeforeEach
  void setUp() throws Exception {
    twilio = new FakeTwilio();
    db = TestPostgres.fresh(8);
    server = new TestServer(db.database(), IdGenerator.random(), new Admission(8, 1000),
        new ProviderFactory(Duration.ofSeconds(5), twilio.url()));
    server.clock.set(Instant.now()); // the servers started below run on the real clock
    var key = TestServer.bearer(server.tenantA.key());
    invitations = InvitationServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    ProviderConfigServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key)
        .setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder().setDefault(true)
            .setTwilio(TwilioConfig.newBuilder().setAccountSid(FakeTwilio.ACCOUNT).setApiKeySid(FakeTwilio.KEY)
                .setApiKeySecret("twilio-key-secret-0123456789abcdef").setAuthToken("twilio-auth-token-0123456789abcdef")
                .setSmsFrom("+15005550006"))).build());
    logs = Path.of("target", "sms-crash-logs");
    Files.createDirectories(logs);
  }

  @AfterEach
  void tearDown() {
    server.close();
    twilio.close();
  }

  String invite() {
    Session s = Visits.create(SessionServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantA.key())), server.clock.instant().plus(Duration.ofDays(1)));
    return invitations.createInvitation(CreateInvitationRequest.newBuilder().setSessionId(s.getId()).setUserId("pat")
        .setChannel(InvitationChannel.INVITATION_CHANNEL_SMS).setPhone(PHONE).build()).getInvitation().getId();
  }

  /** A Convene server in its own JVM on this database, sending through the fake Twilio. */
  Process convene(String name) throws Exception {
    return dev.convene.server.testing.ServerProcess.start(db.url(), logs.resolve(name + ".log"),
        Map.of("CONVENE_TWILIO_API_BASE", twilio.url()));
  }

  String delivery(String id) {
    return server.jdbi().withHandle(h -> h.createQuery("SELECT delivery FROM invitations WHERE id = :id")
        .bind("id", id).mapTo(String.class).one());
  }

  void killMidSend(String test, Function<FakeTwilio.Hit, Boolean> acceptFirst) throws Exception {
    CountDownLatch inFlight = new CountDownLatch(1);
    twilio.responder = hit -> {
      if (hit.method().equals("POST") && inFlight.getCount() > 0) {
        if (acceptFirst.apply(hit)) {
          twilio.acceptMessage(hit);
        }
        inFlight.countDown();
        return FakeTwilio.Answer.stalled();
      }
      return twilio.messaging(hit);
    };
    String id = invite();
    Process first = convene(test + "-first");
    try {
      if (!inFlight.await(60, TimeUnit.SECONDS)) {
        throw new AssertionError("the first server never called Twilio; see " + logs.resolve(test + "-first.log"));
      }
      first.destroyForcibly().waitFor(10, TimeUnit.SECONDS); // SIGKILL, mid-call
    } finally {
      first.destroyForcibly();
    }
    assertEquals("SENDING", delivery(id), "the first server marked it before calling Twilio");

    Process second = convene(test + "-second");
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!delivery(id).equals("SENT") && System.nanoTime() < deadline) {
        Thread.sleep(200);
      }
    } finally {
      second.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    assertEquals("SENT", delivery(id));
    assertEquals(1, twilio.messages.size(), "exactly one message");
  }

  @Test
  void aServerKilledAfterTwilioAcceptedTheMessage_leavesExactlyOneMessage() throws Exception {
    killMidSend("after-accept", hit -> true);
  }

  @Test
  void aServerKilledBeforeTwilioAcceptedTheMessage_leavesExactlyOneMessage() throws Exception {
    killMidSend("before-accept", hit -> false);
  }
}
