package dev.convene.server.grpc;

import dev.convene.server.platform.Threads;
import com.google.rpc.Code;
import dev.convene.v1.ErrorReason;
import io.grpc.Context;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.StatusRuntimeException;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Which calls run, and on which threads.
 *
 * <p>gRPC looks every call up on the transport's own thread (the server's executor is direct) and
 * asks {@link #getExecutor} where to run it: no thread hop before a call is placed. Health checks
 * are answered right there, and reflection on a small pool of its own, so neither ever waits
 * behind requests. A service call takes one of {@code threads + queue} permits and runs on the request
 * threads (as many as database connections); without a free permit it is answered at once with
 * RESOURCE_EXHAUSTED ({@code SERVER_OVERLOADED}, safe to retry with backoff: nothing ran) instead of
 * waiting in an unbounded queue. A call whose deadline passed or whose client went away while it
 * waited for a thread is not run at all. A server-streaming call gives its permit back once its
 * handler returned: a stream that stays open holds no request thread.
 */
public final class Admission implements ServerCallExecutorSupplier, ServerInterceptor, AutoCloseable {
  /** Set by {@link #getExecutor} on the headers of a call that found no permit; removed from what clients send. */
  private static final Metadata.Key<String> SHED = Metadata.Key.of("convene-internal-shed", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<String> ADMITTED =
      Metadata.Key.of("convene-internal-admitted", Metadata.ASCII_STRING_MARSHALLER);
  /** Services outside admission: health, answered on the transport thread, and reflection. */
  private static final String HEALTH = "grpc.health.v1.Health";
  private static final Set<String> REFLECTION = Set.of("grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection");

  private final ExecutorService reflection;
  private final ExecutorService requests;
  private final Semaphore permits;
  private final int capacity;

  /** {@code threads} request threads and room for {@code queue} more calls waiting for one. */
  public Admission(int threads, int queue) {
    this.capacity = threads + queue;
    this.permits = new Semaphore(capacity);
    this.reflection = pool("convene-reflection", 1);
    this.requests = pool("convene-request", threads);
  }

  private static ExecutorService pool(String name, int threads) {
    // Unbounded queues: the permits bound what waits on the request threads; reflection is rare.
    return new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
        Threads.numbered(name));
  }


  /** Calls admitted and not yet finished. */
  public int inFlight() {
    return capacity - permits.availablePermits();
  }

  @Override
  public <Q, R> Executor getExecutor(ServerCall<Q, R> call, Metadata headers) {
    headers.removeAll(SHED);
    headers.removeAll(ADMITTED);
    String service = call.getMethodDescriptor().getServiceName();
    if (HEALTH.equals(service)) {
      return null;
    }
    if (REFLECTION.contains(service)) {
      return reflection;
    }
    if (!permits.tryAcquire()) {
      headers.put(SHED, "1");
      return null; // answered at once, on the transport thread
    }
    headers.put(ADMITTED, "1");
    return requests;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    if (headers.containsKey(SHED)) {
      StatusRuntimeException e = ErrorMapping.build(Code.RESOURCE_EXHAUSTED_VALUE,
          "the server is at capacity; retry with backoff", ErrorReason.SERVER_OVERLOADED, Map.of(), java.util.List.of());
      call.close(e.getStatus(), e.getTrailers());
      return new ServerCall.Listener<>() {};
    }
    if (!headers.containsKey(ADMITTED)) {
      return next.startCall(call, headers); // health and reflection
    }
    AtomicBoolean released = new AtomicBoolean();
    Runnable release = () -> {
      if (released.compareAndSet(false, true)) {
        permits.release();
      }
    };
    // A server-streaming call holds its request thread only while its handler runs; the stream
    // then lives on without one (watch streams send from their own small pool).
    boolean streaming = call.getMethodDescriptor().getType() == io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING;
    ServerCall.Listener<Q> listener;
    try {
      listener = next.startCall(call, headers);
    } catch (RuntimeException e) {
      release.run();
      throw e;
    }
    return new SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onHalfClose() {
        // The client gave up (deadline or cancel) while this call waited for a thread: its stream
        // is already closed, and its work must not happen behind its back.
        if (Context.current().isCancelled()) {
          release.run();
          return;
        }
        try {
          super.onHalfClose();
        } finally {
          if (streaming) {
            release.run();
          }
        }
      }

      @Override
      public void onComplete() {
        release.run();
        super.onComplete();
      }

      @Override
      public void onCancel() {
        release.run();
        super.onCancel();
      }
    };
  }

  /** Stops both pools, letting running calls finish for up to ten seconds. */
  @Override
  public void close() {
    for (ExecutorService pool : new ExecutorService[] {requests, reflection}) {
      pool.shutdown();
      try {
        pool.awaitTermination(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
