package dev.convene.server.group;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.*;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * N-trial races on one group, each trial's calls released together by a barrier: members starting
 * a call at once get one call between them; the last two owners leaving at once never leave the
 * group without an owner; adds racing past the member limit never exceed it.
 */
class GroupRaceTest {
  static final int TRIALS = 200;

  @RegisterExtension
  static final TestServerExtension servers = new TestServerExtension();
  TestServer server;
  GroupServiceGrpc.GroupServiceBlockingStub groups;
  ExecutorService pool;

  @BeforeEach
  void setUp() {
    server = servers.get();
    groups = GroupServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    pool = Executors.newFixedThreadPool(4);
  }

  @AfterEach
  void tearDown() {
    pool.shutdownNow();
  }

  /** Runs {@code n} calls at once and returns what each answered (or its status code). */
  private List<Object> race(int n, IntFunction<Callable<?>> calls) throws Exception {
    CyclicBarrier barrier = new CyclicBarrier(n);
    List<Future<Object>> futures = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Callable<?> call = calls.apply(i);
      futures.add(pool.submit(() -> {
        barrier.await();
        try {
          return call.call();
        } catch (StatusRuntimeException e) {
          return e.getStatus().getCode();
        }
      }));
    }
    List<Object> out = new ArrayList<>();
    for (Future<Object> f : futures) {
      out.add(f.get());
    }
    return out;
  }

  /** A group of {@code members}, the first its owner (user ids are made unique per trial: the per-user group limit). */
  private Group group(int trial, String... members) {
    for (int i = 0; i < members.length; i++) {
      members[i] = members[i] + "-" + trial;
    }
    Group g = groups.createGroup(CreateGroupRequest.newBuilder().setOwnerUserId(members[0]).setName("Team").build())
        .getGroup();
    for (int i = 1; i < members.length; i++) {
      groups.addGroupMember(AddGroupMemberRequest.newBuilder().setGroupId(g.getId()).setUserId(members[i]).build());
    }
    return g;
  }

  @Test
  void membersStartingACallAtOnce_getOneCallBetweenThem() throws Exception {
    int lost = 0;
    for (int t = 0; t < TRIALS; t++) {
      String[] members = {"a", "b", "c", "d"};
      Group g = group(t, members);
      List<Object> answers = race(4, i -> () -> groups.startGroupCall(StartGroupCallRequest.newBuilder()
          .setGroupId(g.getId()).setUserId(members[i]).build()));
      long fresh = answers.stream().filter(a -> a instanceof StartGroupCallResponse r && !r.getAlreadyLive()).count();
      long sessions = answers.stream().map(a -> a instanceof StartGroupCallResponse r ? r.getSession().getId() : a)
          .distinct().count();
      int calls = server.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM group_calls WHERE group_id = :g")
          .bind("g", g.getId()).mapTo(Integer.class).one());
      if (fresh != 1 || sessions != 1 || calls != 1) {
        lost++;
      }
    }
    assertEquals(0, lost, "trials without exactly one call started and returned to all four, of " + TRIALS);
  }

  @Test
  void theLastTwoOwnersLeavingAtOnce_neverLeaveTheGroupWithoutAnOwner() throws Exception {
    int lost = 0;
    for (int t = 0; t < TRIALS; t++) {
      String[] members = {"a", "b", "c"};
      Group g = group(t, members);
      groups.updateGroupMember(UpdateGroupMemberRequest.newBuilder().setGroupId(g.getId()).setUserId(members[1])
          .setRole(GroupRole.GROUP_ROLE_OWNER).build());
      List<Object> answers = race(2, i -> () -> groups.leaveGroup(LeaveGroupRequest.newBuilder().setGroupId(g.getId())
          .setUserId(members[i]).build()));
      int owners = server.jdbi().withHandle(h -> h.createQuery(
              "SELECT count(*) FROM group_members WHERE group_id = :g AND role = 'OWNER'")
          .bind("g", g.getId()).mapTo(Integer.class).one());
      long refused = answers.stream().filter(a -> a == Status.Code.FAILED_PRECONDITION).count();
      if (owners != 1 || refused != 1) {
        lost++;
      }
    }
    assertEquals(0, lost, "trials that did not keep exactly one owner with one leave refused, of " + TRIALS);
  }

  @Test
  void addsRacingPastTheMemberLimit_neverExceedIt() throws Exception {
    int lost = 0;
    for (int t = 0; t < TRIALS / 4; t++) {
      String[] members = new String[GroupService.MAX_MEMBERS - 2];
      for (int i = 0; i < members.length; i++) {
        members[i] = "m" + i;
      }
      Group g = group(t, members);
      List<Object> answers = race(4, i -> () -> groups.addGroupMember(AddGroupMemberRequest.newBuilder()
          .setGroupId(g.getId()).setUserId("late" + i).build()));
      int count = server.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM group_members WHERE group_id = :g")
          .bind("g", g.getId()).mapTo(Integer.class).one());
      int shown = groups.getGroup(GetGroupRequest.newBuilder().setGroupId(g.getId()).build()).getGroup().getMemberCount();
      long full = answers.stream().filter(a -> a == Status.Code.RESOURCE_EXHAUSTED).count();
      if (count != GroupService.MAX_MEMBERS || shown != count || full != 2) {
        lost++;
      }
    }
    assertEquals(0, lost, "trials where the group did not stop at exactly " + GroupService.MAX_MEMBERS + " members, of "
        + TRIALS / 4);
  }
}
