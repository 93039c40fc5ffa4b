package dev.convene.server.credential;

import com.google.gson.JsonObject;
import dev.convene.server.platform.IdGenerator;
import dev.convene.server.platform.IdKind;
import dev.convene.server.platform.SecretBox;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * Each tenant's ES256 keys that sign its user and guest credentials. The private key is kept
 * sealed under the master key; the public key as a JWK, which CredentialVerifier and
 * GetSigningKeys read. A tenant gets its first key when it first needs one; RotateSigningKey makes
 * a new one current and retires the old, which still verifies what it signed. Replicas re-read the
 * current key every {@link #REFRESH}, so a rotation elsewhere takes effect within it.
 */
public final class SigningKeys {
  static final Duration REFRESH = Duration.ofSeconds(30);
  /** Retired keys stay listed this long: the longest a credential lives. */
  static final Duration LISTED_AFTER_RETIREMENT = Duration.ofHours(24);
  static final String ALGORITHM = "ES256";

  /** A key as stored. */
  public record KeyRow(String tenantId, String id, String algorithm, String publicJwk, Instant createTime,
      Instant retireTime) {}

  /** The key that signs now. */
  record Current(String id, PrivateKey key, Instant loaded) {}

  private final Jdbi jdbi;
  private final SecretBox box;
  private final Clock clock;
  private final IdGenerator ids;
  private final Map<String, Current> current = new ConcurrentHashMap<>();

  public SigningKeys(Jdbi jdbi, SecretBox box, Clock clock, IdGenerator ids) {
    this.jdbi = jdbi;
    this.box = box;
    this.clock = clock;
    this.ids = ids;
  }

  /** The tenant's current signing key, made if it has none. */
  Current current(String tenantId) {
    Current c = current.get(tenantId);
    Instant now = clock.instant();
    if (c != null && now.isBefore(c.loaded().plus(REFRESH)) && !now.isBefore(c.loaded())) {
      return c;
    }
    Current fresh = jdbi.inTransaction(h -> {
      lockTenantKeys(h, tenantId);
      return newest(h, tenantId).orElseGet(() -> insert(h, tenantId));
    });
    current.put(tenantId, fresh);
    return fresh;
  }

  /** Makes a new key current and retires the others; returns the new key's row. */
  KeyRow rotate(String tenantId) {
    Current made = jdbi.inTransaction(h -> {
      lockTenantKeys(h, tenantId);
      h.createUpdate("UPDATE signing_keys SET retire_time = :now WHERE tenant_id = :tenantId AND retire_time IS NULL")
          .bind("now", clock.instant()).bind("tenantId", tenantId).execute();
      return insert(h, tenantId);
    });
    current.put(tenantId, made);
    return list(tenantId).get(0);
  }

  /** The tenant's keys that can still verify a live credential, current first. */
  List<KeyRow> list(String tenantId) {
    return jdbi.withHandle(h -> h.createQuery("""
            SELECT tenant_id, id, algorithm, public_jwk::text, create_time, retire_time FROM signing_keys
             WHERE tenant_id = :tenantId AND (retire_time IS NULL OR retire_time > :listedAfter)
             ORDER BY retire_time DESC NULLS FIRST, create_time DESC
             LIMIT 20
            """)
        .bind("tenantId", tenantId).bind("listedAfter", clock.instant().minus(LISTED_AFTER_RETIREMENT))
        .map((rs, ctx) -> new KeyRow(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
            rs.getObject(5, java.time.OffsetDateTime.class).toInstant(),
            rs.getObject(6, java.time.OffsetDateTime.class) == null ? null
                : rs.getObject(6, java.time.OffsetDateTime.class).toInstant()))
        .list());
  }

  /** One writer of a tenant's keys at a time, so two replicas never both make a "first" key. */
  private static void lockTenantKeys(Handle h, String tenantId) {
    h.createQuery("SELECT pg_advisory_xact_lock(hashtextextended('signing_keys:' || :tenantId, 0))")
        .bind("tenantId", tenantId).mapTo(String.class).one();
  }

  private java.util.Optional<Current> newest(Handle h, String tenantId) {
    return h.createQuery("""
            SELECT id, private_key FROM signing_keys WHERE tenant_id = :tenantId AND retire_time IS NULL
             ORDER BY create_time DESC LIMIT 1
            """)
        .bind("tenantId", tenantId)
        .map((rs, ctx) -> new Current(rs.getString(1), privateKey(tenantId, rs.getString(1), rs.getBytes(2)),
            clock.instant()))
        .findOne();
  }

  private Current insert(Handle h, String tenantId) {
    KeyPair pair = generate();
    String id = ids.next(IdKind.SIGNING_KEY);
    byte[] pkcs8 = pair.getPrivate().getEncoded();
    try {
      h.createUpdate("""
              INSERT INTO signing_keys (tenant_id, id, algorithm, private_key, public_jwk, create_time)
              VALUES (:tenantId, :id, :algorithm, :privateKey, CAST(:jwk AS jsonb), :now)
              """)
          .bind("tenantId", tenantId).bind("id", id).bind("algorithm", ALGORITHM)
          .bind("privateKey", box.seal(pkcs8, context(tenantId, id)))
          .bind("jwk", jwk(id, (ECPublicKey) pair.getPublic()).toString()).bind("now", clock.instant())
          .execute();
    } finally {
      Arrays.fill(pkcs8, (byte) 0);
    }
    return new Current(id, pair.getPrivate(), clock.instant());
  }

  private PrivateKey privateKey(String tenantId, String id, byte[] sealed) {
    byte[] pkcs8 = box.open(sealed, context(tenantId, id));
    try {
      return KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("a stored signing key does not parse", e);
    } finally {
      Arrays.fill(pkcs8, (byte) 0);
    }
  }

  private static String context(String tenantId, String id) {
    return "signing_key:" + tenantId + ":" + id;
  }

  private static KeyPair generate() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("P-256 keys are not available", e);
    }
  }

  /** The public key as a JWK (RFC 7517/7518): kty EC, crv P-256, x and y as 32-byte base64url. */
  static JsonObject jwk(String id, ECPublicKey key) {
    JsonObject o = new JsonObject();
    o.addProperty("kty", "EC");
    o.addProperty("crv", "P-256");
    o.addProperty("x", coordinate(key.getW().getAffineX()));
    o.addProperty("y", coordinate(key.getW().getAffineY()));
    o.addProperty("kid", id);
    o.addProperty("alg", ALGORITHM);
    o.addProperty("use", "sig");
    return o;
  }

  private static String coordinate(BigInteger v) {
    byte[] raw = v.toByteArray();
    byte[] fixed = new byte[32];
    int n = Math.min(raw.length, 32);
    System.arraycopy(raw, raw.length - n, fixed, 32 - n, n);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(fixed);
  }
}
