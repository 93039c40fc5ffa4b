package dev.convene.server.grpc;

import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.StatusRuntimeException;

/**
 * Catches whatever a handler (or an interceptor inside this one) throws and closes the call with
 * the mapped status, so no exception escapes as UNKNOWN and no stack trace reaches a client.
 */
public final class ErrorMappingInterceptor implements ServerInterceptor {
  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    String method = call.getMethodDescriptor().getFullMethodName();
    ServerCall.Listener<Q> delegate;
    try {
      delegate = next.startCall(call, headers);
    } catch (RuntimeException e) {
      close(call, e, method);
      return new ServerCall.Listener<>() {};
    }
    return new SimpleForwardingServerCallListener<>(delegate) {
      @Override
      public void onMessage(Q message) {
        try {
          super.onMessage(message);
        } catch (RuntimeException e) {
          close(call, e, method);
        }
      }

      @Override
      public void onHalfClose() {
        try {
          super.onHalfClose();
        } catch (RuntimeException e) {
          close(call, e, method);
        }
      }
    };
  }

  private static void close(ServerCall<?, ?> call, RuntimeException e, String method) {
    StatusRuntimeException mapped = ErrorMapping.toStatus(e, method);
    Metadata trailers = mapped.getTrailers() != null ? mapped.getTrailers() : new Metadata();
    try {
      call.close(mapped.getStatus(), trailers);
    } catch (IllegalStateException alreadyClosed) {
      // The handler closed the call before throwing; nothing more to send.
    }
  }
}
