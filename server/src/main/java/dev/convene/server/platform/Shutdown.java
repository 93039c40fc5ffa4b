package dev.convene.server.platform;

import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's shutdown as one ordered sequence of steps, each awaited before the next starts
 * (stop taking calls and drain them, let a running job finish, stop the request threads, close the
 * database). A step that fails is logged and the rest still run.
 */
public final class Shutdown {
  private static final Logger log = LoggerFactory.getLogger(Shutdown.class);

  private record Step(String name, Runnable action) {}

  private final List<Step> steps = new ArrayList<>();
  private boolean done;

  /** Adds a step after the ones added before. */
  public Shutdown then(String name, Runnable action) {
    steps.add(new Step(name, action));
    return this;
  }

  /** Runs every step in order, once. */
  public synchronized void run() {
    if (done) {
      return;
    }
    done = true;
    for (Step step : steps) {
      long start = System.nanoTime();
      try {
        step.action().run();
        log.info("Shutdown: {} ({} ms)", step.name(), (System.nanoTime() - start) / 1_000_000);
      } catch (RuntimeException e) {
        log.warn("Shutdown: {} failed: {}", step.name(), e.toString());
      }
    }
  }
}
