package dev.convene.server.auth;

import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ErrorReasons;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.util.Optional;
import java.util.Set;
import org.jdbi.v3.core.Jdbi;

/**
 * Authenticates every call with {@code authorization: Bearer <api key>} and puts the caller's
 * {@link Principal} in the context. Health and reflection stay open.
 */
public final class AuthInterceptor implements ServerInterceptor {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final Set<String> OPEN_SERVICES = Set.of(
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection");

  private final Jdbi jdbi;

  public AuthInterceptor(Jdbi jdbi) {
    this.jdbi = jdbi;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    if (OPEN_SERVICES.contains(call.getMethodDescriptor().getServiceName())) {
      return next.startCall(call, headers);
    }
    Principal principal = authenticate(headers.get(AUTHORIZATION));
    Context ctx = Context.current().withValue(Principal.CONTEXT_KEY, principal);
    return Contexts.interceptCall(ctx, call, headers, next);
  }

  Principal authenticate(String authorization) {
    if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      throw ConveneException.unauthenticated(ErrorReasons.MISSING_CREDENTIAL,
          "send authorization: Bearer <api key>");
    }
    String key = authorization.substring(7).trim();
    Optional<String> keyId = ApiKeys.keyId(key);
    Optional<String> tenant = keyId.flatMap(id ->
        jdbi.withExtension(TenantDao.class, dao -> dao.tenantOfKey(id, ApiKeys.hash(key))));
    if (tenant.isEmpty()) {
      throw ConveneException.unauthenticated(ErrorReasons.INVALID_CREDENTIAL,
          "the API key is unknown or revoked");
    }
    return new Principal(tenant.get(), keyId.get());
  }
}
