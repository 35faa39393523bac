/*
 * ctl-metrics.c - `preemptctl metrics`: the stats as Prometheus text
 * exposition (format 0.0.4), for node_exporter's textfile collector.
 * One table maps each stats field to a metric, so adding a field is one line.
 */
#include <getopt.h>
#include <stdbool.h>
#include <string.h>

#include "ctl-json.h"
#include "ctl.h"

static void usage_metrics(FILE *f)
{
    fputs(
"usage: preemptctl metrics\n"
"Prints the daemon's stats in the Prometheus text format (metric names\n"
"start with preemptd_; counters end in _total). For node_exporter's\n"
"textfile collector, e.g. from cron:\n"
"  preemptctl metrics > DIR/preemptd.prom.$$ && mv DIR/preemptd.prom.$$ "
"DIR/preemptd.prom\n"
"When the daemon cannot be reached it prints only preemptd_up 0 and exits 3.\n"
"  -s, --socket PATH  daemon socket\n", f);
}

enum kind { GAUGE, COUNTER };

struct metric {
    const char *path;  /* in the stats JSON */
    const char *name;  /* after "preemptd_" */
    enum kind kind;
    const char *help;
};

/* Metrics sharing a name (label sets) are written by hand below. */
static const struct metric metrics[] = {
    {"uptime_s", "uptime_seconds", GAUGE, "Seconds since the daemon started."},
    {"counter.hz", "counter_hz", GAUGE, "Frequency of the sampled counter."},
    {"counter.threshold_ticks", "threshold_ticks", GAUGE,
     "Read-to-read delta at or above which a jump is an event."},
    {"counter.median_delta", "median_delta_ticks", GAUGE,
     "Calibrated ordinary read-to-read delta."},
    {"sampler.loops", "sampler_reads_total", COUNTER, "Counter reads."},
    {"sampler.events", "sampler_events_total", COUNTER,
     "Jumps at or above the threshold (interrupts, preemptions)."},
    {"sampler.event_rate", "sampler_event_rate", GAUGE,
     "Events per second over the last second."},
    {"sampler.pushed", "sampler_pushed_bytes_total", COUNTER,
     "Folded bytes pushed into the ring."},
    {"sampler.discarded", "sampler_discarded_bytes_total", COUNTER,
     "Bytes tested during start-up tests and not served."},
    {"sampler.gaps", "sampler_gaps_total", COUNTER,
     "Jumps over a second (suspend), skipped."},
    {"sampler.backwards", "sampler_backwards_total", COUNTER,
     "Times the counter went backwards, skipped."},
    {"sampler.migrations", "sampler_migrations_total", COUNTER,
     "Batches seen running off the pinned CPU."},
    {"sampler.sleeps", "sampler_sleeps_total", COUNTER,
     "Times the ring filled and the sampler slept."},
    {"sampler.sleeping", "sampler_sleeping", GAUGE,
     "1 while the sampler sleeps because the ring is full."},
    {"policy.max_cpu_pct", "sampler_max_cpu_percent", GAUGE,
     "Demand policy: the budget, percent of one CPU (0: another policy)."},
    {"policy.boosted", "sampler_boosted", GAUGE,
     "1 while the sampler runs at normal priority for a demand."},
    {"policy.boosts", "sampler_boosts_total", COUNTER,
     "Times the sampler was boosted for a demand."},
    {"policy.boosted_s", "sampler_boosted_seconds_total", COUNTER,
     "Wall-clock seconds the sampler spent boosted."},
    {"policy.boost_cpu_s", "sampler_boost_cpu_seconds_total", COUNTER,
     "CPU seconds the sampler took while boosted (charged to the budget)."},
    {"policy.budget_used_pct", "sampler_budget_used_percent", GAUGE,
     "Percent of the demand budget's bucket spent."},
    {"policy.budget_outs", "sampler_budget_outs_total", COUNTER,
     "Times the budget ran out while entropy was still needed."},
    {"ring.bytes", "ring_bytes", GAUGE, "Raw bytes in the ring."},
    {"ring.capacity", "ring_capacity_bytes", GAUGE, "Ring capacity."},
    {"entropy.credited_bits_per_byte", "credited_bits_per_byte", GAUGE,
     "Min-entropy credited per folded byte."},
    {"entropy.mcv_estimate_bits_per_byte", "mcv_estimate_bits_per_byte",
     GAUGE, "Online most-common-value min-entropy estimate (absent until "
            "the first window is full)."},
    {"entropy.conditioned_stock", "conditioned_stock_bytes", GAUGE,
     "Conditioned bytes ready to serve."},
    {"health.rct_failures", "health_rct_failures_total", COUNTER,
     "Repetition count test failures."},
    {"health.apt_failures", "health_apt_failures_total", COUNTER,
     "Adaptive proportion test failures."},
    {"health.stall_failures", "health_stall_failures_total", COUNTER,
     "Stalls (no event for too long)."},
    {"health.startup_passes", "health_startup_passes_total", COUNTER,
     "Start-up tests passed."},
    {"health.flushed_bytes", "health_flushed_bytes_total", COUNTER,
     "Bytes dropped from the ring after a health failure."},
    {"drbg.seeded", "drbg_seeded", GAUGE, "1 once the DRBG is seeded."},
    {"drbg.reseeds", "drbg_reseeds_total", COUNTER, "DRBG reseeds."},
    {"drbg.os_mixes", "drbg_os_mixes_total", COUNTER,
     "Times fresh OS bytes were mixed into the DRBG key."},
    {"drbg.reseed_pending", "drbg_reseed_pending", GAUGE,
     "1 while an event's reseed from the source waits for a block."},
    {"served.blocks", "conditioned_blocks_total", COUNTER,
     "Conditioned 32-byte blocks produced."},
    {"clients.connected", "clients_connected", GAUGE, "Open connections."},
    {"clients.waiting", "clients_waiting", GAUGE,
     "Requests waiting for entropy."},
    {"clients.accepted", "clients_accepted_total", COUNTER,
     "Connections accepted."},
    {"clients.refused", "clients_refused_total", COUNTER,
     "Connections refused (too many clients, shutting down)."},
    {"clients.cut_off", "clients_cut_off_total", COUNTER,
     "Clients closed for not reading their replies."},
    {"requests", "requests_total", COUNTER, "Requests handled."},
    {"errors", "errors_total", COUNTER, "Error replies sent."},
    {"timeouts", "timeouts_total", COUNTER,
     "Reads that timed out waiting for entropy."},
    {"kernel_fed_bytes", "kernel_fed_bytes_total", COUNTER,
     "Conditioned bytes given to the kernel with RNDADDENTROPY."},
};

