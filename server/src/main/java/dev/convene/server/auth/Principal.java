package dev.convene.server.auth;

import dev.convene.v1.CallerKind;
import io.grpc.Context;

/**
 * Who is calling: the kind of caller, the tenant every query is scoped to, the credential that
 * proved it (an API key's id, or a signed credential's id), and for end users and guests the
 * tenant's user id, for guests also the one session they may act in. What a user or guest may do
 * is then decided from the roster, never from what the request claims.
 */
public record Principal(CallerKind kind, String tenantId, String credentialId, String userId, String sessionId,
    java.time.Instant issueTime, java.time.Instant expireTime) {
  static final Context.Key<Principal> CONTEXT_KEY = Context.key("convene.principal");

  /** A tenant's backend calling with the API key {@code keyId}. */
  public static Principal tenant(String tenantId, String keyId) {
    return new Principal(CallerKind.CALLER_KIND_TENANT, tenantId, keyId, null, null, null, null);
  }

  /** An end user of {@code tenantId} with a user credential. */
  public static Principal user(String tenantId, String credentialId, String userId) {
    return new Principal(CallerKind.CALLER_KIND_USER, tenantId, credentialId, userId, null, null, null);
  }

  /** A guest admitted to one session as one roster user. */
  public static Principal guest(String tenantId, String credentialId, String userId, String sessionId) {
    return new Principal(CallerKind.CALLER_KIND_GUEST, tenantId, credentialId, userId, sessionId, null, null);
  }

  /** A caller of a method that needs no credential; it has no tenant until its request names one. */
  public static Principal anonymous() {
    return new Principal(CallerKind.CALLER_KIND_ANONYMOUS, null, null, null, null, null, null);
  }

  /** A media provider's callback for {@code tenantId}, whose signature the method verified. */
  public static Principal provider(String tenantId, String provider) {
    return new Principal(CallerKind.CALLER_KIND_PROVIDER, tenantId, provider, null, null, null, null);
  }

  /**
   * The same caller, whose signed credential was issued at {@code issued} and stops being valid at
   * {@code expire}: what a call that outlives its start (a watch stream) checks again.
   */
  public Principal withLifetime(java.time.Instant issued, java.time.Instant expire) {
    return new Principal(kind, tenantId, credentialId, userId, sessionId, issued, expire);
  }

  /** The caller of the current gRPC call; set by {@link AuthInterceptor}. */
  public static Principal current() {
    Principal p = CONTEXT_KEY.get();
    if (p == null) {
      throw new IllegalStateException("no authenticated principal on this call");
    }
    return p;
  }

  /** The tenant's backend: may act for any user of its tenant. */
  public boolean isTenant() {
    return kind == CallerKind.CALLER_KIND_TENANT;
  }

  /** How the event log names this caller. */
  public String actor() {
    return switch (kind) {
      case CALLER_KIND_TENANT -> "api_key:" + credentialId;
      case CALLER_KIND_USER -> "user:" + userId;
      case CALLER_KIND_GUEST -> "guest:" + userId;
      case CALLER_KIND_PROVIDER -> "provider:" + credentialId;
      default -> "anonymous";
    };
  }
}
