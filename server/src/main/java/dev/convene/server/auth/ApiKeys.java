package dev.convene.server.auth;

import dev.convene.server.platform.IdGenerator;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Optional;

/**
 * The API key format: {@code cvk_<key id>_<secret>}. Only the SHA-256 of the whole key is stored;
 * the key id lets an operator revoke it and appears in logs and events instead of the secret.
 * A fast hash is right here because keys carry 190 random bits, not a human-chosen password.
 */
public final class ApiKeys {
  private ApiKeys() {}

  /** A new key for the key id; shown once, never stored. */
  public static String newKey(String keyId) {
    return "cvk_" + keyId.substring("key_".length()) + "_" + IdGenerator.base62(32);
  }

  public static byte[] hash(String key) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The key id inside a presented key, if it has the right shape. */
  public static Optional<String> keyId(String key) {
    if (key == null || !key.startsWith("cvk_") || key.length() > 200) {
      return Optional.empty();
    }
    int sep = key.indexOf('_', 4);
    return sep > 4 ? Optional.of("key_" + key.substring(4, sep)) : Optional.empty();
  }
}
