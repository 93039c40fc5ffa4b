package dev.convene.server.user;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.badFields;
import static dev.convene.server.testing.GrpcAssertions.errorInfo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * UserService on the real server and database: profiles with the phone sealed and masked, who may
 * read and write them, listing by name, deletion that leaves groups and anonymises the actor, the
 * profile's name on rosters and member lists, and a user's overview.
 */
class UserServiceTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  TestServer server;
  UserServiceGrpc.UserServiceBlockingStub users;
  GroupServiceGrpc.GroupServiceBlockingStub groups;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;

  @BeforeEach
  void setUp() {
    server = servers.get();
    var key = TestServer.bearer(server.tenantA.key());
    users = UserServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    groups = GroupServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
  }

  UserServiceGrpc.UserServiceBlockingStub as(String userId) {
    String credential = new CredentialFeature(server.platform).issuer().user(server.tenantA.tenantId(), userId,
        Duration.ofHours(1)).getCredential();
    return UserServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(credential));
  }

  User.Builder ann() {
    return User.newBuilder().setUserId("ann").setDisplayName("Ann").setFirstName("Ann").setLastName("Lee")
        .setAvatarUrl("https://cdn.example.org/ann.png").setPhone("(415) 555-0123").setPhoneRegion("US")
        .setEmail("ann@example.org");
  }

  User upsert(User.Builder u) {
    return users.upsertUser(UpsertUserRequest.newBuilder().setUser(u).build()).getUser();
  }

  List<String> events(String type) {
    return server.jdbi().withHandle(h -> h.createQuery(
            "SELECT payload::text FROM events WHERE aggregate_type = 'user' AND type = :type ORDER BY position")
        .bind("type", type).mapTo(String.class).list());
  }

  @Test
  void upsert_normalisesSealsAndMasksThePhone_andRecordsWhichFieldsChanged() {
    User created = upsert(ann());
    assertEquals("+1\u2022\u2022\u2022\u2022\u2022\u20220123", created.getPhone());
    assertEquals("", created.getPhoneRegion());
    assertEquals("ann@example.org", created.getEmail());
    byte[] sealed = server.jdbi().withHandle(h -> h.createQuery("SELECT phone_sealed FROM users WHERE user_id = 'ann'")
        .mapTo(byte[].class).one());
    assertFalse(new String(sealed, StandardCharsets.ISO_8859_1).contains("5550123"), "the number is not stored in the clear");

    server.clock.advance(Duration.ofMinutes(1));
    // Sending back what GetUser showed (the masked number) keeps the number; a new name is recorded.
    User renamed = upsert(created.toBuilder().setDisplayName("Ann L."));
    assertEquals(created.getPhone(), renamed.getPhone());
    assertEquals(created.getCreateTime(), renamed.getCreateTime());
    assertTrue(ProtoTime.instant(renamed.getUpdateTime()).isAfter(ProtoTime.instant(created.getUpdateTime())));
    upsert(renamed.toBuilder());
    List<String> upserted = events("USER_UPSERTED");
    assertEquals(2, upserted.size(), "an upsert that changes nothing records nothing");
    assertTrue(upserted.get(1).contains("\"display_name\"") && !upserted.get(1).contains("Ann"),
        "the event names the field, never its value: " + upserted.get(1));

    User cleared = upsert(renamed.toBuilder().setPhone(""));
    assertEquals("", cleared.getPhone());
    assertEquals(cleared, users.getUser(GetUserRequest.newBuilder().setUserId("ann").build()).getUser());
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> upsert(cleared.toBuilder()
        .setPhone("+1\u2022\u2022\u2022\u2022\u2022\u20229999")));
  }

  @Test
  void badInput_namesTheField_andWritesNothing() {
    record Case(User.Builder user, String field) {}
    List<Case> cases = List.of(
        new Case(ann().setAvatarUrl("http://cdn.example.org/ann.png"), "user.avatar_url"),
        new Case(ann().setEmail("not-an-email"), "user.email"),
        new Case(ann().setPhone("12"), "user.phone"),
        new Case(ann().setDisplayName("Ann\u0007"), "user.display_name"),
        new Case(ann().setFirstName("x".repeat(101)), "user.first_name"),
        new Case(ann().setUserId("bad id"), "user.user_id"));
    for (Case c : cases) {
      StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> upsert(c.user()));
      assertEquals(List.of(c.field()), badFields(e));
    }
    assertEquals(0L, (long) server.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM users").mapTo(Long.class).one()));
  }

  @Test
  void anEndUser_readsAndWritesOnlyItsOwnProfile() {
    upsert(ann());
    var ann = as("ann");
    assertEquals("Ann", ann.getUser(GetUserRequest.newBuilder().setUserId("ann").build()).getUser().getDisplayName());
    ann.upsertUser(UpsertUserRequest.newBuilder().setUser(ann().setDisplayName("Annie")).build());
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER", () -> ann.getUser(GetUserRequest.newBuilder()
        .setUserId("bob").build()));
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER", () -> ann.upsertUser(UpsertUserRequest.newBuilder()
        .setUser(User.newBuilder().setUserId("bob")).build()));
    assertStatus(Code.PERMISSION_DENIED, "CALLER_NOT_ALLOWED", () -> ann.listUsers(ListUsersRequest.getDefaultInstance()));
    assertStatus(Code.PERMISSION_DENIED, "CALLER_NOT_ALLOWED", () -> ann.deleteUser(DeleteUserRequest.newBuilder()
        .setUserId("ann").build()));
    var b = UserServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantB.key()));
    assertStatus(Code.NOT_FOUND, "USER_NOT_FOUND", () -> b.getUser(GetUserRequest.newBuilder().setUserId("ann").build()));
    assertEquals(0, b.listUsers(ListUsersRequest.getDefaultInstance()).getUsersCount());
  }

  @Test
  void listUsers_pagesByUserId_andFiltersByAnyNamesPrefix() {
    for (String[] u : new String[][] {{"u1", "Zoe", "Zoe", "Park"}, {"u2", "Dr Ada", "Ada", "Zorn"},
        {"u3", "50% Sam", "Sam", "Ng"}, {"u4", "zed", "", ""}, {"u5", "Bo", "Bo", "Lin"}}) {
      upsert(User.newBuilder().setUserId(u[0]).setDisplayName(u[1]).setFirstName(u[2]).setLastName(u[3]));
    }
    List<String> seen = new ArrayList<>();
    String token = "";
    do {
      ListUsersResponse page = users.listUsers(ListUsersRequest.newBuilder().setPageSize(2).setPageToken(token).build());
      page.getUsersList().forEach(u -> seen.add(u.getUserId()));
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    assertEquals(List.of("u1", "u2", "u3", "u4", "u5"), seen);
    assertEquals(List.of("u1", "u2", "u4"), users.listUsers(ListUsersRequest.newBuilder().setNamePrefix("Z").build())
        .getUsersList().stream().map(User::getUserId).toList());
    assertEquals(List.of("u3"), users.listUsers(ListUsersRequest.newBuilder().setNamePrefix("50%").build())
        .getUsersList().stream().map(User::getUserId).toList());
    assertEquals(List.of(), users.listUsers(ListUsersRequest.newBuilder().setNamePrefix("5_").build()).getUsersList());
  }

  @Test
  void deleteUser_leavesEveryGroup_anonymisesTheActor_butNotWhileTheOnlyOwner() {
    upsert(ann());
    String family = groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId("ann").setName("Family").build())
        .getGroup().getId();
    String club = groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId("bob").setName("Club").build())
        .getGroup().getId();
    groups.addGroupMember(AddGroupMemberRequest.newBuilder().setGroupId(club).setUserId("ann").build());
    var annGroups = GroupServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(
        new CredentialFeature(server.platform).issuer().user(server.tenantA.tenantId(), "ann", Duration.ofHours(1))
            .getCredential()));
    annGroups.updateGroup(UpdateGroupRequest.newBuilder().setGroup(GroupUpdate.newBuilder().setId(family)
        .setDescription("ours")).setUpdateMask(com.google.protobuf.FieldMask.newBuilder().addPaths("description")).build());

    StatusRuntimeException e = assertStatus(Code.FAILED_PRECONDITION, "LAST_OWNER",
        () -> users.deleteUser(DeleteUserRequest.newBuilder().setUserId("ann").build()));
    assertEquals(family, errorInfo(e).getMetadataOrThrow("group_ids"));
    assertTrue(users.getUser(GetUserRequest.newBuilder().setUserId("ann").build()).hasUser(), "nothing changed");

    groups.addGroupMember(AddGroupMemberRequest.newBuilder().setGroupId(family).setUserId("cat")
        .setRole(GroupRole.GROUP_ROLE_OWNER).build());
    users.deleteUser(DeleteUserRequest.newBuilder().setUserId("ann").build());
    assertStatus(Code.NOT_FOUND, "USER_NOT_FOUND", () -> users.getUser(GetUserRequest.newBuilder().setUserId("ann").build()));
    for (String g : List.of(family, club)) {
      assertTrue(groups.listGroupMembers(ListGroupMembersRequest.newBuilder().setGroupId(g).build()).getMembersList()
          .stream().noneMatch(m -> m.getUserId().equals("ann")));
    }
    List<String> actors = server.jdbi().withHandle(h -> h.createQuery(
        "SELECT DISTINCT actor FROM events WHERE aggregate_id = :g AND type = 'GROUP_UPDATED'").bind("g", family)
        .mapTo(String.class).list());
    assertEquals(List.of("user:deleted"), actors);
    assertEquals(1, events("USER_DELETED").size());
    assertStatus(Code.NOT_FOUND, "USER_NOT_FOUND", () -> users.deleteUser(DeleteUserRequest.newBuilder().setUserId("ann").build()));
  }

  @Test
  void rostersAndMemberLists_showTheProfilesName_whenTheEntryHasNone() {
    upsert(User.newBuilder().setUserId("pat").setDisplayName("Pat from the profile"));
    Session s = sessions.createSession(Visits.request(server.clock.instant().plus(Duration.ofHours(1))).build()).getSession();
    // Visits' roster: dr and pat without display names.
    List<Participant> roster = sessions.listParticipants(ListParticipantsRequest.newBuilder().setSessionId(s.getId())
        .build()).getParticipantsList();
    assertEquals(List.of("", "Pat from the profile"), roster.stream().map(Participant::getDisplayName).toList());
    sessions.addParticipant(AddParticipantRequest.newBuilder().setSessionId(s.getId()).setParticipant(ParticipantSpec
        .newBuilder().setUserId("pat2").setDisplayName("Own name").setRole(ParticipantRole.PARTICIPANT_ROLE_OBSERVER))
        .build());
    upsert(User.newBuilder().setUserId("pat2").setDisplayName("Profile name"));
    assertEquals("Own name", sessions.listParticipants(ListParticipantsRequest.newBuilder().setSessionId(s.getId())
        .build()).getParticipants(2).getDisplayName(), "the roster's own name wins");

    String g = groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId("pat").setName("G").build())
        .getGroup().getId();
    assertEquals("Pat from the profile", groups.listGroupMembers(ListGroupMembersRequest.newBuilder().setGroupId(g)
        .build()).getMembers(0).getDisplayName());
  }

  @Test
  void overview_listsOwnedMemberAndInvitedGroups_andUpcomingSessions_eachPagedOnItsOwn() {
    upsert(ann());
    List<String> owned = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      server.clock.advance(Duration.ofSeconds(1));
      owned.add(0, groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId("ann").setName("g" + i).build())
          .getGroup().getId());
    }
    String club = groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId("bob").setName("Club").build())
        .getGroup().getId();
    groups.addGroupMember(AddGroupMemberRequest.newBuilder().setGroupId(club).setUserId("ann").build());
    String choir = groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId("bob").setName("Choir").build())
        .getGroup().getId();
    var invitations = InvitationServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantA.key()));
    invitations.createInvitation(CreateInvitationRequest.newBuilder().setGroupId(choir).setUserId("ann")
        .setChannel(InvitationChannel.INVITATION_CHANNEL_LINK).build());
    Session soon = sessions.createSession(Visits.request(server.clock.instant().plus(Duration.ofHours(1)))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("ann").setRole(ParticipantRole.PARTICIPANT_ROLE_OBSERVER))
        .build()).getSession();
    Session ended = sessions.createSession(Visits.request(server.clock.instant().plus(Duration.ofMinutes(30)))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("ann").setRole(ParticipantRole.PARTICIPANT_ROLE_OBSERVER))
        .build()).getSession();
    sessions.cancelSession(CancelSessionRequest.newBuilder().setSessionId(ended.getId()).setReason("moved").build());

    GetUserOverviewResponse o = as("ann").getUserOverview(GetUserOverviewRequest.newBuilder().setUserId("ann")
        .setPageSize(2).build());
    assertEquals("Ann", o.getUser().getDisplayName());
    assertEquals(owned.subList(0, 2), o.getOwnedGroupsList().stream().map(Group::getId).toList());
    assertTrue(o.getOwnedGroupsList().stream().allMatch(g -> g.getCallerRole() == GroupRole.GROUP_ROLE_OWNER));
    assertEquals(List.of(club), o.getMemberGroupsList().stream().map(Group::getId).toList());
    assertEquals(List.of(choir), o.getGroupInvitationsList().stream().map(Invitation::getGroupId).toList());
    assertEquals(List.of(soon.getId()), o.getUpcomingSessionsList().stream().map(Session::getId).toList());
    assertEquals("", o.getMemberGroupsNextPageToken());

    GetUserOverviewResponse more = users.getUserOverview(GetUserOverviewRequest.newBuilder().setUserId("ann")
        .setPageSize(2).setList(UserOverviewList.USER_OVERVIEW_LIST_OWNED_GROUPS)
        .setPageToken(o.getOwnedGroupsNextPageToken()).build());
    assertEquals(owned.subList(2, 3), more.getOwnedGroupsList().stream().map(Group::getId).toList());
    assertEquals(0, more.getMemberGroupsCount(), "only the list asked for");
    assertFalse(more.hasUser());
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", () -> users.getUserOverview(GetUserOverviewRequest
        .newBuilder().setUserId("ann").setPageSize(2).setList(UserOverviewList.USER_OVERVIEW_LIST_MEMBER_GROUPS)
        .setPageToken(o.getOwnedGroupsNextPageToken()).build()));
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER", () -> as("bob").getUserOverview(
        GetUserOverviewRequest.newBuilder().setUserId("ann").build()));
    assertArrayEquals(new Object[0], users.getUserOverview(GetUserOverviewRequest.newBuilder().setUserId("nobody")
        .build()).getOwnedGroupsList().toArray());
  }
}
