package dev.convene.server.event;

import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ErrorMapping;
import dev.convene.server.platform.EventRow;
import dev.convene.v1.ErrorReason;
import io.grpc.stub.ServerCallStreamObserver;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One open watch stream: it replays the log from the client's cursor, then sends what the
 * {@link EventHub} hands it, skipping what it already sent and re-reading the log where the live
 * feed has a hole. Every send happens in {@link #drain}, run by at most one thread at a time and
 * only while the client can take more (gRPC flow control); what waits meanwhile is bounded, and a
 * client that lets it fill is ended with RESOURCE_EXHAUSTED instead of growing the heap.
 *
 * @param <R> the stream's response message
 */
abstract class Watcher<R> {
  /** Events read from the log per replay query. */
  static final int PAGE = 200;

  final String tenantId;
  /** Who opened the stream; it ends when their credential expires or is revoked. */
  final Principal caller;
  private final ServerCallStreamObserver<R> out;
  private final EventHub hub;
  private final Executor executor;
  private final int capacity;
  private final String method;

  /** The key (sequence or position) of the last event sent or passed over. Drain only. */
  long cursor;
  /** Reading the log rather than the live feed. Drain only. */
  private boolean replaying = true;
  /** End the stream once the log is read to its end. Drain only. */
  private boolean endAtEnd;

  // Guarded by this: what the hub handed over, and what the drain must do next.
  private final ArrayDeque<EventRow> live = new ArrayDeque<>();
  private boolean reread;
  private boolean tooSlow;
  private boolean heartbeatDue;
  private ConveneException endWith;

  private final AtomicInteger wip = new AtomicInteger();
  private volatile boolean closed;
  private volatile long lastSendNanos = System.nanoTime();

  Watcher(Principal caller, ServerCallStreamObserver<R> out, EventHub hub, String method, long cursor) {
    this.tenantId = caller.tenantId();
    this.caller = caller;
    this.out = out;
    this.hub = hub;
    this.executor = hub.senders();
    this.capacity = hub.settings().buffer();
    this.method = method;
    this.cursor = cursor;
  }

  /** Whether the hub should hand this stream {@code event} at all. Hub thread. */
  abstract boolean wants(EventRow event);

  /** The event's key in this stream's order. */
  abstract long key(EventRow event);

  /** Whether the client asked for {@code event} (it is passed over otherwise). */
  abstract boolean matches(EventRow event);

  /** The log's next events after {@code after}, in key order. */
  abstract List<EventRow> read(long after, int limit);

  /** Whether a live {@code event} leaves a hole after the cursor that the log must fill. */
  abstract boolean leavesHole(EventRow event);

  /** Whether nothing follows {@code event} but what the log already holds (a session that ended). */
  abstract boolean ends(EventRow event);

  abstract R event(EventRow event);

  abstract R heartbeat(Instant now, long cursor);

  /**
   * Why the caller may no longer watch once {@code event} was sent (removed from the session it
   * watches), or null. Drain thread.
   */
  ConveneException lostAccess(EventRow event) {
    return null;
  }

  /** Ends the stream once the log is read to its end (a session already terminal). */
  void endAtEnd() {
    this.endAtEnd = true;
  }

  void start() {
    out.setOnReadyHandler(this::schedule);
    out.setOnCancelHandler(this::cancelled);
    schedule();
  }

  /** The hub hands over a live event. Never blocks. */
  void offer(EventRow event) {
    if (closed || !wants(event)) {
      return;
    }
    synchronized (this) {
      if (live.size() < capacity) {
        live.add(event);
      } else if (replaying) {
        // The replay will read these from the log anyway; remember to read once more.
        live.clear();
        reread = true;
      } else {
        tooSlow = true;
      }
    }
    schedule();
  }

  /**
   * Sends a heartbeat if nothing was sent for {@code idleNanos}; ends the stream if its caller's
   * credential expired by {@code now}: a stream may not outlive what authenticated it.
   */
  void tick(long idleNanos, Instant now) {
    Instant expire = caller.expireTime();
    if (!closed && expire != null && !now.isBefore(expire)) {
      end(ConveneException.unauthenticated(ErrorReason.CREDENTIAL_EXPIRED,
          "the credential expired; watch again with a new one from the last position received"));
      return;
    }
    if (!closed && System.nanoTime() - lastSendNanos >= idleNanos) {
      synchronized (this) {
        heartbeatDue = true;
      }
      schedule();
    }
  }

  /** Ends the stream with {@code error} (the server shutting down, the credential revoked). */
  void end(ConveneException error) {
    synchronized (this) {
      endWith = error;
    }
    schedule();
  }

  boolean closed() {
    return closed;
  }

  private void schedule() {
    if (wip.getAndIncrement() == 0) {
      try {
        executor.execute(this::drain);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        close(); // the server has stopped
      }
    }
  }

  private void drain() {
    do {
      try {
        step();
      } catch (RuntimeException e) {
        fail(ErrorMapping.toStatus(e, method));
      }
    } while (wip.decrementAndGet() != 0);
  }

  private void step() {
    while (!closed) {
      ConveneException error;
      synchronized (this) {
        error = tooSlow ? ConveneException.resourceExhausted(ErrorReason.STREAM_CONSUMER_TOO_SLOW,
            "the client read more slowly than events arrived; resume from the last position received") : endWith;
      }
      if (error != null) {
        fail(ErrorMapping.toStatus(error, method));
        return;
      }
      if (!out.isReady()) {
        return; // the on-ready handler drains again
      }
      if (replaying) {
        List<EventRow> page = read(cursor, PAGE);
        for (EventRow e : page) {
          if (!pass(e)) {
            return;
          }
        }
        if (page.size() < PAGE) {
          synchronized (this) {
            if (reread) {
              reread = false;
              continue;
            }
            replaying = false;
          }
          if (endAtEnd) {
            complete();
            return;
          }
        }
        continue;
      }
      EventRow next;
      boolean heartbeat;
      synchronized (this) {
        next = live.poll();
        heartbeat = next == null && heartbeatDue;
        heartbeatDue = false;
      }
      if (next == null) {
        if (heartbeat) {
          send(heartbeat(hub.clock().instant(), cursor));
        }
        return;
      }
      if (key(next) <= cursor) {
        continue;
      }
      if (leavesHole(next)) {
        replaying = true;
        continue;
      }
      if (!pass(next)) {
        return;
      }
    }
  }

  /** Sends {@code e} if asked for and moves the cursor past it; false once the stream is done. */
  private boolean pass(EventRow e) {
    if (key(e) <= cursor) {
      return true;
    }
    if (matches(e)) {
      send(event(e));
    }
    cursor = key(e);
    ConveneException lost = lostAccess(e);
    if (lost != null) {
      fail(ErrorMapping.toStatus(lost, method));
      return false;
    }
    if (ends(e) && !endAtEnd) {
      // Send what committed with the end, then stop.
      endAtEnd = true;
      replaying = true;
    }
    return !closed;
  }

  private void send(R message) {
    lastSendNanos = System.nanoTime();
    out.onNext(message);
  }

  private void complete() {
    if (close()) {
      out.onCompleted();
    }
  }

  private void fail(io.grpc.StatusRuntimeException e) {
    if (close()) {
      out.onError(e);
    }
  }

  private void cancelled() {
    close();
  }

  private boolean close() {
    synchronized (this) {
      if (closed) {
        return false;
      }
      closed = true;
      live.clear();
    }
    hub.closed(this);
    return true;
  }
}
