package dev.convene.server.auth;

import io.grpc.Context;
import io.grpc.Metadata;

/**
 * The headers a media provider's callback authenticates with, as the HTTP request carried them
 * (Envoy passes them on as gRPC metadata): LiveKit's {@code authorization} (a raw JWT, no
 * {@code Bearer}), Twilio's {@code x-twilio-signature}, and Twilio's idempotency token. Values
 * longer than {@link #MAX_LENGTH} are dropped, so a verifier never reads an unbounded header.
 */
public record CallbackHeaders(String authorization, String twilioSignature, String idempotencyToken) {
  static final Context.Key<CallbackHeaders> CONTEXT_KEY = Context.key("convene.callback-headers");
  static final int MAX_LENGTH = 4096;

  private static final Metadata.Key<String> TWILIO_SIGNATURE =
      Metadata.Key.of("x-twilio-signature", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<String> TWILIO_IDEMPOTENCY =
      Metadata.Key.of("i-twilio-idempotency-token", Metadata.ASCII_STRING_MARSHALLER);

  static CallbackHeaders of(Metadata headers) {
    return new CallbackHeaders(bounded(headers.get(AuthInterceptor.AUTHORIZATION)),
        bounded(headers.get(TWILIO_SIGNATURE)), bounded(headers.get(TWILIO_IDEMPOTENCY)));
  }

  /** The headers of the current call (empty ones outside a provider callback). */
  public static CallbackHeaders current() {
    CallbackHeaders h = CONTEXT_KEY.get();
    return h == null ? new CallbackHeaders(null, null, null) : h;
  }

  private static String bounded(String value) {
    return value == null || value.length() > MAX_LENGTH ? null : value.trim();
  }
}
