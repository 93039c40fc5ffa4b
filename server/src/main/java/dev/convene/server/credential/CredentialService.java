package dev.convene.server.credential;

import static dev.convene.server.grpc.Unary.reply;

import com.google.protobuf.Struct;
import com.google.protobuf.util.Timestamps;
import dev.convene.server.auth.Principal;
import dev.convene.server.db.Json;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.Platform;
import dev.convene.v1.CredentialServiceGrpc;
import dev.convene.v1.GetSigningKeysRequest;
import dev.convene.v1.GetSigningKeysResponse;
import dev.convene.v1.IssueUserCredentialRequest;
import dev.convene.v1.IssueUserCredentialResponse;
import dev.convene.v1.RevokeUserCredentialsRequest;
import dev.convene.v1.RevokeUserCredentialsResponse;
import dev.convene.v1.RotateSigningKeyRequest;
import dev.convene.v1.RotateSigningKeyResponse;
import dev.convene.v1.SigningKey;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;

/** CredentialService: user credentials, their revocation, and the tenant keys that sign them. */
final class CredentialService extends CredentialServiceGrpc.CredentialServiceImplBase {
  static final Duration DEFAULT_TTL = Duration.ofHours(1);

  private final Platform platform;
  private final SigningKeys keys;
  private final CredentialIssuer issuer;

  CredentialService(Platform platform, SigningKeys keys, CredentialIssuer issuer) {
    this.platform = platform;
    this.keys = keys;
    this.issuer = issuer;
  }

  @Override
  public void issueUserCredential(IssueUserCredentialRequest req, StreamObserver<IssueUserCredentialResponse> out) {
    Duration ttl = req.hasTtl() ? ProtoTime.javaDuration(req.getTtl()) : DEFAULT_TTL;
    reply(out, IssueUserCredentialResponse.newBuilder()
        .setCredential(issuer.user(Principal.current().tenantId(), req.getUserId(), ttl)).build());
  }

  @Override
  public void revokeUserCredentials(RevokeUserCredentialsRequest req, StreamObserver<RevokeUserCredentialsResponse> out) {
    Instant at = platform.uow().write(tx -> {
      tx.handle().createUpdate("""
              INSERT INTO credential_revocations (tenant_id, user_id, not_before) VALUES (:tenantId, :userId, :now)
              ON CONFLICT (tenant_id, user_id) DO UPDATE SET not_before = GREATEST(credential_revocations.not_before, excluded.not_before)
              """)
          .bind("tenantId", tx.tenantId()).bind("userId", req.getUserId()).bind("now", tx.now()).execute();
      return tx.now();
    });
    // Everything issued within the revocation's second is refused too (credential times are seconds).
    reply(out, RevokeUserCredentialsResponse.newBuilder()
        .setRevokeTime(ProtoTime.timestamp(at.truncatedTo(ChronoUnit.SECONDS).plusSeconds(1))).build());
  }

  @Override
  public void getSigningKeys(GetSigningKeysRequest req, StreamObserver<GetSigningKeysResponse> out) {
    String tenantId = Principal.current().tenantId();
    keys.current(tenantId);
    List<SigningKeys.KeyRow> rows = keys.list(tenantId);
    GetSigningKeysResponse.Builder b = GetSigningKeysResponse.newBuilder();
    StringBuilder jwks = new StringBuilder("{\"keys\":[");
    for (int i = 0; i < rows.size(); i++) {
      b.addKeys(toProto(rows.get(i)));
      jwks.append(i == 0 ? "" : ",").append(rows.get(i).publicJwk());
    }
    reply(out, b.setJwksJson(jwks.append("]}").toString()).build());
  }

  @Override
  public void rotateSigningKey(RotateSigningKeyRequest req, StreamObserver<RotateSigningKeyResponse> out) {
    reply(out, RotateSigningKeyResponse.newBuilder().setKey(toProto(keys.rotate(Principal.current().tenantId()))).build());
  }

  private static SigningKey toProto(SigningKeys.KeyRow k) {
    Struct.Builder jwk = Struct.newBuilder();
    Json.merge(k.publicJwk(), jwk);
    SigningKey.Builder b = SigningKey.newBuilder().setKeyId(k.id()).setAlgorithm(k.algorithm()).setJwk(jwk)
        .setCreateTime(ProtoTime.timestamp(k.createTime()));
    if (k.retireTime() != null) {
      b.setRetireTime(ProtoTime.timestamp(k.retireTime()));
    }
    return b.build();
  }

}
