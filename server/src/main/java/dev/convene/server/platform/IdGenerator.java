package dev.convene.server.platform;

import java.security.SecureRandom;

/** Makes opaque ids with their kind's prefix ({@code ses_...}); injected so tests can fix them. */
@FunctionalInterface
public interface IdGenerator {
  String next(IdKind kind);

  /** 20 random base62 characters (119 bits) after the prefix. */
  static IdGenerator random() {
    return kind -> kind.prefix() + "_" + base62(20);
  }

  /** {@code length} characters from a cryptographically strong source. */
  static String base62(int length) {
    String alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    StringBuilder sb = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      sb.append(alphabet.charAt(Holder.RANDOM.nextInt(alphabet.length())));
    }
    return sb.toString();
  }

  /** Lazily created, shared random source. */
  final class Holder {
    static final SecureRandom RANDOM = new SecureRandom();

    private Holder() {}
  }
}
