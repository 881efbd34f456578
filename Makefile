# ollama.c build. One Makefile; objects in build/$(MODE)/; see README.md.
#   make                  build/release/ollama and its tools ollama-{engine,bench,membw,mkmodel}
#   make test             unit, golden and fuzz-corpus tests (README.md and .ci/run call this)
#   make MODE=asan test   AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz FUZZ_SECONDS=60, make bench, make format, make format-check

MODE ?= release
B := build/$(MODE)
CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
        -Wformat=2 -Wimplicit-fallthrough -Wdouble-promotion
CPPFLAGS := -Isrc -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -MMD -MP
CFLAGS_BASE := -std=c11 $(WARN) -g -pthread -fno-strict-aliasing
LDLIBS := -lmicrohttpd -lcurl -ledit -ljansson -lcrypto -lpcre2-8 -lutf8proc -lm -lpthread

ifeq ($(MODE),release)
OPT := -O2
else ifeq ($(MODE),debug)
OPT := -O0
else ifeq ($(MODE),asan)
OPT := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(MODE),tsan)
OPT := -O1 -fsanitize=thread
else
$(error unknown MODE=$(MODE): use release, debug, asan or tsan)
endif
CFLAGS := $(CFLAGS_BASE) $(OPT)
LDFLAGS := $(OPT) -pthread

# Per-file ISA flags: SIMD code lives only in src/engine/arch/<isa>.c (STYLE.md §9).
ISA_avx2 := -mavx2 -mfma -mf16c

LIB_SRC := $(wildcard src/base/*.c src/engine/*.c src/engine/arch/*.c src/template/*.c \
             src/store/*.c src/server/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
LIB := $(B)/libollama.a

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)
TOOLS := $(B)/ollama-engine $(B)/ollama-mkmodel $(B)/ollama-bench $(B)/ollama-membw
ALL_BIN := $(B)/ollama $(TOOLS)

.SECONDARY:
.PHONY: all test unit-tests bench fuzz format format-check clean layering
all: $(ALL_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(if $(findstring /arch/,$<),$(ISA_$(basename $(notdir $<)))) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/ollama: $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(B)/ollama-engine: $(B)/tools/engine_cli.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/ollama-mkmodel: $(B)/tools/mkmodel.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/ollama-bench: $(B)/bench/ollama_bench.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/ollama-membw: $(B)/bench/membw.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/tests/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Fuzz targets replayed as plain programs over their corpus (no libFuzzer needed).
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:fuzz/fuzz_%.c=%)
REPLAY_BIN := $(FUZZ_NAMES:%=$(B)/fuzz/replay_%)
$(B)/fuzz/replay_%: $(B)/fuzz/fuzz_%.o $(B)/fuzz/replay_main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test: all $(TEST_BIN) $(REPLAY_BIN)
	@scripts/run-tests $(B) $(FUZZ_NAMES)

# libFuzzer builds (clang): make fuzz FUZZ_SECONDS=600 [FUZZ_TARGETS=gguf]
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_CFLAGS := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
               -Isrc -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
fuzz:
	@mkdir -p build/fuzz
	@for t in $(FUZZ_TARGETS); do \
	  clang $(FUZZ_CFLAGS) -mavx2 -mfma -mf16c fuzz/fuzz_$$t.c $(LIB_SRC) -o build/fuzz/fuzz_$$t $(LDLIBS) || exit 1; \
	  mkdir -p build/fuzz/corpus_$$t; \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	    -artifact_prefix=build/fuzz/crash_$$t- build/fuzz/corpus_$$t fuzz/corpus/$$t || exit 1; \
	done

bench: all
	@bench/run $(B)

layering:
	@scripts/check-layering

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find build/$(MODE) -name '*.d' 2>/dev/null)
