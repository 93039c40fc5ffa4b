package dev.convene.server.presence;

import dev.convene.server.provider.ProviderSettings;
import io.livekit.server.WebhookReceiver;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import livekit.LivekitWebhook.WebhookEvent;

/**
 * LiveKit webhooks: {@code authorization} carries a JWT (no {@code Bearer}) signed HS256 with the API
 * secret, issued by the API key, whose {@code sha256} claim is the body's hash; the body is the
 * protojson of a {@code WebhookEvent}. The LiveKit SDK's {@link WebhookReceiver} checks all of it
 * (signature, issuer, expiry, hash over the UTF-8 bytes) and parses the body.
 */
final class LiveKitCallbacks {
  private LiveKitCallbacks() {}

  /** The verified callback; throws {@link WebhookRejected} when it does not verify. */
  static ProviderCallback verify(ProviderSettings.LiveKit settings, byte[] body, String authorization) {
    if (authorization == null || authorization.isEmpty()) {
      throw WebhookRejected.unsigned();
    }
    String text = new String(body, StandardCharsets.UTF_8);
    if (!java.util.Arrays.equals(text.getBytes(StandardCharsets.UTF_8), body)) {
      throw WebhookRejected.invalid("the body is not UTF-8");
    }
    WebhookEvent event;
    try {
      event = new WebhookReceiver(settings.apiKey(), settings.apiSecret()).receive(text, authorization, false);
    } catch (com.auth0.jwt.exceptions.TokenExpiredException e) {
      throw WebhookRejected.expired();
    } catch (RuntimeException e) {
      // Wrong signature, issuer or hash, or a body that is not a WebhookEvent: all the same to a forger.
      throw WebhookRejected.invalid("the authorization does not verify");
    }
    ProviderCallback.Change change = switch (event.getEvent()) {
      case "participant_joined" -> ProviderCallback.Change.CONNECTED;
      case "participant_left", "participant_connection_aborted" -> ProviderCallback.Change.DISCONNECTED;
      case "room_finished" -> ProviderCallback.Change.ROOM_ENDED;
      default -> ProviderCallback.Change.NONE;
    };
    String id = event.getId().isEmpty() ? "sha256:" + sha256Hex(body) : event.getId();
    Instant time = Instant.ofEpochSecond(event.getCreatedAt());
    String identity = event.hasParticipant() ? event.getParticipant().getIdentity() : null;
    String room = event.hasRoom() ? event.getRoom().getName() : null;
    return new ProviderCallback(id, event.getEvent(), change, room, identity, time, null);
  }

  static String sha256Hex(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
