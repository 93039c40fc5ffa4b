package dev.convene.server.auth;

import dev.convene.server.grpc.ConveneException;
import dev.convene.v1.ErrorReason;
import io.jsonwebtoken.Claims;
import io.jsonwebtoken.ExpiredJwtException;
import io.jsonwebtoken.JwsHeader;
import io.jsonwebtoken.JwtException;
import io.jsonwebtoken.JwtParser;
import io.jsonwebtoken.Jwts;
import io.jsonwebtoken.LocatorAdapter;
import java.math.BigInteger;
import java.security.AlgorithmParameters;
import java.security.Key;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.jdbi.v3.core.Jdbi;

/**
 * Verifies the signed credentials of end users and guests (ES256 JWTs that CredentialService and
 * RedeemAccessCode issue): the signature against the tenant key its {@code kid} names, issuer,
 * audience, lifetime, that the key belongs to the tenant the credential names, and that the user's
 * credentials were not revoked after it was issued. Public keys never change, so they are cached;
 * revocations are cached for {@code cacheTtl}, the documented revocation delay.
 */
public final class CredentialVerifier {
  public static final String ISSUER = "convene";
  public static final String AUDIENCE = "convene";
  public static final String TENANT_CLAIM = "tid";
  public static final String KIND_CLAIM = "knd";
  public static final String SESSION_CLAIM = "sid";
  public static final String USER_KIND = "user";
  public static final String GUEST_KIND = "guest";
  /** Clock skew tolerated between replicas (and the issuer). */
  static final long LEEWAY_SECONDS = 30;
  private static final int MAX_CACHED = 10_000;

  private record TenantKey(String tenantId, PublicKey key) {}

  private record Revocation(Instant notBefore, Instant fetched) {}

  private final Jdbi jdbi;
  private final Clock clock;
  private final Duration cacheTtl;
  private final Map<String, TenantKey> keys = new ConcurrentHashMap<>();
  private final Map<String, Revocation> revocations = new ConcurrentHashMap<>();
  /** Built once: it finds each credential's key by its {@code kid} and reads the time from {@code clock}. */
  private final JwtParser parser;

  public CredentialVerifier(Jdbi jdbi, Clock clock, Duration cacheTtl) {
    this.jdbi = jdbi;
    this.clock = clock;
    this.cacheTtl = cacheTtl;
    this.parser = Jwts.parser()
        .keyLocator(new LocatorAdapter<Key>() {
          @Override
          protected Key locate(JwsHeader header) {
            return key(header.getKeyId()).key();
          }
        })
        .clock(() -> Date.from(clock.instant()))
        .clockSkewSeconds(LEEWAY_SECONDS)
        .requireIssuer(ISSUER)
        .requireAudience(AUDIENCE)
        .build();
  }

  /** Whether {@code credential} has the shape of a signed credential (three base64url parts). */
  static boolean looksSigned(String credential) {
    int first = credential.indexOf('.');
    return first > 0 && credential.indexOf('.', first + 1) > first + 1;
  }

  /** The principal a valid credential speaks for; UNAUTHENTICATED otherwise. */
  public Principal verify(String credential) {
    io.jsonwebtoken.Jws<Claims> jws;
    try {
      jws = parser.parseSignedClaims(credential);
    } catch (ExpiredJwtException e) {
      throw ConveneException.unauthenticated(ErrorReason.CREDENTIAL_EXPIRED,
          "the credential has expired; obtain a new one");
    } catch (JwtException | IllegalArgumentException e) {
      throw invalid();
    }
    Claims claims = jws.getPayload();
    // The key the signature was checked with (now cached) names the tenant the credential may speak for.
    TenantKey signer = key(jws.getHeader().getKeyId());
    String tenantId = claims.get(TENANT_CLAIM, String.class);
    String userId = claims.getSubject();
    Date issued = claims.getIssuedAt();
    if (tenantId == null || !tenantId.equals(signer.tenantId()) || userId == null || issued == null
        || claims.getExpiration() == null || claims.getId() == null) {
      throw invalid();
    }
    if (revoked(tenantId, userId, issued.toInstant())) {
      throw ConveneException.unauthenticated(ErrorReason.CREDENTIAL_REVOKED, "the credential was revoked");
    }
    String kind = claims.get(KIND_CLAIM, String.class);
    if (USER_KIND.equals(kind)) {
      return Principal.user(tenantId, claims.getId(), userId)
          .withLifetime(issued.toInstant(), claims.getExpiration().toInstant());
    }
    String sessionId = claims.get(SESSION_CLAIM, String.class);
    if (GUEST_KIND.equals(kind) && sessionId != null) {
      return Principal.guest(tenantId, claims.getId(), userId, sessionId)
          .withLifetime(issued.toInstant(), claims.getExpiration().toInstant());
    }
    throw invalid();
  }

