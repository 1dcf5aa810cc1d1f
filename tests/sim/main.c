/*
 * main.c — the deterministic cluster simulator's command line and reports.
 *
 * What it is: 3, 5 or 7 raft cores in one process (4 under the reconfiguration profile), over
 * a simulated network (network.c) and simulated disks (disk.c, host.c), driven by one seeded
 * PRNG (schedule.c), with Raft's safety properties checked after every event (checker.c), a
 * client that proposes unique commands and asks for linearizable reads (client.c), and an
 * operator that changes the membership — adding learners as new nodes that boot with an empty
 * configuration, promoting, demoting and removing (operator.c). A seed decides everything:
 * cluster size, core configuration (PreVote, CheckQuorum, window and batch limits), fault
 * profile and every random choice, so `sim --seed S` replays a run exactly and `-v` prints its
 * whole trace.
 *
 *   sim --seed S [-v]                 one run; exit 1 on a violation
 *   sim --seeds N [--from S]          N runs; one line per failure and a total
 *   sim_sabotage --sabotage NAME --seeds N --expect-violation
 *                                     search seeds until the broken rule is caught (exit 0),
 *                                     or exit 1 when the budget runs out
 *   sim --demo                        a short narrated run of 5 nodes, for `make run`
 *   --nodes K, --events E             fix the initial cluster size, the event budget per seed
 *   --profile NAME                    fix the fault profile instead of drawing it by seed
 *   --skip-rule one-change-at-a-time  leave that check out (to see what follows from it)
 *
 * Failure modes: the first violation stops a seed; its line names the rule and the exact
 * command that replays it, and the run is replayed with tracing on to print the last
 * SIM_REPORT_TRACE_LINES trace lines before the violation (tracing is off while searching,
 * which changes nothing in the run: the trace never touches the PRNG).
 *
 * How the sabotaged rules are caught (10000 events per seed; measured from starting seeds
 * 0, 1000, ..., 9000): election-restriction and double-vote within the first 10 seeds under
 * any profile; volatile-vote within about 20 seeds, nearly always under the "election storm"
 * profile (voters crash right after granting a vote and are back within 5 ms, while slow
 * links let two candidates run in one term); commit-old-term — Figure 8 of the Raft paper —
 * within 13 to about 440 seeds, under the "leader churn" profile (the leader alone cut off
 * again and again, one entry per APPEND, one APPEND in flight, and a leader crashing just as
 * its commit index moves); concurrent-changes within 8 seeds, by the one-change-at-a-time
 * check, and within about 20 seeds by what follows from it when that check is skipped (a
 * leader without committed entries, diverging state machines); change-before-term-commit —
 * Ongaro's 2015 bug — within about 20 seeds of the "reconfiguration" profile (about 160 by
 * seed), by a leader that lacks what an earlier leader committed. Before those profiles
 * existed, random faults alone caught volatile-vote once in ~500 seeds, commit-old-term once
 * in ~1000 and change-before-term-commit once in ~5000. follower-read-local is caught at
 * seed 0; lease-forever within 1 to 8 seeds of the "lease" profile (none in 1500 by seed: a
 * deposed leader rarely outlives its successor's first acknowledged write there).
 * Not caught: a restarted node that forgets its boot lease (election.c) in 400 seeds of the
 * "lease" profile; tests/unit/test_raft_replication.c checks that rule directly.
 */
#include "sim.h"

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

#define SIM_DEFAULT_EVENTS       10000
#define SIM_DEFAULT_SEEDS        100
#define SIM_DEMO_SEED            20261125
#define SIM_REPLAY_COMMAND_BYTES 512

/* ---- trace, narration, violations ------------------------------------------------------ */

void sim_trace(struct sim *sim, const char *format, ...)
{
    if (!sim->options.trace) {
        return;
    }
    char *line = sim->trace_lines[sim->trace_count % SIM_TRACE_LINES];
    int used = snprintf(line, SIM_TRACE_LINE_BYTES, "[%7llu ms #%llu] ",
                        (unsigned long long)sim->now_ms, (unsigned long long)sim->event_count);
    va_list args;
    va_start(args, format);
    vsnprintf(line + used, SIM_TRACE_LINE_BYTES - (size_t)used, format, args);
    va_end(args);
    sim->trace_count++;
    if (sim->options.verbose) {
        printf("%s\n", line);
    }
}

