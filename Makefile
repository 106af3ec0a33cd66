# SPDX-License-Identifier: GPL-3.0-or-later
# exflow build. `make` builds ./exflow; `make check` runs every test; see README.md.
#   make SANITIZER=address|undefined|thread   instrumented build under build/<sanitizer>/
CC      ?= gcc
PKGS    := libpcap libndpi libmaxminddb jansson inih nettle libpsl gnutls libfixbuf hiredis
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
           -Wpointer-arith -Wundef -Wvla -Werror
OPT     ?= -O2 -g
SANITIZER ?=

ifeq ($(SANITIZER),address)
# AddressSanitizer with UndefinedBehaviorSanitizer in the same build: make check runs the
# suite once under both instead of once under each (SANITIZER=undefined is UBSan alone).
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(SANITIZER),undefined)
SANFLAGS := -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SANITIZER),thread)
# Not part of make check (it needs its own run of the suite); for the pipeline's threads.
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else ifneq ($(SANITIZER),)
$(error SANITIZER must be address, undefined or thread)
endif

BUILD   := build/$(if $(SANITIZER),$(SANITIZER),default)
CFLAGS  += -std=gnu11 $(OPT) $(WARN) $(SANFLAGS) -MMD -MP -D_GNU_SOURCE \
           $(shell pkg-config --cflags $(PKGS))
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm -lpthread

# Every .c in a stage folder belongs to the library; tests link it without main.
STAGES     := common capture flows detect geo output pipeline report collect zeek rescore
LIB_SRCS   := $(wildcard $(addsuffix /*.c,$(STAGES)))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB        := $(BUILD)/libexflow.a
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS  := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)
MAIN_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard main/*.c))
EXFLOW     := $(BUILD)/exflow

.PHONY: all deps demo check test unit valgrind bench eval fuzz soak clean bless install deb

all: $(EXFLOW) exflow $(BUILD)/exflow.8

exflow: $(EXFLOW)
ifeq ($(SANITIZER),)
	ln -sf $(EXFLOW) exflow
endif

# PREFIX/bin/exflow finds PREFIX/share/exflow/protocols.txt wherever PREFIX is.
PREFIX  ?= /usr/local
install: $(EXFLOW) $(BUILD)/exflow.8
	install -D -m 755 $(EXFLOW) $(DESTDIR)$(PREFIX)/bin/exflow
	install -D -m 644 $(BUILD)/exflow.8 $(DESTDIR)$(PREFIX)/share/man/man8/exflow.8
	install -D -m 644 flows/protocols.txt $(DESTDIR)$(PREFIX)/share/exflow/protocols.txt
	install -D -m 644 detect/allowlist.example $(DESTDIR)$(PREFIX)/share/exflow/allowlist.example
	install -D -m 644 detect/dns-heavy-users.txt $(DESTDIR)$(PREFIX)/share/exflow/dns-heavy-users.txt

$(EXFLOW): $(MAIN_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The man page comes from the option table, like --help, so the two cannot disagree.
$(BUILD)/exflow.8: $(EXFLOW)
	$(EXFLOW) --dump-man >$@.tmp && mv $@.tmp $@

# The Debian package (debian/): binary, man page, config, hardened systemd unit.
deb:
	dpkg-buildpackage -us -uc -b

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

deps:
	./scripts/deps.sh

# The README's first command: a sample capture and the bundled test GeoIP data.
demo: $(EXFLOW) exflow
	./scripts/demo.sh

# One build's tests: unit tests, golden pcaps, scenarios, robustness over the public pcaps.
test: $(EXFLOW) exflow $(UNIT_BINS) $(TOOL_BINS)
	BUILD=$(BUILD) EXFLOW=$(EXFLOW) ./tests/run-all.sh

unit: $(UNIT_BINS)
	BUILD=$(BUILD) ./tests/run-unit.sh $(UNIT_BINS)

# Everything: the plain build, then ASan and UBSan builds, then valgrind on the golden pcaps.
check:
	MAKE="$(MAKE)" ./tests/check.sh

valgrind: $(EXFLOW)
	EXFLOW=$(EXFLOW) ./tests/valgrind.sh

bless: $(EXFLOW)
	EXFLOW=$(EXFLOW) ./tests/golden/bless.sh

eval: $(EXFLOW)
	EXFLOW=$(EXFLOW) ./tests/scenarios/eval.sh
	EXFLOW=$(EXFLOW) nice python3 tests/collect/eval.py

# libFuzzer harnesses (clang): each runs FUZZ_SECONDS; crashes land in tests/fuzz/regressions/.
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./tests/fuzz/run.sh

# Replay through a veth pair in a network namespace for SOAK_SECONDS, watching RSS.
SOAK_SECONDS ?= 60
soak: $(EXFLOW)
	EXFLOW=$(EXFLOW) SOAK_SECONDS=$(SOAK_SECONDS) ./tests/robustness/soak.sh

bench: $(EXFLOW) $(TOOL_BINS)
	BUILD=$(BUILD) EXFLOW=$(EXFLOW) ./tests/bench/bench.sh

clean:
	rm -rf build exflow

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJS:.o=.d)
