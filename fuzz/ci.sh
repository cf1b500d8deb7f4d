#!/usr/bin/env bash
# Builds every fuzz target with stable Rust (no nightly, no cargo-fuzz) and runs each for a fixed number of
# executions, starting from its seed corpus in fuzz/corpus/<target>/. Fails if any target crashes. tests/run.sh
# calls it; by hand, from the repository root:
#   bash fuzz/ci.sh                      # every target, FUZZ_RUNS executions each
#   bash fuzz/ci.sh imap_command         # some targets
#   FUZZ_RUNS=1000000 bash fuzz/ci.sh relay_reply
# FUZZ_RUNS (default 20000) executions per target; FUZZ_SEED (default: random, printed) makes a run repeatable;
# FUZZ_TARGET_DIR (default target/fuzz) is where the instrumented build goes.
#
# The instrumentation is what `cargo fuzz build` asks of rustc, minus AddressSanitizer (nightly only, and the core
# forbids unsafe code): SanitizerCoverage's 8-bit counters, PC table and comparison tracing through stable -C
# flags, `--cfg fuzzing`, debug assertions and overflow checks. `--target` keeps build scripts and proc macros
# uninstrumented. A crash's input is kept in fuzz/artifacts/<target>/ and replayed with `<binary> <file>` (or
# `cargo +nightly fuzz run <target> <file>`).
set -euo pipefail
cd "$(dirname "$0")"

runs=${FUZZ_RUNS:-20000}
seed=${FUZZ_SEED:-0}
target_dir=${FUZZ_TARGET_DIR:-../target/fuzz}
host=$(rustc -vV | sed -n 's/^host: //p')

export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
RUSTFLAGS=$(echo $RUSTFLAGS)

# Every [[bin]] of Cargo.toml, unless targets were named.
if (($#)); then
    targets=("$@")
else
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^mailroom')
fi

start=$SECONDS
cargo build --release --locked --target "$host" --target-dir "$target_dir" --bins
printf 'built %d targets in %ds\n' "${#targets[@]}" $((SECONDS - start))

failed=()
for t in "${targets[@]}"; do
    bin=$target_dir/$host/release/$t
    # New inputs go to a scratch directory: the committed seeds stay as they are.
    work=$(mktemp -d)
    mkdir -p "artifacts/$t"
    t0=$SECONDS
    if "$bin" -runs="$runs" -seed="$seed" -max_len=4096 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" "$work" "corpus/$t" >"$work.log" 2>&1; then
        status=ok
    else
        status=CRASHED
        failed+=("$t")
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log")
    used_seed=$(sed -n 's/.*Seed: \([0-9]*\).*/\1/p' "$work.log" | head -1)
    cov=$(grep -o 'cov: [0-9]*' "$work.log" | tail -1 || true)
    printf '%-20s %-7s %8s executions  %3ds  %s  seed %s\n' "$t" "$status" "${execs:-?}" $((SECONDS - t0)) \
        "${cov:-}" "${used_seed:-?}"
    if [ "$status" != ok ]; then
        grep -v -E '^(#[0-9]|INFO:)' "$work.log" | tail -40
        ls "artifacts/$t/"
    fi
    rm -rf "$work" "$work.log"
done

printf 'fuzzing took %ds in all\n' $((SECONDS - start))
if ((${#failed[@]})); then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
