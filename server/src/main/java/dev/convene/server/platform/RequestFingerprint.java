package dev.convene.server.platform;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Message;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

/**
 * What a create asked for, so a retry carrying the same {@code request_id} can be told from a
 * different request reusing it: SHA-256 of the request without its request id, in protobuf's
 * deterministic encoding (map entries sorted by key), so the same request always hashes the same.
 */
public final class RequestFingerprint {
  private RequestFingerprint() {}

  /** The fingerprint of {@code request}, whose request id the caller has cleared. */
  public static byte[] of(Message request) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(request.getSerializedSize());
    try {
      CodedOutputStream out = CodedOutputStream.newInstance(bytes);
      out.useDeterministicSerialization();
      request.writeTo(out);
      out.flush();
      return MessageDigest.getInstance("SHA-256").digest(bytes.toByteArray());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** True when {@code stored} (null for rows written before fingerprints) matches {@code fingerprint}. */
  public static boolean matches(byte[] stored, byte[] fingerprint) {
    return stored == null || Arrays.equals(stored, fingerprint);
  }
}
