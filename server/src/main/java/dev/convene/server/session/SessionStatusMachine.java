package dev.convene.server.session;

import java.util.Map;
import java.util.Set;

/** DESIGN.md's session status machine: which moves are legal, which statuses are terminal. */
final class SessionStatusMachine {
  static final String SCHEDULED = "SCHEDULED";
  static final String WAITING = "WAITING";
  static final String IN_PROGRESS = "IN_PROGRESS";
  static final String COMPLETED = "COMPLETED";
  static final String CANCELLED = "CANCELLED";
  static final String NO_SHOW = "NO_SHOW";
  static final String FAILED = "FAILED";

  private static final Map<String, Set<String>> MOVES = Map.of(
      SCHEDULED, Set.of(WAITING, IN_PROGRESS, CANCELLED, NO_SHOW, FAILED),
      WAITING, Set.of(IN_PROGRESS, CANCELLED, NO_SHOW, FAILED),
      IN_PROGRESS, Set.of(COMPLETED, FAILED),
      COMPLETED, Set.of(),
      CANCELLED, Set.of(),
      NO_SHOW, Set.of(),
      FAILED, Set.of());

  private SessionStatusMachine() {}

  static boolean allowed(String from, String to) {
    return MOVES.getOrDefault(from, Set.of()).contains(to);
  }

  static boolean terminal(String status) {
    return MOVES.getOrDefault(status, Set.of()).isEmpty();
  }
}
