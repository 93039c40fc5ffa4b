package dev.convene.server.token;

import static dev.convene.server.grpc.Unary.reply;

import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.Platform;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionRow;
import dev.convene.v1.CreateAccessCodeRequest;
import dev.convene.v1.CreateAccessCodeResponse;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.IssueJoinTokenRequest;
import dev.convene.v1.IssueJoinTokenResponse;
import dev.convene.v1.JoinToken;
import dev.convene.v1.ListAccessCodesRequest;
import dev.convene.v1.ListAccessCodesResponse;
import dev.convene.v1.RedeemAccessCodeRequest;
import dev.convene.v1.RedeemAccessCodeResponse;
import dev.convene.v1.RevokeAccessCodeRequest;
import dev.convene.v1.RevokeAccessCodeResponse;
import dev.convene.v1.TokenServiceGrpc;
import io.grpc.stub.StreamObserver;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;

/** TokenService: join tokens, and the access codes that let guests in. */
final class TokenService extends TokenServiceGrpc.TokenServiceImplBase {
  private final Platform platform;
  private final JoinTokens joinTokens;
  private final AccessCodes codes;
  private final GuestCodes guestCodes;

  TokenService(Platform platform, JoinTokens joinTokens, AccessCodes codes, GuestCodes guestCodes) {
    this.platform = platform;
    this.joinTokens = joinTokens;
    this.codes = codes;
    this.guestCodes = guestCodes;
  }

  @Override
  public void issueJoinToken(IssueJoinTokenRequest req, StreamObserver<IssueJoinTokenResponse> out) {
    Principal caller = Principal.current();
    JoinToken token = joinTokens.issue(caller, caller.tenantId(), req.getSessionId(), req.getUserId());
    reply(out, IssueJoinTokenResponse.newBuilder().setJoinToken(token).build());
  }

  @Override
  public void createAccessCode(CreateAccessCodeRequest req, StreamObserver<CreateAccessCodeResponse> out) {
    Map.Entry<AccessCodes.Row, String> made = platform.uow().write(tx -> {
      Rosters.Entry e = Rosters.lockOpen(tx, req.getSessionId(), req.getUserId());
      SessionRow s = e.session();
      Instant expire = GuestCodes.expiry(tx, s, req.hasExpireTime() ? req.getExpireTime() : null);
      return codes.create(tx, s, req.getUserId(), req.getMaxUses(), expire);
    });
    reply(out, CreateAccessCodeResponse.newBuilder().setAccessCode(AccessCodes.toProto(made.getKey()))
        .setCode(made.getValue()).build());
  }

  @Override
  public void listAccessCodes(ListAccessCodesRequest req, StreamObserver<ListAccessCodesResponse> out) {
    String tenantId = Principal.current().tenantId();
    requireSession(tenantId, req.getSessionId());
    ListAccessCodesResponse.Builder b = ListAccessCodesResponse.newBuilder();
    codes.list(tenantId, req.getSessionId()).forEach(r -> b.addAccessCodes(AccessCodes.toProto(r)));
    reply(out, b.build());
  }

  @Override
  public void revokeAccessCode(RevokeAccessCodeRequest req, StreamObserver<RevokeAccessCodeResponse> out) {
    AccessCodes.Row r = platform.uow().write(tx -> codes.revoke(tx, Rosters.lock(tx, req.getSessionId()),
        req.getAccessCodeId()));
    reply(out, RevokeAccessCodeResponse.newBuilder().setAccessCode(AccessCodes.toProto(r)).build());
  }

  @Override
  public void redeemAccessCode(RedeemAccessCodeRequest req, StreamObserver<RedeemAccessCodeResponse> out) {
    GuestCodes.Redeemed r = guestCodes.redeem(req.getSessionId(), req.getCode());
    RedeemAccessCodeResponse.Builder b = RedeemAccessCodeResponse.newBuilder().setGuestCredential(r.credential());
    if (r.token() != null) {
      b.setJoinToken(r.token());
    } else {
      b.setAwaitingAdmission(true);
    }
    reply(out, b.build());
  }

  private void requireSession(String tenantId, String sessionId) {
    Optional<String> found = platform.jdbi().withHandle(h -> h.createQuery(
            "SELECT id FROM sessions WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tenantId).bind("id", sessionId).mapTo(String.class).findOne());
    if (found.isEmpty()) {
      throw ConveneException.notFound(ErrorReason.SESSION_NOT_FOUND, "session " + sessionId + " not found");
    }
  }

}
