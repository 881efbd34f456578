/* Scheduler v1. Design: a list of loaded instances under one mutex. A request acquires an
 * instance (loading it, or waiting for room under OLLAMA_MAX_LOADED_MODELS), queues jobs on
 * its runner thread, and releases it when the job ends; the idle timer (keep_alive) starts at
 * the last release and a reaper thread unloads expired instances. Each instance has one
 * runner thread that owns the engine context and runs jobs in submission order (parallel
 * decoding of several requests is a later issue). Lock order: sched.mu, then inst.qmu. */
#include "server/srv.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum inst_state { INST_LOADING, INST_READY, INST_FAILED };

struct srv_inst {
    struct sched *sched;
    char path[PATH_MAX];
    char name[512];
    char digest[65];
    json_t *details; /* for /api/ps */
    int num_ctx, num_batch, num_thread;
    struct eng_model *m;
    struct eng_ctx *c;
    struct eng_seq *seq;
    enum inst_state state;
    struct ol_err load_err;
    int refs;           /* guarded by sched.mu */
    int64_t expires_ns; /* wall clock; INT64_MAX = never; guarded by sched.mu */
    bool unload_asap;   /* guarded by sched.mu */
    uint64_t mem_bytes; /* weights + KV cache estimate */
    /* runner */
    pthread_t runner;
    bool runner_started;
    pthread_mutex_t qmu; /* guards the job queue and stop */
    pthread_cond_t qcv;
    struct srv_job *head, *tail;
    bool stop;
    struct srv_inst *next;
};

struct sched {
    const struct srv_config *cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* state changes: loaded, released, unloaded */
    struct srv_inst *list;
    int n_waiting;
    bool stop;
    pthread_t reaper;
};

static void *runner_main(void *arg) {
    struct srv_inst *in = arg;
    for (;;) {
        pthread_mutex_lock(&in->qmu);
        while (!in->head && !in->stop)
            pthread_cond_wait(&in->qcv, &in->qmu);
        if (!in->head) {
            pthread_mutex_unlock(&in->qmu);
            return NULL;
        }
        struct srv_job *j = in->head;
        in->head = j->next;
        if (!in->head) in->tail = NULL;
        pthread_mutex_unlock(&in->qmu);
        j->run(j, in, in->seq);
    }
}

static void inst_free(struct srv_inst *in) {
    if (!in) return;
    if (in->runner_started) {
        pthread_mutex_lock(&in->qmu);
        in->stop = true;
        pthread_cond_broadcast(&in->qcv);
        pthread_mutex_unlock(&in->qmu);
        pthread_join(in->runner, NULL);
    }
    eng_seq_free(in->seq);
    eng_ctx_free(in->c);
    eng_model_free(in->m);
    json_decref(in->details);
    pthread_mutex_destroy(&in->qmu);
    pthread_cond_destroy(&in->qcv);
    free(in);
}

static int64_t expiry(int64_t keep_alive_ns) {
    if (keep_alive_ns < 0) return INT64_MAX;
    return srv_now_ns() + keep_alive_ns;
}

/* Unlinks and frees idle instances that expired or must go; called with mu held. */
static void reap_locked(struct sched *s, bool all_idle) {
    int64_t now = srv_now_ns();
    for (struct srv_inst **pp = &s->list; *pp;) {
        struct srv_inst *in = *pp;
        bool idle = in->refs == 0 && in->state != INST_LOADING;
        if (idle &&
            (all_idle || in->unload_asap || in->state == INST_FAILED || in->expires_ns <= now)) {
            *pp = in->next;
            ol_log(OL_LOG_INFO, "unloading model %s", in->name);
            inst_free(in); /* joins an idle runner: quick */
            pthread_cond_broadcast(&s->cv);
            continue;
        }
        pp = &in->next;
    }
}

