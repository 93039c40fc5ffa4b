package dev.convene.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Shutdown runs its steps in order, each to its end, once, and a failing step does not skip the rest. */
class ShutdownSequenceTest {
  @Test
  void stepsRunInOrder_once_andAFailureDoesNotSkipTheRest() {
    List<String> ran = new ArrayList<>();
    Shutdown shutdown = new Shutdown()
        .then("drain", () -> ran.add("drain"))
        .then("jobs", () -> {
          ran.add("jobs");
          throw new IllegalStateException("stuck");
        })
        .then("executor", () -> ran.add("executor"))
        .then("database", () -> ran.add("database"));
    shutdown.run();
    shutdown.run();
    assertEquals(List.of("drain", "jobs", "executor", "database"), ran);
  }
}
