package dev.convene.server.auth;

import io.grpc.Context;

/** Who is calling: the tenant every query is scoped to and the API key that proved it. */
public record Principal(String tenantId, String keyId) {
  static final Context.Key<Principal> CONTEXT_KEY = Context.key("convene.principal");

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
    return "api_key:" + keyId;
  }
}
