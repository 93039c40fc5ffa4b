package dev.convene.server.group;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.badFields;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.FieldMask;
import dev.convene.server.credential.CredentialFeature;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.server.testing.Visits;
import dev.convene.v1.*;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * GroupService on the real server and database: groups and members with the owner rules, who may
 * do what (the permission table), the activity feed as a view of the event log, group calls as
 * sessions, and usage computed from presence.
 */
class GroupServiceTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  TestServer server;
  GroupServiceGrpc.GroupServiceBlockingStub groups;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;
  CredentialFeature credentials;

  @BeforeEach
  void setUp() {
    server = servers.get();
    var key = TestServer.bearer(server.tenantA.key());
    groups = GroupServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    credentials = new CredentialFeature(server.platform);
  }

  /** GroupService as the end user {@code userId}, with a user credential. */
  GroupServiceGrpc.GroupServiceBlockingStub as(String userId) {
    String credential = credentials.issuer().user(server.tenantA.tenantId(), userId, Duration.ofHours(1)).getCredential();
    return GroupServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(credential));
  }

  Group create(String owner, String name) {
    return groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId(owner).setName(name).build()).getGroup();
  }

  GroupMember add(String groupId, String user, GroupRole role) {
    return groups.addGroupMember(AddGroupMemberRequest.newBuilder().setGroupId(groupId).setUserId(user).setRole(role)
        .build()).getMember();
  }

  List<GroupActivityType> activityTypes(String groupId) {
    return groups.listGroupActivities(ListGroupActivitiesRequest.newBuilder().setGroupId(groupId).setPageSize(200).build())
        .getActivitiesList().stream().map(GroupActivity::getType).toList();
  }

  List<String> owners(String groupId) {
    return groups.listGroupMembers(ListGroupMembersRequest.newBuilder().setGroupId(groupId).build()).getMembersList()
        .stream().filter(m -> m.getRole() == GroupRole.GROUP_ROLE_OWNER).map(GroupMember::getUserId).toList();
  }

  @Test
  void createGroup_makesTheCreatorOwner_defaultsToAudio_andARetryReturnsTheFirstGroup() {
    CreateGroupRequest req = CreateGroupRequest.newBuilder().setRequestId("family-1").setOwnerUserId("ann")
        .setName("Family").setDescription("Sunday calls").build();
    Group g = groups.createGroup(req).getGroup();
    assertTrue(g.getId().startsWith("grp_"));
    assertEquals(MediaType.MEDIA_TYPE_AUDIO, g.getMedia());
    assertEquals(1, g.getMemberCount());
    assertEquals("", g.getLiveSessionId());
    assertEquals(List.of("ann"), owners(g.getId()));

    assertEquals(g, groups.createGroup(req).getGroup());
    assertStatus(Code.INVALID_ARGUMENT, "REQUEST_ID_REUSED",
        () -> groups.createGroup(req.toBuilder().setName("Friends").build()));
    assertEquals(1, count("SELECT count(*) FROM groups"));
    assertEquals(List.of(GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_ADDED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_GROUP_CREATED), activityTypes(g.getId()));
  }

  @Test
  void badInput_isInvalidArgumentNamingTheField_andWritesNothing() {
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> groups.createGroup(
        CreateGroupRequest.newBuilder().setOwnerUserId("ann").setName("a\nb").build()));
    assertEquals(List.of("name"), badFields(e));
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> groups.createGroup(
        CreateGroupRequest.newBuilder().setOwnerUserId("ann").setName("x".repeat(201)).build()));
    assertEquals(List.of("name"), badFields(e));
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> groups.getGroup(
        GetGroupRequest.newBuilder().setGroupId("ses_abc").build()));
    assertEquals(List.of("group_id"), badFields(e));
    assertEquals(0, count("SELECT count(*) FROM groups"));

    Group g = create("ann", "Family");
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> groups.updateGroup(UpdateGroupRequest.newBuilder()
        .setGroup(GroupUpdate.newBuilder().setId(g.getId()).setName("New"))
        .setUpdateMask(FieldMask.newBuilder().addPaths("name").addPaths("member_count")).build()));
    assertEquals(List.of("update_mask"), badFields(e));
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> groups.updateGroup(UpdateGroupRequest.newBuilder()
        .setGroup(GroupUpdate.newBuilder().setId(g.getId())).setUpdateMask(FieldMask.newBuilder().addPaths("name")).build()));
    assertEquals(List.of("group.name"), badFields(e));
    assertEquals("Family", groups.getGroup(GetGroupRequest.newBuilder().setGroupId(g.getId()).build()).getGroup().getName());
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> groups.getGroupUsage(GetGroupUsageRequest
        .newBuilder().setGroupId(g.getId()).setStartTime(ProtoTime.timestamp(TestServer.T0))
        .setEndTime(ProtoTime.timestamp(TestServer.T0.minusSeconds(1))).build()));
  }

  @Test
  void updateGroup_changesOnlyTheMaskedFields_andRecordsThePaths() {
    Group g = create("ann", "Family");
    server.clock.advance(Duration.ofSeconds(5));
    Group updated = groups.updateGroup(UpdateGroupRequest.newBuilder()
        .setGroup(GroupUpdate.newBuilder().setId(g.getId()).setName("Family ♥").setDescription("ignored")
            .setMedia(MediaType.MEDIA_TYPE_VIDEO))
        .setUpdateMask(FieldMask.newBuilder().addPaths("name").addPaths("media")).build()).getGroup();
    assertEquals("Family ♥", updated.getName());
    assertEquals("", updated.getDescription());
    assertEquals(MediaType.MEDIA_TYPE_VIDEO, updated.getMedia());
    assertTrue(ProtoTime.instant(updated.getUpdateTime()).isAfter(ProtoTime.instant(g.getUpdateTime())));
    GroupActivity newest = groups.listGroupActivities(ListGroupActivitiesRequest.newBuilder().setGroupId(g.getId())
        .build()).getActivities(0);
    assertEquals(GroupActivityType.GROUP_ACTIVITY_TYPE_GROUP_UPDATED, newest.getType());
    assertEquals(List.of("media", "name"), newest.getPayload().getFieldsOrThrow("paths").getListValue().getValuesList()
        .stream().map(com.google.protobuf.Value::getStringValue).toList());
  }

  @Test
  void members_addPromoteDemoteRemoveAndLeave_keepAtLeastOneOwner() {
    Group g = create("ann", "Family");
    GroupMember bob = add(g.getId(), "bob", GroupRole.GROUP_ROLE_UNSPECIFIED);
    assertEquals(GroupRole.GROUP_ROLE_MEMBER, bob.getRole());
    assertStatus(Code.ALREADY_EXISTS, "GROUP_MEMBER_ALREADY_EXISTS", () -> add(g.getId(), "bob", GroupRole.GROUP_ROLE_MEMBER));
    assertStatus(Code.FAILED_PRECONDITION, "LAST_OWNER", () -> groups.leaveGroup(
        LeaveGroupRequest.newBuilder().setGroupId(g.getId()).setUserId("ann").build()));
    assertStatus(Code.FAILED_PRECONDITION, "LAST_OWNER", () -> groups.updateGroupMember(UpdateGroupMemberRequest
        .newBuilder().setGroupId(g.getId()).setUserId("ann").setRole(GroupRole.GROUP_ROLE_MEMBER).build()));
    assertStatus(Code.FAILED_PRECONDITION, "LAST_OWNER", () -> groups.removeGroupMember(
        RemoveGroupMemberRequest.newBuilder().setGroupId(g.getId()).setUserId("ann").build()));

    groups.updateGroupMember(UpdateGroupMemberRequest.newBuilder().setGroupId(g.getId()).setUserId("bob")
        .setRole(GroupRole.GROUP_ROLE_OWNER).build());
    groups.leaveGroup(LeaveGroupRequest.newBuilder().setGroupId(g.getId()).setUserId("ann").build());
    assertEquals(List.of("bob"), owners(g.getId()));
    assertStatus(Code.NOT_FOUND, "GROUP_MEMBER_NOT_FOUND", () -> groups.removeGroupMember(
        RemoveGroupMemberRequest.newBuilder().setGroupId(g.getId()).setUserId("ann").build()));
    add(g.getId(), "cat", GroupRole.GROUP_ROLE_MEMBER);
    groups.removeGroupMember(RemoveGroupMemberRequest.newBuilder().setGroupId(g.getId()).setUserId("cat").build());
    assertEquals(1, groups.getGroup(GetGroupRequest.newBuilder().setGroupId(g.getId()).build()).getGroup().getMemberCount());
    assertEquals(List.of(GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_REMOVED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_ADDED, GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_LEFT,
        GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_ROLE_CHANGED, GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_ADDED,
        GroupActivityType.GROUP_ACTIVITY_TYPE_MEMBER_ADDED, GroupActivityType.GROUP_ACTIVITY_TYPE_GROUP_CREATED),
        activityTypes(g.getId()));
  }

  @Test
  void listGroupMembers_pagesOwnersFirstThenByUserId() {
    Group g = create("zoe", "Team");
    for (String u : List.of("dan", "bea", "cy", "al")) {
      add(g.getId(), u, u.equals("cy") ? GroupRole.GROUP_ROLE_OWNER : GroupRole.GROUP_ROLE_MEMBER);
    }
    List<String> seen = new ArrayList<>();
    String token = "";
    int pages = 0;
    do {
      ListGroupMembersResponse page = groups.listGroupMembers(ListGroupMembersRequest.newBuilder().setGroupId(g.getId())
          .setPageSize(2).setPageToken(token).build());
      page.getMembersList().forEach(m -> seen.add(m.getUserId()));
      token = page.getNextPageToken();
      pages++;
    } while (!token.isEmpty());
    assertEquals(List.of("cy", "zoe", "al", "bea", "dan"), seen);
    assertEquals(3, pages);
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", () -> groups.listGroupMembers(ListGroupMembersRequest
        .newBuilder().setGroupId(g.getId()).setPageToken("not-a-token").build()));
  }

  @Test
  void limits_membersPerGroupAndGroupsPerUser() {
    Group g = create("ann", "Big");
    for (int i = 1; i < GroupService.MAX_MEMBERS; i++) {
      add(g.getId(), "u" + i, GroupRole.GROUP_ROLE_MEMBER);
    }
    assertStatus(Code.RESOURCE_EXHAUSTED, "GROUP_FULL", () -> add(g.getId(), "one-too-many", GroupRole.GROUP_ROLE_MEMBER));
    for (int i = 1; i < GroupService.MAX_GROUPS_PER_USER; i++) {
      create("ann", "g" + i);
    }
    assertStatus(Code.RESOURCE_EXHAUSTED, "TOO_MANY_GROUPS", () -> create("ann", "one too many"));
    Group other = create("zed", "Other");
    assertStatus(Code.RESOURCE_EXHAUSTED, "TOO_MANY_GROUPS", () -> add(other.getId(), "ann", GroupRole.GROUP_ROLE_MEMBER));
  }

  /** One row of the permission table: what {@code call} does for each kind of caller. */
  record Rule(String rpc, Consumer<GroupServiceGrpc.GroupServiceBlockingStub> call, String owner, String member,
      String outsider) {}

  @Test
  void permissionTable_tenantAnything_ownerManages_memberReadsCallsLeaves_outsiderSeesNothing() {
    // Each rule runs on a fresh group: ann OWNER, bob MEMBER, eve outside; the tenant is checked with its key.
    List<Rule> rules = List.of(
        new Rule("GetGroup", s -> s.getGroup(GetGroupRequest.newBuilder().setGroupId(gid).build()), "OK", "OK", "GROUP_NOT_FOUND"),
        new Rule("UpdateGroup", s -> s.updateGroup(UpdateGroupRequest.newBuilder().setGroup(GroupUpdate.newBuilder()
            .setId(gid).setName("Renamed")).setUpdateMask(FieldMask.newBuilder().addPaths("name")).build()),
            "OK", "GROUP_OWNER_REQUIRED", "GROUP_NOT_FOUND"),
        new Rule("AddGroupMember", s -> s.addGroupMember(AddGroupMemberRequest.newBuilder().setGroupId(gid)
            .setUserId("new").build()), "OK", "GROUP_OWNER_REQUIRED", "GROUP_NOT_FOUND"),
        new Rule("RemoveGroupMember", s -> s.removeGroupMember(RemoveGroupMemberRequest.newBuilder().setGroupId(gid)
            .setUserId("cat").build()), "OK", "GROUP_OWNER_REQUIRED", "GROUP_NOT_FOUND"),
        new Rule("UpdateGroupMember", s -> s.updateGroupMember(UpdateGroupMemberRequest.newBuilder().setGroupId(gid)
            .setUserId("cat").setRole(GroupRole.GROUP_ROLE_OWNER).build()), "OK", "GROUP_OWNER_REQUIRED", "GROUP_NOT_FOUND"),
        new Rule("ListGroupMembers", s -> s.listGroupMembers(ListGroupMembersRequest.newBuilder().setGroupId(gid).build()),
            "OK", "OK", "GROUP_NOT_FOUND"),
        new Rule("ListGroupActivities", s -> s.listGroupActivities(ListGroupActivitiesRequest.newBuilder()
            .setGroupId(gid).build()), "OK", "OK", "GROUP_NOT_FOUND"),
        new Rule("StartGroupCall", s -> s.startGroupCall(StartGroupCallRequest.newBuilder().setGroupId(gid)
            .setUserId(self).build()), "OK", "OK", "GROUP_NOT_FOUND"),
        new Rule("GetGroupUsage", s -> s.getGroupUsage(GetGroupUsageRequest.newBuilder().setGroupId(gid)
            .setStartTime(ProtoTime.timestamp(TestServer.T0.minusSeconds(3600)))
            .setEndTime(ProtoTime.timestamp(TestServer.T0.plusSeconds(3600))).build()), "OK", "OK", "GROUP_NOT_FOUND"),
        new Rule("LeaveGroup", s -> s.leaveGroup(LeaveGroupRequest.newBuilder().setGroupId(gid).setUserId(self).build()),
            "LAST_OWNER", "OK", "GROUP_NOT_FOUND"),
        new Rule("DeleteGroup", s -> s.deleteGroup(DeleteGroupRequest.newBuilder().setGroupId(gid).build()),
            "OK", "GROUP_OWNER_REQUIRED", "GROUP_NOT_FOUND"));
    List<String> wrong = new ArrayList<>();
    for (Rule rule : rules) {
      for (String who : List.of("tenant", "ann", "bob", "eve")) {
        Group g = create("ann", "Team");
        add(g.getId(), "bob", GroupRole.GROUP_ROLE_MEMBER);
        add(g.getId(), "cat", GroupRole.GROUP_ROLE_MEMBER);
        gid = g.getId();
        self = who.equals("tenant") ? "bob" : who;
        String expected = switch (who) {
          case "tenant" -> "OK";
          case "ann" -> rule.owner();
          case "bob" -> rule.member();
          default -> rule.outsider();
        };
        String got;
        try {
          rule.call().accept(who.equals("tenant") ? groups : as(who));
          got = "OK";
        } catch (StatusRuntimeException e) {
          got = dev.convene.server.testing.GrpcAssertions.errorInfo(e).getReason();
          String code = switch (got) {
            case "GROUP_NOT_FOUND" -> "NOT_FOUND";
            case "GROUP_OWNER_REQUIRED" -> "PERMISSION_DENIED";
            default -> e.getStatus().getCode().name();
          };
          if (!e.getStatus().getCode().name().equals(code)) {
            got += " with " + e.getStatus().getCode();
          }
        }
        if (!got.equals(expected)) {
          wrong.add(rule.rpc() + " as " + who + ": expected " + expected + ", got " + got);
        }
      }
    }
    assertEquals(List.of(), wrong);
    // And an end user cannot act for someone else, even in its own group.
    Group g = create("ann", "Team");
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER", () -> as("ann").startGroupCall(
        StartGroupCallRequest.newBuilder().setGroupId(g.getId()).setUserId("bob").build()));
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER", () -> as("ann").createGroup(
        CreateGroupRequest.newBuilder().setOwnerUserId("bob").setName("Theirs").build()));
  }

  /** The group and acting user of the permission table's current row. */
  String gid;
  String self;

  @Test
  void anotherTenant_seesNoGroup() {
    Group g = create("ann", "Family");
    var b = GroupServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantB.key()));
    assertStatus(Code.NOT_FOUND, "GROUP_NOT_FOUND", () -> b.getGroup(GetGroupRequest.newBuilder().setGroupId(g.getId()).build()));
    assertStatus(Code.NOT_FOUND, "GROUP_NOT_FOUND", () -> b.deleteGroup(DeleteGroupRequest.newBuilder().setGroupId(g.getId()).build()));
    assertEquals(0, b.listGroups(ListGroupsRequest.getDefaultInstance()).getGroupsCount());
  }

  @Test
  void listGroups_pagesNewestFirst_andFiltersAUsersGroupsByRole() {
    List<String> created = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      server.clock.advance(Duration.ofSeconds(1));
      Group g = create(i % 2 == 0 ? "ann" : "bob", "g" + i);
      created.add(0, g.getId());
      if (i % 2 == 1) {
        add(g.getId(), "ann", GroupRole.GROUP_ROLE_MEMBER);
      }
    }
    List<String> seen = new ArrayList<>();
    String token = "";
    do {
      ListGroupsResponse page = groups.listGroups(ListGroupsRequest.newBuilder().setPageSize(2).setPageToken(token).build());
      page.getGroupsList().forEach(g -> seen.add(g.getId()));
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    assertEquals(created, seen);

    var ann = as("ann");
    List<Group> mine = ann.listGroups(ListGroupsRequest.getDefaultInstance()).getGroupsList();
    assertEquals(5, mine.size());
    assertEquals(3, ann.listGroups(ListGroupsRequest.newBuilder().setRole(GroupRole.GROUP_ROLE_OWNER).build()).getGroupsCount());
    assertTrue(ann.listGroups(ListGroupsRequest.newBuilder().setRole(GroupRole.GROUP_ROLE_MEMBER).build()).getGroupsList()
        .stream().allMatch(g -> g.getCallerRole() == GroupRole.GROUP_ROLE_MEMBER));
    assertEquals(2, groups.listGroups(ListGroupsRequest.newBuilder().setUserId("bob").build()).getGroupsCount());
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER",
        () -> ann.listGroups(ListGroupsRequest.newBuilder().setUserId("bob").build()));
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> groups.listGroups(ListGroupsRequest.newBuilder().setRole(GroupRole.GROUP_ROLE_OWNER).build()));
    assertEquals(List.of("role"), badFields(e));
  }

  @Test
  void groupCall_startsOnceWithTheMembers_addsLateMembers_andEndsByOwnerOrStarter() {
    Visits.useJitsi(ProviderConfigServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantA.key())));
    Group g = create("ann", "Family");
    add(g.getId(), "bob", GroupRole.GROUP_ROLE_MEMBER);
    add(g.getId(), "cat", GroupRole.GROUP_ROLE_MEMBER);
    var bob = as("bob");
    StartGroupCallResponse started = bob.startGroupCall(StartGroupCallRequest.newBuilder().setGroupId(g.getId())
        .setUserId("bob").build());
    assertFalse(started.getAlreadyLive());
    Session call = started.getSession();
    assertEquals(MediaType.MEDIA_TYPE_AUDIO, call.getMedia());
    assertEquals(g.getId(), call.getMetadataOrThrow("group_id"));
    Map<String, ParticipantRole> roster = new java.util.TreeMap<>();
    sessions.listParticipants(ListParticipantsRequest.newBuilder().setSessionId(call.getId()).build())
        .getParticipantsList().forEach(p -> roster.put(p.getUserId(), p.getRole()));
    assertEquals(Map.of("ann", ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT, "bob", ParticipantRole.PARTICIPANT_ROLE_HOST,
        "cat", ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT), roster);

    StartGroupCallResponse again = as("ann").startGroupCall(StartGroupCallRequest.newBuilder().setGroupId(g.getId())
        .setUserId("ann").build());
    assertTrue(again.getAlreadyLive());
    assertEquals(call.getId(), again.getSession().getId());
    assertEquals(call.getId(), groups.getGroup(GetGroupRequest.newBuilder().setGroupId(g.getId()).build()).getGroup()
        .getLiveSessionId());

    add(g.getId(), "dan", GroupRole.GROUP_ROLE_MEMBER);
    JoinGroupCallResponse dan = as("dan").joinGroupCall(JoinGroupCallRequest.newBuilder().setGroupId(g.getId())
        .setUserId("dan").build());
    assertEquals(call.getId(), dan.getSessionId());
    assertEquals("dan", dan.getJoinToken().getIdentity());
    assertEquals(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT, dan.getJoinToken().getRole());
    assertEquals(ProviderKind.PROVIDER_KIND_JITSI, dan.getJoinToken().getProvider());
    ListGroupCallParticipantsResponse listed = as("cat").listGroupCallParticipants(
        ListGroupCallParticipantsRequest.newBuilder().setGroupId(g.getId()).build());
    assertEquals(4, listed.getParticipantsCount());
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER", () -> as("dan").joinGroupCall(
        JoinGroupCallRequest.newBuilder().setGroupId(g.getId()).setUserId("ann").build()));
    assertStatus(Code.NOT_FOUND, "GROUP_MEMBER_NOT_FOUND", () -> groups.joinGroupCall(
        JoinGroupCallRequest.newBuilder().setGroupId(g.getId()).setUserId("stranger").build()));

    assertStatus(Code.PERMISSION_DENIED, "GROUP_OWNER_REQUIRED", () -> as("cat").endGroupCall(
        EndGroupCallRequest.newBuilder().setGroupId(g.getId()).build()));
    Session ended = bob.endGroupCall(EndGroupCallRequest.newBuilder().setGroupId(g.getId()).build()).getSession();
    assertEquals(SessionStatus.SESSION_STATUS_CANCELLED, ended.getStatus(), "nobody had joined yet");
    assertEquals("", groups.getGroup(GetGroupRequest.newBuilder().setGroupId(g.getId()).build()).getGroup().getLiveSessionId());
    assertStatus(Code.FAILED_PRECONDITION, "GROUP_CALL_NOT_LIVE", () -> bob.joinGroupCall(
        JoinGroupCallRequest.newBuilder().setGroupId(g.getId()).setUserId("bob").build()));
    assertStatus(Code.FAILED_PRECONDITION, "GROUP_CALL_NOT_LIVE", () -> bob.endGroupCall(
        EndGroupCallRequest.newBuilder().setGroupId(g.getId()).build()));
    assertStatus(Code.FAILED_PRECONDITION, "GROUP_CALL_NOT_LIVE", () -> bob.listGroupCallParticipants(
        ListGroupCallParticipantsRequest.newBuilder().setGroupId(g.getId()).build()));

    Session second = as("cat").startGroupCall(StartGroupCallRequest.newBuilder().setGroupId(g.getId()).setUserId("cat")
        .build()).getSession();
    assertEquals("group:" + g.getId() + ":call:2", second.getExternalRef());
    // The owner may end a call someone else started.
    as("ann").endGroupCall(EndGroupCallRequest.newBuilder().setGroupId(g.getId()).build());
  }

  @Test
  void aCallThatEndsByItself_isNoLongerLive_andTheFeedShowsTheCall() {
    Group g = create("ann", "Family");
    add(g.getId(), "bob", GroupRole.GROUP_ROLE_MEMBER);
    Session call = groups.startGroupCall(StartGroupCallRequest.newBuilder().setGroupId(g.getId()).setUserId("ann")
        .build()).getSession();
    join(call, "ann");
    join(call, "bob");
    server.clock.advance(Duration.ofMinutes(3));
    leave(call, "bob");
    leave(call, "ann");
    // The empty timeout (the session machinery) ends the call.
    server.clock.advance(Duration.ofMinutes(6));
    server.jobs().runOnce();
    assertEquals(SessionStatus.SESSION_STATUS_COMPLETED, sessions.getSession(GetSessionRequest.newBuilder()
        .setSessionId(call.getId()).build()).getSession().getStatus());
    assertEquals("", groups.getGroup(GetGroupRequest.newBuilder().setGroupId(g.getId()).build()).getGroup().getLiveSessionId());
    assertFalse(groups.startGroupCall(StartGroupCallRequest.newBuilder().setGroupId(g.getId()).setUserId("bob").build())
        .getAlreadyLive());

    List<GroupActivity> feed = groups.listGroupActivities(ListGroupActivitiesRequest.newBuilder().setGroupId(g.getId())
        .setPageSize(200).build()).getActivitiesList();
    List<String> summary = feed.stream().map(a -> a.getType().name().substring("GROUP_ACTIVITY_TYPE_".length())
        + (a.getUserId().isEmpty() ? "" : ":" + a.getUserId())).toList();
    assertEquals(List.of("CALL_STARTED", "CALL_ENDED", "CALL_LEFT:ann", "CALL_LEFT:bob", "CALL_JOINED:bob",
        "CALL_JOINED:ann", "CALL_STARTED", "MEMBER_ADDED:bob", "MEMBER_ADDED:ann", "GROUP_CREATED"), summary);
    assertEquals(call.getId(), feed.get(1).getSessionId());
    assertEquals(List.of("ann", "bob"), feed.get(6).getPayload().getFieldsOrThrow("member_user_ids").getListValue()
        .getValuesList().stream().map(v -> v.getStringValue()).toList());

    // Paged from a cursor, three at a time, the same feed.
    List<GroupActivity> paged = new ArrayList<>();
    String token = "";
    do {
      ListGroupActivitiesResponse page = groups.listGroupActivities(ListGroupActivitiesRequest.newBuilder()
          .setGroupId(g.getId()).setPageSize(3).setPageToken(token).build());
      paged.addAll(page.getActivitiesList());
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    assertEquals(feed, paged);
  }

  int count(String sql) {
    return server.jdbi().withHandle(h -> h.createQuery(sql).mapTo(Integer.class).one());
  }

  void join(Session s, String user) {
    sessions.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId(user).build());
  }

  void leave(Session s, String user) {
    sessions.leaveSession(LeaveSessionRequest.newBuilder().setSessionId(s.getId()).setUserId(user).build());
  }

  @Test
  void usage_addsUpConnectedMinutesPerMember_andThePeak_perGroupAndPerTenantMonth() {
    Group g = create("ann", "Family");
    add(g.getId(), "bob", GroupRole.GROUP_ROLE_MEMBER);
    add(g.getId(), "cat", GroupRole.GROUP_ROLE_MEMBER);
    Instant from = server.clock.instant();
    // Call 1: ann 10 min, bob 4 min, cat 6 min; at most 3 at once.
    Session first = groups.startGroupCall(StartGroupCallRequest.newBuilder().setGroupId(g.getId()).setUserId("ann")
        .build()).getSession();
    join(first, "ann");
    join(first, "bob");
    server.clock.advance(Duration.ofMinutes(4));
    leave(first, "bob");
    join(first, "cat");
    server.clock.advance(Duration.ofMinutes(2));
    join(first, "bob");
    leave(first, "bob");
    server.clock.advance(Duration.ofMinutes(4));
    groups.endGroupCall(EndGroupCallRequest.newBuilder().setGroupId(g.getId()).build());
    // Call 2: ann and bob, 5 minutes each.
    server.clock.advance(Duration.ofMinutes(1));
    Session second = groups.startGroupCall(StartGroupCallRequest.newBuilder().setGroupId(g.getId()).setUserId("bob")
        .build()).getSession();
    join(second, "bob");
    join(second, "ann");
    server.clock.advance(Duration.ofMinutes(5));
    groups.endGroupCall(EndGroupCallRequest.newBuilder().setGroupId(g.getId()).build());
    // A visit outside the group counts for the tenant only: 2 x 30 min.
    Session visit = Visits.create(sessions, server.clock.instant());
    join(visit, "dr");
    join(visit, "pat");
    server.clock.advance(Duration.ofMinutes(30));
    sessions.endSession(EndSessionRequest.newBuilder().setSessionId(visit.getId()).build());

    GetGroupUsageResponse usage = as("cat").getGroupUsage(GetGroupUsageRequest.newBuilder().setGroupId(g.getId())
        .setStartTime(ProtoTime.timestamp(from)).setEndTime(ProtoTime.timestamp(server.clock.instant())).build());
    assertEquals(2, usage.getUsage().getCallCount());
    assertEquals(Duration.ofMinutes(30), ProtoTime.javaDuration(usage.getUsage().getConnectedDuration()));
    assertEquals(3, usage.getUsage().getPeakParticipants());
    Map<String, String> perMember = new java.util.LinkedHashMap<>();
    usage.getMembersList().forEach(m -> perMember.put(m.getUserId(),
        m.getCallCount() + "x" + ProtoTime.javaDuration(m.getConnectedDuration()).toMinutes()));
    assertEquals(Map.of("ann", "2x15", "bob", "2x9", "cat", "1x6"), perMember);
    assertEquals(List.of("ann", "bob", "cat"), List.copyOf(perMember.keySet()), "most connected first");

    GetGroupUsageResponse before = groups.getGroupUsage(GetGroupUsageRequest.newBuilder().setGroupId(g.getId())
        .setStartTime(ProtoTime.timestamp(from.minus(Duration.ofDays(1)))).setEndTime(ProtoTime.timestamp(from)).build());
    assertEquals(0, before.getUsage().getCallCount());

    GetTenantUsageResponse tenant = groups.getTenantUsage(GetTenantUsageRequest.newBuilder()
        .setStartTime(ProtoTime.timestamp(from.minus(Duration.ofDays(40))))
        .setEndTime(ProtoTime.timestamp(from.plus(Duration.ofDays(40)))).build());
    assertEquals(3, tenant.getUsage().getCallCount());
    assertEquals(Duration.ofMinutes(90), ProtoTime.javaDuration(tenant.getUsage().getConnectedDuration()));
    assertEquals(1, tenant.getMonthsCount());
    assertEquals("2030-01", tenant.getMonths(0).getMonth());
    assertEquals(5, tenant.getMonths(0).getUserCount());
    assertEquals(3, tenant.getMonths(0).getUsage().getPeakParticipants());
  }

  @Test
  void deleteGroup_endsTheLiveCallFirst_andKeepsItsUsage() {
    Group g = create("ann", "Family");
    add(g.getId(), "bob", GroupRole.GROUP_ROLE_MEMBER);
    Instant from = server.clock.instant();
    Session call = groups.startGroupCall(StartGroupCallRequest.newBuilder().setGroupId(g.getId()).setUserId("ann")
        .build()).getSession();
    join(call, "ann");
    join(call, "bob");
    server.clock.advance(Duration.ofMinutes(2));
    as("ann").deleteGroup(DeleteGroupRequest.newBuilder().setGroupId(g.getId()).build());
    Session after = sessions.getSession(GetSessionRequest.newBuilder().setSessionId(call.getId()).build()).getSession();
    assertEquals(SessionStatus.SESSION_STATUS_COMPLETED, after.getStatus());
    assertEquals(0, after.getPresentCount());
    assertStatus(Code.NOT_FOUND, "GROUP_NOT_FOUND", () -> groups.getGroup(GetGroupRequest.newBuilder().setGroupId(g.getId()).build()));
    assertStatus(Code.NOT_FOUND, "GROUP_NOT_FOUND", () -> groups.deleteGroup(DeleteGroupRequest.newBuilder().setGroupId(g.getId()).build()));
    assertEquals(0, count("SELECT count(*) FROM group_members"));
    assertEquals(1, count(
        "SELECT count(*) FROM events WHERE aggregate_type = 'group' AND type = 'GROUP_DELETED'"));
    GetTenantUsageResponse tenant = groups.getTenantUsage(GetTenantUsageRequest.newBuilder()
        .setStartTime(ProtoTime.timestamp(from.minusSeconds(60))).setEndTime(ProtoTime.timestamp(from.plusSeconds(600))).build());
    assertEquals(Duration.ofMinutes(4), ProtoTime.javaDuration(tenant.getUsage().getConnectedDuration()));
  }
}
