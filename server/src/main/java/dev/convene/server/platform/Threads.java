package dev.convene.server.platform;

import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The server's own background threads: daemons (they never keep a stopping JVM alive) named for
 * what they do, so a thread dump and the log say whose they are.
 */
public final class Threads {
  private Threads() {}

  /** Threads named {@code name}: for an executor of one thread. */
  public static ThreadFactory daemon(String name) {
    return r -> start(new Thread(r, name));
  }

  /** Threads named {@code name-1}, {@code name-2}, ...: for a pool. */
  public static ThreadFactory numbered(String name) {
    AtomicInteger n = new AtomicInteger();
    return r -> start(new Thread(r, name + "-" + n.incrementAndGet()));
  }

  private static Thread start(Thread t) {
    t.setDaemon(true);
    return t;
  }
}
