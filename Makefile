# libncollapse - hand-written Makefile.
#   make            build lib/libncollapse.a and lib/libncollapse.so.$(ABI)
#   make demo       the main demonstration (imbalanced UFM, NC metrics over time)
#   make test       the unit tests alone, one line per program (a few seconds
#                   once built)
#   make check      every test: unit tests, examples, tools, exported symbols,
#                   the API reference against the header, a program built
#                   against a staged install through pkg-config, and the tests
#                   again under AddressSanitizer + UBSan and valgrind; every
#                   allocation failed in turn in the library, the program, the
#                   Python package and the MPI library
#   make check-valgrind   the unit tests under valgrind
#   make bench      benchmarks (never part of check)
#   make bench-torch   the same UFM in PyTorch against the library (times and
#                   iterates; needs Debian's python3-torch and python3-numpy)
#   make fuzz       build the libFuzzer targets (clang) of the .npy reader,
#                   checkpoint loading and stream files, and run each for
#                   FUZZ_SECONDS seconds (fuzz-npy, fuzz-checkpoint,
#                   fuzz-stream: one of them)
#   make mpi       lib/libncollapse_mpi.a and .so (needs mpicc; part of
#                   make, make test and make check when mpicc is found)
#   make test-mpi   the MPI tests under mpirun -np 1, 2 and 3
#   make bench-mpi  scaling of a GD step on 1 and 2 ranks, reductions alone
#   make install / uninstall   honour DESTDIR, PREFIX, LIBDIR, INCLUDEDIR
#   make deps       install the Debian packages the build needs (as root), or
#                   print the command to run
#   make reproduce  every seed paper's experiment with tools/bin/ncollapse against
#                   its prediction: docs/reproduction.md and docs/figures/*.png
#                   (needs gnuplot-nox, installed like the other packages)

VERSION := $(shell sed -n 's/^\#define NC_VERSION_STRING "\(.*\)"/\1/p' include/ncollapse.h)
# ABI number of the shared library, kept apart from the release number:
# bump it on any incompatible change of the public interface.
ABI := 0

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR    ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
# -ffp-contract=off: no a * b + c fused into one multiply-add behind the code's
# back (gcc does not under -std=c99, clang does by default); the kernels and
# losses are bit-identical across instruction sets and layouts only without it.
WARN    := -std=c99 -ffp-contract=off -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes
# -MMD -MP: each object depends on the headers it includes, no more.
DEPFLAGS := -MMD -MP
LIBFLAGS := $(WARN) $(DEPFLAGS) -pthread -fPIC -fvisibility=hidden -DNC_BUILDING_LIBRARY -Iinclude -Isrc
BLAS_LIBS    ?= -lopenblas
LAPACKE_LIBS ?= -llapacke
LIBS := $(LAPACKE_LIBS) $(BLAS_LIBS) -lm -pthread

SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
TSAN_FLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
# The tests that run threads (the library's thread pool, handles used from
# several threads at once), run again under ThreadSanitizer by make check.
TSAN_TESTS := test_optim_threads test_model_threads test_metrics_stream test_metrics_largek

