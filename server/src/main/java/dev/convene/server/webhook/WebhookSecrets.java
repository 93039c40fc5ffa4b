package dev.convene.server.webhook;

import com.standardwebhooks.Webhook;
import dev.convene.server.platform.SecretBox;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * The endpoints' signing secrets: made here ({@code whsec_} and base64 of 32 random bytes, as the
 * Standard Webhooks specification has them), kept sealed with the master key (bound to the tenant
 * and endpoint, so a sealed secret copied to another row does not open), and used to sign with the
 * Standard Webhooks library: one {@code v1,} signature per live secret, space-separated.
 */
final class WebhookSecrets {
  private static final SecureRandom RANDOM = new SecureRandom();

  private final SecretBox box;

  WebhookSecrets(SecretBox box) {
    this.box = box;
  }

  static String generate() {
    byte[] key = new byte[32];
    RANDOM.nextBytes(key);
    return "whsec_" + Base64.getEncoder().encodeToString(key);
  }

  byte[] seal(String tenantId, String endpointId, String secret) {
    return box.seal(secret.getBytes(StandardCharsets.UTF_8), context(tenantId, endpointId));
  }

  /**
   * The {@code webhook-signature} header for {@code payload}: signed with the current secret and,
   * until it expires, the one before the last rotation.
   */
  String signature(Endpoints.Row e, String messageId, long timestampSeconds, String payload, java.time.Instant now) {
    List<String> signatures = new ArrayList<>();
    signatures.add(sign(open(e, e.secretSealed()), messageId, timestampSeconds, payload));
    if (e.previousSecretSealed() != null && e.previousExpireTime() != null && now.isBefore(e.previousExpireTime())) {
      signatures.add(sign(open(e, e.previousSecretSealed()), messageId, timestampSeconds, payload));
    }
    return String.join(" ", signatures);
  }

  private String open(Endpoints.Row e, byte[] sealed) {
    return new String(box.open(sealed, context(e.tenantId(), e.id())), StandardCharsets.UTF_8);
  }

  private static String sign(String secret, String messageId, long timestampSeconds, String payload) {
    try {
      return new Webhook(secret).sign(messageId, timestampSeconds, payload);
    } catch (com.standardwebhooks.exceptions.WebhookSigningException e) {
      throw new IllegalStateException("could not sign a webhook", e);
    }
  }

  private static String context(String tenantId, String endpointId) {
    return "webhook-secret/" + tenantId + "/" + endpointId;
  }
}
