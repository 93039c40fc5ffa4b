package dev.convene.server.event;

import java.time.Instant;

/** One stored row of the event log. */
public record EventRow(long sequence, String sessionId, String type, Instant eventTime, String actor, String payload) {}
