package dev.convene.server.group;

import static dev.convene.server.grpc.Unary.reply;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.EventLog;
import dev.convene.server.platform.EventRow;
import dev.convene.server.platform.IdKind;
import dev.convene.server.platform.PageTokens;
import dev.convene.server.platform.Pages;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.RequestFingerprint;
import dev.convene.server.platform.RequestIdTaken;
import dev.convene.server.platform.Tx;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionRow;
import dev.convene.server.session.Usage;
import dev.convene.server.token.TokenFeature;
import dev.convene.v1.*;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.jdbi.v3.core.Handle;

/**
 * GroupService: persistent groups, their members, activity feed, calls and usage. Every change
 * locks the group's row first (then, for calls, the call's session), and reads what it decides on
 * after that lock. Who may do what is decided from the membership, never from the request.
 */
final class GroupService extends GroupServiceGrpc.GroupServiceImplBase {
  /** The event log's aggregate type of a group. */
  static final String AGGREGATE = "group";
  static final int MAX_MEMBERS = 100;
  static final int MAX_GROUPS_PER_USER = 100;
  /** ListGroups with {@code invited} looks at most at this many of the user's newest pending invitations. */
  static final int MAX_INVITED_LISTED = 500;
  /** A group call's session is scheduled for this long from its start (its join tokens follow). */
  static final Duration CALL_LENGTH = Duration.ofHours(4);
  private static final Set<String> UPDATABLE = Set.of("name", "description", "media");

  private final Platform platform;
  private final TokenFeature tokens;
  /** Set once at wiring (GroupFeature.listInvitationsWith), before the server starts. */
  volatile GroupFeature.InvitationLister invitations;

  GroupService(Platform platform, TokenFeature tokens) {
    this.platform = platform;
    this.tokens = tokens;
  }

  // --- who may do what --------------------------------------------------------------------------

  /** The group and what the caller is to it: {@code member} null for the tenant's backend. */
  private record Access(Groups.Row group, Groups.Member member) {
    boolean owner() {
      return member == null || member.owner();
    }

    GroupRole callerRole() {
      return member == null ? GroupRole.GROUP_ROLE_UNSPECIFIED : role(member.role());
    }
  }

  /** NOT_FOUND (GROUP_NOT_FOUND) unless the caller is the tenant's backend or a member. */
  private static Access access(Handle h, Principal caller, Groups.Row g) {
    if (caller.isTenant()) {
      return new Access(g, null);
    }
    return new Access(g, Groups.member(h, caller.tenantId(), g.id(), caller.userId())
        .orElseThrow(() -> groupNotFound(g.id())));
  }

  private static Access read(Handle h, Principal caller, String groupId) {
    return access(h, caller, Groups.get(h, caller.tenantId(), groupId).orElseThrow(() -> groupNotFound(groupId)));
  }

  private static Access lock(Tx tx, Principal caller, String groupId) {
    return access(tx.handle(), caller, Groups.lock(tx, groupId).orElseThrow(() -> groupNotFound(groupId)));
  }

  /** PERMISSION_DENIED (GROUP_OWNER_REQUIRED) unless the tenant's backend or an OWNER. */
  private static void requireOwner(Access a) {
    if (!a.owner()) {
      throw ConveneException.permissionDenied(ErrorReason.GROUP_OWNER_REQUIRED,
          "only an owner of group " + a.group().id() + " may do this");
    }
  }

  private static Groups.Member requireMember(Tx tx, String groupId, String userId) {
    return Groups.member(tx.handle(), tx.tenantId(), groupId, userId).orElseThrow(() -> ConveneException.notFound(
        ErrorReason.GROUP_MEMBER_NOT_FOUND, "user " + userId + " is not a member of group " + groupId));
  }

  /** FAILED_PRECONDITION (LAST_OWNER) when {@code m} is the locked group's only OWNER. */
  private static void requireNotLastOwner(Tx tx, Groups.Member m) {
    if (m.owner() && Groups.ownerCount(tx, m.groupId()) <= 1) {
      throw ConveneException.failedPrecondition(ErrorReason.LAST_OWNER, "user " + m.userId()
          + " is the last owner of group " + m.groupId() + ": promote another member first", Map.of());
    }
  }

  static ConveneException groupNotFound(String id) {
    return ConveneException.notFound(ErrorReason.GROUP_NOT_FOUND, "group " + id + " not found");
  }

  // --- groups -----------------------------------------------------------------------------------

