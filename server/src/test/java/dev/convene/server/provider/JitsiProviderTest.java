package dev.convene.server.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.convene.v1.ParticipantRole;
import io.jsonwebtoken.Claims;
import io.jsonwebtoken.Jws;
import io.jsonwebtoken.Jwts;
import io.jsonwebtoken.security.Keys;
import io.jsonwebtoken.security.WeakKeyException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** JitsiProvider's meeting tokens, read back with jjwt and verified independently with Python's PyJWT. */
class JitsiProviderTest {
  static final String DOMAIN = "meet.example.org";
  static final String APP_ID = "convene";
  static final String SECRET = "jitsi-test-secret-0123456789-abcdefghij";
  static final String PYJWT = "PyJWT==2.10.1";
  static final ObjectMapper JSON = new ObjectMapper();

  static final List<String> ALL_FEATURES = List.of("recording", "livestreaming", "transcription", "screen-sharing",
      "create-polls", "send-groupchat", "send-private-message", "flip", "lobby", "moderation", "list-visitors",
      "file-upload", "live-translation", "outbound-call", "inbound-call", "sip-outbound-call", "sip-inbound-call");

  static Map<String, String> features(String... enabled) {
    List<String> on = List.of(enabled);
    return ALL_FEATURES.stream().collect(Collectors.toMap(f -> f, f -> String.valueOf(on.contains(f))));
  }

  static final Map<ParticipantRole, Map<String, String>> FEATURES = Map.of(
      ParticipantRole.PARTICIPANT_ROLE_HOST, features("recording", "livestreaming", "transcription", "screen-sharing",
          "create-polls", "send-groupchat", "send-private-message", "flip", "lobby", "moderation", "list-visitors",
          "file-upload", "live-translation"),
      ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT, features("screen-sharing", "create-polls", "send-groupchat",
          "send-private-message", "flip", "file-upload", "live-translation"),
      ParticipantRole.PARTICIPANT_ROLE_OBSERVER, features());

  static final Map<ParticipantRole, Map<String, Object>> USERS = Map.of(
      ParticipantRole.PARTICIPANT_ROLE_HOST, Map.of("id", "usr_Host", "name", "Dr. Ada", "affiliation", "owner",
          "moderator", true, "lobby_bypass", true),
      ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT, Map.of("id", "usr_Part", "name", "Bob", "affiliation", "member",
          "moderator", false),
      ParticipantRole.PARTICIPANT_ROLE_OBSERVER, Map.of("id", "usr_Obs", "name", "", "affiliation", "member",
          "moderator", false));

  final MediaProvider provider = new ProviderFactory(Duration.ofSeconds(1), null)
      .create(new ProviderSettings.Jitsi(DOMAIN, APP_ID, SECRET));
  final Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
  final Instant expire = now.plus(Duration.ofMinutes(45));

  /** A token minted while recording is allowed: every role's full feature set. */
  IssuedToken token(ParticipantRole role) {
    return token(role, true);
  }

  IssuedToken token(ParticipantRole role, boolean recordingAllowed) {
    Map<String, Object> user = USERS.get(role);
    return provider.token(new TokenSpec("ses_MixedCase42", (String) user.get("id"), (String) user.get("name"), role,
        now, expire, recordingAllowed));
  }

  /** The claims every role's token must carry, written out independently of the provider. */
  Map<String, Object> expectedClaims(ParticipantRole role) {
    Map<String, Object> claims = new LinkedHashMap<>();
    claims.put("iss", APP_ID);
    claims.put("aud", APP_ID);
    claims.put("sub", DOMAIN);
    claims.put("room", "ses_mixedcase42");
    claims.put("nbf", now.getEpochSecond());
    claims.put("iat", now.getEpochSecond());
    claims.put("exp", expire.getEpochSecond());
    claims.put("context", Map.of("user", USERS.get(role), "features", FEATURES.get(role)));
    return claims;
  }

  static Map<String, Object> rawJson(String segment) throws IOException {
    return JSON.readValue(Base64.getUrlDecoder().decode(segment), new TypeReference<>() {});
  }

