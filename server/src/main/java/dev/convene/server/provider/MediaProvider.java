package dev.convene.server.provider;

import dev.convene.v1.ProviderKind;
import java.util.List;

/**
 * A media provider as Convene drives it: the room of a session, the participants in it, and the
 * tokens that let people in. One implementation per provider (Twilio, LiveKit, Jitsi), built for
 * one tenant's decrypted settings by {@link ProviderFactory}. Methods that call the provider block
 * for at most the factory's timeout and must never be called while a database transaction or
 * connection is held; they throw {@link ProviderException} on failure. Minting a token is local.
 */
public interface MediaProvider {
  ProviderKind kind();

  /**
   * Creates the room {@code spec} names, or finds the one that exists already under that name
   * (LiveKit: CreateRoom is idempotent by name; Twilio: a duplicate UniqueName answers 53113 and the
   * in-progress room is fetched instead). Jitsi has no room API: its rooms exist when joined, so it
   * returns the name with {@code created == false} and no sid.
   */
  ProviderRoom ensureRoom(RoomSpec spec);

  /**
   * Ends the room: Twilio completes it, LiveKit deletes it (disconnecting everyone). A room that
   * does not exist or has ended already is not an error. Jitsi: nothing to do.
   */
  void endRoom(String roomName);

  /** The identities connected to the room now (empty when the room does not exist; Jitsi: unsupported). */
  List<String> connectedIdentities(String roomName);

  /** Disconnects one participant from the room; one who is not there is not an error. */
  void removeParticipant(String roomName, String identity);

  /** How a provider's room followed {@link #setRecording}. */
  enum RecordingControl {
    /** The provider's API now records the room, or stopped recording it. */
    APPLIED,
    /** Recording rights travel in the participants' tokens (Jitsi); nothing to call. */
    IN_TOKENS,
    /** The provider cannot record through Convene; the state is kept in Convene only. */
    UNSUPPORTED
  }

  /**
   * Makes the room record every participant ({@code on}) or nobody. Idempotent; a room that does
   * not exist is an error (the caller only asks for active rooms, and retries).
   */
  RecordingControl setRecording(String roomName, boolean on);

  /** Mints a token for one participant with the rights of its role. Local: no network call. */
  IssuedToken token(TokenSpec spec);

  /** Checks the configured credentials against the provider; never throws for bad credentials. */
  CredentialCheckResult checkCredentials();
}