void sim_narrate(struct sim *sim, const char *format, ...)
{
    if (!sim->options.demo) {
        return;
    }
    /* Paced for a human reader; the pause changes nothing in the run. */
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 150 * 1000 * 1000};
    nanosleep(&pause, NULL);
    printf("[%5.2f s] ", (double)sim->now_ms / 1000.0);
    va_list args;
    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    printf("\n");
}

void sim_violation(struct sim *sim, enum sim_rule rule, const char *format, ...)
{
    if (sim->violation != SIM_RULE_NONE) {
        return;
    }
    sim->violation = rule;
    sim->violation_event = sim->event_count;
    va_list args;
    va_start(args, format);
    vsnprintf(sim->violation_detail, sizeof(sim->violation_detail), format, args);
    va_end(args);
    sim_trace(sim, "VIOLATION %s: %s", sim_rule_string(rule), sim->violation_detail);
}

static void print_trace_tail(const struct sim *sim, FILE *out)
{
    uint64_t lines =
        sim->trace_count < SIM_REPORT_TRACE_LINES ? sim->trace_count : SIM_REPORT_TRACE_LINES;
    fprintf(out, "--- last %llu trace lines ---\n", (unsigned long long)lines);
    for (uint64_t i = sim->trace_count - lines; i < sim->trace_count; i++) {
        fprintf(out, "%s\n", sim->trace_lines[i % SIM_TRACE_LINES]);
    }
}

/* ---- command line ---------------------------------------------------------------------- */

/* Writes the command that replays `seed` into out (always terminated); returns its length. */
static size_t format_replay(char *out, size_t size, const struct sim_options *options,
                            uint64_t seed)
{
    char nodes[32] = "";
    char events[48] = "";
    char sabotage[64] = "";
    char profile[48] = "";
    const char *skip = options->skip_single_change ? " --skip-rule one-change-at-a-time" : "";
    if (options->nodes) {
        snprintf(nodes, sizeof(nodes), " --nodes %u", options->nodes);
    }
    if (options->profile != SIM_PROFILE_BY_SEED) {
        snprintf(profile, sizeof(profile), " --profile %s", sim_profile_string(options->profile));
    }
    if (options->events != SIM_DEFAULT_EVENTS) {
        snprintf(events, sizeof(events), " --events %llu", (unsigned long long)options->events);
    }
    if (options->sabotage != RAFT_SABOTAGE_NONE) {
        snprintf(sabotage, sizeof(sabotage), " --sabotage %s",
                 raft_sabotage_string(options->sabotage));
    }
    int used = snprintf(out, size, "%s --seed %llu%s%s%s%s%s -v", options->program,
                        (unsigned long long)seed, nodes, profile, events, sabotage, skip);
    return used < 0 ? 0 : ((size_t)used < size ? (size_t)used : size - 1);
}

static void print_replay(const struct sim_options *options, uint64_t seed, FILE *out)
{
    char command[SIM_REPLAY_COMMAND_BYTES];
    format_replay(command, sizeof(command), options, seed);
    fputs(command, out);
}

/*
 * A core assertion (abort) or a sanitizer error ends the process in the middle of a seed; the
 * note below, prepared before each seed, tells which one and how to replay it. Only write()
 * is used from the handler, which is async-signal-safe.
 */
static char fatal_note[SIM_REPLAY_COMMAND_BYTES + 128];
static size_t fatal_note_bytes;

static void write_fatal_note(void)
{
    if (fatal_note_bytes > 0 && write(STDERR_FILENO, fatal_note, fatal_note_bytes) < 0) {
        fatal_note_bytes = 0; /* nothing more can be done from here */
    }
}

