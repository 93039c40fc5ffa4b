package dev.convene.server.token;

import dev.convene.server.credential.CredentialIssuer;
import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.ServerSecrets;
import dev.convene.server.provider.ProviderFeature;
import io.grpc.BindableService;
import java.util.List;

/** Tokens: TokenService (join tokens, access codes) and the job that ends rooms of ended sessions. */
public final class TokenFeature implements Feature {
  private final TokenService service;
  private final EndRoomJob endRoom;
  private final GuestCodes guestCodes;
  private final JoinTokens joinTokens;

  public TokenFeature(Platform platform, ProviderFeature providers, CredentialIssuer credentials) {
    this.joinTokens = new JoinTokens(platform, providers.configs(), providers.factory());
    AccessCodes codes = new AccessCodes(platform,
        ServerSecrets.shared(platform.jdbi(), platform.clock(), platform.secrets(), "access_code_key"));
    this.guestCodes = new GuestCodes(platform, codes, new Throttle(platform.jdbi(), platform.clock()), joinTokens,
        credentials);
    this.service = new TokenService(platform, joinTokens, codes, guestCodes);
    this.endRoom = new EndRoomJob(platform, providers.tenantProviders());
  }

  /** How codes let guests in: for features that hand codes out (invitations). */
  public GuestCodes guestCodes() {
    return guestCodes;
  }

  /**
   * A join token for {@code userId} in the tenant's session {@code sessionId}, asked for by
   * {@code caller}, with IssueJoinToken's checks and errors (for features that hand out calls: groups).
   */
  public dev.convene.v1.JoinToken joinToken(dev.convene.server.auth.Principal caller, String sessionId, String userId) {
    return joinTokens.issue(caller, caller.tenantId(), sessionId, userId);
  }

  @Override
  public List<BindableService> services() {
    return List.of(service);
  }

  @Override
  public List<JobHandler> jobs() {
    return List.of(endRoom);
  }
}
