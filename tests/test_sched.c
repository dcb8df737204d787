/* test_sched.c — the scheduler's pieces without MPI ranks: the run index used by resume
 * (sorted ids + binary search), the wire protocol (explicit little-endian run_limits, work
 * and result messages, malformed messages refused), the typed abandoned status on the wire,
 * and the stop state. */
#include <string.h>

#include "result.h"
#include "runindex.h"
#include "sched_proto.h"
#include "stop.h"
#include "sweep.h"
#include "test.h"
#include "util.h"

static const char *SWEEP_TEXT =
    "name: t\n"
    "benchmark: {name: teacher_student, blocks: 2, block_size: 10, batch: 5, test_size: 20}\n"
    "models: [finetune, ewc]\n"
    "seeds: 3\n"
    "grid:\n"
    "  train.lr: [0.01, 0.02, 0.05]\n";

static void test_runindex_finds_every_run(void) {
    sweep_t s;
    CHECK(sweep_load_text(&s, "mem/t.yaml", SWEEP_TEXT) == 0, "load: %s", cls_geterr());
    if (s.nruns == 0) return;
    runindex ix;
    runindex_init(&ix, &s);
    int bad = 0;
    for (int i = 0; i < s.nruns; i++)
        if (runindex_find(&ix, s.runs[i].id) != i) bad++;
    CHECK(bad == 0, "%d of %d runs not found at their index", bad, s.nruns);
    CHECK(runindex_find(&ix, "0000000000000000") == -1, "an unknown id is -1");
    CHECK(runindex_find(&ix, "ffffffffffffffff") == -1, "an id after every id is -1");
    CHECK(runindex_find(&ix, "") == -1, "the empty id is -1");
    char id[17];
    memcpy(id, s.runs[0].id, 17);
    id[15] = id[15] == '0' ? '1' : '0';
    CHECK(runindex_find(&ix, id) == -1 || strcmp(s.runs[runindex_find(&ix, id)].id, id) == 0,
          "a near id is found only when it exists");
    runindex_free(&ix);
    sweep_free(&s);
}

static void test_limits_little_endian(void) {
    run_limits l = {60.0, 2.5, 1024.0, 1, 1}, back;
    unsigned char b[PROTO_LIMITS_SIZE];
    proto_put_limits(b, &l);
    /* 60.0 = 0x404E000000000000: little-endian, the exponent byte last. */
    CHECK(b[0] == 0 && b[6] == 0x4E && b[7] == 0x40, "grace bytes %02x..%02x %02x", b[0], b[6], b[7]);
    CHECK(b[24] == 1 && b[25] == 0 && b[26] == 0 && b[27] == 0, "isolate as int32 LE");
    proto_get_limits(b, &back);
    CHECK(b[28] == 1 && b[31] == 0, "report_stages as int32 LE");
    CHECK(back.grace == 60.0 && back.time_limit == 2.5 && back.memory_mb == 1024.0 && back.isolate == 1 &&
          back.report_stages == 1, "round trip");
}

static void test_work_message_round_trip_and_truncation(void) {
    run_config a, b;
    cfg_init(&a);
    cfg_init(&b);
    cfg_set(&a, "model", "finetune");
    cfg_set(&a, "seed", "3");
    cfg_set(&b, "model", "ewc");
    const run_config *cfgs[2] = {&a, &b};
    int idx[2] = {7, 123456};
    run_limits lim = {1.0, 0, 0, 0, 0};
    size_t n;
    char *msg = proto_work_pack(&lim, 2, idx, cfgs, &n);
    proto_work_reader rd;
    CHECK(proto_work_open(&rd, msg, n) == 0 && rd.count == 2 && rd.lim.grace == 1.0, "header");
    int32_t i0 = -1, i1 = -1;
    run_config c0, c1;
    CHECK(proto_work_next(&rd, &i0, &c0) == 1 && i0 == 7 && !strcmp(cfg_get(&c0, "seed"), "3"), "run 0");
    CHECK(proto_work_next(&rd, &i1, &c1) == 1 && i1 == 123456 && !strcmp(cfg_get(&c1, "model"), "ewc"),
          "run 1");
    CHECK(proto_work_next(&rd, &i1, &c1) == 0, "end");
    cfg_free(&c0);
    cfg_free(&c1);
    /* Every truncation is refused (header) or ends in a malformed run, never read past. */
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        char *t = xmalloc(k + 1);
        memcpy(t, msg, k);
        proto_work_reader r2;
        if (proto_work_open(&r2, t, k) == 0) {
            int got = 0, rc;
            run_config c;
            int32_t ii;
            while ((rc = proto_work_next(&r2, &ii, &c)) == 1) {
                cfg_free(&c);
                got++;
            }
            if (rc != -1 || got >= 2) bad++;
        }
        free(t);
    }
    CHECK(bad == 0, "%d truncated messages accepted", bad);
    free(msg);
    cfg_free(&a);
    cfg_free(&b);
}

