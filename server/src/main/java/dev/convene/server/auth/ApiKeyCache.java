package dev.convene.server.auth;

import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A small positive cache of API key lookups, so an authenticated read costs one database round
 * trip, not two. Only keys found live are cached, keyed by their hash (never the key itself), for
 * {@code ttl}: that is how long a revoked key may still work on a replica that saw it just before
 * (CONVENE_AUTH_CACHE_TTL, documented as the revocation delay). Unknown keys are never cached, so a
 * new key works at once.
 */
final class ApiKeyCache {
  private record Entry(Principal principal, long expiresAtMillis) {}

  private final ConcurrentHashMap<ByteBuffer, Entry> entries = new ConcurrentHashMap<>();
  private final Clock clock;
  private final long ttlMillis;
  private final int maxEntries;

  ApiKeyCache(Clock clock, Duration ttl, int maxEntries) {
    this.clock = clock;
    this.ttlMillis = ttl.toMillis();
    this.maxEntries = maxEntries;
  }

  Optional<Principal> get(byte[] hash) {
    if (ttlMillis <= 0) {
      return Optional.empty();
    }
    Entry e = entries.get(ByteBuffer.wrap(hash));
    if (e == null) {
      return Optional.empty();
    }
    if (e.expiresAtMillis() <= clock.millis()) {
      entries.remove(ByteBuffer.wrap(hash), e);
      return Optional.empty();
    }
    return Optional.of(e.principal());
  }

  void put(byte[] hash, Principal principal) {
    if (ttlMillis <= 0) {
      return;
    }
    if (entries.size() >= maxEntries) {
      // Rare (more live keys in use than entries): start over rather than track recency.
      entries.clear();
    }
    entries.put(ByteBuffer.wrap(hash.clone()), new Entry(principal, clock.millis() + ttlMillis));
  }
}
