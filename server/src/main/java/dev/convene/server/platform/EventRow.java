package dev.convene.server.platform;

import java.time.Instant;

/** One stored event of any aggregate. {@code payload} is the jsonb object as text. */
public record EventRow(long position, String aggregateType, String aggregateId, long aggregateSeq, String type,
    String actor, Instant eventTime, String payload) {}
