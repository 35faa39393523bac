/* status.c - the health line and the stats JSON, read from the sampler's
 * published counters and the server's own. */
#include "conn.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "counter.h"
#include "health.h"
#include "osdep.h"
#include "pbd.h"

int status_health(struct server *srv, char *msg, size_t cap)
{
    struct sampler_stats *st = &srv->sampler->shared.st;
    int hs = atomic_load(&st->health_state);
    int last = atomic_load(&st->last_failure);
    int64_t when = atomic_load(&st->last_failure_time);
    char ts[40] = "never";
    if (when) {
        struct tm tm;
        time_t t = (time_t)when;
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    }
    const char *ev = health_event_name((enum health_event)last);
    if (hs != HEALTH_OK && last == HEALTH_EV_CREDIT_FAIL) {
        snprintf(msg, cap,
                 "failed: %scredit test failed at %s: the samples' MCV "
                 "estimate %.3f bits/byte is below the credited %.3f; raw "
                 "and conditioned output withheld%s",
                 hs == HEALTH_PERMANENT ? "permanent: " : "", ts,
                 atomic_load(&st->credit_millibits) / 1000.0,
                 srv->cfg.h_bits,
                 hs == HEALTH_PERMANENT ? "; lower --credit" : "; re-testing");
        return PBD_HEALTH_FAILED;
    }
    switch (hs) {
    case HEALTH_PERMANENT:
        snprintf(msg, cap,
                 "failed: permanent: %s test failed at %s and start-up "
                 "re-tests kept failing; raw and conditioned output "
                 "withheld; restart preemptd after checking the source",
                 ev, ts);
        return PBD_HEALTH_FAILED;
    case HEALTH_RETEST:
        snprintf(msg, cap,
                 "failed: %s test failed at %s; re-running the start-up "
                 "test (%u/%u samples); raw and conditioned output withheld",
                 ev, ts, atomic_load(&st->startup_seen),
                 HEALTH_STARTUP_SAMPLES);
        return PBD_HEALTH_FAILED;
    case HEALTH_STARTUP:
        snprintf(msg, cap,
                 "degraded: start-up health test running (%u/%u samples); "
                 "reads wait",
                 atomic_load(&st->startup_seen), HEALTH_STARTUP_SAMPLES);
        return PBD_HEALTH_DEGRADED;
    default:
        break;
    }
    int32_t mcv = atomic_load(&st->mcv_millibits);
    if (mcv >= 0 && mcv < (int32_t)(srv->cfg.h_bits * 1000)) {
        snprintf(msg, cap,
                 "degraded: online MCV estimate %.3f bits/byte is below the "
                 "credited %.3f",
                 mcv / 1000.0, srv->cfg.h_bits);
        return PBD_HEALTH_DEGRADED;
    }
    if (srv->off_cpu) {
        snprintf(msg, cap,
                 "degraded: sampler is running off CPU %d (CPU offline, or "
                 "its affinity was changed)",
                 srv->sampler->setup.cpu);
        return PBD_HEALTH_DEGRADED;
    }
    const char *pin = sampler_pin_note(srv->sampler);
    if (srv->sampler->setup.cpu < 0 || strncmp(pin, "not", 3) == 0) {
        snprintf(msg, cap, "degraded: sampler %s", pin);
        return PBD_HEALTH_DEGRADED;
    }
    char pol[96] = "";
    if (srv->sampler->setup.cfg.priority == OSDEP_PRIO_DEMAND)
        snprintf(pol, sizeof(pol), "; policy demand: %s%s%s",
                 atomic_load(&st->boosted) ? "boosted for " : "at rest",
                 atomic_load(&st->boosted) && srv->demand_why
                     ? srv->demand_why
                     : "",
                 atomic_load(&st->boosted) && !srv->demand_why
                     ? "nothing (dropping back)"
                     : "");
    snprintf(msg, cap, "ok: source healthy; %s%s%s", pin, pol,
             pool_seeded(&srv->pool) ? "" : "; drbg not yet seeded");
    return PBD_HEALTH_OK;
}

