# didcomm-gateway: one non-recursive Makefile.
#   make            build libdidcomm (static + shared), the queue (libgwqueue.a) and
#                   didcomm-gateway (build/release/)
#   make run        deps + build + start the gateway on the default config
#   make test       deps + build + every test (unit under ASan+UBSan too, corpus replay, CLI, interop)
#   make bench      benchmarks (tests/bench), with didcomm-node side by side
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make SANITIZE=address,undefined   build into build/asan
#   make install    PREFIX (/usr/local), DESTDIR: program, libdidcomm, config, unit, man pages

V        ?= release
VERSION  := 0.1.0
CC       ?= cc
SANITIZE ?=
ifneq ($(SANITIZE),)
V        := asan
SANFLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT      := -O1 -g
else
OPT      ?= -O2 -g
endif

B        := build/$(V)
PKGS     := libsodium libcjson libcrypto libcurl sqlite3 libwebsockets libuv libmosquitto libsystemd libqrencode libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# libetpan (the mail adapters): its pkg-config --libs force a non-PIE link (dpkg specs), so
# only its flags come from there and the library is named directly (infra notes)
ETPAN_CFLAGS := $(shell pkg-config --cflags libetpan 2>/dev/null)
ETPAN_LIBS   := -letpan
# what libdidcomm.so itself needs (the queue's sqlite3, and the daemon's curl, lws and uv, are not)
CORE_PKGS  := libsodium libcjson libcrypto
CORE_LIBS  := $(shell pkg-config --libs $(CORE_PKGS) 2>/dev/null) -lpthread -lm
CUNIT_LIBS := $(shell pkg-config --libs cunit 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wno-missing-field-initializers
CFLAGS   := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $(OPT) $(WARN) -fPIC \
            -Icore -Irules -Igateway -Igateway/queue -Iadapters $(PKG_CFLAGS) $(ETPAN_CFLAGS) $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS  := $(SANFLAGS) $(EXTRA_LDFLAGS)
LIBS     := $(PKG_LIBS) $(ETPAN_LIBS) -lpthread -lm

CORE_SRC := $(sort $(wildcard core/*.c))
GW_SRC   := $(sort $(wildcard gateway/*.c))
GWQ_SRC  := $(sort $(wildcard gateway/queue/*.c))
RULES_SRC := $(sort $(wildcard rules/*.c))
AD_SRC   := $(sort $(wildcard adapters/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o)
GW_OBJ   := $(GW_SRC:%.c=$(B)/%.o) $(AD_SRC:%.c=$(B)/%.o)
GW_MAIN_OBJ := $(B)/gateway/cli.o
GW_LIB_OBJ := $(filter-out $(GW_MAIN_OBJ),$(GW_OBJ))
GWQ_OBJ  := $(GWQ_SRC:%.c=$(B)/%.o)
RULES_OBJ := $(RULES_SRC:%.c=$(B)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(B)/%.o)

LIB_A    := $(B)/libdidcomm.a
SONAME   := libdidcomm.so.0
LIB_SO   := $(B)/libdidcomm.so
LIB_SO_V := $(B)/$(SONAME)
LIB_GWQ  := $(B)/libgwqueue.a
LIB_RULES := $(B)/librules.a
LIB_GW   := $(B)/libgw.a
BIN      := $(B)/didcomm-gateway
# the daemon with the test-only adapters (tests/adapters) in its registry
TEST_BIN := $(B)/didcomm-gateway-test
TEST_AD_OBJ := $(patsubst %.c,$(B)/%.o,$(sort $(wildcard tests/adapters/*.c)))
REG_TEST_OBJ := $(B)/adapters/registry-test.o
UNIT     := $(B)/test_unit
REPLAY   := $(B)/fuzz_replay

# Debian packages the project needs (build, tests, later adapters). One apt line.
DEB_PKGS := build-essential pkg-config libcurl4-gnutls-dev libwebsockets-dev libmosquitto-dev \
            libetpan-dev libsodium-dev libcjson-dev libsqlite3-dev libcunit1-dev libuv1-dev libssl-dev \
            libsasl2-modules mosquitto mosquitto-clients dovecot-imapd dovecot-lmtpd python3-aiosmtpd \
            curl openssl ca-certificates clang libclang-rt-14-dev sqlite3 \
            libsystemd-dev python3-prometheus-client chromium mandoc libqrencode-dev \
            postgresql libpq-dev

.PHONY: all deps build run test test-unit test-interop test-daemon \
        bench fuzz check-src clean install uninstall
all: build
build: $(LIB_A) $(LIB_SO) $(LIB_GWQ) $(BIN)

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: need root to install:$$missing" >&2; exit 1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# the version, in --version, build_info and the pkg-config file
$(B)/gateway/metrics.o: OBJ_CFLAGS := -DGW_VERSION='"$(VERSION)"'
$(B)/gateway/metrics.o: Makefile

# libdidcomm's objects export only what didcomm.h marks visible (the public dc_ API)
$(CORE_OBJ): OBJ_CFLAGS := -fvisibility=hidden

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(OBJ_CFLAGS) -MMD -MP -c $< -o $@

$(LIB_A): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

# libdidcomm.so.0 (SONAME) and the libdidcomm.so link to it; NEEDED only what core uses
SO_LDFLAGS := -shared -Wl,-soname,$(SONAME) -Wl,--as-needed
ifeq ($(SANITIZE),)
SO_LDFLAGS += -Wl,--no-undefined
endif
$(LIB_SO_V): $(CORE_OBJ)
	$(CC) $(SO_LDFLAGS) $(LDFLAGS) -o $@ $^ $(CORE_LIBS)

$(LIB_SO): $(LIB_SO_V)
	ln -sf $(SONAME) $@

$(LIB_GWQ): $(GWQ_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIB_RULES): $(RULES_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIB_GW): $(GW_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(GW_MAIN_OBJ) $(LIB_GW) $(LIB_RULES) $(LIB_GWQ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $(GW_MAIN_OBJ) $(LIB_GW) $(LIB_RULES) $(LIB_GWQ) $(LIB_A) $(LIBS)

$(REG_TEST_OBJ): adapters/registry.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DGW_TEST_ADAPTERS -MMD -MP -c $< -o $@

# registry-test.o comes first: libgw.a's registry.o is then never pulled in
$(TEST_BIN): $(GW_MAIN_OBJ) $(REG_TEST_OBJ) $(TEST_AD_OBJ) $(LIB_GW) $(LIB_RULES) $(LIB_GWQ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $(GW_MAIN_OBJ) $(REG_TEST_OBJ) $(TEST_AD_OBJ) $(LIB_GW) $(LIB_RULES) $(LIB_GWQ) \
	  $(LIB_A) $(LIBS)

test-daemon: $(TEST_BIN)

# unit tests link the gateway's logic too (everything but main), and the test-only adapters
$(UNIT): $(UNIT_OBJ) $(TEST_AD_OBJ) $(LIB_GW) $(LIB_RULES) $(LIB_GWQ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $(UNIT_OBJ) $(TEST_AD_OBJ) $(LIB_GW) $(LIB_RULES) $(LIB_GWQ) $(LIB_A) $(LIBS) \
	  $(CUNIT_LIBS)

# Replays every fuzz corpus file through each target's entry point (no libFuzzer needed).
$(REPLAY): tests/fuzz/replay.c $(patsubst %,tests/fuzz/fuzz_%.c,$(FUZZ_TARGETS)) $(LIB_RULES) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DDC_REPLAY_MAIN -o $@ tests/fuzz/replay.c \
	  $(patsubst %,tests/fuzz/fuzz_%.c,$(FUZZ_TARGETS)) $(LIB_RULES) $(LIB_A) $(LDFLAGS) $(LIBS)

run: deps build
	./$(BIN) run -c conf/gateway.conf

test: deps
	$(MAKE) build $(TEST_BIN)
	$(MAKE) SANITIZE=address,undefined build $(patsubst build/release/%,build/asan/%,$(UNIT)) \
	  $(patsubst build/release/%,build/asan/%,$(REPLAY)) $(patsubst build/release/%,build/asan/%,$(TEST_BIN))
	$(MAKE) $(UNIT)
	bash tests/run.sh

test-unit: build $(UNIT)
	./$(UNIT)

test-interop: build
	bash tests/interop/run.sh

bench: deps build
	bash tests/bench/run.sh
	bash tests/bench/mqtt.sh
	bash tests/bench/pg.sh
	bash tests/bench/email.sh

FUZZ_SECONDS ?= 60
fuzz: deps
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

check-src:
	@! grep -nE '\b(strcpy|sprintf|strtok|atoi|gets|gmtime)\s*\(' core/*.c gateway/*.c gateway/queue/*.c adapters/*.c rules/*.c 2>/dev/null
	@! grep -nE '\b(printf|puts)\s*\(' core/*.c 2>/dev/null
	@echo "check-src: ok"

clean:
	rm -rf build

# make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]: the program, libdidcomm.so (+ header
# and pkg-config file), the example configuration (never over one that is there), the systemd
# unit and the man pages. SYSCONFDIR is /etc for PREFIX=/usr, else PREFIX/etc.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
STATEDIR   ?= /var/lib/didcomm-gateway
CONFDIR    := $(SYSCONFDIR)/didcomm-gateway
MANPAGES   := man/didcomm-gateway.1 man/didcomm-gateway.conf.5 man/didcomm-gateway-rules.5
install: $(BIN) $(LIB_SO_V)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(CONFDIR) \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/didcomm-gateway
	install -m 755 $(LIB_SO_V) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libdidcomm.so
	install -m 644 core/didcomm.h $(DESTDIR)$(INCLUDEDIR)/didcomm.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' conf/libdidcomm.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libdidcomm.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/libdidcomm.pc
	@# the example configuration with the unit's paths; one that is there already is the operator's
	@if [ ! -e $(DESTDIR)$(CONFDIR)/gateway.conf ]; then \
	  sed -e 's|^state_dir [^#]*#|state_dir $(STATEDIR)  #|' -e 's|^rules [^#]*#|rules $(CONFDIR)/rules.conf  #|' \
	    conf/gateway.conf > $(DESTDIR)$(CONFDIR)/gateway.conf && chmod 644 $(DESTDIR)$(CONFDIR)/gateway.conf; \
	else echo "install: $(DESTDIR)$(CONFDIR)/gateway.conf is there: not replaced"; fi
	@if [ ! -e $(DESTDIR)$(CONFDIR)/rules.conf ]; then install -m 644 conf/rules.conf $(DESTDIR)$(CONFDIR)/rules.conf; \
	else echo "install: $(DESTDIR)$(CONFDIR)/rules.conf is there: not replaced"; fi
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/etc/didcomm-gateway/|$(CONFDIR)/|g' \
	  -e 's|/var/lib/didcomm-gateway|$(STATEDIR)|g' conf/didcomm-gateway.service > $(DESTDIR)$(UNITDIR)/didcomm-gateway.service
	chmod 644 $(DESTDIR)$(UNITDIR)/didcomm-gateway.service
	install -m 644 man/didcomm-gateway.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/didcomm-gateway.conf.5 man/didcomm-gateway-rules.5 $(DESTDIR)$(MANDIR)/man5/

# the configuration files stay (they are the operator's)
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/didcomm-gateway $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libdidcomm.so \
	  $(DESTDIR)$(INCLUDEDIR)/didcomm.h $(DESTDIR)$(LIBDIR)/pkgconfig/libdidcomm.pc \
	  $(DESTDIR)$(UNITDIR)/didcomm-gateway.service $(DESTDIR)$(MANDIR)/man1/didcomm-gateway.1 \
	  $(DESTDIR)$(MANDIR)/man5/didcomm-gateway.conf.5 $(DESTDIR)$(MANDIR)/man5/didcomm-gateway-rules.5

-include $(CORE_OBJ:.o=.d) $(GW_OBJ:.o=.d) $(GWQ_OBJ:.o=.d) $(RULES_OBJ:.o=.d) $(UNIT_OBJ:.o=.d)
