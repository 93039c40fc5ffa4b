package dev.convene.server.provider;

/**
 * A provider room as the provider reported it.
 *
 * @param name    the room's name (the session id)
 * @param sid     the provider's id for it (Twilio {@code RM…}, LiveKit {@code RM_…}); null for Jitsi
 * @param created whether this call created it (false when it existed already)
 */
public record ProviderRoom(String name, String sid, boolean created) {}
