//! A scope dropped while a scope nested in it hands over (SPEC 2: "a dropped scope hands its
//! still-live tasks to the scope it ran in, which waits for them"; a dropped scope cancels its
//! group, `Dropped`, which does not travel up, and requests the abort of every task).
//!
//! Scope `o` awaits; its body drops scope `m` (in a `select!`, say). `m` has one task, in which
//! scope `n` runs; `n` has one task of its own. `m`'s drop aborts its task, whose future, when
//! dropped (aborted or done), drops `n`, which hands its task over to `m`, while `m` itself is
//! being handed over to `o`. Whatever the interleaving: `o` finishes only after both tasks'
//! futures were dropped; `n`'s task, if still alive once `n`'s drop returned, has its abort
//! requested; `o` is not cancelled; `m` and `n` record `Dropped`.

use super::harness::{check, finish};
use super::task;
use crate::CancelReason;
use crate::core::Core;
use crate::core::grace::Shield;

#[test]
fn loom_a_scope_is_dropped_while_a_nested_scope_hands_over() {
    check("a scope dropped while a nested scope hands over", || {
        let (o, m, n) = (Core::new(), Core::new(), Core::new());
        let n_task = task::spawn(&n, Shield::Unshielded, |_| {}).expect("n accepts a task");
        let m_task = {
            let (group, n) = (m.clone(), n.clone());
            let n_probe = n_task.probe.clone();
            let n_flag = n_task.flag.clone();
            // `m`'s task runs scope `n`: dropping the task's future drops `n` unfinished, which
            // hands `n`'s live task to `m`, the scope it ran in.
            task::spawn(&m, Shield::Unshielded, move |_| {
                n.drop_scope(Some(&group));
                assert!(
                    n_probe.dropped() || n_flag.is_aborted(),
                    "a dropped scope's live task has no abort requested"
                );
            })
            .expect("m accepts a task")
        };

        // `o`'s body drops `m`, then `o`'s run waits.
        m.drop_scope(Some(&o));
        let finished = finish(&o);
        assert!(
            m_task.probe.dropped(),
            "o finished while m's task was alive"
        );
        assert!(
            n_task.probe.dropped(),
            "o finished while n's task was alive"
        );
        assert_eq!(finished.reason, None, "a Dropped cancel travelled up");
        assert_eq!(m.reason(), Some(CancelReason::Dropped));
        assert_eq!(n.reason(), Some(CancelReason::Dropped));
        m_task.join();
        n_task.join();
    });
}
