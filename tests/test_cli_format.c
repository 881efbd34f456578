/* CLI formatting: OLLAMA_HOST table, human sizes / numbers / times, Go durations, tables,
 * word wrap and the progress bar line (spec: cli.md §1, §4). White-box: includes the sources. */
#include "cli/format.c"
#include "cli/table.c"
#include "cli/progress.c"

#include "check.h"

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_sa_ = (a), *check_sb_ = (b);                                             \
        check_count++;                                                                             \
        if (strcmp(check_sa_, check_sb_) != 0) {                                                   \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK_STR(%s, %s) failed:\n  got  \"%s\"\n  want \"%s\"\n",    \
                    __FILE__, __LINE__, #a, #b, check_sa_, check_sb_);                             \
        }                                                                                          \
    } while (0)

static void test_host(void) {
    static const char *const cases[][2] = {
        {"", "http://127.0.0.1:11434"},
        {"1.2.3.4", "http://1.2.3.4:11434"},
        {"1.2.3.4:1234", "http://1.2.3.4:1234"},
        {":1234", "http://:1234"},
        {"example.com", "http://example.com:11434"},
        {"example.com:1234", "http://example.com:1234"},
        {"[::1]", "http://[::1]:11434"},
        {"::1", "http://[::1]:11434"},
        {"[::]", "http://[::]:11434"},
        {"[::1]:1234", "http://[::1]:1234"},
        {"http://1.2.3.4", "http://1.2.3.4:80"},
        {"https://1.2.3.4", "https://1.2.3.4:443"},
        {"https://1.2.3.4:1234", "https://1.2.3.4:1234"},
        {"https://example.com/ollama", "https://example.com:443/ollama"},
        {"ollama.com", "https://ollama.com:443"},
        {" 1.2.3.4 ", "http://1.2.3.4:11434"},
        {"\"1.2.3.4\"", "http://1.2.3.4:11434"},
        {"'1.2.3.4:99'", "http://1.2.3.4:99"},
        {":66000", "http://:11434"},
        {":-1", "http://:11434"},
        {"0.0.0.0", "http://0.0.0.0:11434"},
    };
    char url[700];
    for (size_t i = 0; i < OL_ARRAY_LEN(cases); i++) {
        struct cli_host h;
        bool bad;
        cli_host_parse(cases[i][0], &h, &bad);
        cli_host_url(&h, false, url, sizeof(url));
        CHECK_STR(url, cases[i][1]);
    }
    struct cli_host h;
    bool bad;
    cli_host_parse(":66000", &h, &bad);
    CHECK(bad);
    cli_host_parse(NULL, &h, &bad);
    CHECK(!bad);
    /* a client dials loopback for "all interfaces" */
    cli_host_parse(":1234", &h, &bad);
    cli_host_url(&h, true, url, sizeof(url));
    CHECK_STR(url, "http://127.0.0.1:1234");
    cli_host_parse("0.0.0.0", &h, &bad);
    cli_host_url(&h, true, url, sizeof(url));
    CHECK_STR(url, "http://127.0.0.1:11434");
    cli_host_parse("[::]:5", &h, &bad);
    cli_host_url(&h, true, url, sizeof(url));
    CHECK_STR(url, "http://[::1]:5");
}

static void test_bytes(void) {
    static const struct {
        int64_t b;
        const char *s;
    } cases[] = {{0, "0 B"},
                 {999, "999 B"},
                 {1000, "1 KB"},
                 {1500, "1.5 KB"},
                 {2019393189, "2.0 GB"},
                 {4680000000, "4.7 GB"},
                 {13900000000, "13 GB"},
                 {132000000000, "132 GB"},
                 {2000000000, "2 GB"},
                 {1000000000000, "1 TB"},
                 {9999, "10.0 KB"},
                 {1049, "1.0 KB"}};
    char s[64];
    for (size_t i = 0; i < OL_ARRAY_LEN(cases); i++) {
        cli_human_bytes(cases[i].b, s, sizeof(s));
        CHECK_STR(s, cases[i].s);
    }
}

static void test_number(void) {
    char s[64];
    cli_human_number(8030000000ULL, s, sizeof(s));
    CHECK_STR(s, "8.0B");
    cli_human_number(7000000000ULL, s, sizeof(s));
    CHECK_STR(s, "7B");
    cli_human_number(22570000ULL, s, sizeof(s));
    CHECK_STR(s, "22.57M");
    cli_human_number(3000000ULL, s, sizeof(s));
    CHECK_STR(s, "3M");
    cli_human_number(260000ULL, s, sizeof(s));
    CHECK_STR(s, "260K");
    cli_human_number(999ULL, s, sizeof(s));
    CHECK_STR(s, "999");
}