  @Test
  void token_everyRole_carriesEveryProsodyClaim_readBackWithJjwt() throws IOException {
    for (ParticipantRole role : FEATURES.keySet()) {
      String jwt = token(role).token();

      Jws<Claims> jws = Jwts.parser().verifyWith(Keys.hmacShaKeyFor(SECRET.getBytes(StandardCharsets.UTF_8)))
          .requireIssuer(APP_ID).requireAudience(APP_ID).build().parseSignedClaims(jwt);
      assertEquals("JWT", jws.getHeader().getType(), role.name());
      assertEquals("HS256", jws.getHeader().getAlgorithm());
      Claims claims = jws.getPayload();
      assertEquals(DOMAIN, claims.getSubject());
      assertEquals("ses_mixedcase42", claims.get("room"));
      assertEquals(now, claims.getNotBefore().toInstant());
      assertEquals(now, claims.getIssuedAt().toInstant());
      assertEquals(expire, claims.getExpiration().toInstant());
      assertEquals(Duration.ofMinutes(45),
          Duration.between(claims.getNotBefore().toInstant(), claims.getExpiration().toInstant()));

      // The raw payload, because Prosody wants a string aud (no array) and needs every claim above.
      Map<String, Object> raw = rawJson(jwt.split("\\.")[1]);
      // Through JSON and back, so numbers compare as the parser types them.
      Map<String, Object> expected = JSON.readValue(JSON.writeValueAsBytes(expectedClaims(role)), new TypeReference<>() {});
      assertEquals(expected, raw, role.name());
    }
  }

  @Test
  void token_hostWhileRecordingIsNotAllowed_hasRecordingFalse_andEverythingElseAsUsual() throws IOException {
    Map<String, Object> raw = rawJson(token(ParticipantRole.PARTICIPANT_ROLE_HOST, false).token().split("\\.")[1]);
    @SuppressWarnings("unchecked")
    Map<String, Object> features = (Map<String, Object>) ((Map<String, Object>) raw.get("context")).get("features");
    Map<String, String> expected = new LinkedHashMap<>(FEATURES.get(ParticipantRole.PARTICIPANT_ROLE_HOST));
    expected.put("recording", "false");
    assertEquals(expected, features);
    // A participant never gets it, allowed or not.
    Map<String, Object> part = rawJson(token(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT, true).token().split("\\.")[1]);
    assertEquals("false", ((Map<?, ?>) ((Map<?, ?>) part.get("context")).get("features")).get("recording"));
  }

  @Test
  void setRecording_isCarriedByTokens_withoutACall() {
    assertEquals(MediaProvider.RecordingControl.IN_TOKENS, provider.setRecording("ses_X", true));
  }

  @Test
  void token_observer_hasEveryFeatureSpelledOutFalse() throws IOException {
    Map<String, Object> raw = rawJson(token(ParticipantRole.PARTICIPANT_ROLE_OBSERVER).token().split("\\.")[1]);
    @SuppressWarnings("unchecked")
    Map<String, Object> features = (Map<String, Object>) ((Map<String, Object>) raw.get("context")).get("features");

    assertEquals(ALL_FEATURES.size(), features.size());
    assertTrue(features.values().stream().allMatch("false"::equals), features.toString());
  }

  @Test
  void token_participant_mayNotRecordOrStream() throws IOException {
    Map<String, Object> raw = rawJson(token(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT).token().split("\\.")[1]);
    @SuppressWarnings("unchecked")
    Map<String, Object> features = (Map<String, Object>) ((Map<String, Object>) raw.get("context")).get("features");

    assertEquals("false", features.get("recording"));
    assertEquals("false", features.get("livestreaming"));
    assertEquals("true", features.get("screen-sharing"));
  }

  @Test
  void connectUrl_isTheMeetingLinkWithTheToken() {
    IssuedToken issued = token(ParticipantRole.PARTICIPANT_ROLE_HOST);

    assertEquals("https://" + DOMAIN + "/ses_mixedcase42?jwt=" + issued.token(), issued.connectUrl());
  }

  @Test
  void token_everyRole_verifiesWithPyJwt() throws Exception {
    Path python = python();
    for (ParticipantRole role : FEATURES.keySet()) {
      Map<String, Object> request = Map.of("token", token(role).token(), "secret", SECRET, "app_id", APP_ID,
          "expected", expectedClaims(role));

      Process p = new ProcessBuilder(python.toString(), Path.of("src/test/providers/verify_jitsi.py").toString())
          .redirectError(ProcessBuilder.Redirect.INHERIT)
          .start();
      // Token and secret on stdin, not in argv where other processes could read them.
      try (var in = p.getOutputStream()) {
        in.write(JSON.writeValueAsBytes(request));
      }
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(p.waitFor(60, TimeUnit.SECONDS));
      Map<String, Object> result = JSON.readValue(out, new TypeReference<>() {});
      assertEquals(List.of(), result.get("errors"), role.name());
      assertEquals(true, result.get("ok"));
      assertEquals(0, p.exitValue());
    }
  }

