# Entry points for people and CI. `make demo` runs the project's main job end to end on real
# data (see demo/run.sh); `make build` builds the two release binaries the demo uses.

.PHONY: demo test build bench

build:
	cargo build --release -p dataverk-cli -p devvault

test:
	bash scripts/test.sh

demo:
	bash demo/run.sh

# Side-by-side read benchmark (not part of the tests): see bench/run.sh; BENCH_SCALE=1 for a quick run.
bench:
	bash bench/run.sh
