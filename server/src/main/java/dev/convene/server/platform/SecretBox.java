package dev.convene.server.platform;

import com.google.crypto.tink.Aead;
import com.google.crypto.tink.InsecureSecretKeyAccess;
import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.RegistryConfiguration;
import com.google.crypto.tink.TinkJsonProtoKeysetFormat;
import com.google.crypto.tink.aead.AeadConfig;
import com.google.crypto.tink.aead.PredefinedAeadParameters;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.util.Base64;

/**
 * Encrypts what Convene must be able to read back but never store in the clear (provider secrets,
 * signing keys): Tink AEAD (AES-256-GCM) under the master keyset. Every ciphertext is bound to a
 * context (the associated data, e.g. {@code provider:<tenant>:<provider>}), so a row copied into
 * another tenant's place does not decrypt. The keyset can hold several keys: Tink decrypts with any
 * and encrypts with the primary, so the master key rotates without re-encrypting first.
 */
public final class SecretBox {
  private final Aead aead;

  private SecretBox(Aead aead) {
    this.aead = aead;
  }

  static {
    try {
      AeadConfig.register();
    } catch (GeneralSecurityException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** A box over {@code keyset}: Tink's JSON keyset format, or base64 of it. */
  public static SecretBox of(String keyset) {
    String json = keyset.trim();
    if (!json.startsWith("{")) {
      try {
        json = new String(Base64.getDecoder().decode(json), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("CONVENE_MASTER_KEY must be a Tink JSON keyset or base64 of one");
      }
    }
    try {
      KeysetHandle handle = TinkJsonProtoKeysetFormat.parseKeyset(json, InsecureSecretKeyAccess.get());
      return new SecretBox(handle.getPrimitive(RegistryConfiguration.get(), Aead.class));
    } catch (GeneralSecurityException e) {
      // Never the keyset itself in the message.
      throw new IllegalArgumentException("CONVENE_MASTER_KEY is not a usable Tink AEAD keyset: " + e.getClass().getSimpleName());
    }
  }

  /** A new AES-256-GCM keyset in Tink's JSON format (secret). */
  public static String newKeyset() {
    try {
      return TinkJsonProtoKeysetFormat.serializeKeyset(
          KeysetHandle.generateNew(PredefinedAeadParameters.AES256_GCM), InsecureSecretKeyAccess.get());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("could not generate a keyset", e);
    }
  }

  /**
   * The keyset kept in {@code file}, made there (readable by the owner only) on first use: the
   * embedded development mode's master key, next to its data.
   */
  public static SecretBox inFile(Path file) {
    try {
      if (!Files.exists(file)) {
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), "master-key", ".tmp",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(tmp, newKeyset());
        try {
          Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException raced) {
          Files.deleteIfExists(tmp);
          if (!Files.exists(file)) {
            throw raced;
          }
        }
      }
      return of(Files.readString(file));
    } catch (IOException e) {
      throw new UncheckedIOException("could not read or create the master key " + file, e);
    }
  }

  /** Encrypts {@code plaintext} for {@code context}. */
  public byte[] seal(byte[] plaintext, String context) {
    try {
      return aead.encrypt(plaintext, context.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("encryption failed", e);
    }
  }

  /**
   * Decrypts what {@link #seal} made for the same {@code context}; IllegalStateException when the
   * ciphertext was made under another key or context, or was altered.
   */
  public byte[] open(byte[] ciphertext, String context) {
    try {
      return aead.decrypt(ciphertext, context.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("a stored secret does not decrypt under the master key for its context "
          + "(a different CONVENE_MASTER_KEY, or an altered row)");
    }
  }
}
