import com.google.protobuf.util.Timestamps;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.GetSessionRequest;
import dev.convene.v1.JoinSessionRequest;
import dev.convene.v1.MediaType;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ParticipantSpec;
import dev.convene.v1.Session;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.SessionStatus;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.util.UUID;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The simultaneous-join trial against a running server, as a new user would try it: a host and a
 * patient join the same SCHEDULED session at the same instant (two channels, a barrier), N times.
 * A trial is lost when the session is not IN_PROGRESS with both present afterwards.
 * Usage: java -cp <client classpath> JoinRace.java host:port key trials
 */
public final class JoinRace {
  public static void main(String[] args) throws Exception {
    String[] hp = args[0].split(":");
    int trials = Integer.parseInt(args[2]);
    Metadata auth = new Metadata();
    auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + args[1]);
    ManagedChannel hostChannel = NettyChannelBuilder.forAddress(hp[0], Integer.parseInt(hp[1])).usePlaintext().build();
    ManagedChannel patientChannel = NettyChannelBuilder.forAddress(hp[0], Integer.parseInt(hp[1])).usePlaintext().build();
    var host = SessionServiceGrpc.newBlockingStub(hostChannel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
    var patient = SessionServiceGrpc.newBlockingStub(patientChannel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
    ExecutorService pool = Executors.newFixedThreadPool(2);
    String run = UUID.randomUUID().toString().substring(0, 8);
    int lost = 0;
    for (int t = 0; t < trials; t++) {
      String id = host.createSession(CreateSessionRequest.newBuilder().setExternalRef("race-" + run + "-" + t)
          .setMedia(MediaType.MEDIA_TYPE_VIDEO)
          .setScheduledStartTime(Timestamps.fromSeconds(1_900_000_000L))
          .setScheduledEndTime(Timestamps.fromSeconds(1_900_001_800L))
          .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
          .addParticipants(ParticipantSpec.newBuilder().setUserId("pat").setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT))
          .build()).getSession().getId();
      CyclicBarrier barrier = new CyclicBarrier(2);
      Future<?> a = pool.submit(() -> {
        barrier.await();
        return host.joinSession(JoinSessionRequest.newBuilder().setSessionId(id).setUserId("dr").build());
      });
      Future<?> b = pool.submit(() -> {
        barrier.await();
        return patient.joinSession(JoinSessionRequest.newBuilder().setSessionId(id).setUserId("pat").build());
      });
      a.get();
      b.get();
      Session s = host.getSession(GetSessionRequest.newBuilder().setSessionId(id).build()).getSession();
      if (s.getStatus() != SessionStatus.SESSION_STATUS_IN_PROGRESS || s.getPresentCount() != 2) {
        lost++;
      }
    }
    pool.shutdown();
    hostChannel.shutdownNow();
    patientChannel.shutdownNow();
    System.out.printf("simultaneous host+patient joins: %d trials, %d left the session not IN_PROGRESS with both present%n",
        trials, lost);
  }
}
