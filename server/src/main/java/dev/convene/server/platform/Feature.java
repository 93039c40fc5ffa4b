package dev.convene.server.platform;

import io.grpc.BindableService;
import java.util.List;

/**
 * A feature (sessions, and later tokens, invitations, groups) as the composition root sees it: the
 * gRPC services it serves and the kinds of background job it handles. Each feature builds these
 * from the {@link Platform} in its own constructor and is listed once in {@code Main.features}.
 */
public interface Feature {
  List<BindableService> services();

  List<JobHandler> jobs();

  /** Starts what the feature runs in the background (after the server started). */
  default void start() {}

  /**
   * Ends what the feature keeps open (watch streams), before the server stops taking calls and
   * drains the rest.
   */
  default void stop() {}
}