static void on_fatal_signal(int signal_number)
{
    write_fatal_note();
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

static void install_fatal_note(void)
{
    signal(SIGABRT, on_fatal_signal);
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_set_death_callback(write_fatal_note);
#endif
}

static void prepare_fatal_note(const struct sim_options *options, uint64_t seed)
{
    char command[SIM_REPLAY_COMMAND_BYTES];
    format_replay(command, sizeof(command), options, seed);
    int used = snprintf(fatal_note, sizeof(fatal_note),
                        "\nsim: the process died in seed %llu (see the error above) "
                        "[replay: %s]\n",
                        (unsigned long long)seed, command);
    fatal_note_bytes = used < 0 ? 0 : strlen(fatal_note);
}

/* Runs one seed; returns the rule it broke (SIM_RULE_NONE when it passed). */
static enum sim_rule run_one(const struct sim_options *options, uint64_t seed, bool report)
{
    struct sim_options mine = *options;
    mine.seed = seed;
    prepare_fatal_note(options, seed);
    struct sim *sim = sim_create(&mine);
    sim_run(sim);
    enum sim_rule rule = sim->violation;
    if (rule != SIM_RULE_NONE && report) {
        printf("FAIL seed %llu: rule %s: %s [replay: ", (unsigned long long)seed,
               sim_rule_string(rule), sim->violation_detail);
        print_replay(options, seed, stdout);
        printf("]\n");
        if (mine.trace) {
            print_trace_tail(sim, stdout);
        }
    } else if (report && !options->demo) {
        printf("seed %llu passed: %llu events, %llu commands acknowledged, %llu reads served, "
               "%llu membership changes proposed (%llu took effect, %llu lost), %u nodes "
               "started\n",
               (unsigned long long)seed, (unsigned long long)sim->event_count,
               (unsigned long long)sim->client.acked_count,
               (unsigned long long)sim->client.reads_served,
               (unsigned long long)sim->operator_state.proposed,
               (unsigned long long)sim->operator_state.committed,
               (unsigned long long)sim->operator_state.lost, sim->node_count);
    } else if (report) {
        printf("demo done: %llu commands acknowledged and %llu reads served; every safety "
               "check held over %llu events\n",
               (unsigned long long)sim->client.acked_count,
               (unsigned long long)sim->client.reads_served, (unsigned long long)sim->event_count);
    }
    sim_destroy(sim);
    return rule;
}

/* Replays a failing seed with tracing on, for its last trace lines. */
static void replay_with_trace(const struct sim_options *options, uint64_t seed)
{
    struct sim_options traced = *options;
    traced.trace = true;
    traced.verbose = false;
    run_one(&traced, seed, true);
}

static bool expected_rule(enum raft_sabotage sabotage, enum sim_rule rule)
{
    switch (sabotage) {
    case RAFT_SABOTAGE_DOUBLE_VOTE:
    case RAFT_SABOTAGE_VOLATILE_VOTE:
        return rule == SIM_RULE_ELECTION_SAFETY;
    case RAFT_SABOTAGE_ELECTION_RESTRICTION:
    case RAFT_SABOTAGE_COMMIT_OLD_TERM:
    case RAFT_SABOTAGE_ACK_BEFORE_SYNC:
        return rule == SIM_RULE_LEADER_COMPLETENESS || rule == SIM_RULE_STATE_MACHINE_SAFETY ||
               rule == SIM_RULE_EXACTLY_ONCE || rule == SIM_RULE_READ_SAFETY;
    case RAFT_SABOTAGE_CHANGE_BEFORE_TERM_COMMIT:
        /* Disjoint majorities: two leaders of one term, or a later leader without what an
         * earlier one committed. */
        return rule == SIM_RULE_ELECTION_SAFETY || rule == SIM_RULE_LEADER_COMPLETENESS ||
               rule == SIM_RULE_STATE_MACHINE_SAFETY || rule == SIM_RULE_EXACTLY_ONCE ||
               rule == SIM_RULE_READ_SAFETY;
    case RAFT_SABOTAGE_FOLLOWER_READ_LOCAL:
    case RAFT_SABOTAGE_LEASE_FOREVER:
        return rule == SIM_RULE_READ_SAFETY;
    case RAFT_SABOTAGE_CONCURRENT_CHANGES:
        /* The rule itself, as the checker sees it in a leader's log, or what follows. */
        return rule == SIM_RULE_SINGLE_CHANGE || rule == SIM_RULE_ELECTION_SAFETY ||
               rule == SIM_RULE_LEADER_COMPLETENESS || rule == SIM_RULE_STATE_MACHINE_SAFETY ||
               rule == SIM_RULE_EXACTLY_ONCE || rule == SIM_RULE_READ_SAFETY;
    default:
        return false;
    }
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static int run_many(const struct sim_options *options, uint64_t from, uint64_t count,
                    bool expect_violation)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t failed = 0;
    uint64_t other = 0;
    for (uint64_t seed = from; seed < from + count; seed++) {
        enum sim_rule rule = run_one(options, seed, false);
        if (rule == SIM_RULE_NONE) {
            continue;
        }
        if (expect_violation && expected_rule(options->sabotage, rule)) {
            printf("sabotage %s caught by seed %llu after %llu seeds (%.1f s): rule %s "
                   "[replay: ",
                   raft_sabotage_string(options->sabotage), (unsigned long long)seed,
                   (unsigned long long)(seed - from + 1), seconds_since(&start),
                   sim_rule_string(rule));
            print_replay(options, seed, stdout);
            printf("]\n");
            replay_with_trace(options, seed);
            return 0;
        }
        if (expect_violation) {
            other++;
            printf("seed %llu broke %s, not the rule %s breaks; searching on\n",
                   (unsigned long long)seed, sim_rule_string(rule),
                   raft_sabotage_string(options->sabotage));
            continue;
        }
        failed++;
        if (failed == 1) {
            replay_with_trace(options, seed);
        } else {
            run_one(options, seed, true);
        }
    }
    if (expect_violation) {
        printf("sabotage %s NOT caught in %llu seeds (%llu other violations, %.1f s)\n",
               raft_sabotage_string(options->sabotage), (unsigned long long)count,
               (unsigned long long)other, seconds_since(&start));
        return 1;
    }
    printf("%llu seeds passed, %llu failed (from seed %llu, %.1f s)\n",
           (unsigned long long)(count - failed), (unsigned long long)failed,
           (unsigned long long)from, seconds_since(&start));
    return failed == 0 ? 0 : 1;
}

static void usage(FILE *out, const char *program)
{
    fprintf(out,
            "usage: %s [--seed S | --seeds N [--from S] | --demo] [--nodes 1..%d]\n"
            "          [--profile NAME] [--events E] [--sabotage NAME --expect-violation]\n"
            "          [--skip-rule one-change-at-a-time] [-v]\n"
            "  --seed S      run one seed (replays exactly); -v prints the whole trace\n"
            "  --seeds N     run N seeds from --from (default 0); one line per failure\n"
            "  --nodes K     the initial cluster's voters (default by seed: 3, 5 or 7; 4 under\n"
            "                the reconfiguration profile); membership changes add more\n"
            "  --profile     the fault profile for every seed instead of one drawn by seed:\n"
            "                mixed, leader-churn, election-storm, reconfiguration\n"
            "  --skip-rule one-change-at-a-time\n"
            "                leave that check out, to catch what two changes at once lead to\n"
            "  --sabotage    (sim_sabotage only) break one rule of the core: "
            "election-restriction,\n"
            "                commit-old-term, double-vote, volatile-vote, "
            "change-before-term-commit,\n"
            "                concurrent-changes; or of the driver: ack-before-sync\n"
            "  --demo        a short narrated run of a 5-node cluster\n"
            "  --expect-violation  succeed when the sabotaged rule is caught, fail otherwise\n"
            "  --events E    events per seed before the liveness phase (default 10000)\n"
            "  -h, --help    this text\n",
            program, SIM_MAX_VOTERS);
}

static bool parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    if (text == NULL || *text == '\0') {
        return false;
    }
    *out = strtoull(text, &end, 10);
    return *end == '\0';
}

