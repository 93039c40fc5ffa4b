package dev.convene.server.group;

import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.token.TokenFeature;
import dev.convene.v1.ListGroupInvitationsRequest;
import dev.convene.v1.ListGroupInvitationsResponse;
import io.grpc.BindableService;
import java.util.List;

/**
 * Persistent groups (GroupService): members and owners, the activity feed, group calls (sessions of
 * the session feature, their join tokens from the token feature) and usage.
 */
public final class GroupFeature implements Feature {
  private final GroupService service;

  public GroupFeature(Platform platform, TokenFeature tokens) {
    this.service = new GroupService(platform, tokens);
  }

  /**
   * How ListGroupInvitations reads a group's invitations: the invitation feature's listing,
   * registered once when the features are wired (invitations depend on groups, not the reverse).
   */
  public interface InvitationLister {
    ListGroupInvitationsResponse list(String tenantId, ListGroupInvitationsRequest req);

    /** The groups {@code userId} has a pending, unexpired invitation to, newest invitation first; at most {@code limit}. */
    java.util.List<String> invitedTo(org.jdbi.v3.core.Handle h, String tenantId, String userId, int limit);
  }

  public void listInvitationsWith(InvitationLister lister) {
    service.invitations = lister;
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of();
  }
}
