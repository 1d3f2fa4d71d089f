/*
 * metrics - counters, gauges and histograms (ABI 0.2.1).
 *
 * on_configure (root), all checked:
 *   - define counter "wasmgate_test_requests_total", gauge "my_plugin.active",
 *     gauge "my_plugin.last_set", histogram "latency_ms" -> OK
 *   - define with type 3 -> BAD_ARGUMENT; defining the counter name again -> OK
 *     (the id is only logged)
 *   - increment counter by 0 and by -1 -> BAD_ARGUMENT
 *   - increment / record / get on an unknown id -> NOT_FOUND
 *   - increment a histogram -> BAD_ARGUMENT; get a histogram -> BAD_ARGUMENT
 *   - record 7 into gauge my_plugin.last_set, then get -> 7
 *   Logs INFO "metrics configured counter=<id> gauge=<id> histogram=<id>
 *   redefined=<id>".
 * on_request_headers: counter += 1 (OK), get counter (OK, >= 1), gauge += 1;
 *   logs INFO "metrics requests_total=<n> active=<n>"; remembers the start
 *   time (proxy_get_current_time_nanoseconds).
 * on_response_headers: adds x-requests-total: <n> (the value read above).
 * on_log: gauge -= 1, records the elapsed time in ms into the histogram;
 *   logs INFO "metrics on_log latency_ms=<n> active=<n>".
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "metrics"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

static uint32_t m_counter, m_gauge, m_last_set, m_hist;

typedef struct {
    uint64_t start_ns;
    uint64_t total;
    int counted;
} m_state_t;

#define UNKNOWN_ID 0x7FFFFFF0u

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    PT_UNUSED(size);
    uint32_t again = 0, bad = 0;
    uint64_t v = 0;
    PT_EXPECT(pw_define_metric(PW_METRIC_COUNTER, "wasmgate_test_requests_total", &m_counter),
              PW_OK);
    PT_EXPECT(pw_define_metric(PW_METRIC_GAUGE, "my_plugin.active", &m_gauge), PW_OK);
    PT_EXPECT(pw_define_metric(PW_METRIC_GAUGE, "my_plugin.last_set", &m_last_set), PW_OK);
    PT_EXPECT(pw_define_metric(PW_METRIC_HISTOGRAM, "latency_ms", &m_hist), PW_OK);
    PT_EXPECT(pw_define_metric(3, "bad_type_metric", &bad), PW_BAD_ARGUMENT);
    PT_EXPECT(pw_define_metric(PW_METRIC_COUNTER, "wasmgate_test_requests_total", &again),
              PW_OK);

    PT_EXPECT(pw_increment_metric(m_counter, 0), PW_BAD_ARGUMENT);
    PT_EXPECT(pw_increment_metric(m_counter, -1), PW_BAD_ARGUMENT);
    PT_EXPECT(pw_increment_metric(UNKNOWN_ID, 1), PW_NOT_FOUND);
    PT_EXPECT(pw_record_metric(UNKNOWN_ID, 1), PW_NOT_FOUND);
    PT_EXPECT(pw_get_metric(UNKNOWN_ID, &v), PW_NOT_FOUND);
    PT_EXPECT(pw_increment_metric(m_hist, 1), PW_BAD_ARGUMENT);
    PT_EXPECT(pw_get_metric(m_hist, &v), PW_BAD_ARGUMENT);

    PT_EXPECT(pw_record_metric(m_last_set, 7), PW_OK);
    if (PT_EXPECT(pw_get_metric(m_last_set, &v), PW_OK))
        PT_CHECK(v == 7, "gauge my_plugin.last_set == 7 (got %llu)", (unsigned long long)v);

    pw_log(PW_LOG_INFO, "metrics configured counter=%u gauge=%u histogram=%u redefined=%u",
           m_counter, m_gauge, m_hist, again);
    return 1;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    m_state_t *s = (m_state_t *)pt_ctx_get_or_new(ctx, sizeof(m_state_t));
    s->start_ns = pw_now_ns();
    uint64_t total = 0, active = 0;
    PT_EXPECT(pw_increment_metric(m_counter, 1), PW_OK);
    if (PT_EXPECT(pw_get_metric(m_counter, &total), PW_OK))
        PT_CHECK(total >= 1, "requests_total >= 1 (got %llu)", (unsigned long long)total);
    if (PT_EXPECT(pw_increment_metric(m_gauge, 1), PW_OK)) {
        s->counted = 1;
        PT_EXPECT(pw_get_metric(m_gauge, &active), PW_OK);
    }
    s->total = total;
    pw_log(PW_LOG_INFO, "metrics requests_total=%llu active=%lld", (unsigned long long)total,
           (long long)active);
    return PW_CONTINUE;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    m_state_t *s = (m_state_t *)pt_ctx_get(ctx);
    if (s) {
        char buf[32];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)s->total);
        PT_EXPECT(pw_add_header(PW_MAP_HTTP_RESPONSE_HEADERS, "x-requests-total", buf), PW_OK);
    }
    return PW_CONTINUE;
}

void proxy_on_log(uint32_t ctx)
{
    m_state_t *s = (m_state_t *)pt_ctx_get(ctx);
    if (!s)
        return;
    uint64_t now = pw_now_ns(), active = 0;
    uint64_t ms = now > s->start_ns ? (now - s->start_ns) / 1000000u : 0;
    if (s->counted) {
        PT_EXPECT(pw_increment_metric(m_gauge, -1), PW_OK);
        s->counted = 0;
    }
    PT_EXPECT(pw_record_metric(m_hist, ms), PW_OK);
    PT_EXPECT(pw_get_metric(m_gauge, &active), PW_OK);
    pw_log(PW_LOG_INFO, "metrics on_log latency_ms=%llu active=%lld", (unsigned long long)ms,
           (long long)active);
}

void proxy_on_delete(uint32_t ctx)
{
    m_state_t *s = (m_state_t *)pt_ctx_get(ctx);
    if (s && s->counted)
        PT_EXPECT(pw_increment_metric(m_gauge, -1), PW_OK); /* no on_log for this stream */
    pt_ctx_delete(ctx);
}
