package dev.convene.server.invitation;

import dev.convene.server.credential.CredentialIssuer;
import dev.convene.server.group.GroupFeature;
import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.presence.PresenceFeature;
import dev.convene.server.provider.ProviderFeature;
import dev.convene.server.token.TokenFeature;
import io.grpc.BindableService;
import dev.convene.v1.ListGroupInvitationsResponse;
import java.util.List;

/**
 * Invitations into sessions and groups (InvitationService): their codes are the token feature's guest codes,
 * their texts leave through the SMS outbox (the tenant's Twilio), and Twilio's message status
 * callbacks come back through the presence feature's provider callbacks.
 */
public final class InvitationFeature implements Feature {
  private final InvitationService service;
  private final SmsOutbox outbox;

  /** {@code inviteBaseUrl}: CONVENE_INVITE_BASE_URL, the join page that invitation links open. */
  public InvitationFeature(Platform platform, TokenFeature tokens, ProviderFeature providers, PresenceFeature presence,
      GroupFeature groups, CredentialIssuer credentials, String inviteBaseUrl) {
    Templates templates = new Templates(inviteBaseUrl);
    Invitations store = new Invitations(platform);
    this.service = new InvitationService(platform, store, tokens.guestCodes(), templates, credentials);
    groups.listInvitationsWith(new GroupFeature.InvitationLister() {
      @Override
      public ListGroupInvitationsResponse list(String tenantId, dev.convene.v1.ListGroupInvitationsRequest req) {
        InvitationService.Page page = service.page(tenantId, null, req.getGroupId(), req.getStatus(), req.getPageSize(),
            req.getPageToken(), req);
        return ListGroupInvitationsResponse.newBuilder().addAllInvitations(page.invitations())
            .setNextPageToken(page.nextPageToken()).build();
      }

      @Override
      public List<String> invitedTo(org.jdbi.v3.core.Handle h, String tenantId, String userId, int limit) {
        return store.pendingGroupInvitations(h, tenantId, userId, platform.clock().instant(), null, null, limit).stream()
            .map(Invitations.Row::groupId).distinct().toList();
      }
    });
    this.outbox = new SmsOutbox(platform, new SmsGateway(providers.configs(), providers.factory()), templates);
    tokens.guestCodes().beforeToken(service::accepted);
    presence.onMessageStatus(outbox);
  }

  /**
   * A page of the pending, unexpired group invitations of {@code userId} (the groups it is invited
   * to), newest first, after ({@code afterTime}, {@code afterId}): for a user's overview.
   */
  public List<dev.convene.v1.Invitation> groupInvitationsOf(org.jdbi.v3.core.Handle h, String tenantId, String userId,
      java.time.Instant now, java.time.Instant afterTime, String afterId, int limit) {
    return service.pendingGroupInvitations(h, tenantId, userId, now, afterTime, afterId, limit);
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of(outbox);
  }
}
