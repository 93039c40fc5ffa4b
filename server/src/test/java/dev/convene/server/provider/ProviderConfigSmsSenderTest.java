package dev.convene.server.provider;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.badFields;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.testing.FakeTwilio;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.GetProviderConfigRequest;
import dev.convene.v1.ProviderConfig;
import dev.convene.v1.ProviderConfigServiceGrpc;
import dev.convene.v1.ProviderKind;
import dev.convene.v1.SetProviderConfigRequest;
import dev.convene.v1.TwilioConfig;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** TwilioConfig's SMS sender (sms_from, messaging_service_sid) through SetProviderConfig/GetProviderConfig. */
class ProviderConfigSmsSenderTest {
  @RegisterExtension
  static final TestServerExtension servers = new TestServerExtension();

  static final String SERVICE = "MG" + "00112233445566778899aabbccddeeff";
  static final String API_SECRET = "test-secret-0123456789-abcdefghijklmnop";
  static final String AUTH_TOKEN = "auth-token-0123456789-abcdefghijklmno";

  private static ProviderConfigServiceGrpc.ProviderConfigServiceBlockingStub configs() {
    TestServer server = servers.get();
    return ProviderConfigServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantA.key()));
  }

  private static TwilioConfig.Builder twilio() {
    return TwilioConfig.newBuilder().setAccountSid(FakeTwilio.ACCOUNT).setApiKeySid(FakeTwilio.KEY)
        .setApiKeySecret(API_SECRET).setAuthToken(AUTH_TOKEN);
  }

  private static ProviderConfig set(TwilioConfig.Builder twilio) {
    return configs().setProviderConfig(SetProviderConfigRequest.newBuilder()
        .setConfig(ProviderConfig.newBuilder().setTwilio(twilio)).build()).getConfig();
  }

  private static ProviderConfig get() {
    return configs().getProviderConfig(GetProviderConfigRequest.newBuilder()
        .setProvider(ProviderKind.PROVIDER_KIND_TWILIO).build()).getConfig();
  }

  private static ProviderSettings.Twilio settings() {
    TestServer server = servers.get();
    return (ProviderSettings.Twilio) new ProviderConfigs(server.jdbi(), server.platform.secrets())
        .resolve(server.tenantA.tenantId(), ProviderKind.PROVIDER_KIND_TWILIO).orElseThrow().settings();
  }

  @Test
  void smsSender_roundTrips_throughSetAndGet_andReachesTheSettings() {
    ProviderConfig stored = set(twilio().setSmsFrom("+15005550006").setMessagingServiceSid(SERVICE));

    TwilioConfig expected = TwilioConfig.newBuilder().setAccountSid(FakeTwilio.ACCOUNT).setApiKeySid(FakeTwilio.KEY)
        .setSmsFrom("+15005550006").setMessagingServiceSid(SERVICE).build();
    assertEquals(expected, stored.getTwilio());
    assertEquals(expected, get().getTwilio());
    ProviderSettings.Twilio s = settings();
    assertEquals("+15005550006", s.smsFrom());
    assertEquals(SERVICE, s.messagingServiceSid());
    assertEquals(API_SECRET, s.apiKeySecret());
    assertTrue(s.canSendSms());
    assertFalse(s.toString().contains(API_SECRET) || s.toString().contains(AUTH_TOKEN));

    // A later set without them (secrets kept) clears them: no sender, no SMS.
    set(TwilioConfig.newBuilder().setAccountSid(FakeTwilio.ACCOUNT).setApiKeySid(FakeTwilio.KEY));
    assertEquals("", get().getTwilio().getSmsFrom());
    assertEquals("", get().getTwilio().getMessagingServiceSid());
    assertNull(settings().smsFrom());
    assertNull(settings().messagingServiceSid());
    assertFalse(settings().canSendSms());
  }

  @ParameterizedTest
  @ValueSource(strings = {"+14155550123", "12345", "898211", "Convene", "Dr Lee 2", "A"})
  void smsFrom_acceptsE164ShortCodesAndAlphanumericIds(String from) {
    assertEquals(from, set(twilio().setSmsFrom(from)).getTwilio().getSmsFrom());
  }

  @ParameterizedTest
  @ValueSource(strings = {"4155550123", "+04155550123", "+1415555012345678", "1234", "1234567",
      "TwelveChars1", "12345678", "Dr_Lee", "+1 415 555 0123", "whatsapp:+14155550123"})
  void smsFrom_rejectsAnythingElse_namingTheField(String from) {
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> set(twilio().setSmsFrom(from)));
    assertEquals(List.of("config.twilio.sms_from"), badFields(e));
  }

  @ParameterizedTest
  @ValueSource(strings = {"MG123", "SK00112233445566778899aabbccddeeff", "MG00112233445566778899aabbccddeeffaa",
      "mg00112233445566778899aabbccddeeff"})
  void messagingServiceSid_mustBeAnMgSid_namingTheField(String sid) {
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> set(twilio().setMessagingServiceSid(sid)));
    assertEquals(List.of("config.twilio.messaging_service_sid"), badFields(e));
  }
}
