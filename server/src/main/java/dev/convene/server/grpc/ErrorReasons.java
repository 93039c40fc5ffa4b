package dev.convene.server.grpc;

/** The stable ErrorInfo reasons Convene returns; clients switch on these, so never rename one. */
public final class ErrorReasons {
  public static final String DOMAIN = "convene.dev";

  public static final String INVALID_ARGUMENT = "INVALID_ARGUMENT";
  public static final String INVALID_PAGE_TOKEN = "INVALID_PAGE_TOKEN";
  public static final String MISSING_CREDENTIAL = "MISSING_CREDENTIAL";
  public static final String INVALID_CREDENTIAL = "INVALID_CREDENTIAL";
  public static final String DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE";
  public static final String INTERNAL = "INTERNAL";

  public static final String SESSION_NOT_FOUND = "SESSION_NOT_FOUND";
  public static final String EXTERNAL_REF_ALREADY_EXISTS = "EXTERNAL_REF_ALREADY_EXISTS";
  public static final String INVALID_SESSION_TRANSITION = "INVALID_SESSION_TRANSITION";
  public static final String SESSION_ENDED = "SESSION_ENDED";
  public static final String SESSION_FULL = "SESSION_FULL";
  public static final String ROSTER_FULL = "ROSTER_FULL";
  public static final String PARTICIPANT_NOT_FOUND = "PARTICIPANT_NOT_FOUND";
  public static final String PARTICIPANT_ALREADY_EXISTS = "PARTICIPANT_ALREADY_EXISTS";
  public static final String PARTICIPANT_NOT_PRESENT = "PARTICIPANT_NOT_PRESENT";

  private ErrorReasons() {}
}
