package dev.convene.server.user;

import dev.convene.server.invitation.InvitationFeature;
import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import io.grpc.BindableService;
import java.util.List;

/**
 * Users (UserService): profiles, and a user's overview, read across groups (the group feature),
 * group invitations (the invitation feature) and sessions (the session feature).
 */
public final class UserFeature implements Feature {
  private final UserService service;

  public UserFeature(Platform platform, InvitationFeature invitations) {
    this.service = new UserService(platform, new Users(platform), invitations);
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
