package dev.convene.server.grpc;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;

/**
 * Opaque keyset cursors: the sort key of the last row of a page, versioned and base64url-encoded.
 * A token this server did not issue is INVALID_ARGUMENT (INVALID_PAGE_TOKEN) on "page_token".
 */
public final class PageTokens {
  private static final String VERSION = "v1";
  private static final char SEP = '\u001f';

  private PageTokens() {}

  public static String encode(String kind, String... keys) {
    StringBuilder sb = new StringBuilder(VERSION).append(SEP).append(kind);
    for (String k : keys) {
      sb.append(SEP).append(k);
    }
    return Base64.getUrlEncoder().withoutPadding().encodeToString(sb.toString().getBytes(StandardCharsets.UTF_8));
  }

  /** The keys of a token of {@code kind} with {@code count} keys. */
  public static List<String> decode(String token, String kind, int count) {
    try {
      String raw = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8);
      List<String> parts = List.of(raw.split(String.valueOf(SEP), -1));
      if (parts.size() != count + 2 || !parts.get(0).equals(VERSION) || !parts.get(1).equals(kind)) {
        throw invalid();
      }
      return parts.subList(2, parts.size());
    } catch (IllegalArgumentException e) {
      throw invalid();
    }
  }

  /** 0 means {@code dflt}, above {@code max} is capped (negative never gets here: the contract rejects it). */
  public static int pageSize(int requested, int dflt, int max) {
    return requested <= 0 ? dflt : Math.min(requested, max);
  }

  public static ConveneException invalid() {
    return ConveneException.invalidArgument(ErrorReasons.INVALID_PAGE_TOKEN, "page_token",
        "page_token is not a token this server issued for this list");
  }
}
