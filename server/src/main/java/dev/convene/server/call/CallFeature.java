package dev.convene.server.call;

import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.provider.ProviderFeature;
import io.grpc.BindableService;
import java.util.List;

/** The live call: CallService (kick, ban, the lobby, recording) and the jobs that make the provider's room follow. */
public final class CallFeature implements Feature {
  private final CallService service;
  private final RoomRemovals removals;
  private final RoomRecordings recordings;

  public CallFeature(Platform platform, ProviderFeature providers) {
    this.removals = new RoomRemovals(platform, providers.tenantProviders());
    this.recordings = new RoomRecordings(platform, providers.tenantProviders());
    this.service = new CallService(platform, removals, recordings);
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of(removals, recordings);
  }
}
