package dev.convene.server.invitation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.api.HttpBody;
import com.google.protobuf.ByteString;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.JobRunner;
import dev.convene.server.testing.FakeTwilio;
import dev.convene.server.testing.Signatures;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.Visits;
import dev.convene.v1.*;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The SMS outbox against the real twilio-java SDK and a local fake Twilio: exactly one message per
 * invitation through failures, replicas racing, and a replica that dies mid-send; delivery status
 * callbacks through the provider callback endpoint, forward only.
 */
class SmsOutboxTest {
  static final String PUBLIC_BASE = "https://convene.example.org/edge";
  static final String AUTH_TOKEN = "twilio-auth-token-0123456789abcdef";
  static final String FROM = "+15005550006";
  static final String PHONE = "+14155550123";

  FakeTwilio twilio;
  TestServer server;
  InvitationServiceGrpc.InvitationServiceBlockingStub invitations;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;
  Session s;

  @BeforeEach
  void setUp() throws Exception {
    twilio = new FakeTwilio();
    twilio.responder = twilio::messaging;
    server = TestServer.withTwilioAt(twilio.url());
    twilio.clock = server.clock::instant;
    var key = TestServer.bearer(server.tenantA.key());
    invitations = InvitationServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    ProviderConfigServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key)
        .setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder().setDefault(true)
            .setStatusCallbackBaseUrl(PUBLIC_BASE).setTwilio(TwilioConfig.newBuilder().setAccountSid(FakeTwilio.ACCOUNT)
                .setApiKeySid(FakeTwilio.KEY).setApiKeySecret("twilio-key-secret-0123456789abcdef")
                .setAuthToken(AUTH_TOKEN).setSmsFrom(FROM))).build());
    // Days ahead: the tests move the clock past backoffs and leases, not into the visit.
    Instant start = server.clock.instant().plus(Duration.ofDays(2));
    s = Visits.create(sessions, start);
  }

  @AfterEach
  void tearDown() {
    server.close();
    twilio.close();
  }

  CreateInvitationResponse sms() {
    return invitations.createInvitation(CreateInvitationRequest.newBuilder().setSessionId(s.getId()).setUserId("pat")
        .setChannel(InvitationChannel.INVITATION_CHANNEL_SMS).setPhone(PHONE).build());
  }

  Invitation get(String id) {
    return invitations.getInvitation(GetInvitationRequest.newBuilder().setInvitationId(id).build()).getInvitation();
  }

  long events(String type) {
    return server.jdbi().withHandle(h -> h.createQuery(
        "SELECT count(*) FROM events WHERE aggregate_id = :id AND type = :type").bind("id", s.getId())
        .bind("type", type).mapTo(Long.class).one());
  }

  long posts() {
    return twilio.hits.stream().filter(h -> h.method().equals("POST") && h.path().equals(FakeTwilio.MESSAGES_PATH)).count();
  }

  /** Runs the job runner after the clock passed every backoff. */
  void later(Duration d) {
    server.clock.advance(d);
    server.jobs().runOnce();
  }

  ReceiveProviderWebhookResponse status(String sid, String status, String errorCode) throws Exception {
    Map<String, String> p = new TreeMap<>();
    p.put("AccountSid", FakeTwilio.ACCOUNT);
    p.put("MessageSid", sid);
    p.put("SmsSid", sid);
    p.put("MessageStatus", status);
    p.put("SmsStatus", status);
    p.put("To", PHONE);
    p.put("From", FROM);
    p.put("ApiVersion", "2010-04-01");
    if (errorCode != null) {
      p.put("ErrorCode", errorCode);
    }
    String url = PUBLIC_BASE + "/webhooks/twilio/" + server.tenantA.tenantId();
    Metadata md = new Metadata();
    md.put(Metadata.Key.of("x-twilio-signature", Metadata.ASCII_STRING_MARSHALLER), Signatures.twilio(AUTH_TOKEN, url, p));
    return ProviderWebhookServiceGrpc.newBlockingStub(server.channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
        .receiveProviderWebhook(ReceiveProviderWebhookRequest.newBuilder().setProvider("twilio")
            .setTenantId(server.tenantA.tenantId()).setBody(HttpBody.newBuilder()
                .setContentType("application/x-www-form-urlencoded").setData(ByteString.copyFromUtf8(Signatures.form(p))))
            .build());
  }

  @Test
  void anSmsInvitation_leavesOnceThroughTheOutbox_withItsLink_andDeliveryMovesForwardOnly() throws Exception {
    CreateInvitationResponse created = sms();
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_QUEUED, created.getInvitation().getDelivery());
    assertEquals(0, twilio.messages.size(), "nothing leaves inside the create");

    server.jobs().runOnce();
    server.jobs().runOnce();

    assertEquals(1, twilio.messages.size());
    FakeTwilio.Sms m = twilio.messages.get(0);
    assertEquals(PHONE, m.to());
    assertEquals(FROM, m.from());
    assertEquals(Templates.DEFAULT_SMS.replace("{link}", created.getLink()), m.body());
    assertEquals(PUBLIC_BASE + "/webhooks/twilio/" + server.tenantA.tenantId(), m.statusCallback());
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_SENT, get(created.getInvitation().getId()).getDelivery());
    assertEquals(1, events("INVITATION_SENT"));

    assertTrue(status(m.sid(), "delivered", null).getApplied());
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_DELIVERED, get(created.getInvitation().getId()).getDelivery());
    // Late and out of order: a "sent" after "delivered", and a "failed" after it, change nothing.
    assertTrue(!status(m.sid(), "sent", null).getApplied());
    assertTrue(!status(m.sid(), "undelivered", "30003").getApplied());
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_DELIVERED, get(created.getInvitation().getId()).getDelivery());
    assertEquals(1, events("INVITATION_DELIVERED"));
    assertEquals(0, events("INVITATION_FAILED"));
  }

  @Test
  void aGroupInvitation_textsTheGroupsLink_andItsDeliveryIsOnTheGroupsFeed() throws Exception {
    var key = TestServer.bearer(server.tenantA.key());
    var groups = GroupServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    String groupId = groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId("ann").setName("Family").build())
        .getGroup().getId();
    CreateInvitationResponse created = invitations.createInvitation(CreateInvitationRequest.newBuilder()
        .setGroupId(groupId).setUserId("gran").setChannel(InvitationChannel.INVITATION_CHANNEL_SMS).setPhone(PHONE)
        .build());
    assertTrue(created.getLink().contains("#group=" + groupId + "&code="), "the link names the group");
    server.jobs().runOnce();
    assertEquals(1, twilio.messages.size());
    FakeTwilio.Sms m = twilio.messages.get(0);
    assertEquals(Templates.DEFAULT_GROUP_SMS.replace("{link}", created.getLink()), m.body(), "a group's own text");
    assertTrue(status(m.sid(), "delivered", null).getApplied());
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_DELIVERED, get(created.getInvitation().getId()).getDelivery());
    List<GroupActivityType> feed = groups.listGroupActivities(ListGroupActivitiesRequest.newBuilder().setGroupId(groupId)
        .build()).getActivitiesList().stream().map(GroupActivity::getType).toList();
    assertEquals(List.of(GroupActivityType.GROUP_ACTIVITY_TYPE_INVITATION_DELIVERED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_INVITATION_SENT, GroupActivityType.GROUP_ACTIVITY_TYPE_INVITATION_CREATED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_ADDED, GroupActivityType.GROUP_ACTIVITY_TYPE_GROUP_CREATED), feed);
    assertEquals(0, events("INVITATION_SENT"), "nothing on the unrelated session");
  }

  @Test
  void aPermanentRefusal_failsAtOnceWithTwiliosCode_andTransientOnesRetryWithBackoff() {
    twilio.responder = hit -> new FakeTwilio.Answer(400, FakeTwilio.error(21610, 400));
    String stopped = sms().getInvitation().getId();
    server.jobs().runOnce();
    later(Duration.ofHours(1));
    Invitation failed = get(stopped);
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_FAILED, failed.getDelivery());
    assertEquals("21610", failed.getDeliveryErrorCode());
    assertEquals(1, posts(), "a permanent refusal is not retried");
    assertEquals(1, events("INVITATION_FAILED"));

    twilio.hits.clear();
    int[] creates = {0};
    // The first create is rate limited, the second meets a Twilio outage; before each retry the
    // outbox lists the number's messages (a 5xx may come after Twilio took the message).
    twilio.responder = hit -> hit.method().equals("POST") && ++creates[0] <= 2
        ? new FakeTwilio.Answer(creates[0] == 1 ? 429 : 500, FakeTwilio.error(creates[0] == 1 ? 20429 : 20500,
            creates[0] == 1 ? 429 : 500))
        : twilio.messaging(hit);
    String busy = sms().getInvitation().getId();
    server.jobs().runOnce();
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_QUEUED, get(busy).getDelivery());
    assertEquals(1, posts(), "one request per attempt: the SDK's own retries are off");
    server.jobs().runOnce();
    assertEquals(1, posts(), "not before its backoff");
    later(Duration.ofMinutes(5));
    later(Duration.ofMinutes(5));
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_SENT, get(busy).getDelivery());
    assertEquals(3, posts());
    assertEquals(4, twilio.hits.stream().filter(h -> h.method().equals("GET")).count(),
        "a look before each of the two retries (each reads the dated page and the newest undated one)");
    assertEquals(1, twilio.messages.size());
  }

  @Test
  void aReplicaThatDiesAfterTwilioAccepted_isFollowedByOneThatFindsTheMessage_notASecondOne() throws Exception {
    CountDownLatch reached = new CountDownLatch(1);
    twilio.responder = hit -> {
      twilio.acceptMessage(hit);
      reached.countDown();
      return FakeTwilio.Answer.stalled(); // accepted, then the replica is gone: no answer is read
    };
    String id = sms().getInvitation().getId();
    ExecutorService dead = Executors.newSingleThreadExecutor();
    JobRunner replicaA = server.jobs();
    dead.submit(replicaA::runOnce);
    reached.await();
    assertEquals(1, twilio.messages.size());

    twilio.responder = twilio::messaging;
    server.clock.advance(Duration.ofMinutes(3)); // past replica A's lease
    server.jobs().runOnce();                     // replica B

    assertEquals(InvitationDelivery.INVITATION_DELIVERY_SENT, get(id).getDelivery());
    assertEquals(1, twilio.messages.size(), "replica B found the message instead of sending another");
    assertEquals(1, events("INVITATION_SENT"));
    dead.shutdownNow();
  }

  @Test
  void aReplicaThatDiesBeforeTwilioAccepted_isFollowedByOneThatSendsIt_once() throws Exception {
    CountDownLatch reached = new CountDownLatch(1);
    twilio.responder = hit -> {
      reached.countDown();
      return FakeTwilio.Answer.stalled(); // the request never made it into Twilio
    };
    String id = sms().getInvitation().getId();
    ExecutorService dead = Executors.newSingleThreadExecutor();
    dead.submit(server.jobs()::runOnce);
    reached.await();
    assertEquals(0, twilio.messages.size());

    twilio.responder = twilio::messaging;
    server.clock.advance(Duration.ofMinutes(3));
    server.jobs().runOnce();

    assertEquals(InvitationDelivery.INVITATION_DELIVERY_SENT, get(id).getDelivery());
    assertEquals(1, twilio.messages.size());
    dead.shutdownNow();
  }

  @Test
  void twoDispatchers_over200Invitations_sendExactly200Messages() throws Exception {
    int n = 200;
    List<String> ids = new java.util.ArrayList<>();
    for (int i = 0; i < n; i++) {
      ids.add(sms().getInvitation().getId());
    }
    ExecutorService pool = Executors.newFixedThreadPool(2);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Integer>> runs = List.of(server.jobs(), server.jobs()).stream().map(r -> pool.submit(() -> {
      go.await();
      return r.runOnce();
    })).toList();
    go.countDown();
    int done = 0;
    for (Future<Integer> f : runs) {
      done += f.get();
    }
    pool.shutdown();
    assertEquals(n, twilio.messages.size(), "exactly one message per invitation");
    assertEquals(n, new HashSet<>(twilio.messages.stream().map(FakeTwilio.Sms::body).toList()).size());
    assertTrue(runs.get(0).get() > 0 && runs.get(1).get() > 0, "both dispatchers took part: " + runs.get(0).get()
        + " and " + runs.get(1).get());
    assertEquals(n, events("INVITATION_SENT"));
    assertTrue(done >= n, "jobs run: " + done);
  }

  @Test
  void aResend_sendsANewMessageWithTheSameCode_atMostEvery10Minutes() {
    CreateInvitationResponse created = sms();
    String id = created.getInvitation().getId();
    server.jobs().runOnce();
    ResendInvitationRequest resend = ResendInvitationRequest.newBuilder().setInvitationId(id).build();
    server.clock.advance(Duration.ofMinutes(1));
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_QUEUED, invitations.resendInvitation(resend).getInvitation()
        .getDelivery());
    server.jobs().runOnce();
    assertEquals(2, twilio.messages.size(), "a new message, not the earlier one found again");
    assertEquals(twilio.messages.get(0).body(), twilio.messages.get(1).body(), "the same link and code");
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_SENT, get(id).getDelivery());

    var tooSoon = dev.convene.server.testing.GrpcAssertions.assertStatus(io.grpc.Status.Code.RESOURCE_EXHAUSTED,
        "TOO_MANY_ATTEMPTS", () -> invitations.resendInvitation(resend));
    assertTrue(tooSoon.getTrailers().keys().stream().anyMatch(k -> k.contains("status-details")));
    server.clock.advance(Duration.ofMinutes(10));
    invitations.resendInvitation(resend);
    server.jobs().runOnce();
    assertEquals(3, twilio.messages.size());

    String link = invitations.createInvitation(CreateInvitationRequest.newBuilder().setSessionId(s.getId())
        .setUserId("pat").setChannel(InvitationChannel.INVITATION_CHANNEL_LINK).build()).getInvitation().getId();
    dev.convene.server.testing.GrpcAssertions.assertStatus(io.grpc.Status.Code.FAILED_PRECONDITION, "INVITATION_NOT_SMS",
        () -> invitations.resendInvitation(ResendInvitationRequest.newBuilder().setInvitationId(link).build()));
    invitations.revokeInvitation(RevokeInvitationRequest.newBuilder().setInvitationId(id).build());
    server.clock.advance(Duration.ofMinutes(10));
    dev.convene.server.testing.GrpcAssertions.assertStatus(io.grpc.Status.Code.FAILED_PRECONDITION, "INVITATION_ANSWERED",
        () -> invitations.resendInvitation(resend));
  }

  @Test
  void anInvitationRevokedBeforeItsTextLeft_isNeverSent() {
    String id = sms().getInvitation().getId();
    invitations.revokeInvitation(RevokeInvitationRequest.newBuilder().setInvitationId(id).build());
    server.jobs().runOnce();
    assertEquals(0, twilio.messages.size());
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_CANCELED, get(id).getDelivery());
  }
}
