package dev.convene.server.platform;

import java.time.Clock;
import org.jdbi.v3.core.Jdbi;

/** The shared layer every feature is built from, made once by the composition root. */
public record Platform(Jdbi jdbi, Clock clock, IdGenerator ids, UnitOfWork uow, EventLog events,
    PageTokens pageTokens) {}
