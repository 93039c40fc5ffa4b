package dev.convene.server.user;

import static dev.convene.server.grpc.Unary.reply;

import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.group.GroupMembers;
import dev.convene.server.invitation.InvitationFeature;
import dev.convene.server.platform.PageTokens;
import dev.convene.server.platform.Pages;
import dev.convene.server.platform.Phones;
import dev.convene.server.platform.Platform;
import dev.convene.server.session.Rosters;
import dev.convene.v1.*;
import io.grpc.stub.StreamObserver;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;
import org.jdbi.v3.core.Handle;

/**
 * UserService: profiles, and a user's overview across groups, invitations and sessions. An end user
 * acts only on its own profile; who it is comes from its credential, never from the request.
 */
final class UserService extends UserServiceGrpc.UserServiceImplBase {
  /** The event log's aggregate type of a user. */
  static final String AGGREGATE = "user";

  private final Platform platform;
  private final Users store;
  private final InvitationFeature invitations;

  UserService(Platform platform, Users store, InvitationFeature invitations) {
    this.platform = platform;
    this.store = store;
    this.invitations = invitations;
  }

  private static ConveneException userNotFound(String userId) {
    return ConveneException.notFound(ErrorReason.USER_NOT_FOUND, "user " + userId + " has no profile");
  }

