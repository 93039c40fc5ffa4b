package dev.convene.server.event;

import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import io.grpc.BindableService;
import java.time.Duration;
import java.util.List;

/**
 * Events out: watch streams of a session or of the tenant's whole log (EventService), fed by one
 * {@link EventHub} per replica that the platform's {@link dev.convene.server.platform.EventSignal}
 * wakes on every commit, here or on another replica.
 */
public final class EventFeature implements Feature {
  /** CONVENE_STREAM_HEARTBEAT, CONVENE_STREAM_BUFFER, CONVENE_MAX_STREAMS. */
  public record Settings(Duration heartbeat, int buffer, int maxStreams) {
    public static Settings defaults() {
      return new Settings(Duration.ofSeconds(15), 1000, 20_000);
    }
  }

  private final Platform platform;
  private final EventHub hub;
  private final EventService service;

  public EventFeature(Platform platform, Settings settings) {
    this.platform = platform;
    this.hub = new EventHub(platform.events(), new dev.convene.server.auth.Revocations(platform.jdbi()),
        platform.clock(), settings);
    this.service = new EventService(platform.jdbi(), platform.events(), hub);
    io.micrometer.core.instrument.Gauge.builder("convene.streams.open", hub, EventHub::openStreams)
        .description("Open watch streams on this replica").register(platform.metrics());
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of();
  }

  @Override
  public void start() {
    platform.signal().subscribe(hub);
    hub.start();
  }

  @Override
  public void stop() {
    platform.signal().unsubscribe(hub);
    hub.close();
  }

  /** Open watch streams on this replica. */
  public int openStreams() {
    return hub.openStreams();
  }
}
