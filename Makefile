# Shortcuts; the scripts they run are the reference.
.PHONY: bench test
# The data-plane benchmark against sstpc (root, a few minutes): see "Performance" in README.md.
bench:
	tests/bench/run.sh $(BENCH_ARGS)
# Every test (root, about 17 minutes on 2 cores).
test:
	tests/run-all.sh