  @Override
  public void upsertUser(UpsertUserRequest req, StreamObserver<UpsertUserResponse> out) {
    User in = req.getUser();
    Rosters.requireSelf(Principal.current(), in.getUserId());
    // A masked number read back and sent again keeps the stored one.
    boolean keepPhone = in.getPhone().contains("\u2022");
    String phone = in.getPhone().isEmpty() || keepPhone ? null : Phones.normalise(in.getPhone(), in.getPhoneRegion(),
        "user.phone");
    User stored = platform.uow().write(tx -> {
      Users.lock(tx, in.getUserId());
      Optional<Users.Row> before = store.get(tx.handle(), tx.tenantId(), in.getUserId());
      String oldPhone = before.isEmpty() ? null : store.phone(tx, in.getUserId());
      String newPhone = keepPhone ? oldPhone : phone;
      if (keepPhone && !Objects.equals(before.map(Users.Row::phoneMasked).orElse(null), in.getPhone())) {
        throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "user.phone",
            "phone is masked but is not the stored number's mask: send the full number, or empty to clear it");
      }
      Users.Row after = store.upsert(tx, in, newPhone);
      List<String> changed = changed(before.orElse(null), after, !Objects.equals(oldPhone, newPhone));
      if (before.isEmpty() || !changed.isEmpty()) {
        tx.append(AGGREGATE, in.getUserId(), "USER_UPSERTED", Map.of("fields", changed, "created", before.isEmpty()));
      }
      return Users.toProto(after);
    });
    reply(out, UpsertUserResponse.newBuilder().setUser(stored).build());
  }

  /** The names of the fields that differ (never their values: they are personal data). */
  private static List<String> changed(Users.Row before, Users.Row after, boolean phoneChanged) {
    List<String> fields = new ArrayList<>();
    Map<String, Function<Users.Row, String>> plain = new java.util.LinkedHashMap<>();
    plain.put("display_name", Users.Row::displayName);
    plain.put("first_name", Users.Row::firstName);
    plain.put("last_name", Users.Row::lastName);
    plain.put("avatar_url", Users.Row::avatarUrl);
    plain.put("email", Users.Row::email);
    plain.forEach((name, field) -> {
      if (before == null ? !field.apply(after).isEmpty() : !field.apply(before).equals(field.apply(after))) {
        fields.add(name);
      }
    });
    if (phoneChanged) {
      fields.add("phone");
    }
    return fields;
  }

  @Override
  public void getUser(GetUserRequest req, StreamObserver<GetUserResponse> out) {
    Principal caller = Principal.current();
    Rosters.requireSelf(caller, req.getUserId());
    Users.Row row = platform.jdbi().withHandle(h -> store.get(h, caller.tenantId(), req.getUserId()))
        .orElseThrow(() -> userNotFound(req.getUserId()));
    reply(out, GetUserResponse.newBuilder().setUser(Users.toProto(row)).build());
  }

  @Override
  public void listUsers(ListUsersRequest req, StreamObserver<ListUsersResponse> out) {
    String tenantId = Principal.current().tenantId();
    int size = PageTokens.pageSize(req.getPageSize(), 50, 200);
    String after = req.getPageToken().isEmpty() ? null
        : platform.pageTokens().decode(req.getPageToken(), tenantId, "users", req, 1).get(0);
    List<Users.Row> rows = platform.jdbi().withHandle(h -> store.list(h, tenantId,
        req.getNamePrefix().isEmpty() ? null : req.getNamePrefix(), after, size + 1));
    List<User> users = rows.stream().map(Users::toProto).toList();
    int n = Pages.fit(users, Math.min(size, users.size()));
    ListUsersResponse.Builder b = ListUsersResponse.newBuilder().addAllUsers(users.subList(0, n));
    if (users.size() > n) {
      b.setNextPageToken(platform.pageTokens().encode(tenantId, "users", req, rows.get(n - 1).userId()));
    }
    reply(out, b.build());
  }

  @Override
  public void deleteUser(DeleteUserRequest req, StreamObserver<DeleteUserResponse> out) {
    String userId = req.getUserId();
    platform.uow().write(tx -> {
      Users.lock(tx, userId);
      boolean member = GroupMembers.forgetUser(tx, userId);
      boolean profile = store.delete(tx, userId);
      if (!member && !profile) {
        throw userNotFound(userId);
      }
      Users.anonymise(tx, userId);
      tx.append(AGGREGATE, userId, "USER_DELETED", Map.of("had_profile", profile));
      return null;
    });
    reply(out, DeleteUserResponse.getDefaultInstance());
  }

  // --- the overview -------------------------------------------------------------------------------

  @Override
  public void getUserOverview(GetUserOverviewRequest req, StreamObserver<GetUserOverviewResponse> out) {
    Principal caller = Principal.current();
    Rosters.requireSelf(caller, req.getUserId());
    String tenantId = caller.tenantId();
    String userId = req.getUserId();
    int size = PageTokens.pageSize(req.getPageSize(), 20, 100);
    UserOverviewList only = req.getList();
    List<String> after = req.getPageToken().isEmpty() || only == UserOverviewList.USER_OVERVIEW_LIST_UNSPECIFIED ? null
        : platform.pageTokens().decode(req.getPageToken(), tenantId, "user_overview", req, 2);
    Instant afterTime = after == null ? null : PageTokens.instantKey(after.get(0));
    String afterId = after == null ? null : after.get(1);
    Instant now = platform.clock().instant();
    GetUserOverviewResponse.Builder b = GetUserOverviewResponse.newBuilder();
    platform.jdbi().useHandle(h -> {
      if (only == UserOverviewList.USER_OVERVIEW_LIST_UNSPECIFIED) {
        store.get(h, tenantId, userId).map(Users::toProto).ifPresent(b::setUser);
      }
      if (wants(only, UserOverviewList.USER_OVERVIEW_LIST_OWNED_GROUPS)) {
        Page<Group> p = page(GroupMembers.groupsOf(h, tenantId, userId, "OWNER", afterTime, afterId, size + 1), size,
            g -> key(g.getCreateTime(), g.getId()), req, UserOverviewList.USER_OVERVIEW_LIST_OWNED_GROUPS, tenantId);
        b.addAllOwnedGroups(p.items()).setOwnedGroupsNextPageToken(p.next());
      }
      if (wants(only, UserOverviewList.USER_OVERVIEW_LIST_MEMBER_GROUPS)) {
        Page<Group> p = page(GroupMembers.groupsOf(h, tenantId, userId, "MEMBER", afterTime, afterId, size + 1), size,
            g -> key(g.getCreateTime(), g.getId()), req, UserOverviewList.USER_OVERVIEW_LIST_MEMBER_GROUPS, tenantId);
        b.addAllMemberGroups(p.items()).setMemberGroupsNextPageToken(p.next());
      }
      if (wants(only, UserOverviewList.USER_OVERVIEW_LIST_GROUP_INVITATIONS)) {
        Page<Invitation> p = page(invitations.groupInvitationsOf(h, tenantId, userId, now, afterTime, afterId, size + 1),
            size, i -> key(i.getCreateTime(), i.getId()), req, UserOverviewList.USER_OVERVIEW_LIST_GROUP_INVITATIONS,
            tenantId);
        b.addAllGroupInvitations(p.items()).setGroupInvitationsNextPageToken(p.next());
      }
      if (wants(only, UserOverviewList.USER_OVERVIEW_LIST_UPCOMING_SESSIONS)) {
        List<Session> sessions = Rosters.upcoming(h, tenantId, userId, now, afterTime, afterId, size + 1).stream()
            .map(Rosters::toProto).toList();
        Page<Session> p = page(sessions, size, s -> key(s.getScheduledStartTime(), s.getId()), req,
            UserOverviewList.USER_OVERVIEW_LIST_UPCOMING_SESSIONS, tenantId);
        b.addAllUpcomingSessions(p.items()).setUpcomingSessionsNextPageToken(p.next());
      }
    });
    reply(out, b.build());
  }

  private static boolean wants(UserOverviewList only, UserOverviewList list) {
    return only == UserOverviewList.USER_OVERVIEW_LIST_UNSPECIFIED || only == list;
  }

  private static String[] key(com.google.protobuf.Timestamp time, String id) {
    return new String[] {ProtoTime.instant(time).toString(), id};
  }

  private record Page<T>(List<T> items, String next) {}

  /**
   * The first {@code size} of {@code fetched} (fetched one more than a page) and, when there are
   * more, a token for the request that asks for {@code list} alone.
   */
  private <T extends com.google.protobuf.MessageLite> Page<T> page(List<T> fetched, int size,
      Function<T, String[]> keyOf, GetUserOverviewRequest req, UserOverviewList list, String tenantId) {
    int n = Pages.fit(fetched, Math.min(size, fetched.size()));
    if (fetched.size() <= n) {
      return new Page<>(fetched, "");
    }
    GetUserOverviewRequest next = req.toBuilder().setList(list).build();
    return new Page<>(fetched.subList(0, n), platform.pageTokens().encode(tenantId, "user_overview", next,
        keyOf.apply(fetched.get(n - 1))));
  }
}