  @Override
  public void createGroup(CreateGroupRequest req, StreamObserver<CreateGroupResponse> out) {
    Principal caller = Principal.current();
    Rosters.requireSelf(caller, req.getOwnerUserId());
    byte[] fingerprint = RequestFingerprint.of(req.toBuilder().clearRequestId().build());
    Optional<Group> earlier = repeated(caller, req.getRequestId(), fingerprint);
    Group created;
    if (earlier.isPresent()) {
      created = earlier.get();
    } else {
      try {
        created = platform.uow().write(tx -> create(tx, caller, req, fingerprint));
      } catch (RequestIdTaken e) {
        created = repeated(caller, req.getRequestId(), fingerprint).orElseThrow();
      }
    }
    reply(out, CreateGroupResponse.newBuilder().setGroup(created).build());
  }

  private Group create(Tx tx, Principal caller, CreateGroupRequest req, byte[] fingerprint) {
    String owner = req.getOwnerUserId();
    Groups.lockUser(tx, owner);
    requireRoomForGroup(tx, owner);
    String media = req.getMedia() == MediaType.MEDIA_TYPE_UNSPECIFIED ? "AUDIO"
        : req.getMedia().name().substring("MEDIA_TYPE_".length());
    Groups.Row g = new Groups.Row(tx.tenantId(), platform.ids().next(IdKind.GROUP), req.getName(),
        req.getDescription(), media, 0, null, fingerprint, tx.now(), tx.now());
    if (!Groups.insert(tx, g, req.getRequestId().isEmpty() ? null : req.getRequestId())) {
      throw new RequestIdTaken();
    }
    Groups.Member m = Groups.addMember(tx, g.id(), owner, Groups.OWNER).orElseThrow();
    tx.append(AGGREGATE, g.id(), "GROUP_CREATED", Map.of("owner_user_id", owner, "media", media));
    tx.append(AGGREGATE, g.id(), "MEMBER_ADDED", Map.of("user_id", owner, "role", Groups.OWNER));
    Access a = new Access(Groups.get(tx.handle(), tx.tenantId(), g.id()).orElseThrow(), caller.isTenant() ? null : m);
    return toProto(a);
  }

  /** The group an earlier create with this request id made; INVALID_ARGUMENT (REQUEST_ID_REUSED) for another request. */
  private Optional<Group> repeated(Principal caller, String requestId, byte[] fingerprint) {
    if (requestId.isEmpty()) {
      return Optional.empty();
    }
    return platform.jdbi().withHandle(h -> Groups.byRequestId(h, caller.tenantId(), requestId).map(g -> {
      if (!RequestFingerprint.matches(g.fingerprint(), fingerprint)) {
        throw ConveneException.invalidArgument(ErrorReason.REQUEST_ID_REUSED, "request_id",
            "request_id " + requestId + " was used for a different group");
      }
      return toProto(access(h, caller, g));
    }));
  }

  /** RESOURCE_EXHAUSTED (TOO_MANY_GROUPS) when {@code userId} (locked with Groups.lockUser) is in the most groups. */
  private static void requireRoomForGroup(Tx tx, String userId) {
    if (Groups.groupCount(tx, userId) >= MAX_GROUPS_PER_USER) {
      throw ConveneException.resourceExhausted(ErrorReason.TOO_MANY_GROUPS,
          "user " + userId + " belongs to " + MAX_GROUPS_PER_USER + " groups already");
    }
  }

  @Override
  public void getGroup(GetGroupRequest req, StreamObserver<GetGroupResponse> out) {
    Principal caller = Principal.current();
    Group g = platform.jdbi().withHandle(h -> toProto(read(h, caller, req.getGroupId())));
    reply(out, GetGroupResponse.newBuilder().setGroup(g).build());
  }

