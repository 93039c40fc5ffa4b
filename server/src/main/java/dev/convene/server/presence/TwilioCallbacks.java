package dev.convene.server.presence;

import com.twilio.security.RequestValidator;
import dev.convene.server.provider.ProviderSettings;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Map;
import java.util.TreeMap;

/**
 * Twilio Video room status callbacks: a form POST whose {@code x-twilio-signature} is HMAC-SHA1, keyed
 * with the account's auth token, over the URL Twilio called and the sorted parameters; checked with
 * the Twilio SDK's {@link RequestValidator} against the URL Convene gave Twilio for this tenant
 * (the provider configuration's public base URL), never the internal one.
 */
final class TwilioCallbacks {
  private TwilioCallbacks() {}

  /**
   * The verified callback; throws {@link WebhookRejected} when it does not verify. A room status
   * callback carries its Timestamp; a message status callback ({@code MessageSid}) has none and is
   * dated {@code received}.
   */
  static ProviderCallback verify(ProviderSettings.Twilio settings, String url, byte[] body, String signature,
      String idempotencyToken, Instant received) {
    if (signature == null || signature.isEmpty()) {
      throw WebhookRejected.unsigned();
    }
    if (url == null) {
      throw WebhookRejected.invalid("no status_callback_base_url is configured to check the signature against");
    }
    Map<String, String> params = form(body);
    if (!new RequestValidator(settings.authToken()).validate(url, params, signature)) {
      throw WebhookRejected.invalid("the signature does not verify");
    }
    if (!settings.accountSid().equals(params.get("AccountSid"))) {
      throw WebhookRejected.invalid("the callback is for another account");
    }
    // Twilio names no event id; its idempotency token if sent, else the signed parameters themselves
    // (a repeat of the same callback has the same ones).
    String id = idempotencyToken != null && !idempotencyToken.isEmpty() ? "token:" + idempotencyToken
        : "sha256:" + LiveKitCallbacks.sha256Hex(canonical(params).getBytes(StandardCharsets.UTF_8));
    if (params.containsKey("MessageSid")) {
      String status = params.getOrDefault("MessageStatus", "");
      return new ProviderCallback(id, "message-" + status, ProviderCallback.Change.MESSAGE_STATUS, null, null, received,
          new MessageStatus(params.get("MessageSid"), status, params.get("ErrorCode")));
    }
    String event = params.getOrDefault("StatusCallbackEvent", "");
    ProviderCallback.Change change = switch (event) {
      case "participant-connected" -> ProviderCallback.Change.CONNECTED;
      case "participant-disconnected" -> ProviderCallback.Change.DISCONNECTED;
      case "room-ended" -> ProviderCallback.Change.ROOM_ENDED;
      default -> ProviderCallback.Change.NONE;
    };
    Instant time;
    try {
      time = Instant.parse(params.getOrDefault("Timestamp", ""));
    } catch (DateTimeParseException e) {
      throw WebhookRejected.invalid("the callback has no valid Timestamp");
    }
    return new ProviderCallback(id, event, change, params.get("RoomName"), params.get("ParticipantIdentity"), time,
        null);
  }

  /** The form's parameters, sorted by name (a repeated name keeps its last value). */
  static Map<String, String> form(byte[] body) {
    Map<String, String> params = new TreeMap<>();
    String text = new String(body, StandardCharsets.UTF_8);
    if (text.isEmpty()) {
      return params;
    }
    try {
      for (String pair : text.split("&")) {
        int eq = pair.indexOf('=');
        String name = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
        String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
        params.put(name, value);
      }
    } catch (IllegalArgumentException e) {
      throw WebhookRejected.invalid("the body is not a form");
    }
    return params;
  }

  private static String canonical(Map<String, String> sorted) {
    StringBuilder b = new StringBuilder();
    sorted.forEach((k, v) -> b.append(k).append('=').append(v).append('\n'));
    return b.toString();
  }
}
