package dev.convene.server.event;

import dev.convene.server.platform.Threads;
import dev.convene.server.auth.Principal;
import dev.convene.server.auth.Revocations;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.platform.EventLog;
import dev.convene.server.platform.EventRow;
import dev.convene.server.platform.EventSignal;
import dev.convene.v1.ErrorReason;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This replica's one reader of the event log for all its watch streams. For each tenant that has
 * streams open it keeps one cursor and reads the log once per signal ({@link EventSignal}: a commit
 * here, or another replica's NOTIFY), handing each event to that tenant's streams; so a thousand
 * streams cost one query per change, not a thousand, and no stream holds a database connection.
 * It reads only up to the oldest transaction still running (see {@link EventLog#follow}), and
 * retries shortly while a signalled event is not readable yet. Every heartbeat interval it also
 * reads every tenant again, which finds events whose signal was lost, heartbeats idle streams, and
 * ends the streams whose credential expired or was revoked.
 */
final class EventHub implements EventSignal.Listener, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(EventHub.class);
  private static final int PAGE = 500;

  /** One tenant's read position and streams. {@code cursor} and {@code retry} belong to the reader thread. */
  private static final class Tail {
    final String tenantId;
    final Set<Watcher<?>> watchers = ConcurrentHashMap.newKeySet();
    long cursor;
    long retryMillis;
    // Guarded by this.
    long signalled;
    boolean scheduled;

    Tail(String tenantId, long cursor) {
      this.tenantId = tenantId;
      this.cursor = cursor;
    }
  }

  private final EventLog events;
  private final Revocations revocations;
  private final java.time.Clock clock;
  private final EventFeature.Settings settings;
  private final Map<String, Tail> tails = new ConcurrentHashMap<>();
  private final AtomicInteger open = new AtomicInteger();
  private final ScheduledExecutorService reader =
      Executors.newSingleThreadScheduledExecutor(Threads.numbered("convene-event-reader"));
  /** Runs the streams' drains (sending, and replay reads): small, as each drain is short. */
  private final ExecutorService senders = Executors.newFixedThreadPool(4, Threads.numbered("convene-stream"));
  private volatile boolean stopping;

  EventHub(EventLog events, Revocations revocations, java.time.Clock clock, EventFeature.Settings settings) {
    this.events = events;
    this.revocations = revocations;
    this.clock = clock;
    this.settings = settings;
  }

  /** Starts the heartbeat and periodic re-read. */
  void start() {
    long ms = settings.heartbeat().toMillis();
    reader.scheduleWithFixedDelay(this::tick, ms, ms, TimeUnit.MILLISECONDS);
  }

  java.time.Clock clock() {
    return clock;
  }

  EventFeature.Settings settings() {
    return settings;
  }

  java.util.concurrent.Executor senders() {
    return senders;
  }

  /** Open streams on this replica. */
  int openStreams() {
    return open.get();
  }

  /** Takes a permit for one more stream; RESOURCE_EXHAUSTED (TOO_MANY_STREAMS) at the limit or while the server stops. */
  private void admit() {
    if (stopping || open.incrementAndGet() > settings.maxStreams()) {
      if (!stopping) {
        open.decrementAndGet();
      }
      throw ConveneException.resourceExhausted(ErrorReason.TOO_MANY_STREAMS,
          "this server holds its maximum of open streams; retry with backoff");
    }
  }

  /** Opens {@code w}: takes a stream permit, adds it to the live feed, starts its replay. */
  void open(Watcher<?> w) {
    admit();
    try {
      register(w);
    } catch (RuntimeException e) {
      open.decrementAndGet();
      throw e;
    }
    w.start();
  }

  /** {@code w} ended: its permit and its place in the feed are given back. */
  void closed(Watcher<?> w) {
    unregister(w);
    open.decrementAndGet();
  }

  /**
   * Adds {@code w} to its tenant's live feed. Everything committed after this returns reaches
   * {@code w}; what came before it reads from the log itself.
   */
  private void register(Watcher<?> w) {
    // A new tenant's cursor starts where the log is final; the stream itself reads what lies before.
    long head = events.readableHead();
    synchronized (tails) {
      tails.computeIfAbsent(w.tenantId, t -> new Tail(t, head)).watchers.add(w);
    }
  }

  private void unregister(Watcher<?> w) {
    synchronized (tails) {
      Tail t = tails.get(w.tenantId);
      if (t != null && t.watchers.remove(w) && t.watchers.isEmpty()) {
        tails.remove(w.tenantId);
      }
    }
  }

  @Override
  public void grew(String tenantId, long position) {
    Tail t = tails.get(tenantId);
    if (t != null) {
      signal(t, position);
    }
  }

  @Override
  public void missed() {
    tails.values().forEach(t -> signal(t, 0));
  }

  private void signal(Tail t, long position) {
    if (stopping) {
      return;
    }
    synchronized (t) {
      t.signalled = Math.max(t.signalled, position);
      if (t.scheduled) {
        return;
      }
      t.scheduled = true;
    }
    try {
      reader.execute(() -> read(t));
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // Stopped meanwhile: its streams are ending.
    }
  }

  /** Reads {@code t}'s new events and hands them to its streams. Reader thread. */
  private void read(Tail t) {
    synchronized (t) {
      t.scheduled = false;
    }
    if (t.watchers.isEmpty()) {
      return;
    }
    List<EventRow> rows;
    try {
      rows = events.follow(t.tenantId, t.cursor, PAGE);
    } catch (RuntimeException e) {
      log.warn("Could not read new events for the open streams: {}; retrying", e.getClass().getSimpleName());
      later(t, 1000);
      return;
    }
    for (EventRow row : rows) {
      for (Watcher<?> w : t.watchers) {
        w.offer(row);
      }
      t.cursor = row.position();
    }
    long signalled;
    synchronized (t) {
      signalled = t.signalled;
    }
    if (rows.size() == PAGE) {
      t.retryMillis = 0;
      signal(t, 0);
    } else if (t.cursor < signalled && rows.isEmpty()) {
      // Committed, but an older transaction is still running: not readable yet.
      t.retryMillis = t.retryMillis == 0 ? 5 : Math.min(t.retryMillis * 2, 200);
      later(t, t.retryMillis);
    } else if (t.cursor < signalled) {
      t.retryMillis = 0;
      later(t, 5);
    } else {
      t.retryMillis = 0;
    }
  }

  private void later(Tail t, long ms) {
    synchronized (t) {
      if (t.scheduled) {
        return;
      }
      t.scheduled = true;
    }
    try {
      reader.schedule(() -> read(t), ms, TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // Stopped meanwhile.
    }
  }

  private void tick() {
    long idle = settings.heartbeat().toNanos() * 9 / 10;
    java.time.Instant now = clock.instant();
    for (Tail t : tails.values()) {
      signal(t, 0);
      for (Watcher<?> w : t.watchers) {
        w.tick(idle, now);
      }
    }
    endRevoked();
  }

  /**
   * Ends the streams whose caller's API key or user credentials were revoked since they opened: a
   * stream may not outlive what authenticated it. Two queries per heartbeat for all streams.
   */
  private void endRevoked() {
    List<Watcher<?>> open = tails.values().stream().<Watcher<?>>flatMap(t -> t.watchers.stream())
        .filter(w -> !w.closed()).toList();
    if (open.isEmpty()) {
      return;
    }
    Set<Principal> revoked;
    try {
      revoked = revocations.revoked(open.stream().map(w -> w.caller).collect(java.util.stream.Collectors.toSet()));
    } catch (RuntimeException e) {
      log.warn("Could not check the open streams' credentials: {}; checking again next heartbeat",
          e.getClass().getSimpleName());
      return;
    }
    if (revoked.isEmpty()) {
      return;
    }
    ConveneException e = ConveneException.unauthenticated(ErrorReason.CREDENTIAL_REVOKED,
        "the credential was revoked");
    open.stream().filter(w -> revoked.contains(w.caller)).forEach(w -> w.end(e));
  }

  /** Ends every open stream with UNAVAILABLE, so its client resumes on another replica. */
  void endAll() {
    stopping = true;
    ConveneException e = ConveneException.unavailable(ErrorReason.SERVER_SHUTTING_DOWN,
        "the server is shutting down; resume the stream from the last position received");
    tails.values().forEach(t -> t.watchers.forEach(w -> w.end(e)));
  }

  @Override
  public void close() {
    endAll();
    reader.shutdownNow();
    senders.shutdown();
    try {
      senders.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
