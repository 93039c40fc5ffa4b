package dev.convene.server.invitation;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.badFields;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.credential.CredentialFeature;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.server.testing.Visits;
import dev.convene.v1.*;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Invitations into a group: the link names the group, accepting (with no credential) makes the
 * invitee a member and answers a user credential that works for the group's calls, declining and
 * revoking stop the code, members list the invitations, and a refused acceptance gives its use back.
 */
class GroupInvitationTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  TestServer server;
  InvitationServiceGrpc.InvitationServiceBlockingStub invitations;
  InvitationServiceGrpc.InvitationServiceBlockingStub anonymous;
  GroupServiceGrpc.GroupServiceBlockingStub groups;
  String groupId;

  @BeforeEach
  void setUp() {
    server = servers.get();
    var key = TestServer.bearer(server.tenantA.key());
    invitations = InvitationServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    anonymous = InvitationServiceGrpc.newBlockingStub(server.channel);
    groups = GroupServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    groupId = groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId("ann").setName("Family").build())
        .getGroup().getId();
  }

  CreateInvitationRequest.Builder invite(String user) {
    return CreateInvitationRequest.newBuilder().setGroupId(groupId).setUserId(user)
        .setChannel(InvitationChannel.INVITATION_CHANNEL_LINK);
  }

  AcceptInvitationRequest accept(String code) {
    return AcceptInvitationRequest.newBuilder().setGroupId(groupId).setCode(code).build();
  }

  GroupServiceGrpc.GroupServiceBlockingStub as(String userId) {
    String credential = new CredentialFeature(server.platform).issuer().user(server.tenantA.tenantId(), userId,
        Duration.ofHours(1)).getCredential();
    return GroupServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(credential));
  }

  List<GroupActivityType> feed() {
    return groups.listGroupActivities(ListGroupActivitiesRequest.newBuilder().setGroupId(groupId).build())
        .getActivitiesList().stream().map(GroupActivity::getType).toList();
  }

  @Test
  void accepting_makesTheInviteeAMember_withAUserCredentialForTheGroupsCalls() {
    Visits.useJitsi(ProviderConfigServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantA.key())));
    CreateInvitationResponse created = invitations.createInvitation(invite("gran").setRequestId("gran-1").build());
    Invitation inv = created.getInvitation();
    assertEquals(groupId, inv.getGroupId());
    assertEquals("", inv.getSessionId());
    assertEquals(GroupRole.GROUP_ROLE_MEMBER, inv.getGroupRole());
    assertEquals(groupId, inv.getAccessCode().getGroupId());
    assertEquals(TestServer.T0.plus(InvitationService.GROUP_EXPIRY), ProtoTime.instant(inv.getAccessCode().getExpireTime()));
    assertTrue(created.getLink().endsWith("#group=" + groupId + "&code=" + created.getCode()));

    // A member sees it; someone outside does not learn the group exists.
    List<Invitation> listed = as("ann").listGroupInvitations(ListGroupInvitationsRequest.newBuilder().setGroupId(groupId)
        .build()).getInvitationsList();
    assertEquals(List.of(inv.getId()), listed.stream().map(Invitation::getId).toList());
    assertStatus(Code.NOT_FOUND, "GROUP_NOT_FOUND", () -> as("gran").listGroupInvitations(
        ListGroupInvitationsRequest.newBuilder().setGroupId(groupId).build()));

    // gran, invited and not a member yet, lists the group among those it is invited to.
    assertEquals(List.of(groupId), as("gran").listGroups(ListGroupsRequest.newBuilder().setInvited(true).build())
        .getGroupsList().stream().map(Group::getId).toList());
    assertEquals(List.of(), as("gran").listGroups(ListGroupsRequest.getDefaultInstance()).getGroupsList());
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> groups.listGroups(
        ListGroupsRequest.newBuilder().setInvited(true).build()));
    assertEquals(List.of("invited"), badFields(e));

    AcceptInvitationResponse accepted = anonymous.acceptInvitation(accept(created.getCode()));
    assertEquals(groupId, accepted.getGroupId());
    assertFalse(accepted.hasGuestCredential());
    assertFalse(accepted.hasJoinToken());
    var gran = GroupServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(accepted.getUserCredential().getCredential()));
    Group seen = gran.getGroup(GetGroupRequest.newBuilder().setGroupId(groupId).build()).getGroup();
    assertEquals(GroupRole.GROUP_ROLE_MEMBER, seen.getCallerRole());
    assertEquals(2, seen.getMemberCount());
    gran.startGroupCall(StartGroupCallRequest.newBuilder().setGroupId(groupId).setUserId("gran").build());
    JoinGroupCallResponse joined = gran.joinGroupCall(JoinGroupCallRequest.newBuilder().setGroupId(groupId)
        .setUserId("gran").build());
    assertEquals("gran", joined.getJoinToken().getIdentity());

    Invitation after = invitations.getInvitation(GetInvitationRequest.newBuilder().setInvitationId(inv.getId()).build())
        .getInvitation();
    assertEquals(InvitationStatus.INVITATION_STATUS_ACCEPTED, after.getStatus());
    assertEquals(1, after.getAccessCode().getUseCount());
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_USED_UP", () -> anonymous.acceptInvitation(accept(created.getCode())));
    assertEquals(List.of(), as("gran").listGroups(ListGroupsRequest.newBuilder().setInvited(true).build()).getGroupsList(),
        "accepted: no longer an invitation");
    assertEquals(List.of(GroupActivityType.GROUP_ACTIVITY_TYPE_CALL_STARTED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_INVITATION_ACCEPTED, GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_ADDED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_INVITATION_CREATED, GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_ADDED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_GROUP_CREATED), feed());
    assertEquals(List.of(inv.getId()), invitations.listInvitations(ListInvitationsRequest.newBuilder().setGroupId(groupId)
        .setStatus(InvitationStatus.INVITATION_STATUS_ACCEPTED).build()).getInvitationsList().stream()
        .map(Invitation::getId).toList());
  }

  @Test
  void anOwnersInvitation_makesAnOwner() {
    String code = invitations.createInvitation(invite("cat").setGroupRole(GroupRole.GROUP_ROLE_OWNER).build()).getCode();
    anonymous.acceptInvitation(accept(code));
    GroupMember cat = groups.listGroupMembers(ListGroupMembersRequest.newBuilder().setGroupId(groupId).build())
        .getMembersList().stream().filter(m -> m.getUserId().equals("cat")).findFirst().orElseThrow();
    assertEquals(GroupRole.GROUP_ROLE_OWNER, cat.getRole());
  }

  @Test
  void decliningAndRevoking_stopTheCode_andNobodyJoins() {
    String declined = invitations.createInvitation(invite("bob").build()).getCode();
    anonymous.declineInvitation(DeclineInvitationRequest.newBuilder().setGroupId(groupId).setCode(declined).build());
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_REVOKED", () -> anonymous.acceptInvitation(accept(declined)));

    CreateInvitationResponse revoked = invitations.createInvitation(invite("eve").build());
    Invitation r = invitations.revokeInvitation(RevokeInvitationRequest.newBuilder()
        .setInvitationId(revoked.getInvitation().getId()).build()).getInvitation();
    assertEquals(InvitationStatus.INVITATION_STATUS_REVOKED, r.getStatus());
    assertTrue(r.getAccessCode().hasRevokeTime());
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_REVOKED", () -> anonymous.acceptInvitation(accept(revoked.getCode())));

    assertEquals(1, groups.getGroup(GetGroupRequest.newBuilder().setGroupId(groupId).build()).getGroup().getMemberCount());
    assertEquals(List.of(GroupActivityType.GROUP_ACTIVITY_TYPE_INVITATION_REVOKED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_INVITATION_CREATED, GroupActivityType.GROUP_ACTIVITY_TYPE_INVITATION_DECLINED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_INVITATION_CREATED, GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_ADDED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_GROUP_CREATED), feed());
  }

  @Test
  void refusals_nameTheirReason_andWriteNothing() {
    assertStatus(Code.ALREADY_EXISTS, "GROUP_MEMBER_ALREADY_EXISTS", () -> invitations.createInvitation(invite("ann").build()));
    assertStatus(Code.NOT_FOUND, "GROUP_NOT_FOUND", () -> invitations.createInvitation(invite("bob")
        .setGroupId("grp_missing").build()));
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.createInvitation(
        invite("bob").setGuestRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT).build()));
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.createInvitation(
        invite("bob").setSessionId("ses_abc").build()));
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> invitations.createInvitation(
        invite("bob").setExpireTime(ProtoTime.timestamp(TestServer.T0.plus(Duration.ofDays(31)))).build()));
    assertEquals(List.of("expire_time"), badFields(e));
    assertEquals((Integer) 0, server.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM invitations").mapTo(Integer.class).one()));

    String code = invitations.createInvitation(invite("bob").build()).getCode();
    assertStatus(Code.NOT_FOUND, "ACCESS_CODE_NOT_FOUND", () -> anonymous.acceptInvitation(accept("ZZZZ-ZZZZ")));
    String otherGroup = groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId("zed").setName("Other").build())
        .getGroup().getId();
    assertStatus(Code.NOT_FOUND, "ACCESS_CODE_NOT_FOUND", () -> anonymous.acceptInvitation(
        AcceptInvitationRequest.newBuilder().setGroupId(otherGroup).setCode(code).build()));
    // Past its 7 days, the code has expired.
    server.clock.advance(InvitationService.GROUP_EXPIRY.plusSeconds(1));
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_EXPIRED", () -> anonymous.acceptInvitation(accept(code)));
  }

  @Test
  void anAcceptanceTheGroupCannotTake_givesItsUseBack() {
    String code = invitations.createInvitation(invite("late").build()).getCode();
    for (int i = 1; i < 100; i++) {
      groups.addGroupMember(AddGroupMemberRequest.newBuilder().setGroupId(groupId).setUserId("m" + i).build());
    }
    assertStatus(Code.RESOURCE_EXHAUSTED, "GROUP_FULL", () -> anonymous.acceptInvitation(accept(code)));
    Invitation inv = invitations.listInvitations(ListInvitationsRequest.newBuilder().setGroupId(groupId).build())
        .getInvitations(0);
    assertEquals(0, inv.getAccessCode().getUseCount());
    assertEquals(InvitationStatus.INVITATION_STATUS_PENDING, inv.getStatus());
    // Room again: the same code works.
    groups.removeGroupMember(RemoveGroupMemberRequest.newBuilder().setGroupId(groupId).setUserId("m1").build());
    anonymous.acceptInvitation(accept(code));
    assertTrue(groups.listGroupMembers(ListGroupMembersRequest.newBuilder().setGroupId(groupId).setPageSize(200).build())
        .getMembersList().stream().anyMatch(m -> m.getUserId().equals("late")));
  }
}
