package dev.convene.server.provider;

/**
 * A minted provider token.
 *
 * @param token      the token (secret: never logged)
 * @param connectUrl where the client connects: LiveKit's ws(s) URL, the Jitsi meeting link with the
 *                   token; empty for Twilio
 */
public record IssuedToken(String token, String connectUrl) {}
