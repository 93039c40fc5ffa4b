package dev.convene.server.auth;

import dev.convene.server.grpc.ConveneException;
import dev.convene.v1.AccessPolicy;
import dev.convene.v1.CallerKind;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.RulesProto;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.ProtoMethodDescriptorSupplier;
import java.time.Clock;
import java.time.Duration;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.jdbi.v3.core.Jdbi;

/**
 * Authenticates every call of the services it wraps with {@code authorization: Bearer <credential>},
 * puts the caller's {@link Principal} in the context, and enforces the access policy each method
 * declares in the contract ({@code option (convene.v1.access)}). Health and reflection are not
 * wrapped, so they stay open.
 */
public final class AuthInterceptor implements ServerInterceptor {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  /** The longest authorization header read: room for API keys and the signed user credentials to come. */
  static final int MAX_CREDENTIAL_LENGTH = 4096;

  private final Jdbi jdbi;
  private final ApiKeyCache cache;
  private final CredentialVerifier credentials;
  private final boolean trustForwardedFor;
  private final Map<String, Set<CallerKind>> policies = new HashMap<>();

  public AuthInterceptor(Jdbi jdbi, Clock clock, Duration cacheTtl) {
    this(jdbi, clock, cacheTtl, false);
  }

  /**
   * {@code cacheTtl} bounds how long a revoked API key or user keeps working on this replica;
   * {@code trustForwardedFor}: see {@link ClientAddress}.
   */
  public AuthInterceptor(Jdbi jdbi, Clock clock, Duration cacheTtl, boolean trustForwardedFor) {
    this.jdbi = jdbi;
    this.cache = new ApiKeyCache(clock, cacheTtl, 10_000);
    this.credentials = new CredentialVerifier(jdbi, clock, cacheTtl);
    this.trustForwardedFor = trustForwardedFor;
  }

  /**
   * Reads the access policy of every method of {@code service}; a method that declares none is a
   * mistake in the contract, and the server refuses to start with it.
   */
  public ServerServiceDefinition register(ServerServiceDefinition service) {
    for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
      MethodDescriptor<?, ?> md = m.getMethodDescriptor();
      AccessPolicy policy = md.getSchemaDescriptor() instanceof ProtoMethodDescriptorSupplier s
          ? s.getMethodDescriptor().getOptions().getExtension(RulesProto.access) : AccessPolicy.getDefaultInstance();
      if (policy.getCallersCount() == 0) {
        throw new IllegalStateException(md.getFullMethodName() + " declares no (convene.v1.access) policy");
      }
      Set<CallerKind> callers = EnumSet.noneOf(CallerKind.class);
      callers.addAll(policy.getCallersList());
      policies.put(md.getFullMethodName(), callers);
    }
    return service;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    String method = call.getMethodDescriptor().getFullMethodName();
    Set<CallerKind> allowed = policies.get(method);
    if (allowed == null) {
      throw new IllegalStateException(method + " was not registered with the access policy");
    }
    Principal principal;
    Context ctx = Context.current();
    if (allowed.contains(CallerKind.CALLER_KIND_ANONYMOUS)) {
      // The request itself authenticates (an access code), and is throttled by client address.
      principal = Principal.anonymous();
    } else if (allowed.contains(CallerKind.CALLER_KIND_PROVIDER)) {
      // The method verifies the provider's signature, which these headers carry.
      principal = Principal.anonymous();
      ctx = ctx.withValue(CallbackHeaders.CONTEXT_KEY, CallbackHeaders.of(headers));
    } else {
      principal = authenticate(headers.get(AUTHORIZATION));
      if (!allowed.contains(principal.kind())) {
        throw ConveneException.permissionDenied(ErrorReason.CALLER_NOT_ALLOWED,
            "a " + principal.kind().name().substring("CALLER_KIND_".length()).toLowerCase()
                + " credential may not call " + method);
      }
    }
    ctx = ctx.withValue(Principal.CONTEXT_KEY, principal)
        .withValue(ClientAddress.CONTEXT_KEY, ClientAddress.of(call, headers, trustForwardedFor));
    return Contexts.interceptCall(ctx, call, headers, next);
  }

  Principal authenticate(String authorization) {
    if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      throw ConveneException.unauthenticated(ErrorReason.MISSING_CREDENTIAL,
          "send authorization: Bearer <api key or credential>");
    }
    if (authorization.length() > MAX_CREDENTIAL_LENGTH) {
      throw ConveneException.unauthenticated(ErrorReason.INVALID_CREDENTIAL,
          "the credential is longer than " + MAX_CREDENTIAL_LENGTH + " characters");
    }
    String key = authorization.substring(7).trim();
    if (!key.startsWith("cvk_") && CredentialVerifier.looksSigned(key)) {
      return credentials.verify(key);
    }
    Optional<String> keyId = ApiKeys.keyId(key);
    if (keyId.isEmpty()) {
      throw invalid();
    }
    byte[] hash = ApiKeys.hash(key);
    Optional<Principal> cached = cache.get(hash);
    if (cached.isPresent()) {
      return cached.get();
    }
    Principal principal = jdbi.withHandle(h -> h.createQuery("""
            SELECT tenant_id FROM api_keys WHERE id = :id AND key_hash = :hash AND revoke_time IS NULL
            """).bind("id", keyId.get()).bind("hash", hash).mapTo(String.class).findOne())
        .map(tenant -> Principal.tenant(tenant, keyId.get()))
        .orElseThrow(AuthInterceptor::invalid);
    cache.put(hash, principal);
    return principal;
  }

  private static ConveneException invalid() {
    return ConveneException.unauthenticated(ErrorReason.INVALID_CREDENTIAL, "the credential is unknown or revoked");
  }
}
