package dev.convene.server.credential;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.*;
import io.grpc.Status.Code;
import io.jsonwebtoken.Claims;
import io.jsonwebtoken.Jwts;
import java.math.BigInteger;
import java.security.AlgorithmParameters;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * User credentials: what an end user may do with one (its own sessions only, as itself), expiry,
 * revocation, signing keys a verifier can use on its own, and rotation.
 */
class CredentialServiceTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  TestServer server;
  CredentialServiceGrpc.CredentialServiceBlockingStub credentials;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;

  @BeforeEach
  void setUp() {
    server = servers.get();
    credentials = CredentialServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
  }

  Session visit(String ref, String patient) {
    Instant start = server.clock.instant().plus(Duration.ofHours(1));
    return sessions.createSession(CreateSessionRequest.newBuilder().setExternalRef(ref).setMedia(MediaType.MEDIA_TYPE_VIDEO)
        .setScheduledStartTime(ProtoTime.timestamp(start))
        .setScheduledEndTime(ProtoTime.timestamp(start.plus(Duration.ofMinutes(30))))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
        .addParticipants(ParticipantSpec.newBuilder().setUserId(patient).setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT))
        .build()).getSession();
  }

  Credential issue(String user, Duration ttl) {
    return credentials.issueUserCredential(IssueUserCredentialRequest.newBuilder().setUserId(user)
        .setTtl(ProtoTime.duration(ttl)).build()).getCredential();
  }

  SessionServiceGrpc.SessionServiceBlockingStub as(Credential c) {
    return SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(c.getCredential()));
  }

  @Test
  void aUser_readsListsAndJoinsOnlyItsOwnSessions_asItself() {
    Session mine = visit("c-1", "pat");
    Session theirs = visit("c-2", "someone-else");
    var pat = as(issue("pat", Duration.ofMinutes(30)));
    assertEquals(mine.getId(), pat.getSession(GetSessionRequest.newBuilder().setSessionId(mine.getId()).build()).getSession().getId());
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND",
        () -> pat.getSession(GetSessionRequest.newBuilder().setSessionId(theirs.getId()).build()));
    var listed = pat.listSessions(ListSessionsRequest.getDefaultInstance()).getSessionsList();
    assertEquals(1, listed.size());
    assertEquals(mine.getId(), listed.get(0).getId());
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER",
        () -> pat.listSessions(ListSessionsRequest.newBuilder().setUserId("dr").build()));
    assertTrue(pat.joinSession(JoinSessionRequest.newBuilder().setSessionId(mine.getId()).setUserId("pat").build())
        .getParticipant().getPresent());
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER",
        () -> pat.joinSession(JoinSessionRequest.newBuilder().setSessionId(mine.getId()).setUserId("dr").build()));
    assertStatus(Code.PERMISSION_DENIED, "CALLER_NOT_ALLOWED", () -> pat.createSession(CreateSessionRequest.getDefaultInstance()));
  }

  @Test
  void aCredential_expires_andRevocationRefusesEverythingIssuedBefore() {
    visit("c-3", "pat");
    Credential shortLived = issue("pat", Duration.ofMinutes(1));
    Credential other = issue("dr", Duration.ofHours(1));
    server.clock.advance(Duration.ofMinutes(2));
    assertStatus(Code.UNAUTHENTICATED, "CREDENTIAL_EXPIRED",
        () -> as(shortLived).listSessions(ListSessionsRequest.getDefaultInstance()));

    Credential before = issue("pat", Duration.ofHours(1));
    as(before).listSessions(ListSessionsRequest.getDefaultInstance());
    RevokeUserCredentialsResponse revoked = credentials.revokeUserCredentials(
        RevokeUserCredentialsRequest.newBuilder().setUserId("pat").build());
    assertStatus(Code.UNAUTHENTICATED, "CREDENTIAL_REVOKED",
        () -> as(before).listSessions(ListSessionsRequest.getDefaultInstance()));
    // Another user's credentials are untouched; a credential issued after the revocation works.
    as(other).listSessions(ListSessionsRequest.getDefaultInstance());
    server.clock.set(ProtoTime.instant(revoked.getRevokeTime()).plusSeconds(1));
    as(issue("pat", Duration.ofHours(1))).listSessions(ListSessionsRequest.getDefaultInstance());
    // A forged or altered credential is refused.
    String jwt = other.getCredential();
    String altered = jwt.substring(0, jwt.length() - 4) + (jwt.endsWith("AAAA") ? "BBBB" : "AAAA");
    assertStatus(Code.UNAUTHENTICATED, "INVALID_CREDENTIAL", () -> as(Credential.newBuilder().setCredential(altered).build())
        .listSessions(ListSessionsRequest.getDefaultInstance()));
  }

  @Test
  void signingKeys_verifyCredentialsIndependently_andRotationKeepsOldCredentialsValid() throws Exception {
    Credential first = issue("pat", Duration.ofHours(1));
    GetSigningKeysResponse keys = credentials.getSigningKeys(GetSigningKeysRequest.getDefaultInstance());
    assertEquals(1, keys.getKeysCount());
    SigningKey key = keys.getKeys(0);
    assertEquals(first.getKeyId(), key.getKeyId());
    assertEquals("ES256", key.getAlgorithm());
    Claims claims = Jwts.parser().verifyWith(publicKey(key))
        .clock(() -> Date.from(server.clock.instant())).build().parseSignedClaims(first.getCredential()).getPayload();
    assertEquals("pat", claims.getSubject());
    assertEquals(server.tenantA.tenantId(), claims.get("tid", String.class));
    assertTrue(keys.getJwksJson().contains(key.getKeyId()));

    SigningKey rotated = credentials.rotateSigningKey(RotateSigningKeyRequest.getDefaultInstance()).getKey();
    assertNotEquals(key.getKeyId(), rotated.getKeyId());
    Credential second = issue("pat", Duration.ofHours(1));
    assertEquals(rotated.getKeyId(), second.getKeyId());
    as(first).listSessions(ListSessionsRequest.getDefaultInstance());
    as(second).listSessions(ListSessionsRequest.getDefaultInstance());
    GetSigningKeysResponse after = credentials.getSigningKeys(GetSigningKeysRequest.getDefaultInstance());
    assertEquals(2, after.getKeysCount());
    assertEquals(rotated.getKeyId(), after.getKeys(0).getKeyId());
    assertTrue(after.getKeys(1).hasRetireTime());
    // The signing key is stored sealed: its row holds no PKCS#8 header in the clear.
    byte[] sealed = server.jdbi().withHandle(h -> h.createQuery("SELECT private_key FROM signing_keys WHERE id = :id")
        .bind("id", key.getKeyId()).mapTo(byte[].class).one());
    assertTrue(sealed.length > 0);
    assertTrue(indexOf(sealed, new byte[] {0x30, (byte) 0x81}) != 0, "sealed, not a DER sequence");
    // Tenant B's backend sees only its own keys.
    GetSigningKeysResponse b = CredentialServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantB.key())).getSigningKeys(GetSigningKeysRequest.getDefaultInstance());
    assertTrue(b.getKeysList().stream().noneMatch(k -> k.getKeyId().equals(key.getKeyId())));
  }

  static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  static PublicKey publicKey(SigningKey k) throws Exception {
    var f = k.getJwk().getFieldsMap();
    AlgorithmParameters params = AlgorithmParameters.getInstance("EC");
    params.init(new ECGenParameterSpec("secp256r1"));
    ECPoint point = new ECPoint(new BigInteger(1, Base64.getUrlDecoder().decode(f.get("x").getStringValue())),
        new BigInteger(1, Base64.getUrlDecoder().decode(f.get("y").getStringValue())));
    return KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(point, params.getParameterSpec(ECParameterSpec.class)));
  }
}
