package dev.convene.server.call;

import static dev.convene.server.grpc.Unary.reply;

import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.Tx;
import dev.convene.server.session.ParticipantRow;
import dev.convene.server.session.Recordings;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionRow;
import dev.convene.v1.AdmitParticipantRequest;
import dev.convene.v1.AdmitParticipantResponse;
import dev.convene.v1.CallServiceGrpc;
import dev.convene.v1.DenyParticipantRequest;
import dev.convene.v1.DenyParticipantResponse;
import dev.convene.v1.ListLobbyRequest;
import dev.convene.v1.SetRecordingConsentRequest;
import dev.convene.v1.SetRecordingConsentResponse;
import dev.convene.v1.StartRecordingRequest;
import dev.convene.v1.StartRecordingResponse;
import dev.convene.v1.StopRecordingRequest;
import dev.convene.v1.StopRecordingResponse;
import dev.convene.v1.ListLobbyResponse;
import java.util.List;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.KickParticipantRequest;
import dev.convene.v1.KickParticipantResponse;
import dev.convene.v1.UnbanParticipantRequest;
import dev.convene.v1.UnbanParticipantResponse;
import io.grpc.stub.StreamObserver;

/** CallService: acting on a call as it happens (kick, ban, unban, the lobby, recording with consent). */
final class CallService extends CallServiceGrpc.CallServiceImplBase {
  static final int LOBBY_LIMIT = 200;

  private final Platform platform;
  private final RoomRemovals removals;
  private final RoomRecordings recordings;

  CallService(Platform platform, RoomRemovals removals, RoomRecordings recordings) {
    this.platform = platform;
    this.removals = removals;
    this.recordings = recordings;
  }

  @Override
  public void kickParticipant(KickParticipantRequest req, StreamObserver<KickParticipantResponse> out) {
    Principal caller = Principal.current();
    // Persist first: the removal, its ban and the job that makes the provider drop the participant
    // commit together; the provider is asked after the commit, with no transaction open.
    RoomRemovals.Removal removal = platform.uow().write(tx -> {
      SessionRow s = lockAsHost(tx, caller, req.getSessionId());
      ParticipantRow p = Rosters.kick(tx, s, req.getUserId(), req.getBan(), req.getReason());
      return removals.schedule(tx, s, p);
    });
    boolean removed = removals.tryNow(removal);
    reply(out, KickParticipantResponse.newBuilder().setParticipant(Rosters.toProto(removal.participant()))
        .setRemovedFromRoom(removed).build());
  }

  @Override
  public void unbanParticipant(UnbanParticipantRequest req, StreamObserver<UnbanParticipantResponse> out) {
    Principal caller = Principal.current();
    ParticipantRow p = platform.uow().write(tx ->
        Rosters.unban(tx, lockAsHost(tx, caller, req.getSessionId()), req.getUserId()));
    reply(out, UnbanParticipantResponse.newBuilder().setParticipant(Rosters.toProto(p)).build());
  }

  @Override
  public void listLobby(ListLobbyRequest req, StreamObserver<ListLobbyResponse> out) {
    Principal caller = Principal.current();
    List<ParticipantRow> waiting = platform.uow().write(tx ->
        Rosters.lobby(tx, lockAsHost(tx, caller, req.getSessionId()), LOBBY_LIMIT));
    ListLobbyResponse.Builder b = ListLobbyResponse.newBuilder();
    waiting.forEach(p -> b.addParticipants(Rosters.toProto(p)));
    reply(out, b.build());
  }

  @Override
  public void admitParticipant(AdmitParticipantRequest req, StreamObserver<AdmitParticipantResponse> out) {
    Principal caller = Principal.current();
    ParticipantRow p = platform.uow().write(tx ->
        Rosters.decideAdmission(tx, lockAsHost(tx, caller, req.getSessionId()), req.getUserId(), true));
    reply(out, AdmitParticipantResponse.newBuilder().setParticipant(Rosters.toProto(p)).build());
  }

