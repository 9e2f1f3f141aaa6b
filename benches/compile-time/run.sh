#!/usr/bin/env bash
# Compile-time cost of the `cancel_scope!` macro.
#
# Generates two library crates with USES (default 200) async functions each: `ct_macro` writes
# every scope with `cancel_scope!`, `ct_api` writes the same code by hand against the runtime
# API (what the macro expands to). Both live in one generated workspace with the same
# dependencies and settings (dev profile). After one warm-up build of the dependencies, each
# round runs `cargo clean -p CRATE` and times `cargo build -p CRATE` for both crates, the order
# alternating; prints the median CPU time (user + sys) of each and the median per-round ratio
# macro / hand-written.
#
#   bash benches/compile-time/run.sh            # USES=200 ROUNDS=5
#   USES=200 ROUNDS=9 MODE=check bash benches/compile-time/run.sh
#
# Ends with one line: `compile_time: macro=S api=S ratio=R`.
set -euo pipefail

USES=${USES:-200}
ROUNDS=${ROUNDS:-5}
MODE=${MODE:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-${CARGO_TARGET_DIR:-/work/target-bench}/compile-time}
GEN="$OUT/gen"
export CARGO_TARGET_DIR="$OUT/target"

rm -rf "$GEN"
mkdir -p "$GEN/ct_macro/src" "$GEN/ct_api/src"

cat > "$GEN/Cargo.toml" <<TOML
[workspace]
resolver = "3"
members = ["ct_macro", "ct_api"]

[workspace.dependencies]
cancel-scope = { path = "$ROOT/cancel-scope" }
tokio = { version = "1.54", default-features = false, features = ["rt", "time"] }
TOML
for c in ct_macro ct_api; do
  cat > "$GEN/$c/Cargo.toml" <<TOML
[package]
name = "$c"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
cancel-scope.workspace = true
tokio.workspace = true
TOML
done

# One use: a scope with a named group, a timeout, tasks spawned in a loop, a kept handle, a
# conditional cancel and a trailing value.
{
  echo "//! Generated: $USES uses of \`cancel_scope!\`."
  echo "#![allow(clippy::all, unused)]"
  echo "use std::time::Duration;"
  echo "use cancel_scope::{cancel_scope, ScopeResult};"
  for i in $(seq 1 "$USES"); do
    cat <<RS
pub async fn f$i(n: u32) -> ScopeResult<u32> {
    cancel_scope! {
        as tg;
        timeout = Duration::from_secs(5);
        let mut acc = 0u32;
        for k in 0..n {
            spawn async move { let _ = k + $i; };
        }
        let h = spawn async move { Ok(n + $i) };
        if n > 1_000_000 {
            cancel;
        }
        acc += h.await.unwrap_or(0);
        let _ = tg.len();
        acc
    }
}
RS
  done
} > "$GEN/ct_macro/src/lib.rs"

{
  echo "//! Generated: the same $USES scopes written against the runtime API."
  echo "#![allow(clippy::all, unused)]"
  echo "use std::time::Duration;"
  echo "use cancel_scope::{CancelScope, ScopeResult};"
  for i in $(seq 1 "$USES"); do
    cat <<RS
pub async fn f$i(n: u32) -> ScopeResult<u32> {
    let scope = CancelScope::new().timeout(Duration::from_secs(5));
    let tg = scope.group();
    scope
        .run(async {
            let mut acc = 0u32;
            for k in 0..n {
                tg.spawn(async move { let _ = k + $i; });
            }
            let h = tg.spawn(async move { Ok(n + $i) });
            if n > 1_000_000 {
                tg.cancel();
                std::future::pending::<()>().await;
            }
            acc += h.await.unwrap_or(0);
            let _ = tg.len();
            Ok(acc)
        })
        .await
}
RS
  done
} > "$GEN/ct_api/src/lib.rs"

cd "$GEN"
echo "warm-up: building the dependencies and both crates once ($MODE)" >&2
cargo "$MODE" -q --workspace >&2

# CPU seconds (user + sys of cargo and rustc) of one clean build of crate $1: less sensitive
# than wall time to other load on a shared machine. The wall time goes to stderr.
time_one() {
  cargo clean -q -p "$1" >&2
  /usr/bin/time -f '%e %U %S' -o "$OUT/time.txt" cargo "$MODE" -q --offline -p "$1" >&2
  read -r wall user sys < "$OUT/time.txt"
  echo "  $1: wall $wall s, cpu $(echo "$user + $sys" | bc -l) s" >&2
  echo "$user + $sys" | bc -l
}

median() {
  sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'
}

MACRO=()
API=()
for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 )); then
    MACRO+=("$(time_one ct_macro)"); API+=("$(time_one ct_api)")
  else
    API+=("$(time_one ct_api)"); MACRO+=("$(time_one ct_macro)")
  fi
  printf 'round %d: macro %.3f s, api %.3f s (cpu)\n' "$r" "${MACRO[-1]}" "${API[-1]}" >&2
done
M=$(printf '%s\n' "${MACRO[@]}" | median)
A=$(printf '%s\n' "${API[@]}" | median)
RATIOS=()
for i in "${!MACRO[@]}"; do RATIOS+=("$(echo "${MACRO[$i]} / ${API[$i]}" | bc -l)"); done
R=$(printf '%s\n' "${RATIOS[@]}" | median)
RMIN=$(printf '%s\n' "${RATIOS[@]}" | sort -g | head -1)
RMAX=$(printf '%s\n' "${RATIOS[@]}" | sort -g | tail -1)
printf 'cargo %s of %d uses, dev profile, %d rounds, cpu seconds: macro median %.3f s, hand-written median %.3f s; per-round ratio median %.3f (min %.3f, max %.3f)\n' \
  "$MODE" "$USES" "$ROUNDS" "$M" "$A" "$R" "$RMIN" "$RMAX"
printf 'compile_time: macro=%.3f api=%.3f ratio=%.3f\n' "$M" "$A" "$R"
