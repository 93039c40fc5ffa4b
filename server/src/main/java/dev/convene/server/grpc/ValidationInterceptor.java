package dev.convene.server.grpc;

import build.buf.protovalidate.ValidationResult;
import build.buf.protovalidate.Validator;
import build.buf.protovalidate.exceptions.ExecutionException;
import build.buf.protovalidate.exceptions.ValidationException;
import build.buf.validate.FieldPath;
import build.buf.validate.FieldPathElement;
import com.google.protobuf.Message;
import com.google.rpc.BadRequest;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;

/**
 * Enforces the protovalidate ({@code buf.validate}) rules of the contract on every request, so
 * no handler sees a message that breaks them: INVALID_ARGUMENT with one BadRequest field
 * violation per broken rule.
 */
public final class ValidationInterceptor implements ServerInterceptor {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ValidationInterceptor.class);
  /** The field a violation names when it concerns the whole request. */
  static final String REQUEST = "request";
  private final Validator validator;

  public ValidationInterceptor(Validator validator) {
    this.validator = validator;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    return new SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
      private boolean rejected;

      @Override
      public void onMessage(Q message) {
        if (rejected) {
          return;
        }
        List<BadRequest.FieldViolation> violations = violations((Message) message);
        if (!violations.isEmpty()) {
          rejected = true;
          // Field names only: a map key is the client's data (a phone number, say), never logged.
          log.info("{} failed: INVALID_ARGUMENT on {}", call.getMethodDescriptor().getFullMethodName(),
              violations.stream().map(v -> withoutKeys(v.getField())).distinct().toList());
          StatusRuntimeException e = ErrorMapping.invalidArgument(violations);
          call.close(e.getStatus(), e.getTrailers());
          return;
        }
        super.onMessage(message);
      }

      @Override
      public void onHalfClose() {
        if (!rejected) {
          super.onHalfClose();
        }
      }
    };
  }

  /**
   * The broken rules of {@code message}, each naming its field path: first its shape
   * ({@link ShapeCheck}: list sizes, timestamp and duration ranges), and only when that holds,
   * protovalidate's rules.
   */
  public List<BadRequest.FieldViolation> violations(Message message) {
    List<build.buf.validate.Violation> shape = ShapeCheck.violations(message);
    if (!shape.isEmpty()) {
      return shape.stream().map(ValidationInterceptor::fieldViolation).toList();
    }
    ValidationResult result;
    try {
      result = validator.validate(message);
    } catch (ExecutionException e) {
      // A rule that could not be evaluated on this input: the input is at fault, not the server.
      return List.of(BadRequest.FieldViolation.newBuilder().setField(REQUEST).setReason("request.evaluable")
          .setDescription("the request could not be validated").build());
    } catch (ValidationException e) {
      throw new IllegalStateException("protovalidate rules failed to compile", e);
    }
    List<BadRequest.FieldViolation> out = new ArrayList<>();
    for (var violation : result.getViolations()) {
      out.add(fieldViolation(violation.toProto()));
    }
    return out;
  }

  private static BadRequest.FieldViolation fieldViolation(build.buf.validate.Violation v) {
    return BadRequest.FieldViolation.newBuilder()
        .setField(fieldName(v))
        .setDescription(v.getMessage())
        .setReason(v.getRuleId())
        .build();
  }

  /**
   * A field path cut before its first map key ({@code metadata["+15550100"].x} becomes
   * {@code metadata[…]}): what may be logged. Field names never contain {@code ["}, keys may.
   */
  static String withoutKeys(String field) {
    int key = field.indexOf("[\"");
    return key < 0 ? field : field.substring(0, key) + "[…]";
  }

  /**
   * The dotted field path of a violation. Message-level CEL rules carry no path; their rule ids
   * in the contract start with the field they are about ("scheduled_end_time.after_start").
   */
  static String fieldName(build.buf.validate.Violation v) {
    FieldPath path = v.getField();
    if (path.getElementsCount() == 0) {
      String id = v.getRuleId();
      int dot = id.indexOf('.');
      return dot > 0 ? id.substring(0, dot) : id;
    }
    StringBuilder sb = new StringBuilder();
    for (FieldPathElement e : path.getElementsList()) {
      if (sb.length() > 0) {
        sb.append('.');
      }
      sb.append(e.getFieldName());
      switch (e.getSubscriptCase()) {
        case INDEX -> sb.append('[').append(e.getIndex()).append(']');
        case STRING_KEY -> sb.append("[\"").append(e.getStringKey()).append("\"]");
        case INT_KEY -> sb.append('[').append(e.getIntKey()).append(']');
        case UINT_KEY -> sb.append('[').append(e.getUintKey()).append(']');
        case BOOL_KEY -> sb.append('[').append(e.getBoolKey()).append(']');
        default -> { }
      }
    }
    return sb.toString();
  }
}
