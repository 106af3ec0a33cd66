# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the libFuzzer harnesses with clang into build/fuzz/ (run.sh and regressions.sh call
# this). The library sources are compiled once with coverage and ASan+UBSan; each harness
# links them with libFuzzer's main.
#   make -f tests/fuzz/fuzz.mk            all harnesses
#   make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_state
FUZZ_CC   ?= clang
PKGS      := libpcap libndpi libmaxminddb jansson nettle libpsl gnutls libfixbuf hiredis
FUZZ_OUT  := build/fuzz
SANITIZE  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CFLAGS    := -std=gnu11 -g -O1 -Wall -Wextra -D_GNU_SOURCE -I. $(SANITIZE) \
             $(shell pkg-config --cflags $(PKGS))
LDLIBS    := $(shell pkg-config --libs $(PKGS)) -lm -lpthread

STAGES    := common capture flows detect geo output pipeline collect zeek rescore
LIB_SRCS  := $(wildcard $(addsuffix /*.c,$(STAGES)))
LIB_OBJS  := $(LIB_SRCS:%.c=$(FUZZ_OUT)/obj/%.o)
HARNESSES := fuzz_decode fuzz_flows fuzz_detect_parsers fuzz_allowlist fuzz_state fuzz_spool fuzz_event \
             fuzz_collect fuzz_checkpoint fuzz_zeek fuzz_rescore
BINS      := $(HARNESSES:%=$(FUZZ_OUT)/%)

.PHONY: all
.SECONDARY:
all: $(BINS)

$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_OUT)/%: tests/fuzz/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS) -fsanitize=fuzzer -MMD -MP -MF $@.d -o $@ $< $(LIB_OBJS) $(LDLIBS)

-include $(LIB_OBJS:.o=.d) $(BINS:=.d)
