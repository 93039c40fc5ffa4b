package dev.convene.server.group;

import dev.convene.server.grpc.ConveneException;
import dev.convene.server.platform.Tx;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.Group;
import dev.convene.v1.GroupRole;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Handle;

/**
 * What other features may ask of groups (invitations into a group): lock a group, append to its
 * log, and make someone a member with the same limits and event as AddGroupMember. The group
 * feature keeps its tables to itself.
 */
public final class GroupMembers {
  private GroupMembers() {}

  /** Locks the tenant's group; false when it has none (or it was deleted). */
  public static boolean lock(Tx tx, String groupId) {
    return Groups.lock(tx, groupId).isPresent();
  }

  /** NOT_FOUND (GROUP_NOT_FOUND) unless the tenant has the group; locks it. */
  public static void lockExisting(Tx tx, String groupId) {
    if (!lock(tx, groupId)) {
      throw GroupService.groupNotFound(groupId);
    }
  }

  /** Whether the tenant has the group. */
  public static boolean exists(Handle h, String tenantId, String groupId) {
    return Groups.get(h, tenantId, groupId).isPresent();
  }

  /** Whether {@code userId} is a member of the group. */
  public static boolean isMember(Tx tx, String groupId, String userId) {
    return Groups.member(tx.handle(), tx.tenantId(), groupId, userId).isPresent();
  }

  /** Appends {@code type} (a GroupActivityType's short name) to the locked group's log. */
  public static void event(Tx tx, String groupId, String type, Map<String, ?> payload) {
    tx.append(GroupService.AGGREGATE, groupId, type, payload);
  }

  /**
   * Makes {@code userId} a member of the locked group with {@code role} (OWNER or MEMBER), as
   * AddGroupMember does (GROUP_FULL, TOO_MANY_GROUPS; a MEMBER_ADDED event); nothing when it is a
   * member already.
   */
  public static void join(Tx tx, String groupId, String userId, String role) {
    Groups.Row g = Groups.get(tx.handle(), tx.tenantId(), groupId).orElseThrow(() -> GroupService.groupNotFound(groupId));
    if (!isMember(tx, groupId, userId)) {
      GroupService.admit(tx, g, userId, role);
    }
  }

  /**
   * A page of the groups {@code userId} belongs to ({@code role}: only those where it is OWNER or
   * MEMBER; null for both), newest first, after ({@code afterTime}, {@code afterId}), each showing
   * the user's role as {@code caller_role}.
   */
  public static List<Group> groupsOf(Handle h, String tenantId, String userId, String role, Instant afterTime,
      String afterId, int limit) {
    return Groups.list(h, tenantId, userId, role, afterTime, afterId, limit).stream()
        .map(l -> GroupService.toProto(l.group(), GroupRole.valueOf("GROUP_ROLE_" + l.role()))).toList();
  }

  /**
   * Removes {@code userId} from every group it belongs to (a deleted user), recording MEMBER_REMOVED
   * on each; FAILED_PRECONDITION (LAST_OWNER, metadata {@code group_ids}: at most 10) when it is the
   * only owner of a group, and then nothing changes. Locks the groups in id order; call it before
   * the transaction reads its time. Returns whether the user belonged to any group.
   */
  public static boolean forgetUser(Tx tx, String userId) {
    List<String> groupIds = tx.handle().createQuery(
            "SELECT group_id FROM group_members WHERE tenant_id = :tenantId AND user_id = :userId ORDER BY group_id")
        .bind("tenantId", tx.tenantId()).bind("userId", userId).mapTo(String.class).list();
    List<Groups.Member> memberships = new ArrayList<>();
    List<String> soleOwner = new ArrayList<>();
    for (String groupId : groupIds) {
      Groups.lock(tx, groupId);
      Groups.member(tx.handle(), tx.tenantId(), groupId, userId).ifPresent(m -> {
        memberships.add(m);
        if (m.owner() && Groups.ownerCount(tx, groupId) <= 1) {
          soleOwner.add(groupId);
        }
      });
    }
    if (!soleOwner.isEmpty()) {
      throw ConveneException.failedPrecondition(ErrorReason.LAST_OWNER, "user " + userId + " is the only owner of "
          + soleOwner.size() + " group(s): promote another member first",
          Map.of("group_ids", String.join(",", soleOwner.subList(0, Math.min(10, soleOwner.size())))));
    }
    for (Groups.Member m : memberships) {
      Groups.removeMember(tx, m.groupId(), userId);
      tx.append(GroupService.AGGREGATE, m.groupId(), "MEMBER_REMOVED", Map.of("user_id", userId, "reason", "user_deleted"));
    }
    return !memberships.isEmpty();
  }
}