struct sim_cli {
    struct sim_options options;
    bool single;
    uint64_t seeds;
    uint64_t from;
    bool expect_violation;
    bool help;
};

static int parse_sabotage(const char *name, enum raft_sabotage *out)
{
#ifdef SIM_SABOTAGE_BUILD
    if (raft_sabotage_parse(name, out) == 0) {
        return 0;
    }
    /* Accept election_restriction and ELECTION-RESTRICTION for election-restriction. */
    char spelled[64];
    size_t i = 0;
    for (; name[i] != '\0' && i + 1 < sizeof(spelled); i++) {
        char c = name[i] == '_' ? '-' : name[i];
        spelled[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    spelled[i] = '\0';
    return raft_sabotage_parse(spelled, out);
#else
    (void)name;
    (void)out;
    fprintf(stderr, "--sabotage needs the sim_sabotage build (linked with raft_sabotage)\n");
    return -1;
#endif
}

static int parse_args(int argc, char **argv, struct sim_cli *cli)
{
    memset(cli, 0, sizeof(*cli));
    cli->options.program = argv[0];
    cli->options.events = SIM_DEFAULT_EVENTS;
    cli->seeds = SIM_DEFAULT_SEEDS;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t number = 0;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            cli->help = true;
        } else if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
            cli->options.verbose = true;
        } else if (strcmp(arg, "--demo") == 0) {
            cli->options.demo = true;
        } else if (strcmp(arg, "--expect-violation") == 0) {
            cli->expect_violation = true;
        } else if (strcmp(arg, "--seed") == 0 && parse_u64(value, &cli->options.seed)) {
            cli->single = true;
            i++;
        } else if (strcmp(arg, "--seeds") == 0 && parse_u64(value, &cli->seeds)) {
            i++;
        } else if (strcmp(arg, "--from") == 0 && parse_u64(value, &cli->from)) {
            i++;
        } else if (strcmp(arg, "--events") == 0 && parse_u64(value, &cli->options.events) &&
                   cli->options.events > 0) {
            i++;
        } else if (strcmp(arg, "--nodes") == 0 && parse_u64(value, &number) && number >= 1 &&
                   number <= SIM_MAX_VOTERS) {
            cli->options.nodes = (uint32_t)number;
            i++;
        } else if (strcmp(arg, "--skip-rule") == 0 && value != NULL &&
                   strcmp(value, sim_rule_string(SIM_RULE_SINGLE_CHANGE)) == 0) {
            cli->options.skip_single_change = true;
            i++;
        } else if (strcmp(arg, "--profile") == 0 && value != NULL &&
                   sim_profile_parse(value, &cli->options.profile) == 0) {
            i++;
        } else if (strcmp(arg, "--sabotage") == 0 && value != NULL &&
                   parse_sabotage(value, &cli->options.sabotage) == 0) {
            i++;
        } else {
            fprintf(stderr, "bad argument: %s%s%s\n", arg, value ? " " : "", value ? value : "");
            return -1;
        }
    }
    if (cli->expect_violation && cli->options.sabotage == RAFT_SABOTAGE_NONE) {
        fprintf(stderr, "--expect-violation needs --sabotage\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sim_cli cli;
    if (parse_args(argc, argv, &cli) != 0) {
        usage(stderr, argv[0]);
        return 2;
    }
    if (cli.help) {
        usage(stdout, argv[0]);
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    install_fatal_note();
    if (cli.options.demo) {
        cli.options.nodes = 5;
        cli.options.events = UINT64_MAX;
        cli.options.trace = true;
        printf("raftkv simulator demo: 5 raft cores, one process, a simulated network and "
               "disks (seed %d)\n",
               SIM_DEMO_SEED);
        return run_one(&cli.options, SIM_DEMO_SEED, true) == SIM_RULE_NONE ? 0 : 1;
    }
    if (cli.single) {
        cli.options.trace = true;
        enum sim_rule rule = run_one(&cli.options, cli.options.seed, true);
        if (cli.expect_violation) {
            return expected_rule(cli.options.sabotage, rule) ? 0 : 1;
        }
        return rule == SIM_RULE_NONE ? 0 : 1;
    }
    return run_many(&cli.options, cli.from, cli.seeds, cli.expect_violation);
}
