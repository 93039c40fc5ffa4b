package dev.convene.server.session;

import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import io.grpc.BindableService;
import java.util.List;

/** Sessions: SessionService and the no-show and empty-timeout jobs. */
public final class SessionFeature implements Feature {
  private final SessionService service;

  public SessionFeature(Platform platform) {
    this.service = new SessionService(platform, new SessionStore(platform.jdbi(), platform.dataSource()));
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return SessionJobs.handlers();
  }
}
