# Inline-completed, cancellable io_uring reads: build, boot and test.
#
#   make              set up, assemble the tree, build, boot, show it running
#   make check        every test: lint, then selftests + KUnit/doctests in the
#                     normal and the debug kernel
#   make test T=name  boot the normal kernel and run one selftest program
#   make shell        boot the normal kernel to a shell (shell-debug: debug)
#
# The build tree is build/ (ignored): build/linux is the assembled kernel
# (a git repo: `git -C build/linux diff base` is the whole series),
# build/out and build/out-debug are the two kernels' output directories.

SHELL := /bin/bash
S := scripts

.PHONY: all setup tree build build-debug demo check check-normal check-debug \
	lint rustfmt clippy checkpatch test shell shell-debug clean distclean

all: demo

setup:
	@$(S)/setup.sh

tree: setup
	@$(S)/assemble.sh

build: tree
	@$(S)/build.sh normal

build-debug: tree
	@$(S)/build.sh debug

demo: build
	@$(S)/run-vm.sh normal test || true
	@$(S)/demo.sh

lint: tree
	@$(S)/lint.sh

check: tree
	@rm -f build/out/results.json build/out-debug/results.json
	@rc=0; \
	$(S)/lint.sh || rc=1; \
	{ $(S)/build.sh normal && $(S)/run-vm.sh normal; } || rc=1; \
	{ $(S)/build.sh debug && $(S)/run-vm.sh debug; } || rc=1; \
	echo "=== summary"; \
	python3 $(S)/results.py --merge build/out/results.json \
		build/out-debug/results.json build/lint.json || rc=1; \
	exit $$rc

check-normal: build
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
	rm -rf build/out build/out-debug

distclean:
	rm -rf build