  @Override
  public void listGroups(ListGroupsRequest req, StreamObserver<ListGroupsResponse> out) {
    Principal caller = Principal.current();
    String userId = req.getUserId().isEmpty() ? null : req.getUserId();
    if (!caller.isTenant()) {
      if (userId != null) {
        Rosters.requireSelf(caller, userId);
      }
      userId = caller.userId();
    }
    if (userId == null && req.getRole() != GroupRole.GROUP_ROLE_UNSPECIFIED) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "role", "role filters a user's groups: give user_id");
    }
    if (req.getInvited() && (userId == null || req.getRole() != GroupRole.GROUP_ROLE_UNSPECIFIED)) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "invited",
          "invited lists a user's invitations: give user_id and no role");
    }
    String role = req.getRole() == GroupRole.GROUP_ROLE_UNSPECIFIED ? null : name(req.getRole());
    int size = PageTokens.pageSize(req.getPageSize(), 50, 200);
    List<String> after = req.getPageToken().isEmpty() ? null
        : platform.pageTokens().decode(req.getPageToken(), caller.tenantId(), "groups", req, 2);
    String forUser = userId;
    List<Groups.Listed> rows = platform.jdbi().withHandle(h -> Groups.list(h, caller.tenantId(), forUser, role,
        req.getInvited() ? invitations.invitedTo(h, caller.tenantId(), forUser, MAX_INVITED_LISTED) : null,
        after == null ? null : PageTokens.instantKey(after.get(0)), after == null ? null : after.get(1), size + 1));
    List<Group> groups = rows.stream().map(r -> toProto(r.group(),
        caller.isTenant() || r.role() == null ? GroupRole.GROUP_ROLE_UNSPECIFIED : role(r.role()))).toList();
    int n = Pages.fit(groups, Math.min(size, groups.size()));
    ListGroupsResponse.Builder b = ListGroupsResponse.newBuilder().addAllGroups(groups.subList(0, n));
    if (groups.size() > n) {
      Groups.Row last = rows.get(n - 1).group();
      b.setNextPageToken(platform.pageTokens().encode(caller.tenantId(), "groups", req, last.createTime().toString(),
          last.id()));
    }
    reply(out, b.build());
  }

  @Override
  public void updateGroup(UpdateGroupRequest req, StreamObserver<UpdateGroupResponse> out) {
    List<String> paths = req.getUpdateMask().getPathsList();
    GroupUpdate in = req.getGroup();
    if (paths.isEmpty() || !UPDATABLE.containsAll(paths)) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "update_mask",
          "update_mask must name one or more of name, description, media");
    }
    if (paths.contains("name") && in.getName().isEmpty()) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "group.name", "name must not be empty");
    }
    if (paths.contains("media") && in.getMedia() == MediaType.MEDIA_TYPE_UNSPECIFIED) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "group.media", "media must be VIDEO or AUDIO");
    }
    Principal caller = Principal.current();
    Group updated = platform.uow().write(tx -> {
      Access a = lock(tx, caller, in.getId());
      requireOwner(a);
      Groups.Row g = a.group();
      Groups.Row next = g.withFields(paths.contains("name") ? in.getName() : g.name(),
          paths.contains("description") ? in.getDescription() : g.description(),
          paths.contains("media") ? in.getMedia().name().substring("MEDIA_TYPE_".length()) : g.media(), tx.now());
      List<String> changed = paths.stream().distinct().filter(p -> switch (p) {
        case "name" -> !next.name().equals(g.name());
        case "description" -> !next.description().equals(g.description());
        default -> !next.media().equals(g.media());
      }).sorted().toList();
      if (!changed.isEmpty()) {
        Groups.update(tx, next);
        tx.append(AGGREGATE, g.id(), "GROUP_UPDATED", Map.of("paths", changed));
      }
      // Read again: the locked row's live call may have ended since (see Groups.lock).
      return toProto(new Access(Groups.get(tx.handle(), tx.tenantId(), g.id()).orElseThrow(), a.member()));
    });
    reply(out, UpdateGroupResponse.newBuilder().setGroup(updated).build());
  }

  @Override
  public void deleteGroup(DeleteGroupRequest req, StreamObserver<DeleteGroupResponse> out) {
    Principal caller = Principal.current();
    platform.uow().write(tx -> {
      Access a = lock(tx, caller, req.getGroupId());
      requireOwner(a);
      liveCall(tx, a.group()).ifPresent(s -> Rosters.end(tx, s, "the group was deleted"));
      Groups.delete(tx, a.group().id());
      tx.append(AGGREGATE, a.group().id(), "GROUP_DELETED", Map.of());
      return null;
    });
    reply(out, DeleteGroupResponse.getDefaultInstance());
  }

  // --- members ----------------------------------------------------------------------------------

  @Override
  public void addGroupMember(AddGroupMemberRequest req, StreamObserver<AddGroupMemberResponse> out) {
    Principal caller = Principal.current();
    String role = req.getRole() == GroupRole.GROUP_ROLE_UNSPECIFIED ? Groups.MEMBER : name(req.getRole());
    GroupMember added = platform.uow().write(tx -> {
      Access a = lock(tx, caller, req.getGroupId());
      requireOwner(a);
      return toProto(admit(tx, a.group(), req.getUserId(), role));
    });
    reply(out, AddGroupMemberResponse.newBuilder().setMember(added).build());
  }

  /**
   * Adds {@code userId} with {@code role} to the locked group {@code g}: ALREADY_EXISTS
   * (GROUP_MEMBER_ALREADY_EXISTS), RESOURCE_EXHAUSTED (GROUP_FULL, TOO_MANY_GROUPS) when it cannot;
   * a MEMBER_ADDED event.
   */
  static Groups.Member admit(Tx tx, Groups.Row g, String userId, String role) {
    Groups.lockUser(tx, userId);
    if (Groups.member(tx.handle(), tx.tenantId(), g.id(), userId).isPresent()) {
      throw ConveneException.alreadyExists(ErrorReason.GROUP_MEMBER_ALREADY_EXISTS,
          "user " + userId + " is a member of group " + g.id() + " already");
    }
    if (g.memberCount() >= MAX_MEMBERS) {
      throw ConveneException.resourceExhausted(ErrorReason.GROUP_FULL,
          "group " + g.id() + " has " + MAX_MEMBERS + " members already");
    }
    requireRoomForGroup(tx, userId);
    Groups.Member m = Groups.addMember(tx, g.id(), userId, role).orElseThrow();
    tx.append(AGGREGATE, g.id(), "MEMBER_ADDED", Map.of("user_id", m.userId(), "role", role));
    return m;
  }

  @Override
  public void removeGroupMember(RemoveGroupMemberRequest req, StreamObserver<RemoveGroupMemberResponse> out) {
    Principal caller = Principal.current();
    platform.uow().write(tx -> {
      Access a = lock(tx, caller, req.getGroupId());
      requireOwner(a);
      remove(tx, requireMember(tx, a.group().id(), req.getUserId()), "MEMBER_REMOVED");
      return null;
    });
    reply(out, RemoveGroupMemberResponse.getDefaultInstance());
  }

  @Override
  public void leaveGroup(LeaveGroupRequest req, StreamObserver<LeaveGroupResponse> out) {
    Principal caller = Principal.current();
    Rosters.requireSelf(caller, req.getUserId());
    platform.uow().write(tx -> {
      Access a = lock(tx, caller, req.getGroupId());
      remove(tx, requireMember(tx, a.group().id(), req.getUserId()), "MEMBER_LEFT");
      return null;
    });
    reply(out, LeaveGroupResponse.getDefaultInstance());
  }

  /** Removes a member of the locked group (LAST_OWNER for its only owner) and records {@code type}. */
  private static void remove(Tx tx, Groups.Member m, String type) {
    requireNotLastOwner(tx, m);
    Groups.removeMember(tx, m.groupId(), m.userId());
    tx.append(AGGREGATE, m.groupId(), type, Map.of("user_id", m.userId()));
  }

  @Override
  public void updateGroupMember(UpdateGroupMemberRequest req, StreamObserver<UpdateGroupMemberResponse> out) {
    Principal caller = Principal.current();
    String role = name(req.getRole());
    GroupMember updated = platform.uow().write(tx -> {
      Access a = lock(tx, caller, req.getGroupId());
      requireOwner(a);
      Groups.Member m = requireMember(tx, a.group().id(), req.getUserId());
      if (m.role().equals(role)) {
        return toProto(m);
      }
      requireNotLastOwner(tx, m);
      Groups.Member next = Groups.setRole(tx, m, role);
      tx.append(AGGREGATE, m.groupId(), "MEMBER_ROLE_CHANGED",
          Map.of("user_id", m.userId(), "from", m.role(), "to", role));
      return toProto(next);
    });
    reply(out, UpdateGroupMemberResponse.newBuilder().setMember(updated).build());
  }

  @Override
  public void listGroupMembers(ListGroupMembersRequest req, StreamObserver<ListGroupMembersResponse> out) {
    Principal caller = Principal.current();
    int size = PageTokens.pageSize(req.getPageSize(), 50, 200);
    List<String> after = req.getPageToken().isEmpty() ? null
        : platform.pageTokens().decode(req.getPageToken(), caller.tenantId(), "group_members", req, 2);
    List<Groups.Member> rows = platform.jdbi().withHandle(h -> {
      read(h, caller, req.getGroupId());
      return Groups.members(h, caller.tenantId(), req.getGroupId(), after == null ? null : rank(after.get(0)),
          after == null ? null : after.get(1), size + 1);
    });
    List<GroupMember> members = rows.stream().map(GroupService::toProto).toList();
    int n = Pages.fit(members, Math.min(size, members.size()));
    ListGroupMembersResponse.Builder b = ListGroupMembersResponse.newBuilder().addAllMembers(members.subList(0, n));
    if (members.size() > n) {
      Groups.Member last = rows.get(n - 1);
      b.setNextPageToken(platform.pageTokens().encode(caller.tenantId(), "group_members", req,
          last.owner() ? "0" : "1", last.userId()));
    }
    reply(out, b.build());
  }

  @Override
  public void listGroupInvitations(ListGroupInvitationsRequest req, StreamObserver<ListGroupInvitationsResponse> out) {
    Principal caller = Principal.current();
    platform.jdbi().useHandle(h -> read(h, caller, req.getGroupId()));
    reply(out, invitations.list(caller.tenantId(), req));
  }

  @Override
  public void listGroupActivities(ListGroupActivitiesRequest req, StreamObserver<ListGroupActivitiesResponse> out) {
    Principal caller = Principal.current();
    int size = PageTokens.pageSize(req.getPageSize(), 50, 200);
    Long before = req.getPageToken().isEmpty() ? null
        : PageTokens.longKey(platform.pageTokens().decode(req.getPageToken(), caller.tenantId(), "group_activities", req, 1).get(0));
    List<EventRow> rows = platform.jdbi().withHandle(h -> {
      read(h, caller, req.getGroupId());
      return Groups.activities(h, caller.tenantId(), req.getGroupId(), before, size + 1);
    });
    List<GroupActivity> activities = rows.stream().map(GroupService::toProto).toList();
    int n = Pages.fit(activities, Math.min(size, activities.size()));
    ListGroupActivitiesResponse.Builder b = ListGroupActivitiesResponse.newBuilder()
        .addAllActivities(activities.subList(0, n));
    if (activities.size() > n) {
      b.setNextPageToken(platform.pageTokens().encode(caller.tenantId(), "group_activities", req,
          Long.toString(rows.get(n - 1).position())));
    }
    reply(out, b.build());
  }

  // --- calls ------------------------------------------------------------------------------------

  /** The locked group's live call, its session locked; empty when none is live. */
  private static Optional<SessionRow> liveCall(Tx tx, Groups.Row g) {
    if (g.liveSessionId() == null) {
      return Optional.empty();
    }
    SessionRow s = Rosters.lock(tx, g.liveSessionId());
    return Rosters.terminal(s) ? Optional.empty() : Optional.of(s);
  }

  private static ConveneException notLive(String groupId) {
    return ConveneException.failedPrecondition(ErrorReason.GROUP_CALL_NOT_LIVE,
        "group " + groupId + " has no live call", Map.of());
  }

  @Override
  public void startGroupCall(StartGroupCallRequest req, StreamObserver<StartGroupCallResponse> out) {
    Principal caller = Principal.current();
    Rosters.requireSelf(caller, req.getUserId());
    StartGroupCallResponse started = platform.uow().write(tx -> {
      Access a = lock(tx, caller, req.getGroupId());
      Groups.Row g = a.group();
      requireMember(tx, g.id(), req.getUserId());
      Optional<SessionRow> live = liveCall(tx, g);
      if (live.isPresent()) {
        return StartGroupCallResponse.newBuilder().setSession(Rosters.toProto(live.get())).setAlreadyLive(true).build();
      }
      List<Groups.Member> members = Groups.allMembers(tx, g.id());
      Instant now = tx.now();
      CreateSessionRequest.Builder session = CreateSessionRequest.newBuilder()
          .setExternalRef("group:" + g.id() + ":call:" + (Groups.callCount(tx, g.id()) + 1))
          .setTitle(g.name()).setMedia(MediaType.valueOf("MEDIA_TYPE_" + g.media()))
          .setScheduledStartTime(ProtoTime.timestamp(now)).setScheduledEndTime(ProtoTime.timestamp(now.plus(CALL_LENGTH)))
          .setSettings(SessionSettings.newBuilder().setMaxParticipants(MAX_MEMBERS))
          .putMetadata("group_id", g.id());
      for (Groups.Member m : members) {
        session.addParticipants(ParticipantSpec.newBuilder().setUserId(m.userId())
            .setRole(m.userId().equals(req.getUserId()) ? ParticipantRole.PARTICIPANT_ROLE_HOST
                : ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT));
      }
      SessionRow s = Rosters.create(tx, platform.ids(), session.build());
      Groups.insertCall(tx, s.id(), g.id(), req.getUserId());
      Groups.setLive(tx, g.id(), s.id());
      // What a push to the members' devices needs, carried by the event stream and webhooks.
      Map<String, Object> payload = new LinkedHashMap<>();
      payload.put("session_id", s.id());
      payload.put("started_by", req.getUserId());
      payload.put("media", g.media());
      payload.put("member_user_ids", members.stream().map(Groups.Member::userId).toList());
      tx.append(AGGREGATE, g.id(), "CALL_STARTED", payload);
      return StartGroupCallResponse.newBuilder().setSession(Rosters.toProto(s)).build();
    });
    reply(out, started);
  }

  @Override
  public void joinGroupCall(JoinGroupCallRequest req, StreamObserver<JoinGroupCallResponse> out) {
    Principal caller = Principal.current();
    Rosters.requireSelf(caller, req.getUserId());
    String sessionId = platform.uow().write(tx -> {
      Access a = lock(tx, caller, req.getGroupId());
      requireMember(tx, a.group().id(), req.getUserId());
      SessionRow s = liveCall(tx, a.group()).orElseThrow(() -> notLive(a.group().id()));
      if (Rosters.find(tx, s, req.getUserId()).isEmpty()) {
        // Joined the group after the call started.
        Rosters.add(tx, s, ParticipantSpec.newBuilder().setUserId(req.getUserId())
            .setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT).build());
      }
      return s.id();
    });
    JoinToken token = tokens.joinToken(caller, sessionId, req.getUserId());
    reply(out, JoinGroupCallResponse.newBuilder().setSessionId(sessionId).setJoinToken(token).build());
  }

  @Override
  public void listGroupCallParticipants(ListGroupCallParticipantsRequest req,
      StreamObserver<ListGroupCallParticipantsResponse> out) {
    Principal caller = Principal.current();
    ListGroupCallParticipantsResponse found = platform.jdbi().withHandle(h -> {
      Groups.Row g = read(h, caller, req.getGroupId()).group();
      if (g.liveSessionId() == null) {
        throw notLive(g.id());
      }
      return ListGroupCallParticipantsResponse.newBuilder().setSessionId(g.liveSessionId())
          .addAllParticipants(Rosters.roster(h, caller.tenantId(), g.liveSessionId(), 2 * MAX_MEMBERS)).build();
    });
    reply(out, found);
  }

  @Override
  public void endGroupCall(EndGroupCallRequest req, StreamObserver<EndGroupCallResponse> out) {
    Principal caller = Principal.current();
    Session ended = platform.uow().write(tx -> {
      Access a = lock(tx, caller, req.getGroupId());
      SessionRow s = liveCall(tx, a.group()).orElseThrow(() -> notLive(a.group().id()));
      if (!a.owner() && !Groups.startedBy(tx.handle(), tx.tenantId(), s.id()).orElse("").equals(caller.userId())) {
        throw ConveneException.permissionDenied(ErrorReason.GROUP_OWNER_REQUIRED,
            "only an owner of group " + a.group().id() + " or the member who started the call may end it");
      }
      SessionRow done = Rosters.end(tx, s, "the group call was ended");
      Groups.setLive(tx, a.group().id(), null);
      return Rosters.toProto(done);
    });
    reply(out, EndGroupCallResponse.newBuilder().setSession(ended).build());
  }

  // --- usage ------------------------------------------------------------------------------------

  @Override
  public void getGroupUsage(GetGroupUsageRequest req, StreamObserver<GetGroupUsageResponse> out) {
    Principal caller = Principal.current();
    GetGroupUsageResponse usage = platform.jdbi().withHandle(h -> {
      read(h, caller, req.getGroupId());
      List<String> calls = Groups.calls(h, caller.tenantId(), req.getGroupId(), ProtoTime.instant(req.getStartTime()),
          ProtoTime.instant(req.getEndTime()));
      GetGroupUsageResponse.Builder b = GetGroupUsageResponse.newBuilder()
          .setUsage(toProto(Usage.of(h, caller.tenantId(), calls)));
      for (Usage.PerUser u : Usage.perUser(h, caller.tenantId(), calls, 200)) {
        b.addMembers(MemberUsage.newBuilder().setUserId(u.userId()).setCallCount(u.calls())
            .setConnectedDuration(ProtoTime.millis(u.connectedMs())));
      }
      return b.build();
    });
    reply(out, usage);
  }

  @Override
  public void getTenantUsage(GetTenantUsageRequest req, StreamObserver<GetTenantUsageResponse> out) {
    String tenantId = Principal.current().tenantId();
    List<Usage.Month> months = platform.jdbi().withHandle(h -> Usage.perMonth(h, tenantId,
        ProtoTime.instant(req.getStartTime()), ProtoTime.instant(req.getEndTime())));
    GetTenantUsageResponse.Builder b = GetTenantUsageResponse.newBuilder();
    long calls = 0;
    long ms = 0;
    int peak = 0;
    for (Usage.Month m : months) {
      calls += m.totals().calls();
      ms += m.totals().connectedMs();
      peak = Math.max(peak, m.totals().peak());
      b.addMonths(MonthUsage.newBuilder().setMonth(m.month()).setUsage(toProto(m.totals())).setUserCount(m.users()));
    }
    reply(out, b.setUsage(toProto(new Usage.Totals(calls, ms, peak))).build());
  }

  // --- the contract's shapes ----------------------------------------------------------------------

  private static Group toProto(Access a) {
    return toProto(a.group(), a.callerRole());
  }

  static Group toProto(Groups.Row g, GroupRole callerRole) {
    Group.Builder b = Group.newBuilder().setId(g.id()).setName(g.name()).setDescription(g.description())
        .setMedia(MediaType.valueOf("MEDIA_TYPE_" + g.media())).setMemberCount(g.memberCount())
        .setCreateTime(ProtoTime.timestamp(g.createTime())).setUpdateTime(ProtoTime.timestamp(g.updateTime()))
        .setCallerRole(callerRole);
    if (g.liveSessionId() != null) {
      b.setLiveSessionId(g.liveSessionId());
    }
    return b.build();
  }

  private static GroupMember toProto(Groups.Member m) {
    return GroupMember.newBuilder().setGroupId(m.groupId()).setUserId(m.userId()).setRole(role(m.role()))
        .setAddTime(ProtoTime.timestamp(m.addTime())).setDisplayName(m.displayName()).build();
  }

  private static CallUsage toProto(Usage.Totals t) {
    return CallUsage.newBuilder().setCallCount(t.calls()).setConnectedDuration(ProtoTime.millis(t.connectedMs()))
        .setPeakParticipants(t.peak()).build();
  }

  /** An event of the group, or of one of its calls' sessions, as an activity. */
  private static GroupActivity toProto(EventRow e) {
    Struct payload = EventLog.payload(e);
    GroupActivity.Builder b = GroupActivity.newBuilder().setPosition(e.position())
        .setEventTime(ProtoTime.timestamp(e.eventTime())).setActor(e.actor()).setPayload(payload);
    if (e.aggregateType().equals(AGGREGATE)) {
      b.setType(GroupActivityType.valueOf("GROUP_ACTIVITY_TYPE_" + e.type()));
      b.setSessionId(text(payload, "session_id"));
    } else {
      b.setSessionId(e.aggregateId()).setType(switch (e.type()) {
        case "PARTICIPANT_JOINED" -> GroupActivityType.GROUP_ACTIVITY_TYPE_CALL_JOINED;
        case "PARTICIPANT_LEFT" -> GroupActivityType.GROUP_ACTIVITY_TYPE_CALL_LEFT;
        default -> GroupActivityType.GROUP_ACTIVITY_TYPE_CALL_ENDED;
      });
    }
    return b.setUserId(text(payload, "user_id")).build();
  }

  private static String text(Struct payload, String key) {
    Value v = payload.getFieldsOrDefault(key, Value.getDefaultInstance());
    return v.hasStringValue() ? v.getStringValue() : "";
  }

  private static GroupRole role(String name) {
    return GroupRole.valueOf("GROUP_ROLE_" + name);
  }

  private static String name(GroupRole role) {
    return role.name().substring("GROUP_ROLE_".length());
  }

  private static Integer rank(String s) {
    if (!s.equals("0") && !s.equals("1")) {
      throw PageTokens.invalid();
    }
    return Integer.valueOf(s);
  }


}
