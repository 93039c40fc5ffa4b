package dev.convene.server.platform;

import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A task run on an executor as soon as it is free, however often it is asked for: requests made
 * while a run is queued are that run, and a request made after the run began queues the next one,
 * so nothing asked for is missed and a burst of requests costs one or two runs. Never blocks.
 */
public final class WakeUp {
  private final Runnable task;
  private final AtomicBoolean queued = new AtomicBoolean();

  public WakeUp(Runnable task) {
    this.task = task;
  }

  /** Asks for a run on {@code executor} (null, or shut down: nothing runs; the owner has stopped). */
  public void request(Executor executor) {
    if (executor == null || !queued.compareAndSet(false, true)) {
      return;
    }
    try {
      executor.execute(() -> {
        queued.set(false);
        task.run();
      });
    } catch (RejectedExecutionException e) {
      queued.set(false);
    }
  }
}
