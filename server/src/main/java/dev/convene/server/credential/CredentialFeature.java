package dev.convene.server.credential;

import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import io.grpc.BindableService;
import java.util.List;

/** User and guest credentials: CredentialService and the signing keys that the token feature also signs with. */
public final class CredentialFeature implements Feature {
  private final CredentialIssuer issuer;
  private final CredentialService service;

  public CredentialFeature(Platform platform) {
    SigningKeys keys = new SigningKeys(platform.jdbi(), platform.secrets(), platform.clock(), platform.ids());
    this.issuer = new CredentialIssuer(keys, platform.clock(), platform.ids());
    this.service = new CredentialService(platform, keys, issuer);
  }

  /** Signs guest credentials for RedeemAccessCode. */
  public CredentialIssuer issuer() {
    return issuer;
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of();
  }
}
