package dev.convene.server.platform;

import java.time.Instant;
import java.util.List;
import org.jdbi.v3.core.Handle;

/** The {@code jobs} table's writes that happen inside a change: scheduling (see {@link Tx#schedule}). */
final class Jobs {
  private Jobs() {}

  record Pending(String kind, String subjectId, Instant due) {}

  /**
   * Upserts the jobs in one statement. A re-schedule resets attempts and errors and bumps the
   * version, so a runner still holding the old schedule does not delete the new one.
   */
  static void schedule(Handle h, String tenantId, List<Pending> jobs) {
    int n = jobs.size();
    String[] kinds = new String[n];
    String[] subjects = new String[n];
    String[] dues = new String[n];
    for (int i = 0; i < n; i++) {
      kinds[i] = jobs.get(i).kind();
      subjects[i] = jobs.get(i).subjectId();
      dues[i] = jobs.get(i).due().toString();
    }
    h.createUpdate("""
        INSERT INTO jobs (tenant_id, kind, subject_id, due_time)
        SELECT DISTINCT ON (j.kind, j.subject_id) :tenantId, j.kind, j.subject_id, j.due
          FROM unnest(CAST(:kinds AS text[]), CAST(:subjects AS text[]), CAST(CAST(:dues AS text[]) AS timestamptz[]))
               WITH ORDINALITY AS j(kind, subject_id, due, n)
         ORDER BY j.kind, j.subject_id, j.n DESC
        ON CONFLICT (tenant_id, kind, subject_id) DO UPDATE
           SET due_time = excluded.due_time, attempts = 0, version = jobs.version + 1, last_error = NULL,
               parked_time = NULL
        """)
        .bind("tenantId", tenantId).bind("kinds", kinds).bind("subjects", subjects).bind("dues", dues)
        .execute();
  }
}
