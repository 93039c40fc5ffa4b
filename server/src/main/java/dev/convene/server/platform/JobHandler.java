package dev.convene.server.platform;

/**
 * One kind of background work, run by the {@link JobRunner} for each due job of its kind, in the
 * job's tenant's transaction. A handler re-checks under its locks whether the work is still due
 * (the world may have moved since the job was scheduled) and does nothing if not. Throwing makes
 * the runner retry the job later.
 */
public interface JobHandler {
  /** The job kind, as scheduled with {@link Tx#schedule}: {@code <feature>.<what>}. */
  String kind();

  void run(Tx tx, String subjectId);
}
