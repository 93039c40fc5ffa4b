package dev.convene.server.platform;

import java.time.Clock;
import javax.sql.DataSource;
import org.jdbi.v3.core.Jdbi;

/**
 * The shared layer every feature is built from, made once by the composition root. {@code dataSource}
 * is the pool under {@code jdbi}, for the few hot reads that skip Jdbi's per-statement setup;
 * {@code secrets} encrypts what is kept but must not be stored in the clear; {@code signal} tells
 * the log's followers on every replica that it grew; {@code metrics} is what operators scrape.
 */
public record Platform(Jdbi jdbi, DataSource dataSource, Clock clock, IdGenerator ids, UnitOfWork uow,
    EventLog events, PageTokens pageTokens, SecretBox secrets, EventSignal signal,
    io.micrometer.core.instrument.MeterRegistry metrics) {}
