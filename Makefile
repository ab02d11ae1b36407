# Inline-completed, cancellable io_uring reads: build, boot and test.
#
#   make              set up, assemble the tree, build, boot, show it running
#   make check        every test: lint, then selftests + KUnit/doctests in the
#                     normal and the debug kernel
#   make test T=name  boot the normal kernel and run one selftest program
#   make shell        boot the normal kernel to a shell (shell-debug: debug)
#   make bench        run the benchmark in the normal kernel (bench/results/)
#   make rfc          export the series with a cover letter (build/rfc/)
#
# The build tree is build/ (ignored): build/linux is the assembled kernel
# (a git repo: `git -C build/linux diff base` is the whole series),
# build/out and build/out-debug are the two kernels' output directories.

SHELL := /bin/bash
S := scripts

.PHONY: all setup tree build build-debug bench-build bench demo check \
	check-normal check-debug lint rfc rfc-check test shell shell-debug \
	clean distclean

all: demo

setup:
	@$(S)/setup.sh

tree: setup
	@$(S)/assemble.sh

build: tree
	@$(S)/build.sh normal

build-debug: tree
	@$(S)/build.sh debug

bench-build: setup
	@bench/build.sh -q

# The benchmark in the normal kernel: bench/results/latest.{json,md} + SVGs.
bench: build bench-build
	@$(S)/run-vm.sh normal bench

demo: build
	@$(S)/run-vm.sh normal test || true
	@$(S)/demo.sh

lint: tree
	@$(S)/lint.sh

check: tree
	@rm -f build/out/results.json build/out-debug/results.json
	@rc=0; \
	$(S)/lint.sh || rc=1; \
	{ $(S)/build.sh normal && bench/build.sh -q && \
	  $(S)/run-vm.sh normal; } || rc=1; \
	{ $(S)/build.sh debug && $(S)/run-vm.sh debug; } || rc=1; \
	echo "=== summary"; \
	python3 $(S)/results.py --merge build/out/results.json \
		build/out-debug/results.json build/lint.json || rc=1; \
	exit $$rc

# The series as the io-uring list would receive it (build/rfc/), and every
# patch of it built and checked in order (rfc/README.md).
rfc: setup
	@$(S)/rfc.sh

rfc-check: setup
	@$(S)/rfc-check.sh

check-normal: build bench-build
	@$(S)/run-vm.sh normal

check-debug: build-debug
	@$(S)/run-vm.sh debug

test: build
	@$(S)/run-vm.sh normal test $(T)

shell: build
	@$(S)/run-vm.sh normal shell

shell-debug: build-debug
	@$(S)/run-vm.sh debug shell

clean:
	rm -rf build/out build/out-debug build/out-rfc

distclean:
	rm -rf build