static void test_time(void) {
    static const struct {
        double delta; /* now - t, seconds */
        const char *s;
    } cases[] = {
        {0.5, "Less than a second ago"},
        {1, "1 second ago"},
        {30, "30 seconds ago"},
        {60, "About a minute ago"},
        {119, "About a minute ago"},
        {120, "2 minutes ago"},
        {3599, "59 minutes ago"},
        {3600, "About an hour ago"},
        {5400, "2 hours ago"},
        {47 * 3600, "47 hours ago"},
        {48 * 3600, "2 days ago"},
        {13 * 86400, "13 days ago"},
        {14 * 86400, "2 weeks ago"},
        {59 * 86400, "8 weeks ago"},
        {60 * 86400, "2 months ago"},
        {729 * 86400, "24 months ago"},
        {730 * 86400, "2 years ago"},
        {-240, "4 minutes from now"},
        {-21.0 * 365 * 86400, "Forever"},
        {-300.0 * 365 * 86400, "Forever"},
        {-19.0 * 365 * 86400, "19 years from now"},
    };
    char s[64];
    double now = 1.7e9;
    for (size_t i = 0; i < OL_ARRAY_LEN(cases); i++) {
        cli_human_time(now - cases[i].delta, now, false, "Never", s, sizeof(s));
        CHECK_STR(s, cases[i].s);
    }
    cli_human_time(0, now, true, "Never", s, sizeof(s));
    CHECK_STR(s, "Never");

    double t;
    bool zero;
    CHECK_EQ(cli_time_parse("0001-01-01T00:00:00Z", &t, &zero), 0);
    CHECK(zero);
    CHECK_EQ(cli_time_parse("2024-07-22T20:47:51.147561Z", &t, &zero), 0);
    CHECK(!zero);
    CHECK_NEAR(t, 1721681271.147561, 1e-5);
    CHECK_EQ(cli_time_parse("2025-05-10T08:06:48.639712648-07:00", &t, &zero), 0);
    CHECK_NEAR(t, 1746889608.639712648, 1e-5);
    CHECK(cli_time_parse("garbage", &t, &zero) < 0);
}

static void test_duration(void) {
    static const struct {
        int64_t ns;
        const char *s;
    } cases[] = {{0, "0s"},
                 {800, "800ns"},
                 {512000, "512\xc2\xb5s"},
                 {130079000, "130.079ms"},
                 {12345678, "12.345678ms"},
                 {1234567891, "1.234567891s"},
                 {4232710000, "4.23271s"},
                 {3723500000000, "1h2m3.5s"},
                 {240000000000, "4m0s"},
                 {3600000000000, "1h0m0s"},
                 {-1500000000, "-1.5s"}};
    char s[64];
    for (size_t i = 0; i < OL_ARRAY_LEN(cases); i++) {
        cli_duration_str(cases[i].ns, s, sizeof(s));
        CHECK_STR(s, cases[i].s);
    }
    int64_t ns;
    CHECK_EQ(cli_duration_parse("5m", &ns, NULL), 0);
    CHECK_EQ(ns, 300000000000LL);
    CHECK_EQ(cli_duration_parse("1h30m", &ns, NULL), 0);
    CHECK_EQ(ns, 5400000000000LL);
    CHECK_EQ(cli_duration_parse("-1m", &ns, NULL), 0);
    CHECK_EQ(ns, -60000000000LL);
    CHECK_EQ(cli_duration_parse("0", &ns, NULL), 0);
    CHECK_EQ(ns, 0);
    struct ol_err e = {0};
    CHECK(cli_duration_parse("3600", &ns, &e) < 0);
    CHECK_STR(e.msg, "time: missing unit in duration \"3600\"");
    CHECK(cli_duration_parse("1d", &ns, &e) < 0);
}

static void test_go_float(void) {
    char s[64];
    cli_go_float(0.7, true, s, sizeof(s));
    CHECK_STR(s, "0.7");
    cli_go_float(131072, true, s, sizeof(s));
    CHECK_STR(s, "131072");
    cli_go_float(1e6, true, s, sizeof(s));
    CHECK_STR(s, "1e+06");
    cli_go_float(1e6, false, s, sizeof(s));
    CHECK_STR(s, "1000000");
    cli_go_float(0.00001, true, s, sizeof(s));
    CHECK_STR(s, "1e-05");
    cli_go_float(10000.5, true, s, sizeof(s));
    CHECK_STR(s, "10000.5");
}

static char *render(struct cli_table *t) {
    struct ol_buf b = {0};
    cli_table_render(t, &b);
    cli_table_free(t);
    if (!b.data) ol_buf_puts(&b, "");
    return b.data;
}

