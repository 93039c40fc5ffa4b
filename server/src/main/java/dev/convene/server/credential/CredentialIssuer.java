package dev.convene.server.credential;

import com.google.protobuf.util.Timestamps;
import dev.convene.server.auth.CredentialVerifier;
import dev.convene.server.platform.IdGenerator;
import dev.convene.server.platform.IdKind;
import dev.convene.v1.Credential;
import io.jsonwebtoken.JwtBuilder;
import io.jsonwebtoken.Jwts;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Date;

/**
 * Signs user and guest credentials: ES256 JWTs with the tenant's current key ({@code kid}),
 * issuer and audience {@code convene}, subject the user id, the tenant ({@code tid}), the kind
 * ({@code knd}: user or guest) and, for guests, the one session ({@code sid}). What
 * {@link CredentialVerifier} accepts.
 */
public final class CredentialIssuer {
  private final SigningKeys keys;
  private final Clock clock;
  private final IdGenerator ids;

  public CredentialIssuer(SigningKeys keys, Clock clock, IdGenerator ids) {
    this.keys = keys;
    this.clock = clock;
    this.ids = ids;
  }

  /** A credential for end user {@code userId} of {@code tenantId}, valid for {@code ttl}. */
  public Credential user(String tenantId, String userId, Duration ttl) {
    Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS);
    return sign(tenantId, userId, now, now.plus(ttl),
        b -> b.claim(CredentialVerifier.KIND_CLAIM, CredentialVerifier.USER_KIND));
  }

  /** A credential for roster user {@code userId} of {@code sessionId} only, valid until {@code expire}. */
  public Credential guest(String tenantId, String sessionId, String userId, Instant expire) {
    return sign(tenantId, userId, clock.instant().truncatedTo(ChronoUnit.SECONDS), expire.truncatedTo(ChronoUnit.SECONDS),
        b -> b.claim(CredentialVerifier.KIND_CLAIM, CredentialVerifier.GUEST_KIND)
            .claim(CredentialVerifier.SESSION_CLAIM, sessionId));
  }

  private Credential sign(String tenantId, String userId, Instant now, Instant expire,
      java.util.function.UnaryOperator<JwtBuilder> kind) {
    SigningKeys.Current key = keys.current(tenantId);
    JwtBuilder b = Jwts.builder()
        .header().keyId(key.id()).type("JWT").and()
        .issuer(CredentialVerifier.ISSUER)
        .audience().add(CredentialVerifier.AUDIENCE).and()
        .subject(userId)
        .claim(CredentialVerifier.TENANT_CLAIM, tenantId)
        .id(ids.next(IdKind.CREDENTIAL))
        .issuedAt(Date.from(now))
        .notBefore(Date.from(now))
        .expiration(Date.from(expire));
    String jwt = kind.apply(b).signWith(key.key(), Jwts.SIG.ES256).compact();
    return Credential.newBuilder().setCredential(jwt).setKeyId(key.id())
        .setExpireTime(Timestamps.fromMillis(expire.toEpochMilli())).build();
  }
}
