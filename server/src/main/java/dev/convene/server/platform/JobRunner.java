package dev.convene.server.platform;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
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
  private final MeterRegistry metrics;
  /** The last backlog read, by kind: {due, parked}. */
  private volatile Map<String, long[]> backlog = Map.of();
  private volatile ScheduledExecutorService scheduler;
  private final WakeUp wakeUp = new WakeUp(() -> round(false));

  public JobRunner(UnitOfWork uow, List<JobHandler> handlers, Settings settings) {
    this(uow, handlers, settings, new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
  }

  /**
   * A runner that records into {@code metrics}: jobs claimed, completed, failed and parked by kind,
   * how late each was claimed ({@code convene_jobs_lag_seconds}), and the backlog of due and parked
   * jobs by kind (every kind's outbox: SMS, provider calls), read once a round.
   */
  public JobRunner(UnitOfWork uow, List<JobHandler> handlers, Settings settings, MeterRegistry metrics) {
    this.jdbi = uow.jdbi();
    this.uow = uow;
    this.clock = uow.clock();
    this.handlers = handlers.stream().collect(Collectors.toUnmodifiableMap(JobHandler::kind, Function.identity()));
    this.settings = settings;
    this.metrics = metrics;
    for (String kind : this.handlers.keySet()) {
      // At zero from the start, so "none failed" shows as 0 rather than as no data.
      for (String counter : List.of("convene.jobs.claimed", "convene.jobs.completed", "convene.jobs.failed",
          "convene.jobs.parked")) {
        metrics.counter(counter, "kind", kind);
      }
      Gauge.builder("convene.jobs.backlog", this, r -> r.backlog.getOrDefault(kind, new long[2])[0])
          .description("Jobs due and not yet done, or parked after too many failures").tag("kind", kind)
          .tag("state", "due").register(metrics);
      Gauge.builder("convene.jobs.backlog", this, r -> r.backlog.getOrDefault(kind, new long[2])[1])
          .description("Jobs due and not yet done, or parked after too many failures").tag("kind", kind)
          .tag("state", "parked").register(metrics);
    }
  }

  private void count(String name, String kind) {
    metrics.counter(name, "kind", kind).increment();
  }

  /** Reads how many jobs of each kind are due and parked, across tenants (an operator's view). */
  private void readBacklog() {
    Map<String, long[]> read = new java.util.HashMap<>();
    jdbi.useHandle(h -> h.createQuery("SELECT kind, count(*) FILTER (WHERE parked_time IS NULL AND due_time <= :now), "
            + "count(*) FILTER (WHERE parked_time IS NOT NULL) FROM jobs GROUP BY kind").bind("now", clock.instant())
        .map((rs, ctx) -> read.put(rs.getString(1), new long[] {rs.getLong(2), rs.getLong(3)})).list());
    backlog = read;
  }

  /**
   * Runs {@link #runOnce} every {@code interval} on a thread of its own until closed, and at once
   * after each commit that scheduled a job due now ({@link UnitOfWork#whenJobsDue}).
   */
  public synchronized void start(Duration interval) {
    scheduler = Executors.newSingleThreadScheduledExecutor(Threads.daemon("convene-jobs"));
    scheduler.scheduleWithFixedDelay(() -> round(true), interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    uow.whenJobsDue(this::wake);
  }

  /**
   * Runs a round as soon as the runner's thread is free. Wake-ups while one is queued are one: the
   * round claims everything due when it begins, and a wake-up after it began queues the next.
   */
  private void wake() {
    wakeUp.request(scheduler);
  }

  /** A round; the periodic ones also read the backlog for the metrics, the wake-ups do not. */
  private void round(boolean periodic) {
    try {
      if (periodic) {
        runOnce();
      } else {
        runDue();
      }
    } catch (Throwable t) {
      // The database may be away, or worse; whatever it is, the next round tries again.
      log.warn("Job round failed: {}", t.toString());
    }
  }

  /** Reads the backlog, then runs every job due now, batch by batch; returns how many ran to completion. */
  public int runOnce() {
    readBacklog();
    return runDue();
  }

  private int runDue() {
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
          FROM (SELECT tenant_id, kind, subject_id, due_time FROM jobs
                 WHERE parked_time IS NULL AND due_time <= :now AND kind = ANY(CAST(:kinds AS text[]))
                 ORDER BY due_time
                 LIMIT :limit
                 FOR UPDATE SKIP LOCKED) due
         WHERE j.tenant_id = due.tenant_id AND j.kind = due.kind AND j.subject_id = due.subject_id
        RETURNING j.tenant_id, j.kind, j.subject_id, j.attempts, j.version, due.due_time
        """)
        .bind("now", now).bind("leaseEnd", now.plus(settings.lease()))
        .bind("kinds", handlers.keySet().toArray(String[]::new)).bind("limit", settings.batch())
        .map((rs, ctx) -> claimed(rs, now)).list());
  }

  private Claimed claimed(ResultSet rs, Instant now) throws SQLException {
    Claimed job = new Claimed(rs.getString(1), rs.getString(2), rs.getString(3), rs.getInt(4), rs.getLong(5));
    Duration late = Duration.between(rs.getObject(6, java.time.OffsetDateTime.class).toInstant(), now);
    count("convene.jobs.claimed", job.kind());
    Timer.builder("convene.jobs.lag").description("How long after its due time a job was claimed")
        .tag("kind", job.kind()).register(metrics).record(late.isNegative() ? Duration.ZERO : late);
    return job;
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
        count("convene.jobs.completed", job.kind());
        return true;
      }
      uow.write(job.tenantId(), "system:job:" + job.kind(), tx -> {
        handler.run(tx, job.subjectId());
        bindClaim(tx.handle().createUpdate("DELETE FROM jobs WHERE " + CLAIMED), job).execute();
        return null;
      });
      count("convene.jobs.completed", job.kind());
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
    count(park ? "convene.jobs.parked" : "convene.jobs.failed", job.kind());
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
    uow.whenJobsDue(() -> {});
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
