package dev.convene.server.provider;

import static dev.convene.server.grpc.Unary.reply;

import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.Platform;
import dev.convene.v1.CheckProviderCredentialsRequest;
import dev.convene.v1.CheckProviderCredentialsResponse;
import dev.convene.v1.CredentialCheck;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.GetProviderConfigRequest;
import dev.convene.v1.GetProviderConfigResponse;
import dev.convene.v1.ListProviderConfigsRequest;
import dev.convene.v1.ListProviderConfigsResponse;
import dev.convene.v1.ProviderConfigServiceGrpc;
import dev.convene.v1.ProviderKind;
import dev.convene.v1.SetProviderConfigRequest;
import dev.convene.v1.SetProviderConfigResponse;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** ProviderConfigService: a tenant's provider settings (secrets write-only) and their credential check. */
final class ProviderConfigService extends ProviderConfigServiceGrpc.ProviderConfigServiceImplBase {
  private static final Logger log = LoggerFactory.getLogger(ProviderConfigService.class);

  private final Platform platform;
  private final ProviderConfigs configs;
  private final ProviderFactory factory;

  ProviderConfigService(Platform platform, ProviderConfigs configs, ProviderFactory factory) {
    this.platform = platform;
    this.configs = configs;
    this.factory = factory;
  }

  @Override
  public void setProviderConfig(SetProviderConfigRequest req, StreamObserver<SetProviderConfigResponse> out) {
    ProviderConfigs.Row row = platform.uow().write(tx -> configs.set(tx, req.getConfig()));
    reply(out, SetProviderConfigResponse.newBuilder().setConfig(ProviderConfigs.toProto(row)).build());
  }

  @Override
  public void getProviderConfig(GetProviderConfigRequest req, StreamObserver<GetProviderConfigResponse> out) {
    ProviderConfigs.Row row = configs.find(Principal.current().tenantId(), req.getProvider())
        .orElseThrow(() -> notConfigured(req.getProvider()));
    reply(out, GetProviderConfigResponse.newBuilder().setConfig(ProviderConfigs.toProto(row)).build());
  }

  @Override
  public void listProviderConfigs(ListProviderConfigsRequest req, StreamObserver<ListProviderConfigsResponse> out) {
    ListProviderConfigsResponse.Builder b = ListProviderConfigsResponse.newBuilder();
    configs.list(Principal.current().tenantId()).forEach(r -> b.addConfigs(ProviderConfigs.toProto(r)));
    reply(out, b.build());
  }

  @Override
  public void checkProviderCredentials(CheckProviderCredentialsRequest req,
      StreamObserver<CheckProviderCredentialsResponse> out) {
    String tenantId = Principal.current().tenantId();
    ProviderConfigs.Row row = configs.find(tenantId, req.getProvider()).orElseThrow(() -> notConfigured(req.getProvider()));
    CredentialCheck check = check(row);
    reply(out, CheckProviderCredentialsResponse.newBuilder().setProvider(req.getProvider()).setCheck(check).build());
  }

  /**
   * Asks the provider about {@code row}'s credentials (no database connection held meanwhile),
   * stores and logs the answer. Never throws for what the provider says.
   */
  CredentialCheck check(ProviderConfigs.Row row) {
    CredentialCheckResult r;
    try {
      r = factory.create(configs.settings(row)).checkCredentials();
    } catch (ProviderException e) {
      r = new CredentialCheckResult(false, "", false, false, e.getMessage());
    }
    CredentialCheck check = CredentialCheck.newBuilder().setValid(r.valid()).setAccountStatus(r.accountStatus())
        .setApiKeyValid(r.apiKeyValid()).setCredentialsMatch(r.credentialsMatch()).setDetail(r.detail())
        .setCheckTime(ProtoTime.timestamp(platform.clock().instant())).build();
    configs.recordCheck(row.tenantId(), row.provider(), check);
    // Tenant ids and the provider's own words only: never a secret.
    log.info("Provider credentials of tenant {} for {}: valid={} api_key_valid={} credentials_match={} account_status={}",
        row.tenantId(), row.provider(), r.valid(), r.apiKeyValid(), r.credentialsMatch(), r.accountStatus());
    return check;
  }

  static ConveneException notConfigured(ProviderKind kind) {
    return ConveneException.notFound(ErrorReason.PROVIDER_NOT_CONFIGURED,
        "the tenant has no configuration for " + kind.name());
  }

}
