/* A byte queue from one producer (the model runner, or a create/pull job) to the HTTP thread
 * writing the response. Two references: the producer's and the writer's; the last one to let
 * go frees it. Abandoning (client gone) makes further writes fail, which cancels generation. */
#include "server/srv.h"

#include <stdlib.h>
#include <string.h>

struct srv_stream {
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    struct ol_buf buf;
    size_t off; /* read position in buf */
    bool closed;
    bool abandoned;
    int refs;
    int status; /* HTTP status for a non-streaming reply (0 = 200) */
};

struct srv_stream *srv_stream_new(void) {
    struct srv_stream *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->refs = 2;
    return s;
}

static void stream_unref_locked(struct srv_stream *s) {
    if (--s->refs > 0) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    ol_buf_free(&s->buf);
    free(s);
}

bool srv_stream_write(struct srv_stream *s, const char *data, size_t len) {
    pthread_mutex_lock(&s->mu);
    bool ok = !s->abandoned;
    if (ok) {
        if (s->off == s->buf.len) { /* all read: reuse the buffer from the start */
            s->buf.len = 0;
            s->off = 0;
        }
        ok = ol_buf_append(&s->buf, data, len) == 0;
    }
    pthread_mutex_unlock(&s->mu);
    /* After unlocking (the producer's reference keeps s alive): woken under the lock, the
     * reader would block on the mutex at once and cost two more system calls per token. */
    if (ok) pthread_cond_broadcast(&s->cv);
    return ok;
}

void srv_stream_close(struct srv_stream *s) {
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    pthread_cond_broadcast(&s->cv);
    stream_unref_locked(s);
}

size_t srv_stream_read(struct srv_stream *s, char *buf, size_t cap) {
    pthread_mutex_lock(&s->mu);
    while (s->off == s->buf.len && !s->closed)
        pthread_cond_wait(&s->cv, &s->mu);
    size_t n = OL_MIN(cap, s->buf.len - s->off);
    if (n) memcpy(buf, s->buf.data + s->off, n);
    s->off += n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void srv_stream_abandon(struct srv_stream *s) {
    pthread_mutex_lock(&s->mu);
    s->abandoned = true;
    pthread_cond_broadcast(&s->cv);
    stream_unref_locked(s);
}

bool srv_stream_is_abandoned(struct srv_stream *s) {
    pthread_mutex_lock(&s->mu);
    bool a = s->abandoned;
    pthread_mutex_unlock(&s->mu);
    return a;
}

void srv_stream_set_status(struct srv_stream *s, int status) {
    pthread_mutex_lock(&s->mu);
    s->status = status;
    pthread_mutex_unlock(&s->mu);
}

int srv_stream_status(struct srv_stream *s) {
    pthread_mutex_lock(&s->mu);
    int st = s->status ? s->status : 200;
    pthread_mutex_unlock(&s->mu);
    return st;
}
