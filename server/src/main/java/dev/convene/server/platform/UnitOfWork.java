package dev.convene.server.platform;

import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ErrorMapping;
import dev.convene.v1.ErrorReason;
import io.grpc.Context;
import io.grpc.Deadline;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.jdbi.v3.core.Jdbi;

/**
 * Runs a change as one tenant-scoped transaction: the {@link Tx} carries the tenant, the actor and
 * the time (read after the locks); its events and jobs are written in the same transaction; and
 * PostgreSQL's statement and lock timeouts come from the gRPC call's deadline, so work a client gave
 * up on stops. {@code maxTime} is the ceiling every pooled connection already has (see
 * {@code Database}); a deadline shorter than that by more than {@link #SLACK} is set on the
 * transaction, which costs a round trip, and a longer one keeps the ceiling, which costs none.
 * Every service writes through this; none opens its own transaction.
 */
public final class UnitOfWork {
  /** Deadlines within this of the ceiling keep the ceiling. */
  static final long SLACK = 1000;

  private final Jdbi jdbi;
  private final Clock clock;
  private final Duration maxTime;
  private final EventSignal signal;
  /** What runs after a commit that scheduled a job due now: the job runner's wake-up. */
  private volatile Runnable jobsDue = () -> {};

  public UnitOfWork(Jdbi jdbi, Clock clock, Duration maxTime) {
    this(jdbi, clock, maxTime, EventSignal.NONE);
  }

  /** Tells {@code signal} of every commit that appended events. */
  public UnitOfWork(Jdbi jdbi, Clock clock, Duration maxTime, EventSignal signal) {
    this.jdbi = jdbi;
    this.clock = clock;
    this.maxTime = maxTime;
    this.signal = signal;
  }

  /**
   * Runs {@code wake} after every commit that scheduled a job due at once (an SMS or provider call
   * in an outbox), so it runs now rather than at the runner's next round.
   */
  public void whenJobsDue(Runnable wake) {
    this.jobsDue = wake;
  }

  /** Says that jobs are due now, written other than through {@link Tx#schedule} (a sweep). */
  public void jobsDue() {
    try {
      jobsDue.run();
    } catch (RuntimeException e) {
      // The runner has stopped: its next start runs what is due.
    }
  }

  public Jdbi jdbi() {
    return jdbi;
  }

  public Clock clock() {
    return clock;
  }

  /** Runs {@code work} for the caller of the current gRPC call. */
  public <T> T write(Function<Tx, T> work) {
    Principal p = Principal.current();
    return write(p.tenantId(), p.actor(), work);
  }

  /** Runs {@code work} in one transaction on {@code tenantId}'s data, acting as {@code actor}. */
  public <T> T write(String tenantId, String actor, Function<Tx, T> work) {
    long timeoutMs = timeoutMillis();
    boolean[] committing = {false};
    long[] lastPosition = {0};
    boolean[] dueNow = {false};
    try {
      T result = transaction(tenantId, actor, work, timeoutMs, committing, lastPosition, dueNow);
      if (lastPosition[0] > 0) {
        signal.committed(tenantId, lastPosition[0]);
      }
      if (dueNow[0]) {
        jobsDue();
      }
      return result;
    } catch (RuntimeException e) {
      if (committing[0] && ErrorMapping.isDatabaseUnavailable(e)) {
        // The connection broke between COMMIT being sent and its answer: PostgreSQL may have made
        // the change durable or not. UNAVAILABLE would invite a blind retry of a change that may
        // have happened; this says so instead.
        throw ConveneException.unknown(ErrorReason.COMMIT_OUTCOME_UNKNOWN,
            "the database connection was lost while the change was committed; it may or may not have been applied");
      }
      throw e;
    }
  }

  private <T> T transaction(String tenantId, String actor, Function<Tx, T> work, long timeoutMs, boolean[] committing,
      long[] lastPosition, boolean[] dueNow) {
    return jdbi.inTransaction(h -> {
      if (timeoutMs < maxTime.toMillis() - SLACK) {
        // SET LOCAL through set_config: both end with the transaction.
        h.createQuery("SELECT set_config('statement_timeout', :ms, true), set_config('lock_timeout', :ms, true)")
            .bind("ms", Long.toString(timeoutMs)).mapTo(String.class).one();
      }
      Tx tx = new Tx(h, tenantId, actor, clock);
      T result = work.apply(tx);
      tx.flush();
      if (Context.current().isCancelled()) {
        // The client is gone (deadline or cancel): roll back rather than commit a change it will
        // never hear of. (A commit already under way when it goes cannot be taken back.)
        throw ConveneException.deadlineExceeded(ErrorReason.DEADLINE_EXCEEDED,
            "the call's deadline passed or its client cancelled before the change was committed");
      }
      committing[0] = true;
      lastPosition[0] = tx.lastPosition();
      dueNow[0] = tx.scheduledDueNow();
      return result;
    });
  }

  /** What is left of the call's deadline, at most {@code maxTime}; DEADLINE_EXCEEDED if none is. */
  private long timeoutMillis() {
    long ms = maxTime.toMillis();
    Deadline deadline = Context.current().getDeadline();
    if (deadline != null) {
      ms = Math.min(ms, deadline.timeRemaining(TimeUnit.MILLISECONDS));
    }
    if (ms <= 0) {
      throw ConveneException.deadlineExceeded(ErrorReason.DEADLINE_EXCEEDED,
          "the call's deadline passed before its database work began");
    }
    return ms;
  }
}
