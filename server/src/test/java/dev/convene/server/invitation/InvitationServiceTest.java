package dev.convene.server.invitation;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.badFields;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.Visits;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.*;
import io.grpc.Status.Code;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Invitations on the real server and database: links, acceptance through the guest-code mechanism, answers, expiry. */
class InvitationServiceTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  TestServer server;
  InvitationServiceGrpc.InvitationServiceBlockingStub invitations;
  InvitationServiceGrpc.InvitationServiceBlockingStub anonymous;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;
  Session s;

  @BeforeEach
  void setUp() {
    server = servers.get();
    var key = TestServer.bearer(server.tenantA.key());
    invitations = InvitationServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    anonymous = InvitationServiceGrpc.newBlockingStub(server.channel);
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    Visits.useJitsi(ProviderConfigServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key));
    Instant start = server.clock.instant().plus(Duration.ofMinutes(5));
    s = Visits.create(sessions, start);
  }

  CreateInvitationRequest.Builder link(String user) {
    return CreateInvitationRequest.newBuilder().setSessionId(s.getId()).setUserId(user)
        .setChannel(InvitationChannel.INVITATION_CHANNEL_LINK);
  }

  CreateInvitationRequest.Builder guest(String user) {
    return link(user).setGuestRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT).setGuestDisplayName("Sam (interpreter)");
  }

  AcceptInvitationRequest accept(String code) {
    return AcceptInvitationRequest.newBuilder().setSessionId(s.getId()).setCode(code).build();
  }

  DeclineInvitationRequest decline(String code) {
    return DeclineInvitationRequest.newBuilder().setSessionId(s.getId()).setCode(code).build();
  }

  Invitation get(String id) {
    return invitations.getInvitation(GetInvitationRequest.newBuilder().setInvitationId(id).build()).getInvitation();
  }

  List<String> events() {
    return sessions.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(s.getId()).setPageSize(200)
        .build()).getEventsList().stream().map(e -> e.getType().name().substring("SESSION_EVENT_TYPE_".length())).toList();
  }

  Map<String, ParticipantRole> roster() {
    Map<String, ParticipantRole> r = new TreeMap<>();
    sessions.listParticipants(ListParticipantsRequest.newBuilder().setSessionId(s.getId()).build())
        .getParticipantsList().forEach(p -> r.put(p.getUserId(), p.getRole()));
    return r;
  }

  @Test
  void aNewGuestsLinkInvitation_isAcceptedWithItsCode_andPutsTheGuestOnTheRoster() {
    CreateInvitationResponse created = invitations.createInvitation(guest("sam").build());
    Invitation inv = created.getInvitation();
    assertTrue(inv.getId().startsWith("inv_"));
    assertEquals(InvitationStatus.INVITATION_STATUS_PENDING, inv.getStatus());
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_NOT_APPLICABLE, inv.getDelivery());
    assertEquals("http://localhost:8000/?edge=http://localhost:8080#session=" + s.getId() + "&code=" + created.getCode(), created.getLink());
    assertFalse(roster().containsKey("sam"), "a new guest joins the roster only by accepting");

    AcceptInvitationResponse accepted = anonymous.acceptInvitation(accept(created.getCode()));
    assertEquals("sam", accepted.getJoinToken().getIdentity());
    assertFalse(accepted.getGuestCredential().getCredential().isEmpty());
    assertEquals(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT, roster().get("sam"));
    Invitation after = get(inv.getId());
    assertEquals(InvitationStatus.INVITATION_STATUS_ACCEPTED, after.getStatus());
    assertEquals(1, after.getAccessCode().getUseCount());
    assertTrue(events().containsAll(List.of("INVITATION_CREATED", "PARTICIPANT_ADDED", "INVITATION_ACCEPTED",
        "ACCESS_CODE_REDEEMED")));
    // Single use by default.
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_USED_UP", () -> anonymous.acceptInvitation(accept(created.getCode())));
    assertStatus(Code.FAILED_PRECONDITION, "INVITATION_ANSWERED", () -> anonymous.declineInvitation(decline(created.getCode())));
  }

  @Test
  void redeemingAnInvitationsCodeAsAnAccessCode_acceptsTheInvitation_oneMechanism() {
    CreateInvitationResponse created = invitations.createInvitation(link("pat").setMaxUses(3).build());
    RedeemAccessCodeResponse r = TokenServiceGrpc.newBlockingStub(server.channel).redeemAccessCode(
        RedeemAccessCodeRequest.newBuilder().setSessionId(s.getId()).setCode(created.getCode()).build());
    assertEquals("pat", r.getJoinToken().getIdentity());
    assertEquals(InvitationStatus.INVITATION_STATUS_ACCEPTED, get(created.getInvitation().getId()).getStatus());
    assertEquals(1, events().stream().filter("INVITATION_ACCEPTED"::equals).count());
    anonymous.acceptInvitation(accept(created.getCode()));
    assertEquals(1, events().stream().filter("INVITATION_ACCEPTED"::equals).count(), "accepted once");
    // A plain access code is not an invitation.
    String plain = TokenServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()))
        .createAccessCode(CreateAccessCodeRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build()).getCode();
    assertStatus(Code.NOT_FOUND, "ACCESS_CODE_NOT_FOUND", () -> anonymous.acceptInvitation(accept(plain)));
    assertStatus(Code.NOT_FOUND, "ACCESS_CODE_NOT_FOUND", () -> anonymous.acceptInvitation(accept("ZZZZ-ZZZZ")));
  }

  @Test
  void declinedAndRevokedInvitations_stopTheirCodes() {
    CreateInvitationResponse declined = invitations.createInvitation(guest("sam").build());
    anonymous.declineInvitation(decline(declined.getCode()));
    anonymous.declineInvitation(decline(declined.getCode()));
    assertEquals(InvitationStatus.INVITATION_STATUS_DECLINED, get(declined.getInvitation().getId()).getStatus());
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_REVOKED", () -> anonymous.acceptInvitation(accept(declined.getCode())));
    assertFalse(roster().containsKey("sam"));

    CreateInvitationResponse revoked = invitations.createInvitation(link("pat").build());
    RevokeInvitationRequest revoke = RevokeInvitationRequest.newBuilder().setInvitationId(revoked.getInvitation().getId()).build();
    Invitation r = invitations.revokeInvitation(revoke).getInvitation();
    assertEquals(InvitationStatus.INVITATION_STATUS_REVOKED, r.getStatus());
    assertTrue(r.getAccessCode().hasRevokeTime());
    assertEquals(r, invitations.revokeInvitation(revoke).getInvitation(), "revoking again changes nothing");
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_REVOKED", () -> anonymous.acceptInvitation(accept(revoked.getCode())));
    assertEquals(1, events().stream().filter("INVITATION_DECLINED"::equals).count());
    assertEquals(1, events().stream().filter("INVITATION_REVOKED"::equals).count());
  }

  @Test
  void anInvitationPastItsExpiry_readsExpired_andItsCodeSaysSo() {
    CreateInvitationResponse created = invitations.createInvitation(link("pat")
        .setExpireTime(ProtoTime.timestamp(server.clock.instant().plus(Duration.ofMinutes(10)))).build());
    server.clock.advance(Duration.ofMinutes(11));
    assertEquals(InvitationStatus.INVITATION_STATUS_EXPIRED, get(created.getInvitation().getId()).getStatus());
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_EXPIRED", () -> anonymous.acceptInvitation(accept(created.getCode())));
    ListInvitationsResponse expired = invitations.listInvitations(ListInvitationsRequest.newBuilder()
        .setSessionId(s.getId()).setStatus(InvitationStatus.INVITATION_STATUS_EXPIRED).build());
    assertEquals(List.of(created.getInvitation().getId()), expired.getInvitationsList().stream().map(Invitation::getId).toList());
    assertEquals(0, invitations.listInvitations(ListInvitationsRequest.newBuilder().setSessionId(s.getId())
        .setStatus(InvitationStatus.INVITATION_STATUS_PENDING).build()).getInvitationsCount());
  }

  @Test
  void aRetryWithTheRequestId_returnsTheFirstInvitation_andAnotherRequestUnderItIsRefused() {
    CreateInvitationRequest req = guest("sam").setRequestId("visit-42-sam").build();
    CreateInvitationResponse first = invitations.createInvitation(req);
    CreateInvitationResponse again = invitations.createInvitation(req);
    assertEquals(first.getInvitation().getId(), again.getInvitation().getId());
    assertTrue(again.getCode().isEmpty(), "the code is shown once");
    var reused = assertStatus(Code.INVALID_ARGUMENT, "REQUEST_ID_REUSED",
        () -> invitations.createInvitation(req.toBuilder().setGuestDisplayName("someone else").build()));
    assertEquals(List.of("request_id"), badFields(reused));
    assertEquals(1, invitations.listInvitations(ListInvitationsRequest.newBuilder().setSessionId(s.getId()).build())
        .getInvitationsCount());
  }

  @Test
  void smsInvitations_normaliseTheNumber_keepItSealed_andShowItMasked() {
    CreateInvitationResponse created = invitations.createInvitation(link("pat")
        .setChannel(InvitationChannel.INVITATION_CHANNEL_SMS).setPhone("(415) 555-0123").setPhoneRegion("US").build());
    Invitation inv = created.getInvitation();
    assertEquals("+1\u2022\u2022\u2022\u2022\u2022\u20220123", inv.getPhoneMasked());
    assertEquals(InvitationDelivery.INVITATION_DELIVERY_QUEUED, inv.getDelivery());
    byte[] sealed = server.jdbi().withHandle(h -> h.createQuery("SELECT phone_sealed FROM invitations WHERE id = :id")
        .bind("id", inv.getId()).mapTo(byte[].class).one());
    assertFalse(new String(sealed, StandardCharsets.ISO_8859_1).contains("4155550123"), "the number is not stored in the clear");
    assertArrayEquals("+14155550123".getBytes(StandardCharsets.UTF_8),
        server.platform.secrets().open(sealed, server.tenantA.tenantId() + "/" + inv.getId() + "/phone"));

    var bad = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.createInvitation(link("pat")
        .setChannel(InvitationChannel.INVITATION_CHANNEL_SMS).setPhone("555-0123").build()));
    assertEquals(List.of("phone"), badFields(bad));
    var invalid = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.createInvitation(link("pat")
        .setChannel(InvitationChannel.INVITATION_CHANNEL_SMS).setPhone("+1 999 555 0123").build()));
    assertEquals(List.of("phone"), badFields(invalid));
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.createInvitation(link("pat")
        .setChannel(InvitationChannel.INVITATION_CHANNEL_SMS).build()));
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.createInvitation(link("pat")
        .setPhone("+14155550123").build()));
  }

  @Test
  void errorsNameTheProblem_andTenantsStayApart() {
    assertStatus(Code.ALREADY_EXISTS, "PARTICIPANT_ALREADY_EXISTS", () -> invitations.createInvitation(guest("pat").build()));
    assertStatus(Code.NOT_FOUND, "PARTICIPANT_NOT_FOUND", () -> invitations.createInvitation(link("nobody").build()));
    assertStatus(Code.NOT_FOUND, "INVITATION_NOT_FOUND", () -> get("inv_nosuch"));
    String id = invitations.createInvitation(link("pat").build()).getInvitation().getId();
    var otherTenant = InvitationServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantB.key()));
    assertStatus(Code.NOT_FOUND, "INVITATION_NOT_FOUND",
        () -> otherTenant.getInvitation(GetInvitationRequest.newBuilder().setInvitationId(id).build()));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND",
        () -> otherTenant.listInvitations(ListInvitationsRequest.newBuilder().setSessionId(s.getId()).build()));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND", () -> otherTenant.createInvitation(link("pat").build()));
    var badId = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> invitations.getInvitation(GetInvitationRequest.newBuilder().setInvitationId("ses_x").build()));
    assertEquals(List.of("invitation_id"), badFields(badId));
    sessions.cancelSession(CancelSessionRequest.newBuilder().setSessionId(s.getId()).setReason("moved").build());
    assertStatus(Code.FAILED_PRECONDITION, "SESSION_ENDED", () -> invitations.createInvitation(link("pat").build()));
  }

  @Test
  void listing_pagesNewestFirst() {
    for (int i = 0; i < 5; i++) {
      invitations.createInvitation(link("pat").build());
      server.clock.advance(Duration.ofSeconds(1));
    }
    ListInvitationsResponse first = invitations.listInvitations(ListInvitationsRequest.newBuilder().setSessionId(s.getId())
        .setPageSize(2).build());
    assertEquals(2, first.getInvitationsCount());
    ListInvitationsResponse second = invitations.listInvitations(ListInvitationsRequest.newBuilder().setSessionId(s.getId())
        .setPageSize(2).setPageToken(first.getNextPageToken()).build());
    ListInvitationsResponse third = invitations.listInvitations(ListInvitationsRequest.newBuilder().setSessionId(s.getId())
        .setPageSize(2).setPageToken(second.getNextPageToken()).build());
    assertEquals(1, third.getInvitationsCount());
    assertTrue(third.getNextPageToken().isEmpty());
    assertTrue(ProtoTime.instant(first.getInvitations(0).getCreateTime())
        .isAfter(ProtoTime.instant(second.getInvitations(0).getCreateTime())));
  }

  @Test
  void tenantSettings_changeTheLinkAndText_withinThreeSmsSegments() {
    InvitationSettings defaults = invitations.getInvitationSettings(GetInvitationSettingsRequest.getDefaultInstance())
        .getSettings();
    assertEquals(Templates.DEFAULT_SMS, defaults.getSmsTemplate());
    assertEquals(Templates.DEFAULT_GROUP_SMS, defaults.getGroupSmsTemplate());
    assertEquals("http://localhost:8000/?edge=http://localhost:8080", defaults.getInviteBaseUrl());
    InvitationSettings mine = InvitationSettings.newBuilder().setSmsTemplate("Dr Ada's clinic: your visit link {link}")
        .setInviteBaseUrl("https://visits.example.org/join/").setGroupSmsTemplate("Your care team: {link}").build();
    assertEquals(mine, invitations.setInvitationSettings(SetInvitationSettingsRequest.newBuilder().setSettings(mine).build())
        .getSettings());
    assertTrue(invitations.createInvitation(link("pat").build()).getLink()
        .startsWith("https://visits.example.org/join/#session=" + s.getId() + "&code="));

    var noLink = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.setInvitationSettings(
        SetInvitationSettingsRequest.newBuilder().setSettings(InvitationSettings.newBuilder().setSmsTemplate("Join us")).build()));
    assertEquals(List.of("settings.sms_template"), badFields(noLink));
    var groupNoLink = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.setInvitationSettings(
        SetInvitationSettingsRequest.newBuilder().setSettings(InvitationSettings.newBuilder()
            .setGroupSmsTemplate("{link} and {link}")).build()));
    assertEquals(List.of("settings.group_sms_template"), badFields(groupNoLink));
    // 170 Greek small letters need UCS-2: with the link that is more than 3 segments of 67.
    var tooLong = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.setInvitationSettings(
        SetInvitationSettingsRequest.newBuilder().setSettings(InvitationSettings.newBuilder()
            .setSmsTemplate("\u03bb".repeat(170) + " {link}")).build()));
    assertEquals(List.of("settings.sms_template"), badFields(tooLong));
    var fragment = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.setInvitationSettings(
        SetInvitationSettingsRequest.newBuilder().setSettings(InvitationSettings.newBuilder()
            .setInviteBaseUrl("https://visits.example.org/join/#x")).build()));
    assertEquals(List.of("settings.invite_base_url"), badFields(fragment));
    // Empty fields go back to the defaults.
    assertEquals(defaults, invitations.setInvitationSettings(SetInvitationSettingsRequest.newBuilder()
        .setSettings(InvitationSettings.getDefaultInstance()).build()).getSettings());
  }

  @Test
  void smsSegments_countGsm7AndUcs2AsCarriersDo() {
    assertEquals(1, Templates.segments("a".repeat(160)));
    assertEquals(2, Templates.segments("a".repeat(161)));
    assertEquals(1, Templates.segments("\u20ac".repeat(80)), "the euro sign takes two septets");
    assertEquals(2, Templates.segments("\u20ac".repeat(81)));
    assertEquals(1, Templates.segments("\u03bb".repeat(70)));
    assertEquals(2, Templates.segments("\u03bb".repeat(71)));
    assertEquals(3, Templates.segments("\u03bb".repeat(201)));
  }
}
