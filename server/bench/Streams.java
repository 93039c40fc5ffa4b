import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.EventServiceGrpc;
import dev.convene.v1.JoinSessionRequest;
import dev.convene.v1.LeaveSessionRequest;
import dev.convene.v1.MediaType;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ParticipantSpec;
import dev.convene.v1.SessionEventType;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.WatchSessionRequest;
import dev.convene.v1.WatchSessionResponse;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The watch streams' benchmark: opens {@code streams} idle WatchSession streams on one server
 * ({@code fanout} of them on one session, the rest spread over 99 others) and reports the server's
 * heap and threads before and after; then changes the busy session {@code changes} times and
 * reports how long each change took to reach each of its watchers (p50/p99, from the moment the
 * change was sent), beside the ceilings measured in the same run: the change's own call
 * (JoinSession/LeaveSession) and a Health/Check round trip.
 * Usage: java -cp <client classpath> Streams.java host:port key server_pid streams fanout changes
 */
public final class Streams {
  public static void main(String[] args) throws Exception {
    String[] hp = args[0].split(":");
    String key = args[1];
    long pid = Long.parseLong(args[2]);
    int streams = Integer.parseInt(args[3]);
    int fanout = Integer.parseInt(args[4]);
    int changes = Integer.parseInt(args[5]);
    Metadata auth = new Metadata();
    auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
    // Many connections, as many clients would come through Envoy's upstream connections.
    List<ManagedChannel> channels = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      channels.add(NettyChannelBuilder.forAddress(hp[0], Integer.parseInt(hp[1])).usePlaintext().directExecutor()
          .build());
    }
    var sessions = SessionServiceGrpc.newBlockingStub(channels.get(0))
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      ids.add(sessions.createSession(CreateSessionRequest.newBuilder().setExternalRef("streams-" + i + "-" + System.nanoTime())
          .setMedia(MediaType.MEDIA_TYPE_VIDEO)
          .setScheduledStartTime(com.google.protobuf.Timestamp.newBuilder().setSeconds(1_900_000_000L))
          .setScheduledEndTime(com.google.protobuf.Timestamp.newBuilder().setSeconds(1_900_001_800L))
          .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
          .build()).getSession().getId());
    }
    String busy = ids.get(0);

    System.gc();
    String before = server(pid);
    AtomicLong changeSent = new AtomicLong();
    ConcurrentLinkedQueue<Long> delays = new ConcurrentLinkedQueue<>();
    AtomicInteger failed = new AtomicInteger();
    java.util.Map<String, AtomicInteger> failures = new java.util.concurrent.ConcurrentHashMap<>();
    CountDownLatch replayed = new CountDownLatch(streams);
    AtomicInteger[] seenOfChange = {new AtomicInteger()};
    long openStart = System.nanoTime();
    // Opened in steps of 500 (each step's replays done before the next), as clients arriving over
    // a few seconds would: 10,000 opened in the same instant would be shed by admission control
    // (RESOURCE_EXHAUSTED SERVER_OVERLOADED beyond threads + CONVENE_REQUEST_QUEUE waiting calls).
    for (int i = 0; i < streams; i++) {
      if (i > 0 && i % 500 == 0) {
        long openedSoFar = i;
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (streams - replayed.getCount() < openedSoFar && System.nanoTime() < until) {
          Thread.sleep(5);
        }
      }
      String session = i < fanout ? busy : ids.get(1 + i % 99);
      boolean watchBusy = i < fanout;
      var stub = EventServiceGrpc.newStub(channels.get(i % channels.size()))
          .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
      stub.watchSession(WatchSessionRequest.newBuilder().setSessionId(session).build(), new StreamObserver<>() {
        boolean first = true;

        @Override
        public void onNext(WatchSessionResponse r) {
          if (first && r.hasEvent()) {
            first = false;
            replayed.countDown();
          }
          if (watchBusy && r.hasEvent() && (r.getEvent().getType() == SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED
              || r.getEvent().getType() == SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_LEFT)) {
            delays.add(System.nanoTime() - changeSent.get());
            seenOfChange[0].incrementAndGet();
          }
        }

        @Override
        public void onError(Throwable t) {
          failed.incrementAndGet();
          failures.computeIfAbsent(io.grpc.Status.fromThrowable(t).getCode().name(), k -> new AtomicInteger())
              .incrementAndGet();
          replayed.countDown();
        }

        @Override
        public void onCompleted() {
          failed.incrementAndGet();
        }
      });
    }
    if (!replayed.await(300, TimeUnit.SECONDS)) {
      System.out.println("not every stream opened: " + replayed.getCount() + " missing");
    }
    double openSeconds = (System.nanoTime() - openStart) / 1e9;
    Thread.sleep(2000);
    System.gc();
    String after = server(pid);
    System.out.printf("streams %d opened in %.1f s, failed %d %s%n", streams, openSeconds, failed.get(), failures);
    System.out.println("server before: " + before);
    System.out.println("server after:  " + after);

    // Fan-out: each change to the busy session, sent once its watchers saw the previous one.
    long[] callNanos = new long[changes];
    for (int c = 0; c < changes; c++) {
      seenOfChange[0].set(0);
      changeSent.set(System.nanoTime());
      if (c % 2 == 0) {
        sessions.joinSession(JoinSessionRequest.newBuilder().setSessionId(busy).setUserId("dr").build());
      } else {
        sessions.leaveSession(LeaveSessionRequest.newBuilder().setSessionId(busy).setUserId("dr").build());
      }
      callNanos[c] = System.nanoTime() - changeSent.get();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (seenOfChange[0].get() < fanout && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      Thread.sleep(50);
    }
    var health = HealthGrpc.newBlockingStub(channels.get(1));
    long[] healthNanos = new long[500];
    for (int i = 0; i < healthNanos.length; i++) {
      long t = System.nanoTime();
      health.check(HealthCheckRequest.getDefaultInstance());
      healthNanos[i] = System.nanoTime() - t;
    }
    long[] all = delays.stream().mapToLong(Long::longValue).sorted().toArray();
    Arrays.sort(callNanos);
    Arrays.sort(healthNanos);
    System.out.printf("fan-out: %d changes x %d watchers: %d deliveries (expected %d), p50 %.1f ms, p99 %.1f ms, max %.1f ms%n",
        changes, fanout, all.length, (long) changes * fanout, ms(pct(all, 50)), ms(pct(all, 99)), ms(all[all.length - 1]));
    System.out.printf("ceilings: the change's own call p50 %.1f ms; Health/Check p50 %.2f ms%n", ms(pct(callNanos, 50)),
        ms(pct(healthNanos, 50)));
    System.out.printf("fan-out p50 / change call p50 = %.2f; fan-out p99 / change call p50 = %.2f%n",
        (double) pct(all, 50) / pct(callNanos, 50), (double) pct(all, 99) / pct(callNanos, 50));
    channels.forEach(ManagedChannel::shutdownNow);
  }

  static long pct(long[] sorted, int p) {
    return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) Math.ceil(sorted.length * p / 100.0) - 1)];
  }

  static double ms(long nanos) {
    return nanos / 1e6;
  }

  /** The server's live heap after a full GC (jcmd) and its thread count. */
  static String server(long pid) throws Exception {
    run("jcmd", Long.toString(pid), "GC.run");
    String heap = run("jcmd", Long.toString(pid), "GC.heap_info");
    java.util.regex.Matcher used = java.util.regex.Pattern.compile("used (\\d+)K").matcher(heap);
    long usedKb = used.find() ? Long.parseLong(used.group(1)) : -1;
    String threads = Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
        .filter(l -> l.startsWith("Threads:")).findFirst().orElse("Threads: ?").replace("Threads:", "").trim();
    return String.format("heap used %.1f MB, threads %s", usedKb / 1024.0, threads);
  }

  static String run(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    p.waitFor();
    return out;
  }
}
