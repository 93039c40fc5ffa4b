package dev.convene.server.grpc;

import dev.convene.v1.ErrorReason;
import io.grpc.Status;
import java.util.Map;

/** A domain failure with the gRPC code and stable ErrorInfo reason it is reported as. */
public class ConveneException extends RuntimeException {
  private final Status.Code code;
  private final ErrorReason reason;
  private final String field;
  private final Map<String, String> metadata;
  private final java.time.Duration retryDelay;

  private ConveneException(Status.Code code, ErrorReason reason, String message, String field, Map<String, String> metadata) {
    this(code, reason, message, field, metadata, null);
  }

  private ConveneException(Status.Code code, ErrorReason reason, String message, String field,
      Map<String, String> metadata, java.time.Duration retryDelay) {
    super(message, null, false, false);
    this.code = code;
    this.reason = reason;
    this.field = field;
    this.metadata = Map.copyOf(metadata);
    this.retryDelay = retryDelay;
  }

  public Status.Code code() { return code; }
  public ErrorReason reason() { return reason; }
  /** The request field a bad-input error is about, or null. */
  public String field() { return field; }
  public Map<String, String> metadata() { return metadata; }
  /** How long the client should wait before trying again (a RetryInfo), or null. */
  public java.time.Duration retryDelay() { return retryDelay; }

  public static ConveneException notFound(ErrorReason reason, String message) {
    return new ConveneException(Status.Code.NOT_FOUND, reason, message, null, Map.of());
  }

  public static ConveneException alreadyExists(ErrorReason reason, String message) {
    return new ConveneException(Status.Code.ALREADY_EXISTS, reason, message, null, Map.of());
  }

  public static ConveneException failedPrecondition(ErrorReason reason, String message, Map<String, String> metadata) {
    return new ConveneException(Status.Code.FAILED_PRECONDITION, reason, message, null, metadata);
  }

  public static ConveneException resourceExhausted(ErrorReason reason, String message) {
    return new ConveneException(Status.Code.RESOURCE_EXHAUSTED, reason, message, null, Map.of());
  }

  /** RESOURCE_EXHAUSTED with a RetryInfo saying when trying again can succeed. */
  public static ConveneException resourceExhausted(ErrorReason reason, String message, java.time.Duration retryDelay) {
    return new ConveneException(Status.Code.RESOURCE_EXHAUSTED, reason, message, null, Map.of(), retryDelay);
  }

  /** A dependency that may come back (UNAVAILABLE): safe to retry. */
  public static ConveneException unavailable(ErrorReason reason, String message) {
    return new ConveneException(Status.Code.UNAVAILABLE, reason, message, null, Map.of());
  }

  public static ConveneException invalidArgument(ErrorReason reason, String field, String message) {
    return new ConveneException(Status.Code.INVALID_ARGUMENT, reason, message, field, Map.of());
  }

  public static ConveneException unauthenticated(ErrorReason reason, String message) {
    return new ConveneException(Status.Code.UNAUTHENTICATED, reason, message, null, Map.of());
  }

  public static ConveneException permissionDenied(ErrorReason reason, String message) {
    return new ConveneException(Status.Code.PERMISSION_DENIED, reason, message, null, Map.of());
  }

  /** The outcome of the call cannot be known (UNKNOWN): it may or may not have been applied. */
  public static ConveneException unknown(ErrorReason reason, String message) {
    return new ConveneException(Status.Code.UNKNOWN, reason, message, null, Map.of());
  }

  public static ConveneException deadlineExceeded(ErrorReason reason, String message) {
    return new ConveneException(Status.Code.DEADLINE_EXCEEDED, reason, message, null, Map.of());
  }
}
