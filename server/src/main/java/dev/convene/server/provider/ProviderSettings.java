package dev.convene.server.provider;

/**
 * One tenant's decrypted settings of one provider, as {@link ProviderFactory} builds a
 * {@link MediaProvider} from them. Secrets live in these objects only while a call needs them;
 * {@code toString} never shows them.
 */
public sealed interface ProviderSettings {
  /**
   * Twilio: the account, the API key that signs tokens and calls the REST API, the auth token, the
   * media region of new rooms (null: Twilio's choice) and the sender of SMS invitations
   * ({@code smsFrom}: a number, short code or alphanumeric id; {@code messagingServiceSid}: an
   * {@code MG…} service, which wins when both are set; null when not configured).
   */
  record Twilio(String accountSid, String apiKeySid, String apiKeySecret, String authToken, String mediaRegion,
      String smsFrom, String messagingServiceSid) implements ProviderSettings {
    /** Whether an SMS sender is configured. */
    public boolean canSendSms() {
      return (smsFrom != null && !smsFrom.isBlank()) || (messagingServiceSid != null && !messagingServiceSid.isBlank());
    }

    // smsFrom is the tenant's own sender (a business number or name), not a person's number: shown.
    @Override
    public String toString() {
      return "Twilio[accountSid=" + accountSid + ", apiKeySid=" + apiKeySid + ", mediaRegion=" + mediaRegion
          + ", smsFrom=" + smsFrom + ", messagingServiceSid=" + messagingServiceSid + "]";
    }
  }

  /** LiveKit: the server URL (http(s)://host[:port]) and an API key with its secret. */
  record LiveKit(String url, String apiKey, String apiSecret) implements ProviderSettings {
    @Override
    public String toString() {
      return "LiveKit[url=" + url + ", apiKey=" + apiKey + "]";
    }
  }

  /** Jitsi with Prosody token auth: the meeting domain, app id and app secret (HS256). */
  record Jitsi(String domain, String appId, String appSecret) implements ProviderSettings {
    @Override
    public String toString() {
      return "Jitsi[domain=" + domain + ", appId=" + appId + "]";
    }
  }
}
