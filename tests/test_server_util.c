/* Server helpers: Go durations (keep_alive, OLLAMA_KEEP_ALIVE), RFC 3339 timestamps, the
 * OLLAMA_HOST bind address, and the NDJSON stream queue. */
#include <string.h>

#include "check.h"
#include "server/srv.h"

static void test_durations(void) {
    int64_t ns = 0;
    CHECK_EQ(srv_duration_parse("5m", false, &ns), 0);
    CHECK_EQ(ns, 300000000000LL);
    CHECK_EQ(srv_duration_parse("1h30m", false, &ns), 0);
    CHECK_EQ(ns, 5400000000000LL);
    CHECK_EQ(srv_duration_parse("-1m", false, &ns), 0);
    CHECK(ns < 0);
    CHECK_EQ(srv_duration_parse("0", false, &ns), 0);
    CHECK_EQ(ns, 0);
    CHECK_EQ(srv_duration_parse("1.5s", false, &ns), 0);
    CHECK_EQ(ns, 1500000000LL);
    CHECK_EQ(srv_duration_parse("250ms", false, &ns), 0);
    CHECK_EQ(ns, 250000000LL);
    CHECK_EQ(srv_duration_parse("3600", false, &ns), OL_EINVAL); /* missing unit (API) */
    CHECK_EQ(srv_duration_parse("3600", true, &ns), 0);          /* env: bare seconds */
    CHECK_EQ(ns, 3600000000000LL);
    CHECK_EQ(srv_duration_parse("1d", true, &ns), OL_EINVAL);
    CHECK_EQ(srv_duration_parse("", false, &ns), OL_EINVAL);
    CHECK_EQ(srv_duration_parse("m", false, &ns), OL_EINVAL);
}

static void test_time_format(void) {
    char b[64];
    srv_time_format(1691176965499127000LL, true, b, sizeof(b));
    CHECK(strcmp(b, "2023-08-04T19:22:45.499127Z") == 0);
    srv_time_format(1691176965000000000LL, true, b, sizeof(b));
    CHECK(strcmp(b, "2023-08-04T19:22:45Z") == 0);
}

static void test_host(void) {
    char h[256];
    int port;
    srv_parse_host("", h, sizeof(h), &port);
    CHECK(strcmp(h, "127.0.0.1") == 0);
    CHECK_EQ(port, 11434);
    srv_parse_host("1.2.3.4:1234", h, sizeof(h), &port);
    CHECK(strcmp(h, "1.2.3.4") == 0);
    CHECK_EQ(port, 1234);
    srv_parse_host(":1234", h, sizeof(h), &port);
    CHECK(strcmp(h, "0.0.0.0") == 0);
    CHECK_EQ(port, 1234);
    srv_parse_host("http://1.2.3.4", h, sizeof(h), &port);
    CHECK_EQ(port, 80);
    srv_parse_host("[::1]:5000", h, sizeof(h), &port);
    CHECK(strcmp(h, "::1") == 0);
    CHECK_EQ(port, 5000);
    srv_parse_host("::1", h, sizeof(h), &port);
    CHECK(strcmp(h, "::1") == 0);
    CHECK_EQ(port, 11434);
    srv_parse_host("1.2.3.4:66000", h, sizeof(h), &port);
    CHECK_EQ(port, 11434);
}

static void test_stream(void) {
    struct srv_stream *s = srv_stream_new();
    CHECK(srv_stream_write(s, "a\n", 2));
    CHECK(srv_stream_write(s, "bc\n", 3));
    char buf[16];
    size_t n = srv_stream_read(s, buf, sizeof(buf));
    CHECK_EQ(n, 5);
    srv_stream_set_status(s, 404);
    srv_stream_close(s);
    CHECK_EQ(srv_stream_read(s, buf, sizeof(buf)), 0);
    CHECK_EQ(srv_stream_status(s), 404);
    srv_stream_abandon(s);
    /* a writer whose reader went away learns it */
    s = srv_stream_new();
    srv_stream_abandon(s);
    CHECK(!srv_stream_write(s, "x", 1));
    srv_stream_close(s);
}

int main(void) {
    test_durations();
    test_time_format();
    test_host();
    test_stream();
    return check_exit("test_server_util");
}
