# Shortcuts; the scripts they run are the reference.
.PHONY: bench test deb deb13 rpm lint-packages test-packages
# The data-plane benchmark against sstpc (root, a few minutes): see "Performance" in README.md.
bench:
	tests/bench/run.sh $(BENCH_ARGS)
# Every test (root; see "Tests" in README.md).
test:
	tests/run-all.sh
# Packages (see packaging/ and the README's "Packages" section).
deb:
	packaging/build.sh deb
deb13:
	TARGET=debian13 packaging/build.sh deb
rpm:
	packaging/build.sh rpm
lint-packages:
	packaging/build.sh lint
test-packages:
	packaging/test-deb.sh
