package dev.convene.server.testing;

import io.jsonwebtoken.Jwts;
import io.jsonwebtoken.security.Keys;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** Provider callbacks signed as the providers sign them, for tests. */
public final class Signatures {
  private Signatures() {}

  /** Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the URL and the sorted name+value pairs. */
  public static String twilio(String authToken, String url, Map<String, String> params) throws Exception {
    StringBuilder data = new StringBuilder(url);
    new TreeMap<>(params).forEach((k, v) -> data.append(k).append(v));
    Mac mac = Mac.getInstance("HmacSHA1");
    mac.init(new SecretKeySpec(authToken.getBytes(StandardCharsets.UTF_8), "HmacSHA1"));
    return Base64.getEncoder().encodeToString(mac.doFinal(data.toString().getBytes(StandardCharsets.UTF_8)));
  }

  /** LiveKit's Authorization: a raw HS256 JWT by {@code apiKey}, with the body's SHA-256 (base64). */
  public static String liveKit(String apiKey, String secret, String body, Instant expires) throws Exception {
    String hash = Base64.getEncoder().encodeToString(
        MessageDigest.getInstance("SHA-256").digest(body.getBytes(StandardCharsets.UTF_8)));
    Instant now = Instant.now();
    return Jwts.builder().issuer(apiKey).notBefore(Date.from(now.minusSeconds(60)))
        .issuedAt(Date.from(now)).expiration(Date.from(expires)).claim("sha256", hash)
        .signWith(Keys.hmacShaKeyFor(secret.getBytes(StandardCharsets.UTF_8)), Jwts.SIG.HS256).compact();
  }

  /** A form body of {@code params}, URL-encoded as Twilio posts it. */
  public static String form(Map<String, String> params) {
    StringBuilder b = new StringBuilder();
    params.forEach((k, v) -> b.append(b.length() == 0 ? "" : "&")
        .append(java.net.URLEncoder.encode(k, StandardCharsets.UTF_8)).append('=')
        .append(java.net.URLEncoder.encode(v, StandardCharsets.UTF_8)));
    return b.toString();
  }
}
