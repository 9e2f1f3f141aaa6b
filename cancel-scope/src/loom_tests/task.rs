//! A task of the model: a loom thread that goes through the steps of the task wrapper
//! (`TaskFuture` in `task.rs`) as the core sees them, with probes that tell the tests what it
//! did.
//!
//! The spawn path is `TaskGroup::spawn`'s: [`reserve`] an entry (or a queue ticket), hand the
//! task to the runtime ([`Reserved::launch`]: a new loom thread, which may run and end before
//! the spawner goes on), then [`Registration::register`] its abort handle. The task waits for its
//! slot under `limit` (woken by the core or by an abort), is polled once unless an abort came
//! first (tokio never polls a task aborted before its first poll), completes in that poll, has
//! its future dropped, and only then leaves the registry (`Core::task_ended`), as the wrapper's
//! field order makes it.

use std::future::poll_fn;
use std::task::Poll;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread::{self, JoinHandle};

use crate::core::Core;
use crate::core::grace::Shield;
use crate::core::limit::{Admission, GateState};
use crate::sync::Arc;
use crate::sync::model::{AbortFlag, AbortHandle};

/// What a task did, written by its thread (relaxed: a test that reads one relies on the core's
/// own synchronisation to see it, and loom checks that it does).
#[derive(Default)]
pub(super) struct Probe {
    polled: AtomicBool,
    dropped: AtomicBool,
}

impl Probe {
    /// The task was polled (it started).
    pub(super) fn polled(&self) -> bool {
        self.polled.load(Ordering::Relaxed)
    }

    /// The task's future was dropped (its destructors ran).
    pub(super) fn dropped(&self) -> bool {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A task with a registry entry, not yet handed to the runtime.
pub(super) struct Reserved {
    core: Arc<Core>,
    key: usize,
    admission: Admission,
    handle: AbortHandle,
    flag: Arc<AbortFlag>,
    probe: Arc<Probe>,
}

/// The second half of a spawn: the abort handle still to be registered.
pub(super) struct Registration {
    core: Arc<Core>,
    key: usize,
    handle: AbortHandle,
}

/// A task handed to the runtime.
pub(super) struct Spawned {
    /// What its abort handle was asked.
    pub(super) flag: Arc<AbortFlag>,
    /// What it did.
    pub(super) probe: Arc<Probe>,
    thread: JoinHandle<()>,
}

impl Spawned {
    /// Waits for the task's thread.
    pub(super) fn join(self) {
        self.thread.join().expect("a modelled task panicked");
    }
}

/// Reserves a task in `core`'s registry (`None` if the group refuses it: cancelled or
/// finished).
pub(super) fn reserve(core: &Arc<Core>, shield: Shield) -> Option<Reserved> {
    let (key, admission) = core.reserve(shield)?;
    let (handle, flag) = AbortHandle::model();
    Some(Reserved {
        core: core.clone(),
        key,
        admission,
        handle,
        flag,
        probe: Arc::new(Probe::default()),
    })
}

impl Reserved {
    /// The flag the task's abort handle sets (for a task that checks it itself, as a task
    /// polled again after an abort would not be).
    pub(super) fn flag(&self) -> Arc<AbortFlag> {
        self.flag.clone()
    }

    /// Hands the task to the runtime: a loom thread starts it at once. `body(polled)` is the
    /// task's future: the work of its one poll when `polled`, and its destructor either way.
    pub(super) fn launch(
        self,
        body: impl FnOnce(bool) + Send + 'static,
    ) -> (Spawned, Registration) {
        let Reserved {
            core,
            key,
            admission,
            handle,
            flag,
            probe,
        } = self;
        let thread = {
            let (core, flag, probe) = (core.clone(), flag.clone(), probe.clone());
            thread::spawn(move || run(&core, key, admission, &flag, &probe, body))
        };
        (
            Spawned {
                flag,
                probe,
                thread,
            },
            Registration { core, key, handle },
        )
    }
}

impl Registration {
    /// Completes the spawn: the abort handle goes to the registry.
    pub(super) fn register(self) {
        self.core.register(self.key, self.handle);
    }
}

/// `TaskGroup::spawn`: reserve, launch, register. `None` if the group refused the task.
pub(super) fn spawn(
    core: &Arc<Core>,
    shield: Shield,
    body: impl FnOnce(bool) + Send + 'static,
) -> Option<Spawned> {
    let (spawned, registration) = reserve(core, shield)?.launch(body);
    registration.register();
    Some(spawned)
}

/// The task's life on its thread.
fn run(
    core: &Core,
    key: usize,
    admission: Admission,
    flag: &AbortFlag,
    probe: &Probe,
    body: impl FnOnce(bool),
) {
    let (admission, admitted) = wait_for_slot(core, key, admission, flag);
    let polled = admitted && !flag.is_aborted();
    if polled {
        probe.polled.store(true, Ordering::Relaxed);
    }
    body(polled);
    probe.dropped.store(true, Ordering::Relaxed);
    core.task_ended(key, admission);
}

/// Under `limit`, waits for the slot (the wrapper's gate): `(the admission to give back at the
/// end, whether the task may start)`. An abort while queued ends the task unstarted at its
/// next `Pending`, as tokio does.
fn wait_for_slot(
    core: &Core,
    key: usize,
    admission: Admission,
    flag: &AbortFlag,
) -> (Admission, bool) {
    let Admission::Queued(ticket) = admission else {
        return (admission, true);
    };
    loom::future::block_on(poll_fn(|cx| {
        flag.register(cx.waker());
        if flag.is_aborted() {
            return Poll::Ready((admission, false));
        }
        match core.poll_gate(key, ticket, cx.waker()) {
            GateState::Admitted => Poll::Ready((Admission::Admitted, true)),
            GateState::Dropped => Poll::Ready((admission, false)),
            GateState::Waiting => Poll::Pending,
        }
    }))
}
