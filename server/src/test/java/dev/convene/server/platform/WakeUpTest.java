package dev.convene.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Coalesced wake-ups never miss a request: a run always follows the last one. */
class WakeUpTest {
  @Test
  void aRunAlwaysFollowsTheLastRequest_andABurstCostsFewRuns() throws Exception {
    int trials = 500;
    int threads = 4;
    int perThread = 50;
    int lost = 0;
    long runs = 0;
    ExecutorService executor = Executors.newSingleThreadExecutor();
    ExecutorService requesters = Executors.newFixedThreadPool(threads);
    try {
      for (int trial = 0; trial < trials; trial++) {
        AtomicLong written = new AtomicLong();
        AtomicLong seen = new AtomicLong();
        AtomicLong ran = new AtomicLong();
        WakeUp wake = new WakeUp(() -> {
          seen.set(written.get());
          ran.incrementAndGet();
          java.util.concurrent.locks.LockSupport.parkNanos(20_000); // a run takes time (a query)
        });
        CountDownLatch go = new CountDownLatch(1);
        List<java.util.concurrent.Future<?>> done = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
          done.add(requesters.submit(() -> {
            go.await();
            for (int i = 0; i < perThread; i++) {
              written.incrementAndGet();
              wake.request(executor);
            }
            return null;
          }));
        }
        go.countDown();
        for (var f : done) {
          f.get(10, TimeUnit.SECONDS);
        }
        executor.submit(() -> {}).get(10, TimeUnit.SECONDS); // every run queued before this has finished
        if (seen.get() != written.get()) {
          lost++;
        }
        runs += ran.get();
      }
    } finally {
      executor.shutdownNow();
      requesters.shutdownNow();
    }
    assertEquals(0, lost, "trials whose last request was not followed by a run");
    assertTrue(runs < (long) trials * threads * perThread, "no coalescing: " + runs + " runs");
    System.out.printf("WakeUpTest: %d trials, %d requests, %d runs, %d lost%n", trials,
        (long) trials * threads * perThread, runs, lost);
  }

  @Test
  void noExecutor_orOneShutDown_runsNothing_andLaterRequestsStillRun() throws Exception {
    AtomicLong ran = new AtomicLong();
    WakeUp wake = new WakeUp(ran::incrementAndGet);
    wake.request(null);
    ExecutorService stopped = Executors.newSingleThreadExecutor();
    stopped.shutdown();
    wake.request(stopped);
    ExecutorService live = Executors.newSingleThreadExecutor();
    try {
      wake.request(live);
      live.submit(() -> {}).get(10, TimeUnit.SECONDS);
    } finally {
      live.shutdownNow();
    }
    assertEquals(1, ran.get(), "a refused request does not leave the wake-up stuck as queued");
  }
}
