package dev.convene.server.grpc;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import dev.convene.v1.ErrorReason;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Turns any exception a handler throws into a {@code google.rpc.Status} with an ErrorInfo. */
public final class ErrorMapping {
  private static final Logger log = LoggerFactory.getLogger(ErrorMapping.class);
  /** The ErrorInfo domain of every Convene error. */
  public static final String DOMAIN = "convene.dev";

  private ErrorMapping() {}

  /** Maps {@code t}, logging once at a level that fits its kind. */
  public static StatusRuntimeException toStatus(Throwable t, String method) {
    if (t instanceof StatusRuntimeException sre) {
      return sre;
    }
    if (t instanceof ConveneException ce) {
      // Client-side failures: one line with the code and reason, never the request or message.
      log.info("{} failed: {} {}", method, ce.code(), ce.reason());
      return build(ce.code().value(), ce.getMessage(), ce.reason(), ce.metadata(), ce.field() == null
          ? List.of()
          : List.of(BadRequest.FieldViolation.newBuilder()
              .setField(ce.field()).setDescription(ce.getMessage()).build()), ce.retryDelay());
    }
    if (isTimeout(t)) {
      log.info("{} failed: DEADLINE_EXCEEDED in the database", method);
      return build(Code.DEADLINE_EXCEEDED_VALUE, "the call's deadline passed while its database work ran",
          ErrorReason.DEADLINE_EXCEEDED, Map.of(), List.of());
    }
    if (isDatabaseUnavailable(t)) {
      log.warn("{} failed: database unavailable: {}", method, rootMessage(t));
      return build(Code.UNAVAILABLE_VALUE, "the database is unavailable; retry later",
          ErrorReason.DATABASE_UNAVAILABLE, Map.of(), List.of());
    }
    if (isDataException(t)) {
      // The contract's rules should have caught it; the request is still at fault, not the server.
      log.warn("{} failed: INVALID_ARGUMENT from the database (SQL state {}); a contract rule is missing",
          method, sqlStates(t).findFirst().orElse(""));
      return build(Code.INVALID_ARGUMENT_VALUE, "a value of the request is out of range or not allowed",
          ErrorReason.INVALID_ARGUMENT, Map.of(), List.of());
    }
    log.error("{} failed with an unexpected error", method, t);
    return build(Code.INTERNAL_VALUE, "internal error", ErrorReason.INTERNAL, Map.of(), List.of());
  }

  /** INVALID_ARGUMENT with one field violation per entry. */
  public static StatusRuntimeException invalidArgument(List<BadRequest.FieldViolation> violations) {
    String message = violations.isEmpty() ? "invalid request"
        : violations.get(0).getField() + ": " + violations.get(0).getDescription();
    return build(Code.INVALID_ARGUMENT_VALUE, message, ErrorReason.INVALID_ARGUMENT, Map.of(), violations);
  }

  static StatusRuntimeException build(int code, String message, ErrorReason reason,
      Map<String, String> metadata, List<BadRequest.FieldViolation> violations) {
    return build(code, message, reason, metadata, violations, null);
  }

  static StatusRuntimeException build(int code, String message, ErrorReason reason,
      Map<String, String> metadata, List<BadRequest.FieldViolation> violations, java.time.Duration retryDelay) {
    com.google.rpc.Status.Builder status = com.google.rpc.Status.newBuilder()
        .setCode(code)
        .setMessage(message)
        .addDetails(Any.pack(ErrorInfo.newBuilder()
            .setReason(reason.name()).setDomain(DOMAIN).putAllMetadata(metadata).build()));
    if (!violations.isEmpty()) {
      status.addDetails(Any.pack(BadRequest.newBuilder().addAllFieldViolations(violations).build()));
    }
    if (retryDelay != null) {
      status.addDetails(Any.pack(com.google.rpc.RetryInfo.newBuilder()
          .setRetryDelay(com.google.protobuf.Duration.newBuilder()
              .setSeconds(retryDelay.getSeconds()).setNanos(retryDelay.getNano()))
          .build()));
    }
    return StatusProto.toStatusRuntimeException(status.build());
  }

  /**
   * True when PostgreSQL cancelled a statement for the timeouts the unit of work derived from the
   * call's deadline: statement_timeout (57014) or lock_timeout (55P03).
   */
  static boolean isTimeout(Throwable t) {
    return sqlStates(t).anyMatch(state -> state.equals("57014") || state.equals("55P03"));
  }

  /** PostgreSQL's data exceptions (class 22): a value it cannot store, such as a NUL character. */
  static boolean isDataException(Throwable t) {
    return sqlStates(t).anyMatch(state -> state.startsWith("22"));
  }

  /** The SQL states of the SQLExceptions in {@code t}'s cause chain, outermost first. */
  public static Stream<String> sqlStates(Throwable t) {
    Stream.Builder<String> states = Stream.builder();
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof SQLException sql && sql.getSQLState() != null) {
        states.add(sql.getSQLState());
      }
    }
    return states.build();
  }

  /**
   * True when the cause is the database being unreachable: the pool timing out on a connection,
   * or PostgreSQL's connection-exception (08xxx) and shutdown (57P0x) SQL states.
   */
  public static boolean isDatabaseUnavailable(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof SQLTransientConnectionException) {
        return true;
      }
    }
    return sqlStates(t).anyMatch(state -> state.startsWith("08") || state.startsWith("57P"));
  }

  private static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    return c.getClass().getSimpleName();
  }
}
