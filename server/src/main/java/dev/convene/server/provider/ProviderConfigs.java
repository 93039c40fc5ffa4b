package dev.convene.server.provider;

import com.google.protobuf.Message;
import dev.convene.server.db.Json;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.SecretBox;
import dev.convene.server.platform.Tx;
import dev.convene.v1.CredentialCheck;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.JitsiConfig;
import dev.convene.v1.LiveKitConfig;
import dev.convene.v1.ProviderConfig;
import dev.convene.v1.ProviderKind;
import dev.convene.v1.TwilioConfig;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * The {@code provider_configs} table: each tenant's settings per provider, the non-secret part in
 * the clear and the secrets sealed under the master key (bound to tenant and provider), and the
 * last credential check. The one place provider secrets are decrypted.
 */
public final class ProviderConfigs {
  static final String AGGREGATE = "provider_config";

  /** A stored configuration, secrets still sealed. */
  record Row(String tenantId, ProviderKind provider, boolean isDefault, String settingsJson, byte[] secrets,
      List<String> storedSecrets, String statusCallbackBaseUrl, Instant updateTime, String lastCheckJson) {}

  private static final String COLUMNS = "tenant_id, provider, is_default, settings::text, secrets, stored_secrets, "
      + "status_callback_base_url, update_time, last_check::text";

  private final Jdbi jdbi;
  private final SecretBox box;

  public ProviderConfigs(Jdbi jdbi, SecretBox box) {
    this.jdbi = jdbi;
    this.box = box;
  }