# The sources of each layer live in src/<layer>/ (docs/DESIGN.md, "Layers").
LAYERS := common kernels loss model metrics analysis optim io
SRCS := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))
OBJS := $(patsubst src/%.c,lib/obj/%.o,$(SRCS))
SAN_OBJS := $(patsubst src/%.c,lib/obj-san/%.o,$(SRCS))
TSAN_OBJS := $(patsubst src/%.c,lib/obj-tsan/%.o,$(SRCS))
HDRS := include/ncollapse.h $(wildcard src/*/*.h)

TESTS := $(patsubst tests/%.c,%,$(wildcard tests/test_*.c))
EXAMPLES := $(patsubst examples/%.c,%,$(wildcard examples/*.c))
TOOLS := $(patsubst tools/%.c,%,$(wildcard tools/*.c))
# The ncollapse program: one file per command and the shared flags and output.
NCOLLAPSE_SRCS := $(wildcard tools/ncollapse/*.c)
BINDIR     ?= $(PREFIX)/bin
BENCHES := $(patsubst tests/bench/%.c,%,$(wildcard tests/bench/*.c))

STATIC := lib/libncollapse.a
SHARED := lib/libncollapse.so.$(ABI)

# libncollapse_mpi (mpi/): built when mpicc is found (MPICC=... to choose,
# MPICC= to leave it out). The serial library never depends on MPI.
MPICC ?= mpicc
MPIRUN ?= mpirun
HAVE_MPI := $(if $(strip $(MPICC)),$(shell command -v $(MPICC) >/dev/null 2>&1 && echo 1),)
MPI_SRCS := $(wildcard mpi/*.c)
MPI_OBJS := $(patsubst mpi/%.c,lib/obj-mpi/%.o,$(MPI_SRCS))
MPI_STATIC := lib/libncollapse_mpi.a
MPI_SHARED := lib/libncollapse_mpi.so.$(ABI)
MPI_TESTS := $(patsubst tests/mpi/%.c,%,$(wildcard tests/mpi/test_*.c))
MPI_BENCHES := $(patsubst tests/mpi/%.c,%,$(wildcard tests/mpi/bench_*.c))
MPI_LIBS_ALL := $(if $(HAVE_MPI),$(MPI_STATIC) $(MPI_SHARED) lib/libncollapse_mpi.so)
MPI_TEST_BINS := $(if $(HAVE_MPI),$(addprefix tests/mpi/bin/,$(MPI_TESTS)))
# ncollapse-mpi: the sources of ncollapse with -DNC_WITH_MPI (analyze of one
# shard per rank under mpirun), built and installed when mpicc is found.
NCOLLAPSE_MPI := $(if $(HAVE_MPI),tools/bin/ncollapse-mpi)

.PHONY: all deps reproduce demo test check check-valgrind bench bench-torch install uninstall clean examples \
        tests tools fuzz fuzz-npy fuzz-checkpoint fuzz-stream tests/fuzz/seeds mpi test-mpi bench-mpi \
        pkgconfig/ncollapse.pc

all: $(STATIC) $(SHARED) lib/libncollapse.so $(MPI_LIBS_ALL)

lib/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIBFLAGS) -c $< -o $@

lib/obj-san/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(SAN_FLAGS) $(LIBFLAGS) -c $< -o $@

lib/obj-tsan/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TSAN_FLAGS) $(LIBFLAGS) -c $< -o $@

-include $(OBJS:.o=.d) $(SAN_OBJS:.o=.d) $(TSAN_OBJS:.o=.d)

$(STATIC): $(OBJS)
	@rm -f $@
	ar rcs $@ $(OBJS)

$(SHARED): $(OBJS)
	$(CC) -shared -Wl,-soname,libncollapse.so.$(ABI) -o $@ $(OBJS) $(LIBS)

lib/libncollapse.so: $(SHARED)
	ln -sf libncollapse.so.$(ABI) $@

lib/libncollapse-san.a: $(SAN_OBJS)
	@rm -f $@
	ar rcs $@ $(SAN_OBJS)

# The MPI library: its objects with mpicc; the shared one also links the
# serial objects it needs (kept local by mpi/exports.map: only nc_mpi_
# symbols are exported) and is used beside libncollapse.so.
lib/obj-mpi/%.o: mpi/%.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) $(LIBFLAGS) -c $< -o $@

-include $(MPI_OBJS:.o=.d)

$(MPI_STATIC): $(MPI_OBJS)
	@rm -f $@
	ar rcs $@ $(MPI_OBJS)

$(MPI_SHARED): $(MPI_OBJS) $(OBJS) mpi/exports.map
	$(MPICC) -shared -Wl,-soname,libncollapse_mpi.so.$(ABI) -Wl,--version-script=mpi/exports.map \
	    -o $@ $(MPI_OBJS) $(OBJS) $(LIBS)

lib/libncollapse_mpi.so: $(MPI_SHARED)
	ln -sf libncollapse_mpi.so.$(ABI) $@

mpi:
	@if [ -z "$(HAVE_MPI)" ]; then echo "mpicc not found: apt-get install libopenmpi-dev openmpi-bin"; exit 1; fi
	@$(MAKE) --no-print-directory $(STATIC) $(MPI_STATIC) $(MPI_SHARED) lib/libncollapse_mpi.so

tests/mpi/bin/%: tests/mpi/%.c $(MPI_STATIC) $(STATIC)
	@mkdir -p tests/mpi/bin
	$(MPICC) $(CFLAGS) $(WARN) $(DEPFLAGS) -Iinclude -Isrc $< $(MPI_STATIC) $(STATIC) $(LIBS) -o $@

# Every allocation failed in turn on one rank: the static libraries' and the
# test's allocations wrapped (tests/alloc_wrap.c).
tests/mpi/bin/test_mpi_alloc_failures: tests/mpi/test_mpi_alloc_failures.c tests/alloc_wrap.c $(MPI_STATIC) $(STATIC)
	@mkdir -p tests/mpi/bin
	$(MPICC) $(CFLAGS) $(WARN) -Iinclude -Isrc $< tests/alloc_wrap.c $(MPI_STATIC) $(STATIC) $(LIBS) \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc -o $@

tests/mpi/bench/bin/%: tests/mpi/%.c $(MPI_STATIC) $(STATIC)
	@mkdir -p tests/mpi/bench/bin
	$(MPICC) -O3 -march=native -g $(WARN) $(DEPFLAGS) -Iinclude -Isrc $< $(MPI_STATIC) $(STATIC) $(LIBS) -o $@

-include $(wildcard tests/mpi/bin/*.d tests/mpi/bench/bin/*.d)

# The MPI tests under mpirun -np 1, 2 and 3 (tests/run_mpi.sh).
test-mpi: mpi
	@$(MAKE) --no-print-directory $(addprefix tests/mpi/bin/,$(MPI_TESTS))
	@sh tests/run_mpi.sh "$(MPI_TESTS)" "$(MPIRUN)"

bench-mpi: mpi
	@$(MAKE) --no-print-directory $(addprefix tests/mpi/bench/bin/,$(MPI_BENCHES))
	@sh tests/run_mpi.sh --bench "$(MPI_BENCHES)" "$(MPIRUN)"

lib/libncollapse-tsan.a: $(TSAN_OBJS)
	@rm -f $@
	ar rcs $@ $(TSAN_OBJS)

# Test, example and tool programs link the static library: they run from the
# tree without LD_LIBRARY_PATH. The shared library is tested by the install
# check. Tests may include private headers (-Isrc); examples and tools use
# the public header only.
tests/bin/%: tests/%.c $(STATIC)
	@mkdir -p tests/bin
	$(CC) $(CFLAGS) $(WARN) $(DEPFLAGS) -Iinclude -Isrc $< $(STATIC) $(LIBS) -o $@

tests/bin-san/%: tests/%.c lib/libncollapse-san.a
	@mkdir -p tests/bin-san
	$(CC) $(SAN_FLAGS) $(WARN) $(DEPFLAGS) -Iinclude -Isrc $< lib/libncollapse-san.a $(LIBS) -o $@

tests/bin-tsan/%: tests/%.c lib/libncollapse-tsan.a
	@mkdir -p tests/bin-tsan
	$(CC) $(TSAN_FLAGS) $(WARN) $(DEPFLAGS) -Iinclude -Isrc $< lib/libncollapse-tsan.a $(LIBS) -o $@

# Every allocation of the library failed in turn (tests/alloc_failures.c):
# the AddressSanitizer build, the allocators wrapped at link time.
tests/bin-san/alloc_failures: tests/alloc_failures.c tests/files.h tests/harness.h lib/libncollapse-san.a
	@mkdir -p tests/bin-san
	$(CC) $(SAN_FLAGS) $(WARN) -Iinclude -Isrc $< lib/libncollapse-san.a $(LIBS) \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc -o $@

# The same technique outside that test (tests/alloc_wrap.c): the ncollapse
# program built against the AddressSanitizer library with its allocations
# and the library's wrapped, the k-th failed by NC_FAIL_ALLOC=k
# (tests/alloc_failures_cli.sh).
tests/bin-san/ncollapse_alloc: $(NCOLLAPSE_SRCS) tools/ncollapse/cli.h tests/alloc_wrap.c lib/libncollapse-san.a
	@mkdir -p tests/bin-san
	$(CC) $(SAN_FLAGS) $(WARN) -DNC_ALLOC_WRAP_ENV -Iinclude $(NCOLLAPSE_SRCS) tests/alloc_wrap.c \
	    lib/libncollapse-san.a $(LIBS) -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc -o $@

# A test-only shared library (tests/python/test_alloc_failures.py): the
# library's objects with their allocations wrapped and the trigger of
# tests/alloc_wrap.c (nc_test_fail_alloc, nc_test_alloc_count,
# nc_test_alloc_failed) exported; same SONAME, loaded through
# NCOLLAPSE_LIBRARY. lib/libncollapse.so.0 itself is never wrapped.
ALLOC_TEST_SO := lib/alloc-test/libncollapse.so.$(ABI)
$(ALLOC_TEST_SO): $(OBJS) tests/alloc_wrap.c
	@mkdir -p lib/alloc-test
	$(CC) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -c tests/alloc_wrap.c -o lib/alloc-test/alloc_wrap.o
	$(CC) -shared -Wl,-soname,libncollapse.so.$(ABI) -o $@ $(OBJS) lib/alloc-test/alloc_wrap.o $(LIBS) \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

examples/bin/%: examples/%.c $(STATIC)
	@mkdir -p examples/bin
	$(CC) $(CFLAGS) $(WARN) $(DEPFLAGS) -Iinclude $< $(STATIC) $(LIBS) -o $@

tools/bin/%: tools/%.c $(STATIC)
	@mkdir -p tools/bin
	$(CC) $(CFLAGS) $(WARN) $(DEPFLAGS) -Iinclude $< $(STATIC) $(LIBS) -o $@

tools/bin/ncollapse: $(NCOLLAPSE_SRCS) tools/ncollapse/cli.h $(STATIC)
	@mkdir -p tools/bin
	$(CC) $(CFLAGS) $(WARN) -Iinclude $(NCOLLAPSE_SRCS) $(STATIC) $(LIBS) -o $@

tools/bin/ncollapse-mpi: $(NCOLLAPSE_SRCS) tools/ncollapse/cli.h include/ncollapse_mpi.h $(MPI_STATIC) $(STATIC)
	@mkdir -p tools/bin
	$(MPICC) $(CFLAGS) $(WARN) -DNC_WITH_MPI -Iinclude $(NCOLLAPSE_SRCS) $(MPI_STATIC) $(STATIC) $(LIBS) -o $@

-include $(wildcard tests/bin/*.d tests/bin-san/*.d tests/bin-tsan/*.d examples/bin/*.d tools/bin/*.d tests/bench/bin/*.d)

tests/bench/bin/%: tests/bench/%.c $(STATIC)
	@mkdir -p tests/bench/bin
	$(CC) -O3 -march=native -g $(WARN) $(DEPFLAGS) -Iinclude -Isrc $< $(STATIC) $(LIBS) -o $@

tests: $(addprefix tests/bin/,$(TESTS))
examples: $(addprefix examples/bin/,$(EXAMPLES))
tools: $(addprefix tools/bin/,$(TOOLS)) tools/bin/ncollapse $(NCOLLAPSE_MPI)

deps:
	@sh tests/deps.sh

# The papers' experiments, measured against their predictions (a few minutes).
reproduce:
	@sh tests/deps.sh reproduce
	@$(MAKE) --no-print-directory all tools/bin/ncollapse
	@sh tools/reproduce/reproduce.sh

demo: deps
	@$(MAKE) --no-print-directory all examples/bin/imbalanced_ufm
	./examples/bin/imbalanced_ufm

# The unit tests alone: the quick loop while changing the library.
test: deps
	@$(MAKE) --no-print-directory all tests $(MPI_TEST_BINS)
	@sh tests/run_checks.sh --unit-only "$(TESTS)"
	@if [ -n "$(HAVE_MPI)" ]; then sh tests/run_mpi.sh "$(MPI_TESTS)" "$(MPIRUN)"; fi

check: deps
	@$(MAKE) --no-print-directory all tests examples tools lib/libncollapse-san.a \
	    $(addprefix tests/bin-san/,$(TESTS)) $(MPI_TEST_BINS) $(addprefix tests/bin-tsan/,$(TSAN_TESTS)) \
	    tests/bin-san/alloc_failures tests/bin-san/ncollapse_alloc $(ALLOC_TEST_SO)
	@MPI_TESTS="$(if $(HAVE_MPI),$(MPI_TESTS))" MPIRUN="$(MPIRUN)" TSAN_TESTS="$(TSAN_TESTS)" \
	    sh tests/run_checks.sh "$(TESTS)" "$(EXAMPLES)" "$(MAKE)" "$(TOOLS)"

check-valgrind: deps tests
	@sh tests/run_valgrind.sh "$(TESTS)"

bench: deps
	@$(MAKE) --no-print-directory all $(addprefix tests/bench/bin/,$(BENCHES))
	@for b in $(BENCHES); do ./tests/bench/bin/$$b || exit 1; done
	@if [ -n "$(HAVE_MPI)" ]; then $(MAKE) --no-print-directory bench-mpi; fi

# The library's side of the PyTorch comparison (a helper, not a benchmark of
# its own, hence outside tests/bench/*.c).
tests/bench/bin/ufm_run: tests/bench/torch/ufm_run.c $(STATIC)
	@mkdir -p tests/bench/bin
	$(CC) $(CFLAGS) $(WARN) -Iinclude $< $(STATIC) $(LIBS) -o $@

bench-torch: deps
	@$(MAKE) --no-print-directory all tests/bench/bin/ufm_run
	/usr/bin/python3 tests/bench/pytorch_compare.py

# libFuzzer targets (clang): the .npy parser and reader (fuzz_npy, which
# needs only the sources below), checkpoint loading (fuzz_checkpoint) and
# stream files (fuzz_stream), both against the whole library built again
# with -fsanitize=fuzzer-no-link. The seeds of the last two are written
# through the public API by tests/fuzz/make_seeds.c; fuzz_npy's are in
# tests/fuzz/corpus (tests/fuzz/make_corpus.py).
FUZZ_CC ?= $(shell command -v clang 2>/dev/null || command -v clang-14 2>/dev/null || echo clang)
FUZZ_SECONDS ?= 25
FUZZ_TARGETS := fuzz_npy fuzz_checkpoint fuzz_stream
FUZZ_SRCS := src/io/npy.c src/io/serial.c src/common/status.c src/common/util.c
FUZZ_FLAGS := -g -O1 -std=c99 -ffp-contract=off -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJS := $(patsubst src/%.c,tests/fuzz/obj/%.o,$(SRCS))

tests/fuzz/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -pthread -DNC_BUILDING_LIBRARY -Iinclude -Isrc -c $< -o $@

tests/fuzz/bin/fuzz_npy: tests/fuzz/fuzz_npy.c $(FUZZ_SRCS) $(HDRS)
	@mkdir -p tests/fuzz/bin
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Iinclude -Isrc tests/fuzz/fuzz_npy.c $(FUZZ_SRCS) -o $@

tests/fuzz/bin/fuzz_checkpoint tests/fuzz/bin/fuzz_stream: tests/fuzz/bin/%: tests/fuzz/%.c tests/ckpt_configs.h $(FUZZ_OBJS)
	@mkdir -p tests/fuzz/bin
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Iinclude -Isrc $< $(FUZZ_OBJS) $(LIBS) -o $@

tests/fuzz/bin/make_seeds: tests/fuzz/make_seeds.c tests/ckpt_configs.h $(STATIC)
	@mkdir -p tests/fuzz/bin
	$(CC) $(CFLAGS) $(WARN) -Iinclude -Isrc $< $(STATIC) $(LIBS) -o $@

# The seeds are rewritten on every run (they follow the file formats).
tests/fuzz/seeds: tests/fuzz/bin/make_seeds
	@rm -rf tests/fuzz/seeds
	./tests/fuzz/bin/make_seeds tests/fuzz/seeds

# New inputs go to tests/fuzz/work/<target> (not kept); crashes are written
# there too. FUZZ_SECONDS is the time of each target.
FUZZ_RUN = -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1

fuzz-npy: tests/fuzz/bin/fuzz_npy
	@rm -rf tests/fuzz/work/npy && mkdir -p tests/fuzz/work/npy
	./tests/fuzz/bin/fuzz_npy $(FUZZ_RUN) -max_len=4096 -artifact_prefix=tests/fuzz/work/npy/ \
	    tests/fuzz/work/npy tests/fuzz/corpus

fuzz-checkpoint: tests/fuzz/bin/fuzz_checkpoint tests/fuzz/seeds
	@rm -rf tests/fuzz/work/checkpoint && mkdir -p tests/fuzz/work/checkpoint
	OPENBLAS_NUM_THREADS=1 ./tests/fuzz/bin/fuzz_checkpoint $(FUZZ_RUN) -max_len=8192 \
	    -artifact_prefix=tests/fuzz/work/checkpoint/ tests/fuzz/work/checkpoint tests/fuzz/seeds/checkpoint

fuzz-stream: tests/fuzz/bin/fuzz_stream tests/fuzz/seeds
	@rm -rf tests/fuzz/work/stream && mkdir -p tests/fuzz/work/stream
	OPENBLAS_NUM_THREADS=1 ./tests/fuzz/bin/fuzz_stream $(FUZZ_RUN) -max_len=4096 \
	    -artifact_prefix=tests/fuzz/work/stream/ tests/fuzz/work/stream tests/fuzz/seeds/stream

fuzz: fuzz-npy fuzz-checkpoint fuzz-stream

pkgconfig/ncollapse.pc: pkgconfig/ncollapse.pc.in include/ncollapse.h Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(LIBS)|g' $< > $@

pkgconfig/ncollapse-mpi.pc: pkgconfig/ncollapse-mpi.pc.in include/ncollapse.h Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(LIBS)|g' $< > $@

install: all tools/bin/ncollapse $(NCOLLAPSE_MPI) pkgconfig/ncollapse.pc $(if $(HAVE_MPI),pkgconfig/ncollapse-mpi.pc)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 755 tools/bin/ncollapse $(DESTDIR)$(BINDIR)/ncollapse
	install -m 644 include/ncollapse.h $(DESTDIR)$(INCLUDEDIR)/ncollapse.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libncollapse.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/libncollapse.so.$(ABI)
	ln -sf libncollapse.so.$(ABI) $(DESTDIR)$(LIBDIR)/libncollapse.so
	install -m 644 pkgconfig/ncollapse.pc $(DESTDIR)$(PKGCONFIGDIR)/ncollapse.pc
	if [ -n "$(HAVE_MPI)" ]; then \
	    install -m 755 tools/bin/ncollapse-mpi $(DESTDIR)$(BINDIR)/ncollapse-mpi && \
	    install -m 644 include/ncollapse_mpi.h $(DESTDIR)$(INCLUDEDIR)/ncollapse_mpi.h && \
	    install -m 644 $(MPI_STATIC) $(DESTDIR)$(LIBDIR)/libncollapse_mpi.a && \
	    install -m 755 $(MPI_SHARED) $(DESTDIR)$(LIBDIR)/libncollapse_mpi.so.$(ABI) && \
	    ln -sf libncollapse_mpi.so.$(ABI) $(DESTDIR)$(LIBDIR)/libncollapse_mpi.so && \
	    install -m 644 pkgconfig/ncollapse-mpi.pc $(DESTDIR)$(PKGCONFIGDIR)/ncollapse-mpi.pc; fi

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/ncollapse.h $(DESTDIR)$(LIBDIR)/libncollapse.a \
	      $(DESTDIR)$(LIBDIR)/libncollapse.so.$(ABI) $(DESTDIR)$(LIBDIR)/libncollapse.so \
	      $(DESTDIR)$(PKGCONFIGDIR)/ncollapse.pc $(DESTDIR)$(BINDIR)/ncollapse
	rm -f $(DESTDIR)$(INCLUDEDIR)/ncollapse_mpi.h $(DESTDIR)$(LIBDIR)/libncollapse_mpi.a \
	      $(DESTDIR)$(LIBDIR)/libncollapse_mpi.so.$(ABI) $(DESTDIR)$(LIBDIR)/libncollapse_mpi.so \
	      $(DESTDIR)$(PKGCONFIGDIR)/ncollapse-mpi.pc $(DESTDIR)$(BINDIR)/ncollapse-mpi

clean:
	rm -rf lib tests/bin tests/bin-san tests/bin-tsan tests/bench/bin examples/bin tools/bin pkgconfig/ncollapse.pc \
	       tests/mpi/bin tests/mpi/bench/bin pkgconfig/ncollapse-mpi.pc \
	       tests/stage tests/fuzz/bin tests/fuzz/work tests/fuzz/obj tests/fuzz/seeds reproduce-runs

# ---- the Python package (python/ncollapse; docs/python.md) -------------------
# Installed for Debian's /usr/bin/python3 with the library; the installed
# package finds the library in $(LIBDIR) through the _config.py written here.
# From the tree: PYTHONPATH=python after `make`.
# Debian's python3 reads /usr/lib/python3/dist-packages for PREFIX=/usr and
# /usr/local/lib/python3.X/dist-packages for PREFIX=/usr/local.
PY_VER := $(shell /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PY_VER)/dist-packages)
PY_SRCS := $(filter-out python/ncollapse/_config.py,$(wildcard python/ncollapse/*.py))

.PHONY: install-python uninstall-python check-python
install: install-python
uninstall: uninstall-python

install-python: all
	install -d $(DESTDIR)$(PYTHONDIR)/ncollapse
	install -m 644 $(PY_SRCS) $(DESTDIR)$(PYTHONDIR)/ncollapse/
	printf '# Written by make install: where the library was installed.\nLIBDIR = "%s"\n' \
	    '$(LIBDIR)' > $(DESTDIR)$(PYTHONDIR)/ncollapse/_config.py

uninstall-python:
	rm -rf $(DESTDIR)$(PYTHONDIR)/ncollapse

# The package's tests alone (pytest under Debian's /usr/bin/python3).
check-python: deps
	@$(MAKE) --no-print-directory all $(ALLOC_TEST_SO)
	PYTHONPATH=python /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider tests/python