  /** Forgets cached revocations (a test moves its clock instead of waiting). */
  public void clearCache() {
    revocations.clear();
  }

  private TenantKey key(String kid) {
    if (kid == null || kid.length() > 64) {
      throw invalid();
    }
    TenantKey cached = keys.get(kid);
    if (cached != null) {
      return cached;
    }
    TenantKey loaded = jdbi.withHandle(h -> h.createQuery(
            "SELECT tenant_id, public_jwk::text FROM signing_keys WHERE id = :kid")
        .bind("kid", kid)
        .map((rs, ctx) -> new TenantKey(rs.getString(1), publicKey(rs.getString(2))))
        .findOne())
        .orElseThrow(CredentialVerifier::invalid);
    if (keys.size() < MAX_CACHED) {
      keys.put(kid, loaded);
    }
    return loaded;
  }

  /** Whether the user's credentials were revoked after {@code issued} (cached for {@code cacheTtl}). */
  private boolean revoked(String tenantId, String userId, Instant issued) {
    String k = tenantId + '\u001f' + userId;
    Instant now = clock.instant();
    Revocation r = revocations.get(k);
    if (r == null || cacheTtl.isZero() || !now.isBefore(r.fetched().plus(cacheTtl))) {
      Optional<Instant> nb = jdbi.withHandle(h -> h.createQuery(
              "SELECT not_before FROM credential_revocations WHERE tenant_id = :tenantId AND user_id = :userId")
          .bind("tenantId", tenantId).bind("userId", userId).mapTo(Instant.class).findOne());
      r = new Revocation(nb.orElse(Instant.EPOCH), now);
      if (!cacheTtl.isZero() && revocations.size() < MAX_CACHED) {
        revocations.put(k, r);
      }
    }
    return revokedBy(issued, r.notBefore());
  }

  /**
   * Whether a user's credential issued at {@code issued} is refused by a revocation of that user's
   * credentials at {@code notBefore}. Credential times are whole seconds, so a revocation refuses
   * everything issued up to the end of its second.
   */
  static boolean revokedBy(Instant issued, Instant notBefore) {
    return !issued.isAfter(notBefore.truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
  }

  /** A P-256 public key from its JWK (RFC 7518 §6.2). */
  static PublicKey publicKey(String jwkJson) {
    try {
      com.google.gson.JsonObject jwk = com.google.gson.JsonParser.parseString(jwkJson).getAsJsonObject();
      if (!"EC".equals(jwk.get("kty").getAsString()) || !"P-256".equals(jwk.get("crv").getAsString())) {
        throw new IllegalStateException("unsupported key type");
      }
      BigInteger x = new BigInteger(1, Base64.getUrlDecoder().decode(jwk.get("x").getAsString()));
      BigInteger y = new BigInteger(1, Base64.getUrlDecoder().decode(jwk.get("y").getAsString()));
      AlgorithmParameters params = AlgorithmParameters.getInstance("EC");
      params.init(new ECGenParameterSpec("secp256r1"));
      ECParameterSpec spec = params.getParameterSpec(ECParameterSpec.class);
      return KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(new ECPoint(x, y), spec));
    } catch (java.security.GeneralSecurityException | RuntimeException e) {
      throw new IllegalStateException("a stored signing key is not a P-256 JWK", e);
    }
  }

  private static ConveneException invalid() {
    return ConveneException.unauthenticated(ErrorReason.INVALID_CREDENTIAL, "the credential is not valid");
  }
}
