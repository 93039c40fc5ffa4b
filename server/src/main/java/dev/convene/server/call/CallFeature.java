package dev.convene.server.call;

import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.provider.ProviderFeature;
import io.grpc.BindableService;
import java.util.List;

/** The live call: CallService (kick, ban, unban) and the job that makes the provider's room follow. */
public final class CallFeature implements Feature {
  private final CallService service;
  private final RoomRemovals removals;

  public CallFeature(Platform platform, ProviderFeature providers) {
    this.removals = new RoomRemovals(platform, providers.tenantProviders());
    this.service = new CallService(platform, removals);
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of(removals);
  }
}
