package dev.convene.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The commit's side of the signal: telling followers never fails a change that is already
 * committed (a follower that has just stopped throws when asked to read), and the others still hear.
 */
class EventSignalTest {
  @Test
  void aFollowerThatThrows_neitherFailsTheCommitNorKeepsTheOthersFromHearing() {
    EventSignal signal = new EventSignal(() -> {
      throw new java.sql.SQLException("no database in this test");
    });
    List<String> heard = new ArrayList<>();
    signal.subscribe(new EventSignal.Listener() {
      @Override
      public void grew(String tenantId, long position) {
        throw new java.util.concurrent.RejectedExecutionException("stopped");
      }

      @Override
      public void missed() {}
    });
    signal.subscribe(new EventSignal.Listener() {
      @Override
      public void grew(String tenantId, long position) {
        heard.add(tenantId + "@" + position);
      }

      @Override
      public void missed() {}
    });
    signal.committed("ten_a", 42); // throws without the guard
    assertEquals(List.of("ten_a@42"), heard);
    signal.close();
  }
}
