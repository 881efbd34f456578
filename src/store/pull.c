/* Pull (store-and-registry.md §6): manifest, then every missing blob, then the manifest file.
 *
 * Design: each missing blob is fetched by one download worker thread, found through the
 * store's table of downloads (s->downloads, under s->lock), so two pulls of the same blob wait
 * on the same worker and report its progress; the worker is cancelled only when no pull waits
 * on it any more. A worker writes Range parts (up to 16 in flight on one curl multi handle) at
 * their offsets into <blob>-partial and keeps a small state file per part
 * (<blob>-partial-<N>: {"N","Offset","Size","Completed"}), so a later pull resumes from the
 * bytes on disk. The whole file is hashed before it is renamed to its final name: a blob under
 * its digest's name is always correct. A resumed blob that fails the hash is fetched once more
 * from scratch (the partial data was corrupt); a fresh one fails the pull. */
#include "store/registry.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARTS_IN_FLIGHT 16
#define MAX_RETRIES 6
#define STATE_SAVE_NS (1000LL * 1000000LL)
#define REPORT_NS (60LL * 1000000LL)

struct reg_download {
    struct reg_download *next;
    struct store *s;
    char digest[72];
    uint64_t size;
    int refs;    /* worker + waiters; guarded by s->lock */
    int waiters; /* guarded by s->lock */
    atomic_bool cancel;
    atomic_bool done;
    _Atomic int64_t completed;
    int rc; /* valid once done (release/acquire through `done`) */
    struct ol_err err;
    struct reg_client client;
};

struct part {
    int n;
    uint64_t off, size, completed;
    int retries;
    int64_t retry_at_ns;
    bool active, failed_status;
    int fd;
    struct reg_download *dl;
    CURL *h;
    struct curl_slist *hl;
    char errbuf[CURL_ERROR_SIZE];
};

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- part state files ---- */

static void state_path(const char *partial, int n, char *out, size_t cap) {
    if (snprintf(out, cap, "%s-%d", partial, n) >= (int)cap) out[0] = 0;
}

static int state_save(const char *partial, const struct part *p) {
    char path[PATH_MAX], txt[200];
    state_path(partial, p->n, path, sizeof(path));
    int len = snprintf(
        txt, sizeof(txt), "{\"N\":%d,\"Offset\":%llu,\"Size\":%llu,\"Completed\":%llu}", p->n,
        (unsigned long long)p->off, (unsigned long long)p->size, (unsigned long long)p->completed);
    return ol_file_write_atomic(path, txt, (size_t)len, NULL);
}

static void states_remove(const char *partial) {
    char path[PATH_MAX];
    for (int n = 0;; n++) {
        state_path(partial, n, path, sizeof(path));
        if (unlink(path) < 0 && errno == ENOENT) break;
    }
}

/* Loads the part states of an earlier attempt; 0 parts when there are none or they do not
 * describe this blob (then they are removed). */
static int states_load(const char *partial, uint64_t size, struct part **out) {
    struct part *parts = NULL;
    int n = 0;
    uint64_t next = 0;
    bool ok = true;
    struct stat st;
    if (stat(partial, &st) < 0) ok = false;
    for (;; n++) {
        char path[PATH_MAX], *txt = NULL;
        size_t len;
        state_path(partial, n, path, sizeof(path));
        if (ol_file_read(path, 4096, &txt, &len, NULL) < 0) break;
        json_t *j = json_loads(txt, 0, NULL);
        free(txt);
        json_int_t jn = json_integer_value(json_object_get(j, "N"));
        json_int_t off = json_integer_value(json_object_get(j, "Offset"));
        json_int_t sz = json_integer_value(json_object_get(j, "Size"));
        json_int_t done = json_integer_value(json_object_get(j, "Completed"));
        json_decref(j);
        if (jn != n || off < 0 || sz <= 0 || done < 0 || done > sz || (uint64_t)off != next) {
            ok = false;
            break;
        }
        struct part *np = ol_realloc_array(parts, (size_t)n + 1, sizeof(*parts));
        if (!np) {
            ok = false;
            break;
        }
        parts = np;
        memset(&parts[n], 0, sizeof(parts[n]));
        parts[n].n = n;
        parts[n].off = (uint64_t)off;
        parts[n].size = (uint64_t)sz;
        parts[n].completed = (uint64_t)done;
        next += (uint64_t)sz;
    }
    if (ok && (n == 0 || next != size)) ok = false;
    if (!ok) {
        free(parts);
        states_remove(partial);
        *out = NULL;
        return 0;
    }
    *out = parts;
    return n;
}

