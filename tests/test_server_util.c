/* Server helpers: Go durations (keep_alive, OLLAMA_KEEP_ALIVE), RFC 3339 timestamps, JSON
 * strings as Go writes them, the OLLAMA_HOST bind address, and the NDJSON stream queue. */
#include <stdio.h>
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
    /* the same second again (its text is kept), then the next one */
    srv_time_format(1691176965000000001LL, true, b, sizeof(b));
    CHECK(strcmp(b, "2023-08-04T19:22:45.000000001Z") == 0);
    srv_time_format(1691176966120000000LL, true, b, sizeof(b));
    CHECK(strcmp(b, "2023-08-04T19:22:46.12Z") == 0);
    srv_time_format(-1, true, b, sizeof(b)); /* before the epoch: the fraction borrows */
    CHECK(strcmp(b, "1969-12-31T23:59:59.999999999Z") == 0);
    char small[12];
    srv_time_format(1691176965499127000LL, true, small, sizeof(small));
    CHECK(strcmp(small, "2023-08-04T") == 0); /* cut, still terminated */
}

/* Appends s[0..n) quoted and compares with what Go's json.Marshal gives for the same bytes. */
static void check_quote(const char *s, size_t n, const char *want) {
    struct ol_buf b = {0};
    ol_buf_puts(&b, "x");
    CHECK_EQ(srv_json_quote(&b, s, n), 0);
    CHECK(b.data && strcmp(b.data + 1, want) == 0);
    if (b.data && strcmp(b.data + 1, want) != 0)
        fprintf(stderr, "  got %s want %s\n", b.data + 1, want);
    CHECK_EQ(b.len, strlen(want) + 1);
    ol_buf_free(&b);
}

static void test_json_quote(void) {
    check_quote("", 0, "\"\"");
    check_quote("a\"b\\c/", 6, "\"a\\\"b\\\\c/\"");
    check_quote("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    check_quote("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    check_quote("a\0b", 3, "\"a\\u0000b\"");
    check_quote("<b>&", 4, "\"\\u003cb\\u003e\\u0026\"");
    check_quote("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    check_quote("\xe2\x80\xa8\xe2\x80\xa9", 6, "\"\\u2028\\u2029\"");
    /* invalid UTF-8: one U+FFFD per byte that does not start a valid sequence */
    check_quote("\xff", 1, "\"\\ufffd\"");
    check_quote("a\xe2\x82", 3, "\"a\\ufffd\\ufffd\"");                     /* cut short */
    check_quote("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");                       /* overlong */
    check_quote("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");            /* surrogate */
    check_quote("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
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
    test_json_quote();
    test_host();
    test_stream();
    return check_exit("test_server_util");
}