/* Appends to buf; *len may pass cap, which the caller reports. */
static void app(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void app(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*len < cap ? buf + *len : NULL,
                      *len < cap ? cap - *len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n;
}

size_t server_stats_json(struct server *srv, char *buf, size_t cap)
{
    struct sampler *s = srv->sampler;
    struct sampler_stats *st = &s->shared.st;
    struct pool *p = &srv->pool;
    size_t n = 0;
    /* Escaping: every string here is ours and has no quotes or controls. */
    app(buf, cap, &n,
        "{\"version\":\"%s\",\"uptime_s\":%.1f,"
        "\"counter\":{\"name\":\"%s\",\"hz\":%" PRIu64
        ",\"median_delta\":%" PRIu64 ",\"step\":%" PRIu64
        ",\"grain\":%" PRIu64
        ",\"threshold_ticks\":%" PRIu64 ",\"cpu\":%d,\"pinning\":\"%s\"},",
        PBD_VERSION_STRING, (now_ms() - srv->start_ms) / 1000.0, COUNTER_NAME,
        s->setup.freq, s->setup.median_delta, s->setup.step, s->setup.grain,
        s->setup.threshold, s->setup.cpu,
        sampler_pin_note(s));
    /* pushed before events, and with acquire (the sampler counts an event,
     * then releases its push): the snapshot never shows more bytes pushed
     * than events, however long this thread is preempted between the two
     * loads. (Argument order is unspecified in C: hence the locals.) */
    uint64_t pushed = atomic_load_explicit(&st->pushed, memory_order_acquire);
    uint64_t events = atomic_load(&st->events);
    app(buf, cap, &n,
        "\"sampler\":{\"loops\":%" PRIu64 ",\"events\":%" PRIu64
        ",\"event_rate\":%.1f,\"event_rate_wall\":%.1f"
        ",\"sampling_s\":%.1f,\"pushed\":%" PRIu64 ",\"discarded\":%" PRIu64
        ",\"gaps\":%" PRIu64 ",\"backwards\":%" PRIu64
        ",\"migrations\":%" PRIu64 ",\"sleeps\":%" PRIu64
        ",\"sleeping\":%s,\"jump_log2_hist\":[",
        atomic_load(&st->loops), events, srv->event_rate,
        srv->event_rate_wall, atomic_load(&st->sampling_us) / 1e6,
        pushed, atomic_load(&st->discarded),
        atomic_load(&st->gaps), atomic_load(&st->backwards),
        atomic_load(&st->migrations), atomic_load(&st->sleeps),
        atomic_load(&st->sleeping) ? "true" : "false");
    for (unsigned i = 0; i < SAMPLER_JUMP_BUCKETS; i++)
        app(buf, cap, &n, "%s%" PRIu64, i ? "," : "",
            atomic_load(&st->jumps[i]));
    int32_t mcv = atomic_load(&st->mcv_millibits);
    app(buf, cap, &n,
        "]},\"ring\":{\"bytes\":%zu,\"capacity\":%zu,\"low\":%zu"
        ",\"high\":%zu},"
        "\"entropy\":{\"credited_bits_per_byte\":%.3f,\"credit_source\":\"%s\","
        "\"mcv_estimate_bits_per_byte\":%s%.3f,\"mcv_window\":%u,"
        "\"raw_bytes_per_block\":%zu,\"conditioned_stock\":%zu},",
        ring_level(p->ring), p->ring->cap, p->ring->low, p->ring->high,
        srv->cfg.h_bits,
        srv->cfg.credit_source ? srv->cfg.credit_source : "default",
        mcv < 0 ? "-" : "", mcv < 0 ? 1.0 : mcv / 1000.0,
        HEALTH_MCV_WINDOW, p->block_in, pool_stock(p, PBD_MODE_CONDITIONED));
    char hmsg[256];
    static const char *const hnames[] = {"ok", "degraded", "failed"};
    int hstate = status_health(srv, hmsg, sizeof(hmsg));
    int64_t when = atomic_load(&st->last_failure_time);
    app(buf, cap, &n,
        "\"health\":{\"state\":\"%s\",\"source\":\"%s\",\"message\":\"%s\","
        "\"rct_cutoff\":%u,\"apt_cutoff\":%u,\"apt_window\":%u,"
        "\"rct_failures\":%" PRIu64 ",\"apt_failures\":%" PRIu64
        ",\"stall_failures\":%" PRIu64 ",\"credit_failures\":%" PRIu64
        ",\"startup_passes\":%" PRIu64
        ",\"last_failure\":\"%s\",\"last_failure_time\":%" PRId64
        ",\"flushed_bytes\":%" PRIu64 "},",
        hnames[hstate],
        health_state_name((enum health_state)atomic_load(&st->health_state)),
        hmsg, atomic_load(&st->rct_cutoff), atomic_load(&st->apt_cutoff),
        HEALTH_APT_WINDOW,
        atomic_load(&st->rct_failures), atomic_load(&st->apt_failures),
        atomic_load(&st->stall_failures), atomic_load(&st->credit_failures),
        atomic_load(&st->passes),
        when ? health_event_name(
                   (enum health_event)atomic_load(&st->last_failure))
             : "none",
        when, p->flushed);
    app(buf, cap, &n,
        "\"drbg\":{\"seeded\":%s,\"reseeds\":%" PRIu64
        ",\"bytes_since_reseed\":%" PRIu64 ",\"os_mix\":\"%s\""
        ",\"os_mixes\":%" PRIu64 ",\"reseed_pending\":%s"
        ",\"last_reseed\":\"%s\",\"watch\":\"%s\",\"events\":{",
        pool_seeded(p) ? "true" : "false", p->sec->drbg.reseeds,
        p->sec->drbg.bytes_since_reseed,
        p->os_mix == POOL_MIX_REQUEST ? "request" : "events", p->os_mixes,
        p->reseed_asap ? "true" : "false", pool_event_name(p->last_why),
        srv->vmw.note);
    for (int i = 0; i < POOL_EV_COUNT; i++)
        app(buf, cap, &n, "%s\"%s\":%" PRIu64, i ? "," : "",
            pool_event_name(i), p->events[i]);
    app(buf, cap, &n, "},\"event_reseeds\":{");
    for (int i = 0; i < POOL_EV_COUNT; i++)
        app(buf, cap, &n, "%s\"%s\":%" PRIu64, i ? "," : "",
            pool_event_name(i), p->event_reseeds[i]);
    app(buf, cap, &n,
        "}},"
        "\"served\":{\"conditioned\":%" PRIu64 ",\"raw\":%" PRIu64
        ",\"drbg\":%" PRIu64 ",\"blocks\":%" PRIu64 "},",
        p->served[PBD_MODE_CONDITIONED],
        p->served[PBD_MODE_RAW], p->served[PBD_MODE_DRBG], p->blocks);
    int64_t left = atomic_load(&st->budget_us);
    double bcap = (double)s->setup.budget_cap_us;
    app(buf, cap, &n,
        "\"policy\":{\"name\":\"%s\",\"max_cpu_pct\":%g,\"window_s\":%d"
        ",\"boost_nice\":%d"
        ",\"demand\":%s%s%s,\"boosted\":%s,\"boosts\":%" PRIu64
        ",\"boosted_s\":%.3f,\"boost_cpu_s\":%.3f"
        ",\"budget_left_s\":%.3f,\"budget_used_pct\":%.1f"
        ",\"budget_outs\":%" PRIu64 "},",
        sampler_policy_name(s),
        s->setup.cfg.priority == OSDEP_PRIO_DEMAND ? s->setup.cfg.max_cpu_pct
                                                   : 0.0,
        SAMPLER_BUDGET_WINDOW_S, atomic_load(&st->boost_nice),
        srv->demand_why ? "\"" : "",
        srv->demand_why ? srv->demand_why : "null",
        srv->demand_why ? "\"" : "",
        atomic_load(&st->boosted) ? "true" : "false", atomic_load(&st->boosts),
        atomic_load(&st->boosted_us) / 1e6,
        atomic_load(&st->boost_cpu_us) / 1e6, (double)left / 1e6,
        bcap > 0 ? 100.0 * (bcap - (double)(left > 0 ? left : 0)) / bcap : 0.0,
        atomic_load(&st->budget_outs));
    const struct capture *cp = &srv->cap;
    app(buf, cap, &n,
        "\"capture\":{\"active\":%s,\"restarting\":%s,\"sessions\":%" PRIu64
        ",\"restarts\":%" PRIu64 ",\"samples\":%" PRIu64
        ",\"diverted\":%" PRIu64 ",\"overruns\":%" PRIu64 "},",
        cp->armed ? "true" : "false", cp->restarting ? "true" : "false",
        cp->sessions, cp->restarts, cp->samples,
        atomic_load(&s->shared.tap.diverted), cp->overruns);
    app(buf, cap, &n,
        "\"clients\":{\"connected\":%u,\"waiting\":%u,\"refusing\":%u"
        ",\"max\":%u,\"accepted\":%" PRIu64 ",\"refused\":%" PRIu64
        ",\"cut_off\":%" PRIu64 ",\"hangups\":%" PRIu64 "},"
        "\"memory\":{\"used\":%zu,\"limit\":%zu,\"peak\":%zu},"
        "\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
        ",\"timeouts\":%" PRIu64 ",\"kernel_fed_bytes\":%" PRIu64 "}",
        srv->nconns, srv->nwaiting, srv->nrefusing, srv->cfg.max_clients,
        srv->accepted, srv->refused, srv->cut_off, srv->hangups,
        srv->mem_used, srv->cfg.max_memory, srv->mem_peak, srv->requests,
        srv->errors, srv->timeouts, srv->kernel_fed_bytes);
    return n;
}