static void *reaper_main(void *arg) {
    struct sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        reap_locked(s, false);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

struct sched *sched_new(const struct srv_config *cfg) {
    struct sched *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->cfg = cfg;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void sched_free(struct sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->reaper, NULL);
    while (s->list) {
        struct srv_inst *in = s->list;
        s->list = in->next;
        inst_free(in);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static json_t *details_json(const struct store_model *sm) {
    json_t *fam = json_array();
    for (int i = 0; i < sm->n_families; i++)
        json_array_append_new(fam, json_string(sm->families[i]));
    json_t *d = json_object();
    json_object_set_new(d, "parent_model", json_string(""));
    json_object_set_new(d, "format", json_string(sm->format ? sm->format : "gguf"));
    json_object_set_new(d, "family", json_string(sm->family ? sm->family : ""));
    if (sm->families_null) {
        json_decref(fam);
        json_object_set_new(d, "families", json_null());
    } else {
        json_object_set_new(d, "families", fam);
    }
    json_object_set_new(d, "parameter_size",
                        json_string(sm->parameter_size ? sm->parameter_size : ""));
    json_object_set_new(d, "quantization_level",
                        json_string(sm->quantization_level ? sm->quantization_level : ""));
    return d;
}

/* Loads in->path into in (outside the lock). */
static void inst_load(struct srv_inst *in) {
    struct ol_err err = {0};
    in->m = eng_model_load(in->path, NULL, &err);
    if (in->m) {
        struct eng_model_info info;
        eng_model_get_info(in->m, &info);
        struct eng_ctx_params cp = eng_ctx_default_params();
        cp.n_ctx = in->num_ctx;
        if (info.n_ctx_train > 0 && cp.n_ctx > info.n_ctx_train) cp.n_ctx = info.n_ctx_train;
        cp.n_batch = in->num_batch;
        cp.n_threads = in->num_thread;
        in->c = eng_ctx_new(in->m, &cp, &err);
        if (in->c) {
            in->seq = eng_seq_new(in->c, 0, &err);
            in->num_ctx = eng_ctx_n_ctx(in->c);
            uint64_t kv = (uint64_t)info.n_layer * 2u * (uint64_t)in->num_ctx *
                          (uint64_t)(info.n_embd / info.n_head * info.n_head_kv) * 4u;
            in->mem_bytes = info.file_size + kv;
        }
    }
    if (in->seq && pthread_create(&in->runner, NULL, runner_main, in) == 0) {
        in->runner_started = true;
        in->state = INST_READY;
        return;
    }
    if (!err.msg[0]) ol_err_set(&err, OL_EINTERNAL, "cannot start the model runner");
    in->load_err = err;
    in->state = INST_FAILED;
}

static int max_loaded(const struct sched *s) {
    return s->cfg->max_loaded > 0 ? s->cfg->max_loaded : 3;
}

int sched_acquire(struct sched *s, const struct srv_load_req *r, struct srv_inst **out, bool *busy,
                  struct ol_err *err) {
    *busy = false;
    pthread_mutex_lock(&s->mu);
    if (s->n_waiting >= (s->cfg->max_queue > 0 ? s->cfg->max_queue : 512)) {
        pthread_mutex_unlock(&s->mu);
        *busy = true;
        return ol_err_set(err, OL_EIO,
                          "server busy, please try again.  maximum pending requests exceeded");
    }
    s->n_waiting++;
    struct srv_inst *in = NULL;
    for (;;) {
        in = NULL;
        for (struct srv_inst *p = s->list; p; p = p->next) {
            if (strcmp(p->path, r->sm->model_path) != 0 || p->unload_asap) continue;
            if (p->num_ctx == r->num_ctx && p->num_batch == r->num_batch &&
                p->num_thread == r->num_thread)
                in = p;
            else
                p->unload_asap = true; /* loaded with other load-time options: reload */
        }
        if (in) {
            in->refs++;
            while (in->state == INST_LOADING)
                pthread_cond_wait(&s->cv, &s->mu);
            break;
        }
        int n = 0;
        for (struct srv_inst *p = s->list; p; p = p->next)
            n++;
        if (n >= max_loaded(s)) {
            /* evict the idle instance that expires first, else wait for one to go idle */
            struct srv_inst *victim = NULL;
            for (struct srv_inst *p = s->list; p; p = p->next)
                if (p->refs == 0 && p->state != INST_LOADING &&
                    (!victim || p->expires_ns < victim->expires_ns))
                    victim = p;
            if (victim) {
                victim->unload_asap = true;
                reap_locked(s, false);
            } else {
                pthread_cond_wait(&s->cv, &s->mu);
            }
            continue;
        }
        in = calloc(1, sizeof(*in));
        if (!in) {
            s->n_waiting--;
            pthread_mutex_unlock(&s->mu);
            return ol_err_set(err, OL_ENOMEM, "out of memory");
        }
        in->sched = s;
        snprintf(in->path, sizeof(in->path), "%s", r->sm->model_path);
        store_name_short(&r->sm->name, in->name, sizeof(in->name));
        snprintf(in->digest, sizeof(in->digest), "%s", r->sm->digest);
        in->details = details_json(r->sm);
        in->num_ctx = r->num_ctx;
        in->num_batch = r->num_batch;
        in->num_thread = r->num_thread;
        pthread_mutex_init(&in->qmu, NULL);
        pthread_cond_init(&in->qcv, NULL);
        in->state = INST_LOADING;
        in->refs = 1;
        in->next = s->list;
        s->list = in;
        pthread_mutex_unlock(&s->mu);
        inst_load(in); /* no lock held while loading */
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->cv);
        break;
    }
    s->n_waiting--;
    if (in->state == INST_FAILED) {
        if (err) *err = in->load_err;
        in->refs--;
        reap_locked(s, false);
        pthread_mutex_unlock(&s->mu);
        return err && err->code ? err->code : OL_EINTERNAL;
    }
    in->expires_ns = expiry(r->keep_alive_ns);
    pthread_mutex_unlock(&s->mu);
    *out = in;
    return 0;
}

void sched_release(struct sched *s, struct srv_inst *in, int64_t keep_alive_ns) {
    pthread_mutex_lock(&s->mu);
    in->refs--;
    in->expires_ns = expiry(keep_alive_ns);
    if (keep_alive_ns == 0) in->unload_asap = true;
    /* Jobs release from the runner thread, which must not free (join) itself: the reaper
     * unloads idle instances, woken here. */
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

bool sched_unload(struct sched *s, const char *model_path) {
    bool found = false;
    pthread_mutex_lock(&s->mu);
    for (struct srv_inst *p = s->list; p; p = p->next)
        if (strcmp(p->path, model_path) == 0) {
            p->unload_asap = true;
            found = true;
        }
    reap_locked(s, false);
    pthread_mutex_unlock(&s->mu);
    return found;
}

const struct eng_model *sched_inst_model(const struct srv_inst *inst) { return inst->m; }

int sched_inst_n_ctx(const struct srv_inst *inst) { return inst->num_ctx; }

void sched_submit(struct sched *s, struct srv_inst *in, struct srv_job *job) {
    (void)s;
    job->next = NULL;
    pthread_mutex_lock(&in->qmu);
    if (in->tail)
        in->tail->next = job;
    else
        in->head = job;
    in->tail = job;
    pthread_cond_signal(&in->qcv);
    pthread_mutex_unlock(&in->qmu);
}

void sched_ps_json(struct sched *s, struct ol_buf *out) {
    json_t *arr = json_array();
    pthread_mutex_lock(&s->mu);
    /* sorted by expires_at, latest first: insertion sort into the array */
    struct srv_inst *sorted[64];
    int n = 0;
    for (struct srv_inst *p = s->list; p && n < 64; p = p->next) {
        if (p->state != INST_READY) continue;
        int i = n++;
        while (i > 0 && sorted[i - 1]->expires_ns < p->expires_ns) {
            sorted[i] = sorted[i - 1];
            i--;
        }
        sorted[i] = p;
    }
    for (int i = 0; i < n; i++) {
        struct srv_inst *p = sorted[i];
        char exp[64];
        if (p->expires_ns == INT64_MAX) { /* forever: now + Go's max duration (~292 years) */
            int64_t now = srv_now_ns();
            srv_time_format_s(now / 1000000000LL + INT64_MAX / 1000000000LL,
                              (long)(now % 1000000000LL), false, exp, sizeof(exp));
        } else {
            srv_time_format(p->expires_ns, false, exp, sizeof(exp));
        }
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(p->name));
        json_object_set_new(o, "model", json_string(p->name));
        json_object_set_new(o, "size", json_integer((json_int_t)p->mem_bytes));
        json_object_set_new(o, "digest", json_string(p->digest));
        json_object_set(o, "details", p->details);
        json_object_set_new(o, "expires_at", json_string(exp));
        json_object_set_new(o, "size_vram", json_integer(0));
        json_object_set_new(o, "context_length", json_integer(p->num_ctx));
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&s->mu);
    char *txt = json_dumps(arr, JSON_COMPACT);
    if (txt) ol_buf_puts(out, txt);
    free(txt);
    json_decref(arr);
}
