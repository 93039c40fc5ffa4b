package dev.convene.server.platform;

import java.time.Instant;
import java.util.List;
import org.jdbi.v3.core.statement.SqlStatement;

/** The {@code jobs} table's write that happens inside a change: scheduling (see {@link Tx#schedule}). */
final class Jobs {
  private Jobs() {}

  record Pending(String kind, String subjectId, Instant due) {}

  /**
   * Upserts the jobs (one statement). A re-schedule resets attempts and errors and bumps the
   * version, so a runner still holding the old schedule does not delete the new one.
   */
  static final String UPSERT = """
      INSERT INTO jobs (tenant_id, kind, subject_id, due_time)
      SELECT DISTINCT ON (j.kind, j.subject_id) :tenantId, j.kind, j.subject_id, j.due
        FROM unnest(CAST(:jobKinds AS text[]), CAST(:jobSubjects AS text[]),
                    CAST(CAST(:jobDues AS text[]) AS timestamptz[])) WITH ORDINALITY AS j(kind, subject_id, due, n)
       ORDER BY j.kind, j.subject_id, j.n DESC
      ON CONFLICT (tenant_id, kind, subject_id) DO UPDATE
         SET due_time = excluded.due_time, attempts = 0, version = jobs.version + 1, last_error = NULL,
             parked_time = NULL
      """;

  /** Binds {@link #UPSERT}'s parameters (besides :tenantId). */
  static void bind(SqlStatement<?> statement, List<Pending> jobs) {
    statement.bind("jobKinds", SqlArrays.column(jobs, Pending::kind))
        .bind("jobSubjects", SqlArrays.column(jobs, Pending::subjectId))
        .bind("jobDues", SqlArrays.column(jobs, j -> j.due().toString()));
  }
}
