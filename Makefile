# netshim — the two commands of the README:
#   make demo   builds everything and runs the seed server/client under the shim
#   make test   installs what the tests need, builds, runs cargo tests and the
#               C conformance suite (native vs shim) through the harness
# and `make bench` for the side-by-side benchmarks (never part of `make test`).

CARGO ?= cargo
SHIM  := target/release/libnetshim.so
HARNESS := target/release/harness

.PHONY: all deps bench-deps build shim ctests demo test cargo-test conformance bench clean

all: build

# Debian packages the project needs (a fresh machine has the Rust toolchain
# and gcc): strace shows the demo makes no kernel socket, and is what the
# trace test compares the shim's trace lines with; iproute2 (ip) sets up the
# private network namespace of tests/c/t_nonlocal.c; tshark reads back the
# pcap captures in shim/tests/seeing_inside.rs (installed
# non-interactively, its debconf question wireshark-common/install-setuid
# keeps the default, no setuid dumpcap, which reading a file does not
# need). The second line is what the real-program scenarios of
# tests/programs run.
DEB_PACKAGES := make gcc g++ libc6-dev strace iproute2 tshark \
	redis-server redis-tools nginx-light curl wrk socat netcat-openbsd memcached python3

# What `make bench` needs on top: gnuplot draws the PNG, sockperf is one of
# the compared programs (redis comes with DEB_PACKAGES), valgrind counts
# the instructions of the trace-cost row.
BENCH_PACKAGES := gnuplot-nox sockperf valgrind

# Packages with a system service (redis, nginx, memcached) must not start
# it: the scenarios run their own instances on ports of their own, and a
# system nginx would hold port 80. A policy-rc.d that refuses every start
# is put in place for the install when the machine has none (as Docker
# images do), and removed afterwards. `deps` and `bench-deps` are one
# recipe over their own list.
bench-deps: PKGS = $(BENCH_PACKAGES)
deps: PKGS = $(DEB_PACKAGES)
deps bench-deps:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		policy=/usr/sbin/policy-rc.d; ours=""; \
		if [ ! -e $$policy ]; then \
			printf '#!/bin/sh\nexit 101\n' | $$SUDO tee $$policy >/dev/null && $$SUDO chmod 755 $$policy && ours=1; \
		fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
		rc=$$?; \
		[ -z "$$ours" ] || $$SUDO rm -f $$policy; \
		exit $$rc; \
	fi

shim:
	$(CARGO) build --release --workspace

ctests:
	$(MAKE) -C tests/c -j2

build: shim ctests

demo: deps build
	scripts/demo.sh

cargo-test: shim
	$(CARGO) test --release --workspace

conformance: build
	$(HARNESS) --shim $(SHIM)

test: deps build cargo-test conformance

bench: deps bench-deps build
	scripts/bench.sh

clean:
	$(CARGO) clean
	$(MAKE) -C tests/c clean
