package dev.convene.server.testing;

import dev.convene.server.grpc.ProtoTime;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.JitsiConfig;
import dev.convene.v1.MediaType;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ParticipantSpec;
import dev.convene.v1.ProviderConfig;
import dev.convene.v1.ProviderConfigServiceGrpc;
import dev.convene.v1.Session;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.SetProviderConfigRequest;
import java.time.Duration;
import java.time.Instant;

/** The visit most tests need: a 30-minute video session with a HOST ({@code dr}) and a PARTICIPANT ({@code pat}). */
public final class Visits {
  private Visits() {}

  /** The visit starting at {@code start}, with a fresh external ref. */
  public static CreateSessionRequest.Builder request(Instant start) {
    return CreateSessionRequest.newBuilder().setExternalRef("visit-" + System.nanoTime())
        .setMedia(MediaType.MEDIA_TYPE_VIDEO).setScheduledStartTime(ProtoTime.timestamp(start))
        .setScheduledEndTime(ProtoTime.timestamp(start.plus(Duration.ofMinutes(30))))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("pat").setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT));
  }

  /** Creates the visit starting at {@code start}. */
  public static Session create(SessionServiceGrpc.SessionServiceBlockingStub sessions, Instant start) {
    return sessions.createSession(request(start).build()).getSession();
  }

  /** Makes Jitsi the tenant's default provider: its tokens are minted locally, with no provider to call. */
  public static void useJitsi(ProviderConfigServiceGrpc.ProviderConfigServiceBlockingStub configs) {
    configs.setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder().setDefault(true)
        .setJitsi(JitsiConfig.newBuilder().setDomain("meet.example.org").setAppId("convene")
            .setAppSecret("jitsi-app-secret-0123456789-abcdefghij"))).build());
  }
}