static void test_table(void) {
    struct cli_table *t = cli_table_new(30);
    const char *hdr[] = {"NAME", "ID", "SIZE", "MODIFIED"};
    const char *row[] = {"llama3.2:latest", "a80c4f17acd5", "2.0 GB", "2 weeks ago"};
    cli_table_header(t, 4, hdr);
    cli_table_row(t, 4, row);
    char *s = render(t);
    CHECK_STR(s, "NAME               ID              SIZE      MODIFIED    \n"
                 "llama3.2:latest    a80c4f17acd5    2.0 GB    2 weeks ago    \n");
    free(s);

    /* empty list: header only, last header followed by one space */
    t = cli_table_new(30);
    cli_table_header(t, 4, hdr);
    s = render(t);
    CHECK_STR(s, "NAME    ID    SIZE    MODIFIED \n");
    free(s);

    /* show tables: empty first column gives the 4-space indent */
    t = cli_table_new(30);
    const char *r1[] = {"", "architecture", "llama"};
    const char *r2[] = {"", "context length", "131072"};
    cli_table_row(t, 3, r1);
    cli_table_row(t, 3, r2);
    s = render(t);
    CHECK_STR(s, "    architecture      llama     \n"
                 "    context length    131072    \n");
    free(s);

    /* long cells with spaces wrap at 30 columns; a single long word does not */
    t = cli_table_new(30);
    const char *r3[] = {"", "one two three four five six seven eight nine ten"};
    cli_table_row(t, 2, r3);
    s = render(t);
    /* minimum raggedness: 27 + 20 columns beats 23 + 24 */
    CHECK_STR(s, "    one two three four five six    \n"
                 "    seven eight nine ten           \n");
    free(s);
    t = cli_table_new(30);
    const char *r4[] = {"averyveryveryverylongmodelname:latest", "x"};
    cli_table_row(t, 2, r4);
    s = render(t);
    CHECK_STR(s, "averyveryveryverylongmodelname:latest    x    \n");
    free(s);

    /* East-Asian wide characters count two columns */
    t = cli_table_new(30);
    const char *r5[] = {"日本", "a"};
    const char *r6[] = {"abcde", "b"};
    cli_table_row(t, 2, r5);
    cli_table_row(t, 2, r6);
    s = render(t);
    CHECK_STR(s, "日本     a    \nabcde    b    \n");
    free(s);
}

static char *wrap_all(const char *const *chunks, size_t n, bool wrap, int width) {
    struct cli_wrap w = {0};
    struct ol_buf b = {0};
    for (size_t i = 0; i < n; i++)
        cli_wrap_feed(&w, chunks[i], strlen(chunks[i]), wrap, width, &b);
    cli_wrap_reset(&w);
    if (!b.data) ol_buf_puts(&b, "");
    return b.data;
}

static void test_wrap(void) {
    const char *c1[] = {"hello world"};
    char *s = wrap_all(c1, 1, false, 20);
    CHECK_STR(s, "hello world");
    free(s);
    /* width 20: the 16th column starts a new line; "world" moves down with its last char */
    const char *c2[] = {"hello big worlds"};
    s = wrap_all(c2, 1, true, 20);
    CHECK_STR(s, "hello big world\x1b[5D\x1b[K\nworlds");
    free(s);
    /* the same split across chunks, including a split UTF-8 character */
    const char *c3[] = {"hello b", "ig wor", "ld \xc3", "\xa9"};
    s = wrap_all(c3, 4, true, 20);
    CHECK_STR(s, "hello big world\x1b[5D\x1b[K\nworld \xc3\xa9");
    free(s);
    /* newlines reset the column */
    const char *c4[] = {"abcdefghij\nabcdefghij"};
    s = wrap_all(c4, 1, true, 20);
    CHECK_STR(s, "abcdefghij\nabcdefghij");
    free(s);
}

static void test_bar(void) {
    struct ol_buf b = {0};
    cli_bar_format("pulling dde5aa3fc5ff:", 2019393189, 2019393189, true, 0, 80, &b);
    CHECK_STR(b.data,
              "pulling dde5aa3fc5ff: 100% ▕██████████████████▏ 2.0 GB                         ");
    ol_buf_free(&b);
    cli_bar_format("pulling 966de95ca8a6:", 70, 1000, false, 0, 80, &b);
    CHECK_STR(b.data,
              "pulling 966de95ca8a6:   7% ▕█                 ▏   70 B/  1 KB                  ");
    ol_buf_free(&b);
    cli_bar_format("x", 500000000, 1000000000, false, 10000000, 60, &b);
    CHECK_STR(b.data, "x  50% ▕█████████         ▏ 500 MB/  1 GB   10 MB/s     50s");
    ol_buf_free(&b);
    char e[16];
    fmt_eta(192, e, sizeof(e));
    CHECK_STR(e, "3m12s");
    fmt_eta(3600 * 2 + 60 * 5, e, sizeof(e));
    CHECK_STR(e, "2h5m");
    fmt_eta(3600 * 100, e, sizeof(e));
    CHECK_STR(e, "99h+");
}

int main(void) {
    test_host();
    test_bytes();
    test_number();
    test_time();
    test_duration();
    test_go_float();
    test_table();
    test_wrap();
    test_bar();
    return check_exit("test_cli_format");
}
