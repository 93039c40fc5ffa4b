package dev.convene.server.auth;

import dev.convene.v1.CallerKind;
import io.grpc.Context;

/**
 * Who is calling: the kind of caller, the tenant every query is scoped to, and the credential that
 * proved it (for an API key, its key id, which logs and events name instead of the secret).
 */
public record Principal(CallerKind kind, String tenantId, String credentialId) {
  static final Context.Key<Principal> CONTEXT_KEY = Context.key("convene.principal");

  /** A tenant's backend calling with the API key {@code keyId}. */
  public static Principal tenant(String tenantId, String keyId) {
    return new Principal(CallerKind.CALLER_KIND_TENANT, tenantId, keyId);
  }

  /** The caller of the current gRPC call; set by {@link AuthInterceptor}. */
  public static Principal current() {
    Principal p = CONTEXT_KEY.get();
    if (p == null) {
      throw new IllegalStateException("no authenticated principal on this call");
    }
    return p;
  }

  /** How the event log names this caller. */
  public String actor() {
    return "api_key:" + credentialId;
  }
}