static void header(const char *name, enum kind k, const char *help)
{
    printf("# HELP preemptd_%s %s\n# TYPE preemptd_%s %s\n", name, help, name,
           k == COUNTER ? "counter" : "gauge");
}

/* Writes one field; missing fields (older daemon) are left out. */
static void emit(const char *js, const struct metric *m)
{
    int b = ctl_json_bool(js, m->path);
    double d;
    uint64_t u;
    if (b >= 0) {
        header(m->name, m->kind, m->help);
        printf("preemptd_%s %d\n", m->name, b);
    } else if (ctl_json_u64(js, m->path, &u) == 0) {
        header(m->name, m->kind, m->help);
        printf("preemptd_%s %llu\n", m->name, (unsigned long long)u);
    } else if (ctl_json_number(js, m->path, &d) == 0) {
        if (d < 0 && strcmp(m->name, "mcv_estimate_bits_per_byte") == 0)
            return; /* -1: no estimate yet, not a value */
        header(m->name, m->kind, m->help);
        printf("preemptd_%s %.10g\n", m->name, d);
    }
}

/* Label values here are ours or the daemon's plain words; escape anyway. */
static void label_value(const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            printf("\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", stdout);
        else
            putchar(*s);
    }
}

static void emit_labelled(const char *js)
{
    char ver[64], ctr[64], hstate[32];
    if (ctl_json_string(js, "version", ver, sizeof(ver)) < 0)
        snprintf(ver, sizeof(ver), "unknown");
    if (ctl_json_string(js, "counter.name", ctr, sizeof(ctr)) < 0)
        snprintf(ctr, sizeof(ctr), "unknown");
    header("info", GAUGE, "Daemon version and counter backend (always 1).");
    fputs("preemptd_info{version=\"", stdout);
    label_value(ver);
    fputs("\",counter=\"", stdout);
    label_value(ctr);
    fputs("\"} 1\n", stdout);

    if (ctl_json_string(js, "health.state", hstate, sizeof(hstate)) >= 0) {
        static const char *const states[] = {"ok", "degraded", "failed"};
        int code = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(hstate, states[i]) == 0)
                code = i;
        header("health_state", GAUGE,
               "Health: 0 ok, 1 degraded, 2 failed (as preemptctl health's "
               "exit status).");
        printf("preemptd_health_state %d\n", code < 0 ? 2 : code);
    }

    char pol[48];
    if (ctl_json_string(js, "policy.name", pol, sizeof(pol)) >= 0) {
        header("policy", GAUGE,
               "The sampler's policy: demand, idle or normal (always 1).");
        fputs("preemptd_policy{policy=\"", stdout);
        label_value(pol);
        fputs("\"} 1\n", stdout);
    }

    static const char *const modes[] = {"conditioned", "raw", "drbg"};
    header("served_bytes_total", COUNTER, "Bytes served, by output mode.");
    for (int i = 0; i < 3; i++) {
        char path[32];
        uint64_t u;
        snprintf(path, sizeof(path), "served.%s", modes[i]);
        if (ctl_json_u64(js, path, &u) == 0)
            printf("preemptd_served_bytes_total{mode=\"%s\"} %llu\n", modes[i],
                   (unsigned long long)u);
    }

    /* Signs of duplicated DRBG state (issue 25), and the reseeds each
     * kind caused. */
    static const char *const evs[] = {"vmgenid", "clock", "gap", "power",
                                      "signal", "request"};
    static const struct {
        const char *obj, *name, *help;
    } evm[] = {
        {"events", "drbg_events_total",
         "Events that may have duplicated the DRBG's state, by kind."},
        {"event_reseeds", "drbg_event_reseeds_total",
         "Reseeds from the source that such events caused, by kind."},
    };
    for (int k = 0; k < 2; k++) {
        bool said = false;
        for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
            char path[48];
            uint64_t u;
            snprintf(path, sizeof(path), "drbg.%s.%s", evm[k].obj, evs[i]);
            if (ctl_json_u64(js, path, &u) != 0)
                continue;
            if (!said)
                header(evm[k].name, COUNTER, evm[k].help);
            said = true;
            printf("preemptd_%s{kind=\"%s\"} %llu\n", evm[k].name, evs[i],
                   (unsigned long long)u);
        }
    }

    uint64_t hist[64];
    long nb = ctl_json_u64_array(js, "sampler.jump_log2_hist", hist, 64);
    if (nb > 0) {
        header("sampler_jumps_total", COUNTER,
               "Events by jump size: log2 is floor(log2(ticks)), the top "
               "bucket also holds larger jumps.");
        for (long i = 0; i < nb && i < 64; i++)
            printf("preemptd_sampler_jumps_total{log2=\"%ld\"} %llu\n", i,
                   (unsigned long long)hist[i]);
    }
}

int ctl_metrics(int argc, char **argv, const char *sock)
{
    int ex = ctl_socket_only_opts(argc, argv, &sock, usage_metrics);
    if (ex >= 0)
        return ex;
    pbd_t *p;
    static char js[CTL_STATS_CAP];
    int rc = ctl_connect(&p, sock);
    if (rc == 0) {
        rc = ctl_fetch_stats(p, js, sizeof(js));
        pbd_close(p);
    }
    header("up", GAUGE, "1 when preemptctl could read the daemon's stats.");
    printf("preemptd_up %d\n", rc == 0);
    if (rc != 0)
        return CTL_EXIT_NOCONN;
    emit_labelled(js);
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
        emit(js, &metrics[i]);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
