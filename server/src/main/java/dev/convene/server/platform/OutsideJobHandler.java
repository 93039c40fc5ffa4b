package dev.convene.server.platform;

/**
 * A job that calls something outside Convene (a media provider, Twilio SMS): the runner calls
 * {@link #runOutside} with no transaction open, so no database connection waits on the outside
 * world; the handler opens its own short transactions through the unit of work. It must be
 * idempotent: after a crash, or a lease that ran out, it runs again.
 */
public interface OutsideJobHandler extends JobHandler {
  void runOutside(String tenantId, String subjectId);

  @Override
  default void run(Tx tx, String subjectId) {
    throw new UnsupportedOperationException(kind() + " runs outside a transaction");
  }
}
