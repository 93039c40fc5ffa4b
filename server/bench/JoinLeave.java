import dev.convene.v1.JoinSessionRequest;
import dev.convene.v1.LeaveSessionRequest;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Load for the presence path that ghz cannot make (it calls one method): each worker owns one
 * roster user of one shared session and alternates JoinSession and LeaveSession, so every call
 * changes state under the session's row lock. Prints one line: calls/s, p50, p95, p99, errors.
 * Usage: java -cp <client classpath> JoinLeave.java host:port key session_id users(=workers) total
 */
public final class JoinLeave {
  public static void main(String[] args) throws Exception {
    String[] hp = args[0].split(":");
    String key = args[1];
    String session = args[2];
    int workers = Integer.parseInt(args[3]);
    int total = Integer.parseInt(args[4]);
    ManagedChannel channel = NettyChannelBuilder.forAddress(hp[0], Integer.parseInt(hp[1])).usePlaintext().build();
    Metadata auth = new Metadata();
    auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
    var stub = SessionServiceGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
    // Warm up: one join and leave per user.
    for (int w = 0; w < workers; w++) {
      String user = "u" + w;
      stub.joinSession(JoinSessionRequest.newBuilder().setSessionId(session).setUserId(user).build());
      stub.leaveSession(LeaveSessionRequest.newBuilder().setSessionId(session).setUserId(user).build());
    }
    long[] latencies = new long[total];
    AtomicInteger next = new AtomicInteger();
    AtomicInteger errors = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(workers);
    List<Future<?>> futures = new ArrayList<>();
    long start = System.nanoTime();
    for (int w = 0; w < workers; w++) {
      String user = "u" + w;
      futures.add(pool.submit(() -> {
        boolean join = true;
        int i;
        while ((i = next.getAndIncrement()) < total) {
          long t0 = System.nanoTime();
          try {
            if (join) {
              stub.withDeadlineAfter(10, TimeUnit.SECONDS)
                  .joinSession(JoinSessionRequest.newBuilder().setSessionId(session).setUserId(user).build());
            } else {
              stub.withDeadlineAfter(10, TimeUnit.SECONDS)
                  .leaveSession(LeaveSessionRequest.newBuilder().setSessionId(session).setUserId(user).build());
            }
            join = !join;
          } catch (StatusRuntimeException e) {
            errors.incrementAndGet();
          }
          latencies[i] = System.nanoTime() - t0;
        }
        return null;
      }));
    }
    for (Future<?> f : futures) {
      f.get();
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    pool.shutdown();
    channel.shutdownNow();
    Arrays.sort(latencies);
    System.out.printf("calls %d  rps %.0f  p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  errors %d%n", total, total / seconds,
        latencies[total / 2] / 1e6, latencies[(int) (total * 0.95)] / 1e6, latencies[(int) (total * 0.99)] / 1e6,
        errors.get());
  }
}
