//! The invariants that hold whatever the scheduling (both runtimes).

use std::collections::BTreeMap;

use super::World;
use crate::reliability::model::Out;

/// The task ids of a race's contenders or a join's members, in input order.
fn contenders(w: &World, s: usize) -> Vec<usize> {
    w.case.scopes[s].tasks.iter().map(|t| t.id).collect()
}

/// The invariants that hold whatever the scheduling (used by the multi-thread variants too).
///
/// `root_returned`: the root scope returned (no hang guard fired).
pub(crate) fn check_invariants(w: &World, root_returned: bool) -> Result<(), String> {
    let log = w.log();
    if !log.violations.is_empty() {
        return Err(log.violations.join("\n"));
    }
    if root_returned && !log.alive.is_empty() {
        return Err(format!(
            "task futures alive after the root returned: {:?}",
            log.alive
        ));
    }
    // No error lost, none duplicated.
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for out in log.returned.values() {
        if let Out::Failed(ids) = out {
            for id in ids {
                *seen.entry(*id).or_default() += 1;
            }
        }
    }
    if let Some((id, n)) = seen.iter().find(|(_, n)| **n > 1) {
        return Err(format!("error {id} reported {n} times"));
    }
    for (s, out) in &log.returned {
        let failed: Vec<u32> = log
            .failed
            .iter()
            .filter(|(sc, _)| sc == s)
            .map(|(_, id)| *id)
            .collect();
        let panicked: Vec<u32> = log
            .panicked
            .iter()
            .filter(|(sc, _)| sc == s)
            .map(|(_, id)| *id)
            .collect();
        // A scope also resumes panics of tasks that a nested scope, dropped unfinished, handed
        // over to it (say, a shielded task that panicked while the abort was on its way).
        let in_subtree: Vec<u32> = log
            .panicked
            .iter()
            .filter(|(sc, _)| w.subtrees[*s].contains(sc))
            .map(|(_, id)| *id)
            .collect();
        match out {
            Out::Panicked(p) if !in_subtree.contains(p) => {
                return Err(format!(
                    "scope {s} resumed panic {p}, not one of its own or its nested scopes' \
                     {in_subtree:?}"
                ));
            }
            Out::Panicked(_) => {}
            _ if !panicked.is_empty() => {
                return Err(format!(
                    "scope {s} returned {out:?} although {panicked:?} panicked in it"
                ));
            }
            // A won race drops its losers' errors by design (SPEC sec. 9).
            Out::Won(id) if !contenders(w, *s).contains(id) => {
                return Err(format!("race {s} won by {id}, not one of its contenders"));
            }
            Out::Won(_) => {}
            Out::Joined(ids) if *ids != contenders(w, *s) => {
                return Err(format!(
                    "join {s} gave {ids:?}, not its members in input order"
                ));
            }
            Out::Failed(ids) => {
                let (mut a, mut b) = (ids.clone(), failed.clone());
                a.sort_unstable();
                b.sort_unstable();
                if a != b {
                    return Err(format!(
                        "scope {s} reported errors {ids:?}, but {failed:?} happened in it"
                    ));
                }
            }
            _ if !failed.is_empty() => {
                return Err(format!(
                    "scope {s} returned {out:?} although {failed:?} failed in it"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
