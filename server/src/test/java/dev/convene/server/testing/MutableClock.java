package dev.convene.server.testing;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicReference;

/** A clock tests move by hand. */
public final class MutableClock extends Clock {
  private final AtomicReference<Instant> now;
  private volatile boolean ticking;

  public MutableClock(Instant start) {
    this.now = new AtomicReference<>(start);
  }

  public void advance(Duration d) {
    now.updateAndGet(i -> i.plus(d));
  }

  public void set(Instant i) {
    now.set(i);
  }

  /** From now on every read returns a later instant (one microsecond on), like a real clock. */
  public void tick() {
    ticking = true;
  }

  @Override
  public Instant instant() {
    return ticking ? now.updateAndGet(i -> i.plusNanos(1000)) : now.get();
  }

  @Override
  public ZoneId getZone() {
    return ZoneOffset.UTC;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    return this;
  }
}