  @Override
  public void denyParticipant(DenyParticipantRequest req, StreamObserver<DenyParticipantResponse> out) {
    Principal caller = Principal.current();
    ParticipantRow p = platform.uow().write(tx ->
        Rosters.decideAdmission(tx, lockAsHost(tx, caller, req.getSessionId()), req.getUserId(), false));
    reply(out, DenyParticipantResponse.newBuilder().setParticipant(Rosters.toProto(p)).build());
  }

  @Override
  public void setRecordingConsent(SetRecordingConsentRequest req, StreamObserver<SetRecordingConsentResponse> out) {
    Principal caller = Principal.current();
    Rosters.requireSelf(caller, req.getUserId());
    Recordings.Consent c = changeRecording(req.getSessionId(), tx -> {
      Rosters.requireVisible(tx.handle(), caller, req.getSessionId());
      SessionRow s = Rosters.lockOpen(tx, req.getSessionId(), req.getUserId()).session();
      Recordings.Consent consent = Recordings.setConsent(tx, s, req.getUserId(), req.getGranted());
      return new Changed<>(s, consent.session(), consent);
    });
    reply(out, SetRecordingConsentResponse.newBuilder().setParticipant(Rosters.toProto(c.participant()))
        .setRecording(Recordings.toProto(c.session().recording())).build());
  }

  @Override
  public void startRecording(StartRecordingRequest req, StreamObserver<StartRecordingResponse> out) {
    reply(out, StartRecordingResponse.newBuilder().setRecording(asHost(req.getSessionId(), Recordings::start)).build());
  }

  @Override
  public void stopRecording(StopRecordingRequest req, StreamObserver<StopRecordingResponse> out) {
    reply(out, StopRecordingResponse.newBuilder().setRecording(asHost(req.getSessionId(), Recordings::stop)).build());
  }

  /** Starts or stops ({@code change}) the recording of a session the caller hosts; the state afterwards. */
  private dev.convene.v1.RecordingState asHost(String sessionId,
      java.util.function.BiFunction<Tx, SessionRow, SessionRow> change) {
    Principal caller = Principal.current();
    SessionRow s = changeRecording(sessionId, tx -> {
      SessionRow before = lockAsHost(tx, caller, sessionId);
      SessionRow after = change.apply(tx, before);
      return new Changed<>(before, after, after);
    });
    return Recordings.toProto(s.recording());
  }

  /** A recording change: the session before and after it, and what the handler answers with. */
  private record Changed<R>(SessionRow before, SessionRow after, R result) {}

  /**
   * Persist first: runs {@code change} in one transaction (which schedules the provider job when the
   * recording changed in a room); after the commit, with no transaction open, asks the provider once.
   */
  private <R> R changeRecording(String sessionId, java.util.function.Function<Tx, Changed<R>> change) {
    Changed<R> c = platform.uow().write(change::apply);
    if (!c.before().recording().equals(c.after().recording())) {
      recordings.tryNow(Principal.current().tenantId(), sessionId);
    }
    return c.result();
  }

  /**
   * Locks the open session; a user must be one of its HOSTs (NOT_FOUND when not on its roster at
   * all, so that a session's existence does not leak; PERMISSION_DENIED HOST_REQUIRED otherwise).
   */
  private static SessionRow lockAsHost(Tx tx, Principal caller, String sessionId) {
    if (caller.isTenant()) {
      SessionRow s = Rosters.lock(tx, sessionId);
      Rosters.requireOpen(s);
      return s;
    }
    Rosters.requireVisible(tx.handle(), caller, sessionId);
    Rosters.Entry self = Rosters.lockOpen(tx, sessionId, caller.userId());
    if (!self.participant().role().equals("HOST")) {
      throw ConveneException.permissionDenied(ErrorReason.HOST_REQUIRED,
          "only a host of session " + sessionId + " may do this");
    }
    return self.session();
  }
}
