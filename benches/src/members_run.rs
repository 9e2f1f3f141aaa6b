//! The runner of the members benchmarks (issue 12): local tasks vs `moro`, blocking members vs
//! `JoinSet::spawn_blocking`, on the current-thread runtime. Reported as ratios, not gated.

use cancel_scope_benches::{self as b, members as m};
use tokio::runtime::Runtime;

use super::{Plan, Report, Unit, paired, timed};

/// Local tasks vs `moro` spawn+join, trivial and 64-byte yielding jobs.
pub(crate) fn locals(rep: &mut Report, plan: &Plan, rt: &Runtime) {
    for (label, is64) in [("local_spawn_join", false), ("local_spawn_join_64b", true)] {
        for n in [1_000, 100_000] {
            macro_rules! unit {
                ($f:path) => {
                    Box::new(move || {
                        if is64 {
                            timed(rt, $f(n, b::yield64))
                        } else {
                            timed(rt, $f(n, b::trivial))
                        }
                    }) as Unit<'_>
                };
            }
            let mut units: Vec<(&'static str, Unit<'_>)> = vec![
                ("ours", unit!(m::ours_local_spawn_join)),
                ("moro", unit!(b::moro_spawn_join)),
            ];
            let names: Vec<_> = units.iter().map(|u| u.0).collect();
            let samples = paired(plan.rounds, &mut units);
            rep.add(label, "ct", &n.to_string(), n, &names, &samples, "moro");
            eprintln!("  {label} ct n={n} done");
        }
    }
}

/// Blocking members vs `JoinSet::spawn_blocking`.
pub(crate) fn blocking(rep: &mut Report, plan: &Plan, rt: &Runtime) {
    let n = 2_000;
    let mut units: Vec<(&'static str, Unit<'_>)> = vec![
        ("ours", Box::new(|| timed(rt, m::ours_blocking(n)))),
        ("joinset", Box::new(|| timed(rt, m::joinset_blocking(n)))),
    ];
    let names: Vec<_> = units.iter().map(|u| u.0).collect();
    let samples = paired(plan.rounds, &mut units);
    rep.add(
        "blocking",
        "ct",
        &n.to_string(),
        n,
        &names,
        &samples,
        "joinset",
    );
    eprintln!("  blocking ct n={n} done");
}
