package dev.convene.server.group;

import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.token.TokenFeature;
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

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of();
  }
}
