package dev.convene.server.platform;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells the followers of the event log, on every replica, that a tenant's log grew. A commit on
 * this replica wakes its own followers at once; a background thread then sends one PostgreSQL
 * {@code NOTIFY} per tenant (coalesced: many commits, one notification), and one {@code LISTEN}
 * connection per replica hears the other replicas' commits.
 *
 * <p>Why not a trigger on {@code events}: a transaction that notifies takes a database-wide lock
 * at commit and holds it until its commit record is flushed, so every writing transaction would
 * commit one after another, without group commit. Sent after the commit, a notification is a
 * transaction of its own that writes nothing, and the lock is brief. The price: a replica that dies
 * between a commit and its notification leaves the other replicas to find those events by their
 * own periodic read (the stream heartbeat), which they do.
 */
public final class EventSignal implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(EventSignal.class);
  static final String CHANNEL = "convene_events";

  /** What hears the signal. Called on the signal's threads or the committing one: must not block. */
  public interface Listener {
    /** {@code tenantId}'s log has events up to {@code position} (committed, maybe not yet readable). */
    void grew(String tenantId, long position);

    /** Notifications may have been missed (the listening connection broke): read every tenant again. */
    void missed();
  }

  /** Opens a connection outside the pool. */
  public interface Connector {
    Connection open() throws SQLException;
  }

  /** A signal that tells nobody: for tools and tests that run no streams. */
  public static final EventSignal NONE = new EventSignal(null);

  private final Connector connector;
  /** Tells this replica's own notifications from the others'. */
  private final String replica = UUID.randomUUID().toString().substring(0, 8);
  private final List<Listener> listeners = new CopyOnWriteArrayList<>();
  private final Map<String, Long> unsent = new ConcurrentHashMap<>();
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition work = lock.newCondition();
  private volatile boolean closed;
  private Thread sender;
  private Thread receiver;

  public EventSignal(Connector connector) {
    this.connector = connector;
  }

  /** Starts the sending and listening threads. */
  public synchronized EventSignal start() {
    if (connector == null || sender != null) {
      return this;
    }
    sender = daemon("convene-event-notify", this::sendLoop);
    receiver = daemon("convene-event-listen", this::listenLoop);
    return this;
  }

  private static Thread daemon(String name, Runnable body) {
    Thread t = Threads.daemon(name).newThread(body);
    t.start();
    return t;
  }

  public void subscribe(Listener listener) {
    listeners.add(listener);
  }

  public void unsubscribe(Listener listener) {
    listeners.remove(listener);
  }

  /**
   * A transaction of {@code tenantId} committed events up to {@code position}. Never throws: the
   * change is committed, and its caller must hear so whatever happens to the followers.
   */
  public void committed(String tenantId, long position) {
    if (connector == null) {
      return;
    }
    for (Listener l : listeners) {
      try {
        l.grew(tenantId, position);
      } catch (RuntimeException e) {
        log.debug("A follower of the event log could not be told of a commit: {}", e.toString());
      }
    }
    unsent.merge(tenantId, position, Math::max);
    lock.lock();
    try {
      work.signal();
    } finally {
      lock.unlock();
    }
  }

  private void sendLoop() {
    Connection c = null;
    while (!closed) {
      try {
        lock.lock();
        try {
          while (unsent.isEmpty() && !closed) {
            work.await(1, TimeUnit.SECONDS);
          }
        } finally {
          lock.unlock();
        }
        if (closed) {
          break;
        }
        if (c == null || c.isClosed()) {
          c = connector.open();
        }
        List<String> payloads = new java.util.ArrayList<>();
        for (String tenant : List.copyOf(unsent.keySet())) {
          Long position = unsent.remove(tenant);
          if (position != null) {
            payloads.add(replica + " " + position + " " + tenant);
          }
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_notify('" + CHANNEL + "', p) FROM unnest(?) p")) {
          ps.setArray(1, c.createArrayOf("text", payloads.toArray()));
          ps.executeQuery().close();
        }
      } catch (SQLException e) {
        // Other replicas find the events by their periodic read; this one retries with a new connection.
        log.warn("Could not notify other replicas of new events: {}", e.getClass().getSimpleName());
        c = closeQuietly(c);
        pause(1000);
      } catch (InterruptedException e) {
        break;
      }
    }
    closeQuietly(c);
  }

  private void listenLoop() {
    Connection c = null;
    long backoff = 100;
    while (!closed) {
      try {
        if (c == null) {
          c = connector.open();
          try (Statement st = c.createStatement()) {
            st.execute("LISTEN " + CHANNEL);
          }
          backoff = 100;
          // Whatever was committed while nobody listened is found by reading again.
          listeners.forEach(Listener::missed);
        }
        PGNotification[] notes = c.unwrap(PGConnection.class).getNotifications(250);
        if (notes == null) {
          continue;
        }
        for (PGNotification n : notes) {
          hear(n.getParameter());
        }
      } catch (SQLException e) {
        if (!closed) {
          log.warn("The connection listening for new events broke ({}); reconnecting", e.getClass().getSimpleName());
        }
        c = closeQuietly(c);
        pause(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    closeQuietly(c);
  }

  private void hear(String payload) {
    String[] parts = payload.split(" ", 3);
    if (parts.length != 3 || parts[0].equals(replica)) {
      return;
    }
    long position;
    try {
      position = Long.parseLong(parts[1]);
    } catch (NumberFormatException e) {
      return;
    }
    for (Listener l : listeners) {
      l.grew(parts[2], position);
    }
  }

  private static void pause(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static Connection closeQuietly(Connection c) {
    if (c != null) {
      try {
        c.close();
      } catch (SQLException ignored) {
        // already broken
      }
    }
    return null;
  }

  @Override
  public void close() {
    closed = true;
    lock.lock();
    try {
      work.signalAll();
    } finally {
      lock.unlock();
    }
    for (Thread t : new Thread[] {sender, receiver}) {
      if (t != null) {
        try {
          t.join(3000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }
  }
}
