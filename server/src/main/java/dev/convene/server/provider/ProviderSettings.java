package dev.convene.server.provider;

/**
 * One tenant's decrypted settings of one provider, as {@link ProviderFactory} builds a
 * {@link MediaProvider} from them. Secrets live in these objects only while a call needs them;
 * {@code toString} never shows them.
 */
public sealed interface ProviderSettings {
  /** Twilio Video: the account, the API key that signs tokens and calls the REST API, and the auth token. */
  record Twilio(String accountSid, String apiKeySid, String apiKeySecret, String authToken, String mediaRegion)
      implements ProviderSettings {
    @Override
    public String toString() {
      return "Twilio[accountSid=" + accountSid + ", apiKeySid=" + apiKeySid + ", mediaRegion=" + mediaRegion + "]";
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
