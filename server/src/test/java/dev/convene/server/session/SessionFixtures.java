package dev.convene.server.session;

import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.MediaType;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ParticipantSpec;
import dev.convene.v1.SessionServiceGrpc;
import java.time.Duration;
import java.time.Instant;

/** Requests and stubs the session tests share. */
final class SessionFixtures {
  private SessionFixtures() {}

  static SessionServiceGrpc.SessionServiceBlockingStub stub(TestServer server, String key) {
    return SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(key));
  }

  static ParticipantSpec spec(String userId, ParticipantRole role) {
    return ParticipantSpec.newBuilder().setUserId(userId).setDisplayName("Name of " + userId).setRole(role).build();
  }

  /** A visit at {@code start} with a host "dr" and a patient "pat". */
  static CreateSessionRequest.Builder visit(String externalRef, Instant start) {
    return CreateSessionRequest.newBuilder()
        .setExternalRef(externalRef)
        .setTitle("Follow-up visit")
        .setMedia(MediaType.MEDIA_TYPE_VIDEO)
        .setScheduledStartTime(ProtoTime.timestamp(start))
        .setScheduledEndTime(ProtoTime.timestamp(start.plus(Duration.ofMinutes(30))))
        .addParticipants(spec("dr", ParticipantRole.PARTICIPANT_ROLE_HOST))
        .addParticipants(spec("pat", ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT));
  }
}
