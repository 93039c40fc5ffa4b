package dev.convene.server.token;

import dev.convene.server.platform.OutsideJobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.provider.TenantProviders;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionChanges;
import dev.convene.server.session.SessionRow;
import dev.convene.v1.ProviderKind;
import dev.convene.v1.SessionEventType;
import java.util.Map;
import java.util.Optional;

/**
 * Ends the provider room of a session that ended (scheduled by the session's move to a terminal
 * status): reads what to end in one transaction, asks the provider with none open, and records
 * ENDED in another. A provider that fails makes the runner retry with backoff.
 */
final class EndRoomJob implements OutsideJobHandler {
  private final Platform platform;
  private final TenantProviders providers;

  EndRoomJob(Platform platform, TenantProviders providers) {
    this.platform = platform;
    this.providers = providers;
  }

  @Override
  public String kind() {
    return SessionChanges.END_ROOM_JOB;
  }

  @Override
  public void runOutside(String tenantId, String sessionId) {
    String actor = "system:job:" + kind();
    Optional<SessionRow.Room> room = platform.uow().write(tenantId, actor, tx -> {
      SessionRow s = Rosters.lock(tx, sessionId);
      return SessionChanges.ROOM_ENDING.equals(s.room().state()) ? Optional.of(s.room()) : Optional.empty();
    });
    if (room.isEmpty()) {
      return;
    }
    ProviderKind kind = ProviderKind.valueOf(room.get().provider());
    String name = room.get().name() == null ? sessionId : room.get().name();
    providers.call(tenantId, kind, "ending the room", p -> p.endRoom(name));
    platform.uow().write(tenantId, actor, tx -> {
      SessionRow s = Rosters.lock(tx, sessionId);
      if (SessionChanges.ROOM_ENDING.equals(s.room().state())) {
        Rosters.setRoom(tx, s, new SessionRow.Room(s.room().provider(), s.room().name(), s.room().sid(),
            SessionChanges.ROOM_ENDED));
        Rosters.event(tx, s, SessionEventType.SESSION_EVENT_TYPE_PROVIDER_ROOM_ENDED,
            Map.of("provider", kind.name(), "room_name", name));
      }
      return null;
    });
  }
}
