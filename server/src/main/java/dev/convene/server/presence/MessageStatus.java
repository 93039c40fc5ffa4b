package dev.convene.server.presence;

import dev.convene.server.platform.Tx;

/**
 * A message status callback (Twilio Messaging: {@code MessageSid}, {@code MessageStatus} queued,
 * sent, delivered, undelivered, failed; {@code ErrorCode} on failures), verified like every
 * provider callback and handed to the feature that sent the message.
 */
public record MessageStatus(String sid, String status, String errorCode) {
  /** The feature that sent messages: applies a status in the tenant's transaction, returning the outcome stored. */
  public interface Listener {
    String apply(Tx tx, MessageStatus status);
  }
}
