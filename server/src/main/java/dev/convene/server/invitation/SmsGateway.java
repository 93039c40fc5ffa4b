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

  /** Sends {@code body} to {@code to}; Twilio's message SID. Throws {@link SmsFailure}. */
  String send(String tenantId, String to, String body, String statusCallback) {
    return sms(tenantId).send(to, body, statusCallback);
  }

  /** The SID of a message sent to {@code to} since {@code since} whose body contains {@code marker}, if any. */
  Optional<String> findSent(String tenantId, String to, Instant since, String marker) {
    return sms(tenantId).findSent(to, since, marker);
  }

  private TwilioSms sms(String tenantId) {
    ProviderSettings.Twilio settings = (ProviderSettings.Twilio) configs.resolve(tenantId, ProviderKind.PROVIDER_KIND_TWILIO)
        .map(ProviderConfigs.Resolved::settings)
        .orElseThrow(() -> SmsFailure.notConfigured("no Twilio is configured for this tenant"));
    if (!settings.canSendSms()) {
      throw SmsFailure.notConfigured("the tenant's Twilio configuration has no sms_from or messaging_service_sid");
    }
    return factory.sms(settings);
  }
}
