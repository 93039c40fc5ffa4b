package dev.convene.server.platform;

import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.statement.Query;
import org.jdbi.v3.core.statement.Update;

/**
 * One tenant-scoped transaction, run by {@link UnitOfWork}: who acts, when (read once, after the
 * locks), and the events and jobs the change records, written together when the work returns.
 */
public final class Tx {
  private final Handle handle;
  private final String tenantId;
  private final String actor;
  private final Clock clock;
  private Instant now;
  private final List<EventLog.Pending> events = new ArrayList<>();
  private final List<Jobs.Pending> jobs = new ArrayList<>();
  private int eventsWritten;
  private long lastPosition;
  /** The earliest due time of the jobs this transaction scheduled; null if none. */
  private Instant earliestDue;

  Tx(Handle handle, String tenantId, String actor, Clock clock) {
    this.handle = handle;
    this.tenantId = tenantId;
    this.actor = actor;
    this.clock = clock;
  }

  public Handle handle() {
    return handle;
  }

  public String tenantId() {
    return tenantId;
  }

  public String actor() {
    return actor;
  }

  /**
   * The time of this transaction's changes, read once, after its locks were granted: a change that
   * waited for a lock is stamped after the change it waited for, so event times never run
   * backwards against an aggregate's sequence. Microseconds, as PostgreSQL stores them, so what a
   * response shows equals what a later read shows.
   */
  public Instant now() {
    if (now == null) {
      now = clock.instant().truncatedTo(ChronoUnit.MICROS);
    }
    return now;
  }

  /**
   * Serialises this transaction with every other of the tenant that locks {@code key} (a
   * transaction-scoped advisory lock), for what has no row to lock yet. Like a row lock, take it
   * before the time is read.
   */
  public void lockKey(String key) {
    locked(handle.createQuery("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
        .bind("key", tenantId + "/" + key).mapTo(String.class).one());
  }

  /** Marks {@code row} as just locked; the time must not have been read yet. */
  public <R> R locked(R row) {
    if (now != null) {
      throw new IllegalStateException("the time of a change must be read after its locks");
    }
    return row;
  }

  /**
   * Appends an event of an aggregate. Call it while holding the aggregate's row lock (or for an
   * aggregate this transaction created): its sequence is assigned under that lock.
   */
  public void append(String aggregateType, String aggregateId, String type, Map<String, ?> payload) {
    events.add(new EventLog.Pending(aggregateType, aggregateId, type, EventLog.payloadJson(payload)));
  }

  /** Makes the job {@code kind} for {@code subjectId} due at {@code due}, replacing any earlier schedule. */
  public void schedule(String kind, String subjectId, Instant due) {
    jobs.add(new Jobs.Pending(kind, subjectId, due));
    if (earliestDue == null || due.isBefore(earliestDue)) {
      earliestDue = due;
    }
  }

  /** Whether a job this transaction scheduled is due already (an outbox's send, due at once). */
  boolean scheduledDueNow() {
    return earliestDue != null && !earliestDue.isAfter(now());
  }

  /** The highest position of the events this transaction wrote; 0 if it wrote none. */
  long lastPosition() {
    return lastPosition;
  }

  /** Writes what was appended and scheduled so far, in one statement (one round trip). */
  void flush() {
    if (events.isEmpty() && jobs.isEmpty()) {
      return;
    }
    if (events.isEmpty()) {
      Update statement = handle.createUpdate(Jobs.UPSERT).bind("tenantId", tenantId);
      Jobs.bind(statement, jobs);
      statement.execute();
    } else {
      // The events' highest position comes back, for followers to be told (EventSignal).
      String sql = (jobs.isEmpty() ? "WITH " : "WITH scheduled AS (" + Jobs.UPSERT + "),\n")
          + "inserted AS (" + EventLog.INSERT + " RETURNING position)\nSELECT max(position) FROM inserted";
      Query statement = handle.createQuery(sql).bind("tenantId", tenantId);
      EventLog.bind(statement, actor, now(), events, eventsWritten);
      if (!jobs.isEmpty()) {
        Jobs.bind(statement, jobs);
      }
      lastPosition = Math.max(lastPosition, statement.mapTo(Long.class).one());
    }
    eventsWritten += events.size();
    events.clear();
    jobs.clear();
  }
}
