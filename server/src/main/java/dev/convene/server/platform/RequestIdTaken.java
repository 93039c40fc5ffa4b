package dev.convene.server.platform;

/**
 * Thrown inside a create's transaction when another create with the same request id inserted
 * first (its insert gave way): the caller then answers with that create's result.
 */
public final class RequestIdTaken extends RuntimeException {
  public RequestIdTaken() {
    super(null, null, false, false);
  }
}
