package dev.convene.server.group;

import dev.convene.server.platform.Tx;
import java.util.Map;

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
  public static boolean exists(org.jdbi.v3.core.Handle h, String tenantId, String groupId) {
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
}
