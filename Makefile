# iris — build, test, sanitize, benchmark.
#
#   make            bin/iris (+ bin/libiris-cuda.so when nvcc is found)
#   make test       unit tests (cmocka) + integration tests against the references
#   make asan       the unit and integration suites under AddressSanitizer + UBSan
#   make bench      benchmarks; figures go to docs/PERF.md
#   make fuzz       libFuzzer targets for the file parsers (clang)
#
# Sources are found by wildcard: a new model/<group>/<file>.c, tui/<file>.c or
# tests/unit/test_<name>.c needs no Makefile edit.

CC       ?= gcc
BUILD    ?= build
BIN      ?= bin
OPT      ?= -O2
ARCH     ?= -march=x86-64-v3
CSTD     := -std=c17
WARN     := -Wall -Wextra
CPPFLAGS += -D_GNU_SOURCE -I. -Imodel -I/usr/include/stb
CFLAGS   += $(CSTD) $(OPT) $(ARCH) $(WARN) -fopenmp -g $(SANITIZE)
LDFLAGS  += -fopenmp $(SANITIZE)
NCURSES_CFLAGS := $(shell pkg-config --cflags ncursesw 2>/dev/null)
NCURSES_LIBS   := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw)
ENGINE_LIBS := -lopenblas -ljpeg -lcjson -lcurl -lcrypto -lpcre2-8 -lutf8proc -ldl -lpthread -lm -linih
TUI_LIBS    := $(NCURSES_LIBS) -lsixel -linih

MODEL_SRC := $(sort $(wildcard model/*.c model/*/*.c))
TUI_SRC   := $(sort $(wildcard tui/*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
TEST_HELPERS := $(sort $(wildcard tests/unit/helpers/*.c))

MODEL_OBJ := $(MODEL_SRC:%.c=$(BUILD)/%.o)
TUI_OBJ   := $(TUI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN  := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_HELPER_OBJ := $(TEST_HELPERS:%.c=$(BUILD)/%.o)
LIBIRIS   := $(BUILD)/libiris.a

# ---- CUDA: compiled into a plugin that the binary dlopens, so the CPU-only
# binary needs no CUDA symbol and runs where no driver exists.
NVCC      ?= $(shell command -v nvcc 2>/dev/null)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_SRC  := $(sort $(wildcard kernels/*.cu))
CUDA_CSRC := $(sort $(wildcard kernels/*.c))
ifneq ($(NVCC),)
ifneq ($(CUDA_SRC),)
CUDA_PLUGIN := $(BIN)/libiris-cuda.so
endif
endif
# -lineinfo: compute-sanitizer and Nsight map kernel faults to source lines.
NVCCFLAGS ?= -O2 -std=c++17 -lineinfo -Xcompiler -fPIC,-Wall,-Wextra -I. -Imodel \
             -gencode arch=compute_90a,code=sm_90a \
             -gencode arch=compute_80,code=compute_80

.PHONY: all test unit integration asan bench fuzz clean venv lint-man
# keep intermediate objects (test helpers) so test binaries are not relinked every time
.SECONDARY:
all: $(BIN)/iris $(CUDA_PLUGIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(NCURSES_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# stb_image's own code is not UBSan-clean (see model/vision/stb_image_impl.c)
$(BUILD)/model/vision/stb_image_impl.o: CFLAGS += -fno-sanitize=undefined

$(LIBIRIS): $(MODEL_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/iris: $(TUI_OBJ) $(LIBIRIS)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(TUI_OBJ) $(LIBIRIS) $(TUI_LIBS) $(ENGINE_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBIRIS) $(TEST_HELPER_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(TEST_HELPER_OBJ) $(LIBIRIS) -lcmocka -lsixel $(ENGINE_LIBS) $(LDFLAGS)

CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/cuda/%.o) $(CUDA_CSRC:%.c=$(BUILD)/cuda/%.o)
$(BUILD)/cuda/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/cuda/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -I$(CUDA_HOME)/include -MMD -MP -c $< -o $@
$(BIN)/libiris-cuda.so: $(CUDA_OBJ)
	@mkdir -p $(BIN)
	$(NVCC) -shared -o $@ $^ -L$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart \
	  -Xlinker -rpath=$(CUDA_HOME)/lib64

# ---- tests
VENV := .venv
venv: $(VENV)/.ready
$(VENV)/.ready: tests/setup-venv.sh tests/requirements.txt tests/requirements-nodeps.txt
	bash tests/setup-venv.sh $(VENV)

unit: $(TEST_BIN) $(CUDA_PLUGIN)
	IRIS_VENV=$${IRIS_VENV:-$(VENV)} bash tests/run-unit.sh $(TEST_BIN)

integration: $(BIN)/iris $(CUDA_PLUGIN)
	IRIS_BIN=$(BIN)/iris bash tests/run-integration.sh

test: all $(TEST_BIN)
	@bash tests/setup-venv.sh $(VENV) || echo "the reference environment could not be set up: tests that need it will say skipped"
	@IRIS_VENV=$(VENV) bash tests/run-unit.sh $(TEST_BIN); u=$$?; \
	 IRIS_BIN=$(BIN)/iris IRIS_CUDA_PLUGIN=$(CUDA_PLUGIN) bash tests/run-integration.sh; i=$$?; \
	 test $$u -eq 0 -a $$i -eq 0

asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/bin OPT=-O1 \
	  SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  NVCC= test

bench: all
	bash bench/run.sh

fuzz:
	bash tests/fuzz/build.sh

lint-man:
	mandoc -Tlint -Wwarning man/*.1

clean:
	rm -rf build build-asan bin

-include $(MODEL_OBJ:.o=.d) $(TUI_OBJ:.o=.d) $(CUDA_OBJ:.o=.d)
