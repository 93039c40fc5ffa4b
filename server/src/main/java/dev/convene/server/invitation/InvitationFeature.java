package dev.convene.server.invitation;

import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.token.TokenFeature;
import io.grpc.BindableService;
import java.util.List;

/** Invitations into sessions (InvitationService); their codes are the token feature's guest codes. */
public final class InvitationFeature implements Feature {
  private final InvitationService service;

  /** {@code inviteBaseUrl}: CONVENE_INVITE_BASE_URL, the join page that invitation links open. */
  public InvitationFeature(Platform platform, TokenFeature tokens, String inviteBaseUrl) {
    this.service = new InvitationService(platform, new Invitations(platform), tokens.guestCodes(), inviteBaseUrl);
    tokens.guestCodes().beforeToken(service::accepted);
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
