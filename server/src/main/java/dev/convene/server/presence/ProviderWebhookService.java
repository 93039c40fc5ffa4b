package dev.convene.server.presence;

import static dev.convene.server.grpc.Unary.reply;

import dev.convene.server.auth.CallbackHeaders;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.platform.Platform;
import dev.convene.server.provider.ProviderConfigs;
import dev.convene.server.provider.ProviderSettings;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.ProviderKind;
import dev.convene.v1.ProviderWebhookServiceGrpc;
import dev.convene.v1.ReceiveProviderWebhookRequest;
import dev.convene.v1.ReceiveProviderWebhookResponse;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.time.Instant;

/**
 * ProviderWebhookService: a provider callback is verified against the tenant's provider secret
 * before anything else is read, refused if older than {@link #MAX_AGE} (or dated more than
 * {@link #MAX_SKEW} ahead), then stored and applied by {@link ProviderEvents}.
 */
final class ProviderWebhookService extends ProviderWebhookServiceGrpc.ProviderWebhookServiceImplBase {
  static final int MAX_BODY_BYTES = 64 * 1024;
  /** Older callbacks are refused as replays; well inside the retention, so a repeat is always found. */
  static final Duration MAX_AGE = Duration.ofHours(1);
  static final Duration MAX_SKEW = Duration.ofMinutes(5);

  private final Platform platform;
  private final ProviderConfigs configs;
  private final ProviderEvents events;

  ProviderWebhookService(Platform platform, ProviderConfigs configs, ProviderEvents events) {
    this.platform = platform;
    this.configs = configs;
    this.events = events;
  }

  @Override
  public void receiveProviderWebhook(ReceiveProviderWebhookRequest req,
      StreamObserver<ReceiveProviderWebhookResponse> out) {
    byte[] body = req.getBody().getData().toByteArray();
    if (body.length > MAX_BODY_BYTES) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "body.data",
          "the callback body is longer than " + MAX_BODY_BYTES + " bytes");
    }
    ProviderKind kind = req.getProvider().equals("twilio") ? ProviderKind.PROVIDER_KIND_TWILIO
        : ProviderKind.PROVIDER_KIND_LIVEKIT;
    String tenantId = req.getTenantId();
    // An unknown tenant and a tenant without this provider answer as a bad signature does.
    ProviderConfigs.Resolved resolved = configs.resolve(tenantId, kind)
        .orElseThrow(() -> WebhookRejected.invalid("there is no " + req.getProvider() + " configuration to verify with"));
    CallbackHeaders headers = CallbackHeaders.current();
    ProviderCallback cb;
    Instant now = platform.clock().instant();
    if (resolved.settings() instanceof ProviderSettings.Twilio twilio) {
      cb = TwilioCallbacks.verify(twilio, resolved.callbackUrl(tenantId, kind), body, headers.twilioSignature(),
          headers.idempotencyToken(), now);
    } else if (resolved.settings() instanceof ProviderSettings.LiveKit livekit) {
      cb = LiveKitCallbacks.verify(livekit, body, headers.authorization());
    } else {
      throw WebhookRejected.invalid("this provider sends no callbacks");
    }
    if (cb.time().isBefore(now.minus(MAX_AGE))) {
      throw WebhookRejected.expired();
    }
    if (cb.time().isAfter(now.plus(MAX_SKEW))) {
      throw WebhookRejected.invalid("the callback is dated in the future");
    }
    ProviderEvents.Result result = events.record(tenantId, kind, cb, req.getBody().getContentType(), body);
    reply(out, ReceiveProviderWebhookResponse.newBuilder().setDuplicate(result.duplicate())
        .setApplied(result.applied()).build());
  }
}