  @Test
  void pyJwt_rejectsATokenSignedWithAnotherSecret() throws Exception {
    MediaProvider other = new ProviderFactory(Duration.ofSeconds(1), null)
        .create(new ProviderSettings.Jitsi(DOMAIN, APP_ID, "another-secret-0123456789-abcdefghijklmn"));
    String jwt = other.token(new TokenSpec("ses_X", "usr_x", "X", ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT, now,
        expire, false)).token();

    Process p = new ProcessBuilder(python().toString(), "src/test/providers/verify_jitsi.py")
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try (var in = p.getOutputStream()) {
      in.write(JSON.writeValueAsBytes(Map.of("token", jwt, "secret", SECRET, "app_id", APP_ID)));
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));

    assertEquals(1, p.exitValue(), out);
    assertTrue(out.contains("InvalidSignatureError"), out);
  }

  /**
   * A Python with PyJWT: PROVIDERS_PYTHON, else a venv in target/ made (once) with pip. Fails
   * rather than skips when neither can be had.
   */
  static synchronized Path python() throws IOException, InterruptedException {
    String fromEnv = System.getenv("PROVIDERS_PYTHON");
    if (fromEnv != null && !fromEnv.isBlank()) {
      return Path.of(fromEnv);
    }
    Path venv = Path.of("target", "providers-venv").toAbsolutePath();
    Path python = venv.resolve("bin/python");
    if (Files.isExecutable(python) && run(python.toString(), "-c", "import jwt") == 0) {
      return python;
    }
    check(run("python3", "-m", "venv", venv.toString()), "python3 -m venv " + venv);
    check(run(python.toString(), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PYJWT),
        "pip install " + PYJWT);
    return python;
  }

  static int run(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).inheritIO().start();
    if (!p.waitFor(5, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      return -1;
    }
    return p.exitValue();
  }

  static void check(int exit, String what) {
    if (exit != 0) {
      throw new IllegalStateException(what + " failed (exit " + exit + "); set PROVIDERS_PYTHON to a python with "
          + PYJWT);
    }
  }

  @Test
  void ensureRoom_namesTheLowercasedRoom_withoutCallingAnything() {
    assertEquals(new ProviderRoom("ses_mixedcase42", null, false),
        provider.ensureRoom(new RoomSpec("ses_MixedCase42", false, 3, Duration.ofMinutes(5), null, null)));
    provider.endRoom("ses_MixedCase42");
    provider.removeParticipant("ses_MixedCase42", "usr_x");
  }

  @Test
  void connectedIdentities_isUnsupported_ratherThanEmpty() {
    assertThrows(UnsupportedOperationException.class, () -> provider.connectedIdentities("ses_MixedCase42"));
  }

  @Test
  void checkCredentials_checksTheShapeOnly() {
    assertEquals(new CredentialCheckResult(true, "", true, true, "Jitsi has no API to check against"),
        provider.checkCredentials());

    CredentialCheckResult shortSecret = new ProviderFactory(Duration.ofSeconds(1), null)
        .create(new ProviderSettings.Jitsi(DOMAIN, APP_ID, "too-short")).checkCredentials();
    assertFalse(shortSecret.valid());
    assertTrue(shortSecret.detail().contains("32 bytes"), shortSecret.detail());
    assertFalse(shortSecret.detail().contains("too-short"));

    assertFalse(new ProviderFactory(Duration.ofSeconds(1), null)
        .create(new ProviderSettings.Jitsi("", APP_ID, SECRET)).checkCredentials().valid());
    assertFalse(new ProviderFactory(Duration.ofSeconds(1), null)
        .create(new ProviderSettings.Jitsi(DOMAIN, " ", SECRET)).checkCredentials().valid());
  }

  @Test
  void token_withShortSecret_isRefused() {
    MediaProvider weak = new ProviderFactory(Duration.ofSeconds(1), null)
        .create(new ProviderSettings.Jitsi(DOMAIN, APP_ID, "too-short"));

    assertThrows(WeakKeyException.class, () -> weak.token(new TokenSpec("ses_X", "usr_x", "X",
        ParticipantRole.PARTICIPANT_ROLE_HOST, now, expire, false)));
  }
}
