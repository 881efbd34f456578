/* sampler: picks the next token from a row of logits, and matches stop strings on the streamed
 * text. Internal to the engine (prefix smp_).
 *
 * Sampling runs the llama.cpp chain that Ollama's classic runner uses (ENGINE-NOTES.md, "Sampling
 * order"): penalties -> top_k -> typical_p -> top_p -> min_p -> temperature -> softmax -> draw.
 * Every filter keeps at least one token. Draws come from our own xoshiro256** generator, so a
 * fixed seed gives the same tokens on every platform and with any thread count.
 *
 * The stop matcher is independent of the sampler: it takes detokenized text piece by piece and
 * says what is safe to stream now (see smp_stop_push). */
#ifndef OL_ENGINE_SAMPLER_H
#define OL_ENGINE_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define SMP_MAX_LOGPROBS 20 /* top alternatives reported per token (OpenAI's limit too) */

/* Sampling options; spec: api.md §2.1. A value outside a filter's range turns the filter off. */
struct smp_params {
    float temperature;       /* <= 0: greedy argmax after penalties (ties: lowest id) */
    int top_k;               /* <= 0 or >= n_vocab: off */
    float top_p;             /* >= 1: off; <= 0 keeps only the best token */
    float min_p;             /* <= 0: off; keeps tokens with p >= min_p * p_max */
    float typical_p;         /* >= 1: off */
    int repeat_last_n;       /* penalty window in tokens; 0 = off, -1 = n_ctx (capped at n_ctx) */
    float repeat_penalty;    /* > 0; 1 = off. Positive logits are divided, negative multiplied */
    float presence_penalty;  /* 0 = off; subtracted once from every token in the window */
    float frequency_penalty; /* 0 = off; subtracted once per occurrence in the window */
    int64_t seed;            /* -1 = random (time based); any other value is used as is */
    int n_logprobs;          /* top alternatives smp_sample reports, 0..SMP_MAX_LOGPROBS */
};

/* Ollama's defaults (api.md §2.1): temperature 0.8, top_k 40, top_p 0.9, min_p 0, typical_p 1,
 * repeat_last_n 64, repeat_penalty 1.0 (current Ollama; the classic runner used 1.1), presence
 * and frequency 0, seed -1, no logprobs. */
struct smp_params smp_default_params(void);

struct smp; /* sampling state: penalty history, generator, scratch; one thread at a time */

/* Creates a sampler for a vocabulary of n_vocab tokens and a context of n_ctx tokens (the penalty
 * window is n_ctx when repeat_last_n is -1, and never more than n_ctx). Borrows `p`. Allocates all
 * scratch now, so smp_sample never allocates. Returns NULL and fills `err` on bad parameters
 * (OL_EINVAL: non-finite floats, repeat_penalty <= 0, repeat_last_n < -1, n_logprobs outside
 * 0..SMP_MAX_LOGPROBS, n_vocab or n_ctx < 1) or OL_ENOMEM. Free with smp_free(). */
struct smp *smp_new(const struct smp_params *p, int n_vocab, int n_ctx, struct ol_err *err);
void smp_free(struct smp *s); /* accepts NULL */

/* Clears the penalty history and re-seeds the generator (a new random seed when seed is -1), so a
 * fixed seed replays the same draws. */
void smp_reset(struct smp *s);

/* Appends `tok` to the penalty history. Call it for the prompt tokens and for every token that
 * smp_sample returns (which does not do it itself). Ids outside [0, n_vocab) are ignored. */
void smp_accept(struct smp *s, int32_t tok);

/* Log-probabilities of one sampled token under the model's own distribution. */
struct smp_logprob {
    int32_t token; /* the chosen token */
    float logprob; /* its log-softmax value */
    int n_top;     /* entries filled below: n_logprobs, or n_vocab if smaller */
    int32_t top_tokens[SMP_MAX_LOGPROBS]; /* best first; ties: lowest id first */
    float top_logprobs[SMP_MAX_LOGPROBS];
};

/* Samples one token from logits[n_vocab] (borrowed, not modified). When `lp` is not NULL, fills it
 * with the log-probability of the chosen token and the n_logprobs best alternatives, taken from the
 * log-softmax of the raw logits (before penalties, filters and temperature, as Ollama and
 * llama.cpp report them). NaN logits count as -inf. Never fails; allocates nothing. */
int32_t smp_sample(struct smp *s, const float *logits, struct smp_logprob *lp);

/* One candidate left after the filters (white-box view for tests and debugging). */
struct smp_cand {
    int32_t id;
    float logit; /* after penalties and temperature */
    float p;     /* probability the draw gives it */
};

/* Runs the chain of smp_sample up to the draw and points *out at the surviving candidates
 * (internal scratch, valid until the next call on `s`). Returns their count (>= 1). With a
 * temperature <= 0 the single argmax is returned. Order is unspecified. Consumes no randomness. */
int smp_candidates(struct smp *s, const float *logits, const struct smp_cand **out);

/* ---- stop strings ---- */

struct smp_stop; /* matcher state for one generation; one thread at a time */

/* Creates a matcher for stops[0..n_stops) (NUL-terminated, copied; empty strings are ignored,
 * where Ollama would stop at once). n_stops may be 0: the matcher then only holds back partial
 * UTF-8 characters. Returns NULL on OL_ENOMEM or n_stops < 0. Free with smp_stop_free(). */
struct smp_stop *smp_stop_new(const char *const *stops, int n_stops);
void smp_stop_free(struct smp_stop *st); /* accepts NULL */

/* Appends piece[0..len) (borrowed) to the streamed text and appends to `out` the text that is now
 * safe to emit. It holds back any suffix that could still grow into a stop string and any
 * incomplete UTF-8 character at the end, so a stop string split over several pieces is still
 * found and no partial character is emitted (other invalid bytes pass through unchanged).
 * Returns 1 when a stop string completed (the earliest one in the text wins): the text before it
 * has been emitted; the stop string and anything after it never will be, and later pushes emit
 * nothing and return 1 again. Returns 0 otherwise, or OL_ENOMEM (end the generation with an
 * error: some text may be lost). */
int smp_stop_push(struct smp_stop *st, const char *piece, size_t len, struct ol_buf *out);

/* At the end of generation, appends to `out` the held text (nothing after a stop matched). An
 * incomplete UTF-8 character at the very end can never complete and is dropped. Returns 0 or
 * OL_ENOMEM. */
int smp_stop_flush(struct smp_stop *st, struct ol_buf *out);

#endif
