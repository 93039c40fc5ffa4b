package dev.convene.server.presence;

import dev.convene.server.grpc.ConveneException;
import dev.convene.v1.ErrorReason;

/** Why a provider callback was refused: always UNAUTHENTICATED, and nothing was written. */
final class WebhookRejected {
  private WebhookRejected() {}

  static ConveneException unsigned() {
    return invalid("the callback carries no signature");
  }

  static ConveneException invalid(String why) {
    return ConveneException.unauthenticated(ErrorReason.WEBHOOK_SIGNATURE_INVALID,
        "the provider callback was refused: " + why);
  }

  static ConveneException expired() {
    return ConveneException.unauthenticated(ErrorReason.WEBHOOK_EXPIRED,
        "the provider callback is older than Convene accepts");
  }
}
