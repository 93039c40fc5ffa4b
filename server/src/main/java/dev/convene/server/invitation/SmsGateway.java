package dev.convene.server.invitation;

import dev.convene.server.provider.ProviderConfigs;
import dev.convene.server.provider.ProviderFactory;
import dev.convene.server.provider.ProviderSettings;
import dev.convene.server.provider.SmsFailure;
import dev.convene.server.provider.TwilioSms;
import dev.convene.v1.ProviderKind;
import java.time.Instant;
import java.util.Optional;

/**
 * Where SMS invitations leave Convene: the tenant's Twilio Messaging ({@link TwilioSms}: one request
 * per call, failures classified as {@link SmsFailure}). Never called with a transaction open.
 */
class SmsGateway {
  private final ProviderConfigs configs;
  private final ProviderFactory factory;

  SmsGateway(ProviderConfigs configs, ProviderFactory factory) {
    this.configs = configs;
    this.factory = factory;
  }

  /**
   * Sends {@code body} to {@code to}, asking Twilio to report its status to the tenant's callback URL
   * (none without a public base URL); Twilio's message SID. Throws {@link SmsFailure}.
   */
  String send(String tenantId, String to, String body) {
    ProviderConfigs.Resolved resolved = twilio(tenantId);
    return sms(resolved).send(to, body, resolved.callbackUrl(tenantId, ProviderKind.PROVIDER_KIND_TWILIO));
  }

  /** The SID of a message sent to {@code to} since {@code since} whose body contains {@code marker}, if any. */
  Optional<String> findSent(String tenantId, String to, Instant since, String marker) {
    return sms(twilio(tenantId)).findSent(to, since, marker);
  }

  private ProviderConfigs.Resolved twilio(String tenantId) {
    return configs.resolve(tenantId, ProviderKind.PROVIDER_KIND_TWILIO)
        .orElseThrow(() -> SmsFailure.notConfigured("no Twilio is configured for this tenant"));
  }

  private TwilioSms sms(ProviderConfigs.Resolved resolved) {
    ProviderSettings.Twilio settings = (ProviderSettings.Twilio) resolved.settings();
    if (!settings.canSendSms()) {
      throw SmsFailure.notConfigured("the tenant's Twilio configuration has no sms_from or messaging_service_sid");
    }
    return factory.sms(settings);
  }
}
