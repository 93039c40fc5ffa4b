package dev.convene.server.grpc;

import io.grpc.stub.StreamObserver;

/** The one way a unary handler answers: its response, then completion. */
public final class Unary {
  private Unary() {}

  public static <T> void reply(StreamObserver<T> observer, T response) {
    observer.onNext(response);
    observer.onCompleted();
  }
}