/* ---- one blob ---- */

static size_t part_write(char *data, size_t size, size_t nmemb, void *ud) {
    struct part *p = ud;
    size_t len = size * nmemb;
    long status = 0;
    curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &status);
    /* 206 for a range; a plain 200 is only right when the range was the whole blob */
    if (status != 206 && !(status == 200 && p->off + p->completed == 0 && p->size == p->dl->size)) {
        p->failed_status = true;
        return 0;
    }
    if (len > p->size - p->completed) return 0; /* more than asked for */
    const char *c = data;
    size_t left = len;
    while (left) {
        ssize_t k = pwrite(p->fd, c, left, (off_t)(p->off + p->completed));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return 0;
        c += k;
        left -= (size_t)k;
        p->completed += (uint64_t)k;
        atomic_fetch_add(&p->dl->completed, (int64_t)k);
    }
    return len;
}

static void part_start(CURLM *m, struct part *p, const char *url, const char *auth) {
    char range[80], hdr[8300];
    p->h = curl_easy_init();
    p->hl = NULL;
    p->failed_status = false;
    p->errbuf[0] = 0;
    snprintf(range, sizeof(range), "Range: bytes=%llu-%llu",
             (unsigned long long)(p->off + p->completed),
             (unsigned long long)(p->off + p->size - 1));
    p->hl = curl_slist_append(p->hl, range);
    if (auth[0]) {
        snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
        p->hl = curl_slist_append(p->hl, hdr);
    }
    curl_easy_setopt(p->h, CURLOPT_URL, url);
    curl_easy_setopt(p->h, CURLOPT_USERAGENT, reg_user_agent());
    curl_easy_setopt(p->h, CURLOPT_HTTPHEADER, p->hl);
    curl_easy_setopt(p->h, CURLOPT_WRITEFUNCTION, part_write);
    curl_easy_setopt(p->h, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(p->h, CURLOPT_PRIVATE, p);
    curl_easy_setopt(p->h, CURLOPT_ERRORBUFFER, p->errbuf);
    curl_easy_setopt(p->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(p->h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(p->h, CURLOPT_LOW_SPEED_LIMIT, 1L); /* "stalled": no bytes for 30 s */
    curl_easy_setopt(p->h, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(p->h, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_multi_add_handle(m, p->h);
    p->active = true;
}

static void part_stop(CURLM *m, struct part *p) {
    curl_multi_remove_handle(m, p->h);
    curl_easy_cleanup(p->h);
    curl_slist_free_all(p->hl);
    p->h = NULL;
    p->hl = NULL;
    p->active = false;
}

/* Downloads every incomplete part into fd. */
static int parts_fetch(struct reg_download *dl, struct part *parts, int n_parts, int fd,
                       const char *partial, const char *url, const char *auth, struct ol_err *err) {
    CURLM *m = curl_multi_init();
    if (!m) return ol_err_set(err, OL_ENOMEM, "out of memory");
    int rc = 0;
    int64_t last_save = ol_time_ns();
    for (int i = 0; i < n_parts; i++) {
        parts[i].fd = fd;
        parts[i].dl = dl;
    }
    for (;;) {
        int n_active = 0, n_left = 0;
        int64_t now = ol_time_ns();
        if (atomic_load(&dl->cancel)) {
            rc = ol_err_set(err, OL_ECANCELED, "canceled");
            break;
        }
        for (int i = 0; i < n_parts; i++)
            n_active += parts[i].active;
        for (int i = 0; i < n_parts; i++) {
            struct part *p = &parts[i];
            if (p->completed == p->size) continue;
            n_left++;
            if (!p->active && p->retry_at_ns <= now && n_active < MAX_PARTS_IN_FLIGHT) {
                part_start(m, p, url, auth);
                n_active++;
            }
        }
        if (!n_left) break;
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(m, &q))) {
            if (msg->msg != CURLMSG_DONE) continue;
            struct part *p;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
            CURLcode res = msg->data.result;
            long status = 0;
            curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &status);
            bool bad_status = p->failed_status;
            part_stop(m, p);
            state_save(partial, p);
            if (p->completed == p->size) continue;
            char cause[400];
            if (bad_status)
                snprintf(cause, sizeof(cause), "http status %ld", status);
            else
                snprintf(cause, sizeof(cause), "%s",
                         p->errbuf[0] ? p->errbuf : curl_easy_strerror(res));
            if (res == CURLE_WRITE_ERROR && !bad_status && errno == ENOSPC) {
                rc = ol_err_set(err, OL_EIO, "write %s: no space left on device", partial);
                goto out;
            }
            if (res == CURLE_OPERATION_TIMEDOUT) { /* stalled: restart, not a retry */
                ol_log(OL_LOG_INFO, "pull: part %d of %s stalled; restarting", p->n, dl->digest);
                continue;
            }
            if (++p->retries > MAX_RETRIES) {
                rc = ol_err_set(err, OL_EIO, "max retries exceeded: %s", cause);
                goto out;
            }
            ol_log(OL_LOG_INFO, "pull: part %d of %s: %s; retry %d", p->n, dl->digest, cause,
                   p->retries);
            p->retry_at_ns = ol_time_ns() + (1LL << (p->retries - 1)) * 1000000000LL;
        }
        if (ol_time_ns() - last_save > STATE_SAVE_NS) {
            fdatasync(fd); /* the states never claim bytes that are not on disk */
            for (int i = 0; i < n_parts; i++)
                if (parts[i].active) state_save(partial, &parts[i]);
            last_save = ol_time_ns();
        }
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
out:
    for (int i = 0; i < n_parts; i++) {
        if (!parts[i].active) continue;
        part_stop(m, &parts[i]);
        state_save(partial, &parts[i]);
    }
    fdatasync(fd);
    for (int i = 0; i < n_parts; i++)
        state_save(partial, &parts[i]);
    curl_multi_cleanup(m);
    return rc;
}

/* The URL blobs are fetched from: the registry's, or the target of the first redirect to
 * another host (§6 step 2b). *use_auth tells whether it is still the registry. */
static int direct_url(struct reg_download *dl, char *url, size_t cap, bool *use_auth,
                      struct ol_err *err) {
    struct reg_client *c = &dl->client;
    char cur[4096];
    snprintf(cur, sizeof(cur), "%s/v2/%s/blobs/%s", c->base, c->repo, dl->digest);
    for (int hop = 0; hop < 10; hop++) {
        struct reg_resp r = {0};
        int rc = 0;
        for (int attempt = 0;; attempt++) {
            rc = reg_do(c, "HEAD", cur, NULL, NULL, false, &r, err);
            if (rc != OL_EIO || attempt >= 4) break;
            msleep(1000 << attempt); /* retries with backoff, about 30 s in all */
        }
        if (rc < 0) {
            reg_resp_free(&r);
            return rc;
        }
        long st = r.status;
        char loc[4096];
        int lrc = r.location[0] ? reg_url_resolve(cur, r.location, loc, sizeof(loc)) : -1;
        reg_resp_free(&r);
        if (st >= 300 && st < 400 && lrc == 0) {
            char h1[400], h2[400];
            CURLU *u = curl_url();
            char *a = NULL, *b = NULL;
            curl_url_set(u, CURLUPART_URL, cur, 0);
            curl_url_get(u, CURLUPART_HOST, &a, 0);
            curl_url_set(u, CURLUPART_URL, loc, 0);
            curl_url_get(u, CURLUPART_HOST, &b, 0);
            snprintf(h1, sizeof(h1), "%s", a ? a : "");
            snprintf(h2, sizeof(h2), "%s", b ? b : "");
            curl_free(a);
            curl_free(b);
            curl_url_cleanup(u);
            snprintf(cur, sizeof(cur), "%s", loc);
            if (strcasecmp(h1, h2) != 0) {
                *use_auth = false;
                snprintf(url, cap, "%s", cur);
                return 0;
            }
            continue;
        }
        if (st == 200) {
            *use_auth = true;
            snprintf(url, cap, "%s", cur);
            return 0;
        }
        if (st == 404) return ol_err_set(err, OL_ENOTFOUND, "blob %s not found", dl->digest);
        return ol_err_set(err, OL_EIO, "http status %ld for blob %s", st, dl->digest);
    }
    return ol_err_set(err, OL_EIO, "too many redirects for blob %s", dl->digest);
}

static int file_hash(int fd, char hex[65], struct ol_err *err) {
    struct ol_sha256 *h = ol_sha256_new();
    size_t cap = 4u << 20;
    char *buf = malloc(cap);
    if (!h || !buf) {
        free(buf);
        ol_sha256_free(h);
        return ol_err_set(err, OL_ENOMEM, "out of memory");
    }
    off_t off = 0;
    int rc = 0;
    for (;;) {
        ssize_t k = pread(fd, buf, cap, off);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            rc = ol_err_sys(err, OL_EIO, "read blob");
            break;
        }
        if (k == 0) break;
        ol_sha256_update(h, buf, (size_t)k);
        off += k;
    }
    uint8_t d[32];
    ol_sha256_final(h, d);
    ol_sha256_to_hex(d, hex);
    free(buf);
    ol_sha256_free(h);
    return rc;
}

/* One attempt at a blob. *resumed: data from an earlier attempt was reused. */
static int blob_fetch(struct reg_download *dl, bool *resumed, struct ol_err *err) {
    char final[PATH_MAX], partial[PATH_MAX], url[4096];
    store_blob_path(dl->s, dl->digest, final, sizeof(final));
    if (snprintf(partial, sizeof(partial), "%s-partial", final) >= (int)sizeof(partial))
        return ol_err_set(err, OL_EINVAL, "path too long");
    struct part *parts = NULL;
    int n_parts = states_load(partial, dl->size, &parts);
    *resumed = false;
    uint64_t have = 0;
    for (int i = 0; i < n_parts; i++)
        have += parts[i].completed;
    *resumed = have > 0;
    if (!n_parts) {
        uint64_t ps = reg_part_size(dl->size);
        n_parts = dl->size ? (int)((dl->size + ps - 1) / ps) : 0;
        parts = ol_calloc_array((size_t)n_parts + 1, sizeof(*parts));
        if (!parts) return ol_err_set(err, OL_ENOMEM, "out of memory");
        for (int i = 0; i < n_parts; i++) {
            parts[i].n = i;
            parts[i].off = (uint64_t)i * ps;
            parts[i].size = OL_MIN(ps, dl->size - parts[i].off);
        }
    }
    int fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC | (*resumed ? 0 : O_TRUNC), 0644);
    if (fd < 0) {
        free(parts);
        return ol_err_sys(err, OL_EIO, "open %s", partial);
    }
    int rc = 0;
    if (!*resumed) {
        for (int i = 0; i < n_parts && rc == 0; i++)
            rc = state_save(partial, &parts[i]);
        if (rc < 0) rc = ol_err_set(err, OL_EIO, "write %s state", partial);
    }
    atomic_store(&dl->completed, (int64_t)have);
    bool use_auth = true;
    if (!rc && n_parts) rc = direct_url(dl, url, sizeof(url), &use_auth, err);
    if (!rc && n_parts)
        rc =
            parts_fetch(dl, parts, n_parts, fd, partial, url, use_auth ? dl->client.auth : "", err);
    free(parts);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    char hex[65];
    rc = file_hash(fd, hex, err);
    if (rc == 0 && fsync(fd) < 0) rc = ol_err_sys(err, OL_EIO, "fsync %s", partial);
    close(fd);
    if (rc < 0) return rc;
    if (strncasecmp(dl->digest + 7, hex, 64) != 0) {
        unlink(partial);
        states_remove(partial);
        return ol_err_set(err, OL_EFORMAT,
                          "digest mismatch, file must be downloaded again: want %s, got sha256:%s",
                          dl->digest, hex);
    }
    if (rename(partial, final) < 0) return ol_err_sys(err, OL_EIO, "rename %s", final);
    ol_fsync_dir_of(final);
    states_remove(partial);
    return 0;
}

static void dl_unref_locked(struct reg_download *dl) {
    if (--dl->refs == 0) free(dl);
}

static void *dl_worker(void *arg) {
    struct reg_download *dl = arg;
    bool resumed;
    int rc = blob_fetch(dl, &resumed, &dl->err);
    if (rc == OL_EFORMAT && resumed) {
        ol_log(OL_LOG_WARN, "pull: %s: partial data was corrupt; downloading it again", dl->digest);
        rc = blob_fetch(dl, &resumed, &dl->err);
    }
    struct store *s = dl->s;
    pthread_mutex_lock(&s->lock);
    dl->rc = rc;
    atomic_store(&dl->done, true);
    for (struct reg_download **pp = &s->downloads; *pp; pp = &(*pp)->next) {
        if (*pp == dl) {
            *pp = dl->next;
            break;
        }
    }
    dl_unref_locked(dl);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Reports progress of the blob until it is in the store; starts or joins its download. */
static int blob_pull(struct store *s, const struct reg_client *c, const struct store_layer *l,
                     const struct store_xfer_params *p, struct ol_err *err) {
    char status[32];
    snprintf(status, sizeof(status), "pulling %.12s", l->digest + 7);
    struct reg_download *dl = NULL;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        if (store_blob_exists(s, l->digest)) {
            pthread_mutex_unlock(&s->lock);
            if (p->progress &&
                !p->progress(p->user, status, l->digest, (int64_t)l->size, (int64_t)l->size))
                return ol_err_set(err, OL_ECANCELED, "canceled");
            return 0;
        }
        for (dl = s->downloads; dl; dl = dl->next)
            if (strcasecmp(dl->digest, l->digest) == 0) break;
        if (dl && !atomic_load(&dl->cancel)) { /* join it */
            dl->refs++;
            dl->waiters++;
            pthread_mutex_unlock(&s->lock);
            break;
        }
        if (!dl) {
            dl = calloc(1, sizeof(*dl));
            if (!dl) {
                pthread_mutex_unlock(&s->lock);
                return ol_err_set(err, OL_ENOMEM, "out of memory");
            }
            dl->s = s;
            snprintf(dl->digest, sizeof(dl->digest), "%s", l->digest);
            dl->size = l->size;
            dl->client = *c;
            dl->client.cancel = &dl->cancel;
            dl->refs = 2;
            dl->waiters = 1;
            pthread_t t;
            pthread_attr_t a;
            pthread_attr_init(&a);
            pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &a, dl_worker, dl) != 0) {
                pthread_attr_destroy(&a);
                pthread_mutex_unlock(&s->lock);
                free(dl);
                return ol_err_set(err, OL_EIO, "cannot start a download thread");
            }
            pthread_attr_destroy(&a);
            dl->next = s->downloads;
            s->downloads = dl;
            pthread_mutex_unlock(&s->lock);
            break;
        }
        pthread_mutex_unlock(&s->lock); /* a cancelled download is still ending: wait */
        msleep(50);
    }
    bool first = true;
    for (;;) {
        bool done = atomic_load(&dl->done);
        int64_t completed = atomic_load(&dl->completed);
        bool ok = true;
        if (p->progress && !(done && dl->rc < 0))
            ok = p->progress(p->user, status, l->digest, (int64_t)l->size,
                             first && !completed ? -1
                             : done              ? (int64_t)l->size
                                                 : completed);
        first = false;
        int rc = 0;
        if (done) {
            rc = dl->rc;
            if (rc < 0 && err) *err = dl->err;
        } else if (!ok) {
            rc = ol_err_set(err, OL_ECANCELED, "canceled");
        }
        if (done || !ok) {
            pthread_mutex_lock(&s->lock);
            if (--dl->waiters == 0 && !atomic_load(&dl->done)) atomic_store(&dl->cancel, true);
            dl_unref_locked(dl);
            pthread_mutex_unlock(&s->lock);
            return rc;
        }
        msleep((int)(REPORT_NS / 1000000));
    }
}