  /**
   * Stores {@code config} for the transaction's tenant. Secrets left empty keep the stored ones;
   * INVALID_ARGUMENT naming the field when there is none to keep.
   */
  Row set(Tx tx, ProviderConfig config) {
    ProviderKind kind = kindOf(config);
    if (config.getProvider() != ProviderKind.PROVIDER_KIND_UNSPECIFIED && config.getProvider() != kind) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "config.provider",
          "provider does not match the settings given (" + kind.name() + ")");
    }
    Handle h = tx.handle();
    Optional<Row> old = h.createQuery("SELECT " + COLUMNS
            + " FROM provider_configs WHERE tenant_id = :tenantId AND provider = :provider FOR UPDATE")
        .bind("tenantId", tx.tenantId()).bind("provider", kind.name()).map((rs, ctx) -> row(rs)).findOne();
    Message secrets = mergeSecrets(config, old.map(r -> openSecrets(r)).orElse(null));
    boolean otherDefault = h.createQuery(
            "SELECT count(*) FROM provider_configs WHERE tenant_id = :tenantId AND is_default AND provider <> :provider")
        .bind("tenantId", tx.tenantId()).bind("provider", kind.name()).mapTo(Long.class).one() > 0;
    boolean isDefault = config.getDefault() || !otherDefault;
    if (config.getDefault()) {
      h.createUpdate("UPDATE provider_configs SET is_default = false WHERE tenant_id = :tenantId AND provider <> :provider")
          .bind("tenantId", tx.tenantId()).bind("provider", kind.name()).execute();
    }
    List<String> stored = secretNames(secrets);
    h.createUpdate("""
            INSERT INTO provider_configs (tenant_id, provider, is_default, settings, secrets, stored_secrets,
                status_callback_base_url, update_time, last_check)
            VALUES (:tenantId, :provider, :isDefault, CAST(:settings AS jsonb), :secrets, :stored, :callback, :now, NULL)
            ON CONFLICT (tenant_id, provider) DO UPDATE
               SET is_default = excluded.is_default, settings = excluded.settings, secrets = excluded.secrets,
                   stored_secrets = excluded.stored_secrets,
                   status_callback_base_url = excluded.status_callback_base_url, update_time = excluded.update_time,
                   last_check = NULL, version = provider_configs.version + 1
            """)
        .bind("tenantId", tx.tenantId()).bind("provider", kind.name()).bind("isDefault", isDefault)
        .bind("settings", Json.print(withoutSecrets(config)))
        .bind("secrets", box.seal(Json.print(secrets).getBytes(StandardCharsets.UTF_8), context(tx.tenantId(), kind)))
        .bind("stored", stored.toArray(String[]::new)).bind("callback", config.getStatusCallbackBaseUrl())
        .bind("now", tx.now()).execute();
    tx.append(AGGREGATE, kind.name(), "PROVIDER_CONFIG_SET",
        Map.of("provider", kind.name(), "default", isDefault, "stored_secrets", stored));
    return find(h, tx.tenantId(), kind).orElseThrow();
  }

  Optional<Row> find(String tenantId, ProviderKind kind) {
    return jdbi.withHandle(h -> find(h, tenantId, kind));
  }

  private Optional<Row> find(Handle h, String tenantId, ProviderKind kind) {
    return h.createQuery("SELECT " + COLUMNS + " FROM provider_configs WHERE tenant_id = :tenantId AND provider = :provider")
        .bind("tenantId", tenantId).bind("provider", kind.name()).map((rs, ctx) -> row(rs)).findOne();
  }

  List<Row> list(String tenantId) {
    return jdbi.withHandle(h -> h.createQuery("SELECT " + COLUMNS
            + " FROM provider_configs WHERE tenant_id = :tenantId ORDER BY provider")
        .bind("tenantId", tenantId).map((rs, ctx) -> row(rs)).list());
  }

  /** Every stored configuration of every tenant (the start-up credential check), at most {@code limit}. */
  List<Row> all(int limit) {
    return jdbi.withHandle(h -> h.createQuery("SELECT " + COLUMNS
            + " FROM provider_configs ORDER BY tenant_id, provider LIMIT :limit")
        .bind("limit", limit).map((rs, ctx) -> row(rs)).list());
  }

  /** The tenant's default provider, if it configured one. */
  public Optional<ProviderKind> defaultProvider(Handle h, String tenantId) {
    return h.createQuery("SELECT provider FROM provider_configs WHERE tenant_id = :tenantId AND is_default")
        .bind("tenantId", tenantId).mapTo(String.class).findOne().map(ProviderKind::valueOf);
  }

  /** The decrypted settings of the tenant's {@code kind} provider, with the status callback base URL. */
  public Optional<Resolved> resolve(String tenantId, ProviderKind kind) {
    return find(tenantId, kind).map(r -> new Resolved(settings(r), r.statusCallbackBaseUrl()));
  }

  /** As {@link #resolve(String, ProviderKind)}, on the caller's handle (inside its transaction). */
  public Optional<Resolved> resolve(Handle h, String tenantId, ProviderKind kind) {
    return find(h, tenantId, kind).map(r -> new Resolved(settings(r), r.statusCallbackBaseUrl()));
  }

  /** Settings ready for {@link ProviderFactory#create}, and where the provider's callbacks go. */
  public record Resolved(ProviderSettings settings, String statusCallbackBaseUrl) {
    /**
     * The URL this tenant's provider of {@code kind} calls back (and signs): the configured public
     * base URL + {@code /webhooks/<provider>/<tenant>}; null when no base URL is configured.
     */
    public String callbackUrl(String tenantId, ProviderKind kind) {
      return statusCallbackBaseUrl.isEmpty() ? null
          : statusCallbackBaseUrl.replaceAll("/+$", "") + "/webhooks/" + pathName(kind) + "/" + tenantId;
    }
  }

  /** The provider's name in callback URLs: {@code twilio}, {@code livekit}, {@code jitsi}. */
  public static String pathName(ProviderKind kind) {
    return kind.name().substring("PROVIDER_KIND_".length()).toLowerCase(java.util.Locale.ROOT);
  }

  void recordCheck(String tenantId, ProviderKind kind, CredentialCheck check) {
    jdbi.useHandle(h -> h.createUpdate(
            "UPDATE provider_configs SET last_check = CAST(:check AS jsonb) WHERE tenant_id = :tenantId AND provider = :provider")
        .bind("check", Json.print(check)).bind("tenantId", tenantId).bind("provider", kind.name()).execute());
  }

  ProviderSettings settings(Row r) {
    Message secrets = openSecrets(r);
    return switch (r.provider()) {
      case PROVIDER_KIND_TWILIO -> {
        TwilioConfig s = (TwilioConfig) parse(r.settingsJson(), TwilioConfig.newBuilder());
        TwilioConfig k = (TwilioConfig) secrets;
        yield new ProviderSettings.Twilio(s.getAccountSid(), s.getApiKeySid(), k.getApiKeySecret(), k.getAuthToken(),
            emptyToNull(s.getMediaRegion()), emptyToNull(s.getSmsFrom()), emptyToNull(s.getMessagingServiceSid()));
      }
      case PROVIDER_KIND_LIVEKIT -> {
        LiveKitConfig s = (LiveKitConfig) parse(r.settingsJson(), LiveKitConfig.newBuilder());
        yield new ProviderSettings.LiveKit(s.getUrl(), s.getApiKey(), ((LiveKitConfig) secrets).getApiSecret());
      }
      case PROVIDER_KIND_JITSI -> {
        JitsiConfig s = (JitsiConfig) parse(r.settingsJson(), JitsiConfig.newBuilder());
        yield new ProviderSettings.Jitsi(s.getDomain(), s.getAppId(), ((JitsiConfig) secrets).getAppSecret());
      }
      default -> throw new IllegalStateException("unknown provider " + r.provider());
    };
  }

  /** The configuration as reads show it: settings without secrets, the names of the stored secrets. */
  static ProviderConfig toProto(Row r) {
    ProviderConfig.Builder b = ProviderConfig.newBuilder().setProvider(r.provider()).setDefault(r.isDefault())
        .setStatusCallbackBaseUrl(r.statusCallbackBaseUrl()).addAllStoredSecrets(r.storedSecrets())
        .setUpdateTime(ProtoTime.timestamp(r.updateTime()));
    switch (r.provider()) {
      case PROVIDER_KIND_TWILIO -> b.setTwilio((TwilioConfig) parse(r.settingsJson(), TwilioConfig.newBuilder()));
      case PROVIDER_KIND_LIVEKIT -> b.setLivekit((LiveKitConfig) parse(r.settingsJson(), LiveKitConfig.newBuilder()));
      case PROVIDER_KIND_JITSI -> b.setJitsi((JitsiConfig) parse(r.settingsJson(), JitsiConfig.newBuilder()));
      default -> { }
    }
    if (r.lastCheckJson() != null) {
      b.setLastCheck((CredentialCheck) parse(r.lastCheckJson(), CredentialCheck.newBuilder()));
    }
    return b.build();
  }

  static ProviderKind kindOf(ProviderConfig c) {
    return switch (c.getSettingsCase()) {
      case TWILIO -> ProviderKind.PROVIDER_KIND_TWILIO;
      case LIVEKIT -> ProviderKind.PROVIDER_KIND_LIVEKIT;
      case JITSI -> ProviderKind.PROVIDER_KIND_JITSI;
      default -> throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "config",
          "exactly one of twilio, livekit or jitsi must be set");
    };
  }

  /** The settings message without its secret fields (what is stored in the clear and shown). */
  private static Message withoutSecrets(ProviderConfig c) {
    return switch (c.getSettingsCase()) {
      case TWILIO -> c.getTwilio().toBuilder().clearApiKeySecret().clearAuthToken().build();
      case LIVEKIT -> c.getLivekit().toBuilder().clearApiSecret().build();
      case JITSI -> c.getJitsi().toBuilder().clearAppSecret().build();
      default -> throw new IllegalStateException();
    };
  }

  /** The secrets to store: those given, else the stored ones; INVALID_ARGUMENT when one is missing. */
  private static Message mergeSecrets(ProviderConfig c, Message stored) {
    return switch (c.getSettingsCase()) {
      case TWILIO -> {
        TwilioConfig old = stored instanceof TwilioConfig t ? t : TwilioConfig.getDefaultInstance();
        yield TwilioConfig.newBuilder()
            .setApiKeySecret(pick(c.getTwilio().getApiKeySecret(), old.getApiKeySecret(), "config.twilio.api_key_secret"))
            .setAuthToken(pick(c.getTwilio().getAuthToken(), old.getAuthToken(), "config.twilio.auth_token")).build();
      }
      case LIVEKIT -> LiveKitConfig.newBuilder().setApiSecret(pick(c.getLivekit().getApiSecret(),
          stored instanceof LiveKitConfig l ? l.getApiSecret() : "", "config.livekit.api_secret")).build();
      case JITSI -> JitsiConfig.newBuilder().setAppSecret(pick(c.getJitsi().getAppSecret(),
          stored instanceof JitsiConfig j ? j.getAppSecret() : "", "config.jitsi.app_secret")).build();
      default -> throw new IllegalStateException();
    };
  }

  private static String pick(String given, String stored, String field) {
    if (!given.isEmpty()) {
      return given;
    }
    if (stored.isEmpty()) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, field,
          field + " is required: no secret is stored yet");
    }
    return stored;
  }

  private static List<String> secretNames(Message secrets) {
    List<String> names = new ArrayList<>();
    secrets.getAllFields().keySet().forEach(f -> names.add(f.getName()));
    return names;
  }

  private Message openSecrets(Row r) {
    String json = new String(box.open(r.secrets(), context(r.tenantId(), r.provider())), StandardCharsets.UTF_8);
    return switch (r.provider()) {
      case PROVIDER_KIND_TWILIO -> parse(json, TwilioConfig.newBuilder());
      case PROVIDER_KIND_LIVEKIT -> parse(json, LiveKitConfig.newBuilder());
      case PROVIDER_KIND_JITSI -> parse(json, JitsiConfig.newBuilder());
      default -> throw new IllegalStateException("unknown provider " + r.provider());
    };
  }

  private static String emptyToNull(String s) {
    return s.isEmpty() ? null : s;
  }

  private static String context(String tenantId, ProviderKind kind) {
    return "provider:" + tenantId + ":" + kind.name();
  }

  private static Message parse(String json, Message.Builder b) {
    Json.merge(json, b);
    return b.build();
  }

  private static Row row(java.sql.ResultSet rs) throws java.sql.SQLException {
    return new Row(rs.getString(1), ProviderKind.valueOf(rs.getString(2)), rs.getBoolean(3), rs.getString(4),
        rs.getBytes(5), List.of((String[]) rs.getArray(6).getArray()), rs.getString(7),
        rs.getObject(8, OffsetDateTime.class).toInstant(), rs.getString(9));
  }
}
