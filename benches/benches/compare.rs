//! Detailed per-contender timings with divan: `cargo bench -p cancel-scope-benches`.
//!
//! These are absolute timings of each contender on the current-thread runtime; the gated,
//! paired ratios come from the main binary (`cargo run -p cancel-scope-benches --release --
//! --quick`).

use cancel_scope_benches as b;
use divan::Bencher;

fn main() {
    b::check_future_sizes();
    divan::main();
}

const SIZES: &[usize] = &[1_000, 100_000];

macro_rules! spawn_join_benches {
    ($module:ident, $make:path) => {
        mod $module {
            use super::*;

            #[divan::bench(args = SIZES, sample_count = 21)]
            fn ours(bencher: Bencher<'_, '_>, n: usize) {
                let rt = b::current_thread();
                bencher.bench_local(|| rt.block_on(b::ours_spawn_join(n, $make)));
            }

            #[divan::bench(args = SIZES, sample_count = 21)]
            fn joinset(bencher: Bencher<'_, '_>, n: usize) {
                let rt = b::current_thread();
                bencher.bench_local(|| rt.block_on(b::joinset_spawn_join(n, $make)));
            }

            #[divan::bench(args = SIZES, sample_count = 21)]
            fn handles(bencher: Bencher<'_, '_>, n: usize) {
                let rt = b::current_thread();
                bencher.bench_local(|| rt.block_on(b::handles_spawn_join(n, $make)));
            }

            #[divan::bench(args = SIZES, sample_count = 21)]
            fn tracker(bencher: Bencher<'_, '_>, n: usize) {
                let rt = b::current_thread();
                bencher.bench_local(|| rt.block_on(b::tracker_spawn_join(n, $make)));
            }

            #[divan::bench(args = SIZES, sample_count = 21)]
            fn moro(bencher: Bencher<'_, '_>, n: usize) {
                let rt = b::current_thread();
                bencher.bench_local(|| rt.block_on(b::moro_spawn_join(n, $make)));
            }
        }
    };
}

spawn_join_benches!(spawn_join_trivial, b::trivial);
spawn_join_benches!(spawn_join_64b, b::yield64);

mod cancel_100k {
    use super::*;

    const N: usize = 100_000;

    // Each iteration returns the measured cancel-to-joined time; divan times the whole unit
    // (set-up included), so compare these with the main binary's paired figures.
    #[divan::bench(sample_count = 11)]
    fn ours(bencher: Bencher<'_, '_>) {
        let rt = b::current_thread();
        bencher.bench_local(|| rt.block_on(b::ours_cancel(N)));
    }

    #[divan::bench(sample_count = 11)]
    fn joinset(bencher: Bencher<'_, '_>) {
        let rt = b::current_thread();
        bencher.bench_local(|| rt.block_on(b::joinset_cancel(N)));
    }

    #[divan::bench(sample_count = 11)]
    fn tracker(bencher: Bencher<'_, '_>) {
        let rt = b::current_thread();
        bencher.bench_local(|| rt.block_on(b::tracker_cancel(N)));
    }
}

/// Each iteration enters and leaves `SCOPES` empty scopes inside one `block_on`, so the
/// runtime's own `block_on` cost does not swamp a scope's; divan prints per-item throughput.
mod empty_scope {
    use super::*;

    const SCOPES: usize = 1_000;

    #[divan::bench]
    fn ours(bencher: Bencher<'_, '_>) {
        let rt = b::current_thread();
        bencher
            .counter(divan::counter::ItemsCount::new(SCOPES))
            .bench_local(|| rt.block_on(b::ours_empty(SCOPES)));
    }

    #[divan::bench]
    fn joinset(bencher: Bencher<'_, '_>) {
        let rt = b::current_thread();
        bencher
            .counter(divan::counter::ItemsCount::new(SCOPES))
            .bench_local(|| rt.block_on(b::joinset_empty(SCOPES)));
    }

    #[divan::bench]
    fn tracker(bencher: Bencher<'_, '_>) {
        let rt = b::current_thread();
        bencher
            .counter(divan::counter::ItemsCount::new(SCOPES))
            .bench_local(|| rt.block_on(b::tracker_empty(SCOPES)));
    }

    #[divan::bench]
    fn moro(bencher: Bencher<'_, '_>) {
        let rt = b::current_thread();
        bencher
            .counter(divan::counter::ItemsCount::new(SCOPES))
            .bench_local(|| rt.block_on(b::moro_empty(SCOPES)));
    }
}

mod chain {
    use super::*;

    #[divan::bench(args = [1_000, 10_000], sample_count = 11)]
    fn cancel_leaf(bencher: Bencher<'_, '_>, depth: usize) {
        let rt = b::current_thread();
        bencher.bench_local(|| rt.block_on(b::chain(depth, b::ChainEnd::Leaf)));
    }

    #[divan::bench(args = [1_000, 10_000], sample_count = 11)]
    fn cancel_root(bencher: Bencher<'_, '_>, depth: usize) {
        let rt = b::current_thread();
        bencher.bench_local(|| rt.block_on(b::chain(depth, b::ChainEnd::Root)));
    }
}