/* ---- the whole pull ---- */

static bool report(const struct store_xfer_params *p, const char *status) {
    return !p->progress || p->progress(p->user, status, "", 0, 0);
}

int reg_name_parse(const char *name, const struct store_xfer_params *p, struct store_name *n,
                   struct ol_err *err) {
    if (store_name_parse(name, n) < 0) return ol_err_set(err, OL_EINVAL, "invalid model name");
    if (strcmp(n->scheme, "http") == 0 && !p->insecure)
        return ol_err_set(err, OL_EINVAL, "insecure protocol http");
    if (p->insecure) snprintf(n->scheme, sizeof(n->scheme), "http");
    return 0;
}

int store_pull(struct store *s, const char *name, const struct store_xfer_params *p,
               struct ol_err *err) {
    struct store_name n;
    int rc = reg_name_parse(name, p, &n, err);
    if (rc < 0) return rc;
    store_name_resolve(s, &n);
    if (!report(p, "pulling manifest")) return ol_err_set(err, OL_ECANCELED, "canceled");
    struct reg_client c;
    reg_client_init(&c, &n, p->username, p->password, NULL);
    char path[700];
    snprintf(path, sizeof(path), "/v2/%s/manifests/%s", c.repo, n.tag);
    const char *hdrs[] = {"Accept: " STORE_MT_MANIFEST, NULL};
    struct reg_resp r = {.body_all = true};
    rc = reg_do(&c, "GET", path, hdrs, NULL, true, &r, err);
    if (rc == 0 && r.status == 404)
        rc = ol_err_set(err, OL_ENOTFOUND, "pull model manifest: file does not exist");
    else if (rc == 0 && r.status >= 400)
        rc = ol_err_set(err, OL_EIO, "pull model manifest: %ld: %.200s", r.status,
                        r.body.data ? r.body.data : "");
    struct store_manifest mf = {0};
    if (rc == 0) rc = store_manifest_parse(r.body.data ? r.body.data : "", r.body.len, &mf, err);
    if (rc < 0) goto out;
    for (int i = 0; i <= mf.n_layers && rc == 0; i++)
        rc = blob_pull(s, &c, i < mf.n_layers ? &mf.layers[i] : &mf.config, p, err);
    if (rc < 0) goto out;
    /* every blob was hashed before it took its final name (blob_fetch) */
    if (!report(p, "verifying sha256 digest") || !report(p, "writing manifest")) {
        rc = ol_err_set(err, OL_ECANCELED, "canceled");
        goto out;
    }
    pthread_mutex_lock(&s->lock);
    struct store_manifest old = {0};
    bool had_old = store_manifest_read(s, &n, &old, NULL) == 0;
    rc = store_manifest_write(s, &n, r.body.data, r.body.len, err);
    const char *unused[256];
    int n_unused = 0;
    for (int i = -1; had_old && rc == 0 && i < old.n_layers && n_unused < 256; i++) {
        const char *d = i < 0 ? old.config.digest : old.layers[i].digest;
        bool kept = strcasecmp(d, mf.config.digest) == 0;
        for (int j = 0; j < mf.n_layers && !kept; j++)
            kept = strcasecmp(d, mf.layers[j].digest) == 0;
        if (!kept) unused[n_unused++] = d;
    }
    if (n_unused) {
        report(p, "removing unused layers");
        store_blobs_remove_unused(s, unused, n_unused);
    }
    store_manifest_clear(&old);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0) report(p, "success");
out:
    store_manifest_clear(&mf);
    reg_resp_free(&r);
    return rc;
}