static void test_result_message_and_abandoned(void) {
    run_result r, back;
    result_init(&r);
    result_fail(&r, RUN_STATUS_ABANDONED, "stop requested before the run started");
    size_t n;
    char *msg = proto_result_pack(42, PROTO_WORKER_STOPPING, &r, &n);
    int32_t idx = -1;
    uint32_t flags = 0;
    CHECK(proto_result_unpack(msg, n, &idx, &flags, &back) == 0, "unpack");
    CHECK(idx == 42 && flags == PROTO_WORKER_STOPPING && back.status == RUN_STATUS_ABANDONED,
          "idx %d flags %u status %d", idx, flags, (int)back.status);
    result_free(&back);
    CHECK(proto_result_unpack(msg, 7, &idx, &flags, &back) == -1, "a short message is refused");
    result_free(&back);
    free(msg);
    result_free(&r);
    CHECK(!strcmp(run_status_name(RUN_STATUS_ABANDONED), "abandoned"), "name");
}

/* issue 23: one TAG_RESULT message carries the results of several runs of a chunk. */
static void test_result_batch(void) {
    proto_result_batch b = {0};
    for (int k = 0; k < 3; k++) {
        run_result r;
        result_init(&r);
        result_alloc(&r, 2, 2);
        r.acc = k;
        if (k == 1) result_fail(&r, RUN_STATUS_ABANDONED, "stop requested");
        proto_batch_add(&b, 10 + k, k == 2 ? PROTO_WORKER_STOPPING : 0, &r);
        result_free(&r);
    }
    proto_result_reader rd;
    CHECK(proto_results_open(&rd, (const char *)b.p, b.len) == 0 && rd.count == 3, "open");
    int32_t idx;
    uint32_t flags;
    run_result back;
    for (int k = 0; k < 3; k++) {
        CHECK(proto_results_next(&rd, &idx, &flags, &back) == 1, "record %d", k);
        CHECK(idx == 10 + k && back.acc == k && (flags == PROTO_WORKER_STOPPING) == (k == 2) &&
                  (back.status == RUN_STATUS_ABANDONED) == (k == 1),
              "record %d: idx %d flags %u status %d", k, idx, flags, (int)back.status);
        result_free(&back);
    }
    CHECK(proto_results_next(&rd, &idx, &flags, &back) == 0, "end");
    result_free(&back);
    /* Every truncation is refused: by the header or by a record. */
    int accepted = 0;
    for (size_t n = 0; n < b.len; n++) {
        if (proto_results_open(&rd, (const char *)b.p, n)) continue;
        int rc, got = 0;
        while ((rc = proto_results_next(&rd, &idx, &flags, &back)) == 1) {
            result_free(&back);
            got++;
        }
        result_free(&back);
        if (rc != -1 || got >= 3) accepted++;
    }
    CHECK(accepted == 0, "%d truncated messages accepted", accepted);
    unsigned char zero[4] = {0, 0, 0, 0};
    CHECK(proto_results_open(&rd, (const char *)zero, 4) == -1, "a message of no results");
    proto_batch_clear(&b);
    CHECK(b.count == 0, "cleared");
    proto_batch_free(&b);
}

static void test_stop_state(void) {
    stop_set_grace(0.05);
    CHECK(!stop_should_abandon(), "no stop: no abandon");
    CHECK(stop_elapsed() < 0, "no stop: no elapsed time");
    CHECK(!stop_launcher_gone(), "not started by a launcher: never 'gone'");
    cls_stop_signal = 15;
    stop_note();
    CHECK(!stop_should_abandon(), "within the grace period");
    double backoff = 0.1;
    cls_sleep_backoff(&backoff, 0.1);
    CHECK(stop_should_abandon(), "after the grace period");
    cls_stop_signal = 0;
}

int main(void) {
    RUN_TEST(test_runindex_finds_every_run);
    RUN_TEST(test_limits_little_endian);
    RUN_TEST(test_work_message_round_trip_and_truncation);
    RUN_TEST(test_result_message_and_abandoned);
    RUN_TEST(test_result_batch);
    RUN_TEST(test_stop_state);
    TEST_EXIT();
}
