package dev.convene.server.invitation;

import dev.convene.server.platform.Tx;
import dev.convene.server.provider.ProviderConfigs;
import dev.convene.v1.ProviderKind;

/**
 * What an invitation says and where its link and delivery callbacks point: the join page link
 * (CONVENE_INVITE_BASE_URL, the session and the code in its fragment), the SMS text around it, and
 * Twilio's status callback URL (the tenant's public base URL, as for room callbacks).
 */
final class Templates {
  /** The text of an SMS invitation; {@code {link}} is replaced by the link. */
  static final String SMS = "You are invited to a video visit. Join here: {link}";

  private final String baseUrl;
  private final ProviderConfigs configs;

  Templates(String baseUrl, ProviderConfigs configs) {
    this.baseUrl = baseUrl;
    this.configs = configs;
  }

  /** The join page's link: the session and the code ride in the fragment, which no server logs. */
  String link(String sessionId, String code) {
    return baseUrl + "#session=" + sessionId + "&code=" + code;
  }

  /** The SMS text for an invitation into {@code sessionId} with {@code code}. */
  String render(Tx tx, String sessionId, String code) {
    return SMS.replace("{link}", link(sessionId, code));
  }

  /** Where Twilio reports the message's status; null when the tenant configured no public base URL. */
  String statusCallback(String tenantId) {
    return configs.resolve(tenantId, ProviderKind.PROVIDER_KIND_TWILIO)
        .map(r -> r.callbackUrl(tenantId, ProviderKind.PROVIDER_KIND_TWILIO)).orElse(null);
  }
}
