package dev.convene.server.provider;

/**
 * A provider call that failed. {@link Kind#UNAVAILABLE}: the provider could not be reached, timed
 * out or answered 5xx (worth retrying); {@link Kind#REJECTED}: it refused the request (bad
 * credentials, invalid parameters, quota). The message names what failed, never a secret.
 */
public final class ProviderException extends RuntimeException {
  public enum Kind { UNAVAILABLE, REJECTED }

  private final Kind kind;

  public ProviderException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }
}
