package dev.convene.server.platform;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import dev.convene.server.grpc.ErrorMapping;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.statement.Update;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs due jobs on every replica at once without running one twice: claims a small batch with
 * {@code FOR UPDATE SKIP LOCKED} (pushing each claimed row's due time out by a lease, so a replica
 * that dies mid-job only delays it), then runs each job in its own transaction, so one bad row
 * cannot hold up the rest. A failing job is retried with exponential backoff and jitter, and after
 * {@code maxAttempts} it is parked with its error for an operator. Nothing a job throws stops the
 * schedule; {@link #close} lets a running job finish.
 */
public final class JobRunner implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(JobRunner.class);

  /** How the runner paces itself. */
  public record Settings(int batch, Duration lease, int maxAttempts, Duration firstBackoff, Duration maxBackoff) {
    public static Settings defaults() {
      return new Settings(20, Duration.ofMinutes(2), 10, Duration.ofSeconds(5), Duration.ofMinutes(30));
    }
  }

  private record Claimed(String tenantId, String kind, String subjectId, int attempts, long version) {}

  private final Jdbi jdbi;
  private final UnitOfWork uow;
  private final Clock clock;
  private final Map<String, JobHandler> handlers;
  private final Settings settings;
  private ScheduledExecutorService scheduler;

  public JobRunner(UnitOfWork uow, List<JobHandler> handlers, Settings settings) {
    this.jdbi = uow.jdbi();
    this.uow = uow;
    this.clock = uow.clock();
    this.handlers = handlers.stream().collect(Collectors.toUnmodifiableMap(JobHandler::kind, Function.identity()));
    this.settings = settings;
  }

  /** Runs {@link #runOnce} every {@code interval} on a thread of its own until closed. */
  public synchronized void start(Duration interval) {
    scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "convene-jobs");
      t.setDaemon(true);
      return t;
    });
    scheduler.scheduleWithFixedDelay(() -> {
      try {
        runOnce();
      } catch (Throwable t) {
        // The database may be away, or worse; whatever it is, the next round tries again.
        log.warn("Job round failed: {}", t.toString());
      }
    }, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Runs every job due now, batch by batch; returns how many ran to completion. */
  public int runOnce() {
    int done = 0;
    List<Claimed> batch;
    do {
      batch = claim();
      for (Claimed job : batch) {
        if (Thread.currentThread().isInterrupted()) {
          return done;
        }
        if (run(job)) {
          done++;
        }
      }
    } while (batch.size() == settings.batch());
    return done;
  }

  private List<Claimed> claim() {
    Instant now = clock.instant();
    return jdbi.withHandle(h -> h.createQuery("""
        UPDATE jobs j
           SET due_time = :leaseEnd, attempts = j.attempts + 1, version = j.version + 1
          FROM (SELECT tenant_id, kind, subject_id FROM jobs
                 WHERE parked_time IS NULL AND due_time <= :now AND kind = ANY(CAST(:kinds AS text[]))
                 ORDER BY due_time
                 LIMIT :limit
                 FOR UPDATE SKIP LOCKED) due
         WHERE j.tenant_id = due.tenant_id AND j.kind = due.kind AND j.subject_id = due.subject_id
        RETURNING j.tenant_id, j.kind, j.subject_id, j.attempts, j.version
        """)
        .bind("now", now).bind("leaseEnd", now.plus(settings.lease()))
        .bind("kinds", handlers.keySet().toArray(String[]::new)).bind("limit", settings.batch())
        .map(JobRunner::claimed).list());
  }

  private static Claimed claimed(ResultSet rs, org.jdbi.v3.core.statement.StatementContext ctx) throws SQLException {
    return new Claimed(rs.getString(1), rs.getString(2), rs.getString(3), rs.getInt(4), rs.getLong(5));
  }

  /**
   * The job row as this runner claimed it: a row re-claimed after its lease ran out, or re-scheduled
   * meanwhile, has another version and is left alone.
   */
  private static final String CLAIMED =
      "tenant_id = :tenantId AND kind = :kind AND subject_id = :subject AND version = :version";

  private static Update bindClaim(Update statement, Claimed job) {
    return statement.bind("tenantId", job.tenantId()).bind("kind", job.kind()).bind("subject", job.subjectId())
        .bind("version", job.version());
  }

  /** Runs one claimed job in its own transaction; true if it completed. */
  private boolean run(Claimed job) {
    JobHandler handler = handlers.get(job.kind());
    try {
      if (handler instanceof OutsideJobHandler outside) {
        // It calls the outside world: no transaction (or connection) is held meanwhile; the claim's
        // lease keeps other replicas off it, and the handler must be idempotent.
        outside.runOutside(job.tenantId(), job.subjectId());
        jdbi.useHandle(h -> bindClaim(h.createUpdate("DELETE FROM jobs WHERE " + CLAIMED), job).execute());
        return true;
      }
      uow.write(job.tenantId(), "system:job:" + job.kind(), tx -> {
        handler.run(tx, job.subjectId());
        bindClaim(tx.handle().createUpdate("DELETE FROM jobs WHERE " + CLAIMED), job).execute();
        return null;
      });
      return true;
    } catch (Throwable t) {
      failed(job, t);
      return false;
    }
  }

  private void failed(Claimed job, Throwable t) {
    boolean park = job.attempts() >= settings.maxAttempts();
    Instant now = clock.instant();
    long backoff = Math.min(settings.maxBackoff().toMillis(),
        settings.firstBackoff().toMillis() << Math.min(20, job.attempts() - 1));
    // Full jitter over the upper half: replicas retrying together spread out.
    Instant next = now.plusMillis(backoff / 2 + ThreadLocalRandom.current().nextLong(backoff / 2 + 1));
    String error = describe(t);
    if (park) {
      log.warn("Job {} {} parked after {} attempts: {}", job.kind(), job.subjectId(), job.attempts(),
          t.getClass().getSimpleName());
    } else {
      log.info("Job {} {} failed (attempt {}), retrying at {}: {}", job.kind(), job.subjectId(), job.attempts(), next,
          t.getClass().getSimpleName());
    }
    try {
      jdbi.useHandle(h -> bindClaim(h.createUpdate(
              "UPDATE jobs SET due_time = :next, last_error = :error, parked_time = :parked WHERE " + CLAIMED), job)
          .bind("next", next).bind("error", error).bind("parked", park ? now : null).execute());
    } catch (RuntimeException e) {
      // The lease runs out and the job is claimed again.
      log.warn("Could not record the failure of job {} {}: {}", job.kind(), job.subjectId(), e.toString());
    }
  }

  /**
   * The error kept on the row: its class and message, without control characters, bounded. For a
   * database error only its SQL state, since PostgreSQL's messages quote the values of rows.
   */
  static String describe(Throwable t) {
    java.util.Optional<String> state = ErrorMapping.sqlStates(t).findFirst();
    if (state.isPresent()) {
      return t.getClass().getName() + ": SQL state " + state.get();
    }
    String s = t.getClass().getName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
    s = s.replaceAll("\\p{Cntrl}", " ");
    return s.length() > 1000 ? s.substring(0, 1000) : s;
  }

  /** Stops scheduling and waits for a running job to finish. */
  @Override
  public synchronized void close() {
    if (scheduler == null) {
      return;
    }
    scheduler.shutdown();
    try {
      if (!scheduler.awaitTermination(30, TimeUnit.SECONDS)) {
        log.warn("A job was still running after 30s; interrupting it");
        scheduler.shutdownNow();
      }
    } catch (InterruptedException e) {
      scheduler.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
