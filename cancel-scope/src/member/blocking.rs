//! Blocking members: [`TaskGroup::spawn_blocking`] runs a closure on tokio's blocking pool as a
//! member of the group.
//!
//! A blocking closure cannot be interrupted, so the one rule that differs from a task is that a
//! cancel cannot stop it once it runs: the scope waits for it. Everything else is a task's
//! rule: it has a registry entry (counted by `len()`, holding a slot under `limit(n)`), it is
//! not started once the group is cancelled, its error and panic count, and a dropped scope hands
//! it over to the scope it ran in.
//!
//! How: the registry entry is owned by a [`Member`] guard that moves *into the closure*, so the
//! entry is removed only once the closure (and the value it discards) was dropped, on whichever
//! thread that happens, and no abort of an async wrapper can detach it. Without a queue the
//! closure is handed to the pool at once; under `limit(n)` a small async task waits for the slot
//! first (a pool thread never waits for a slot), then hands the closure over.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use tokio::runtime::Handle;

use super::names::TaskName;
use crate::TaskHandle;
use crate::core::Core;
use crate::core::grace::Shield;
use crate::core::handover;
use crate::core::limit::{Admission, GateState};
use crate::delivery::{Detach, deliver_to};
use crate::task::{Gate, TaskOutput};
use crate::task_end::Ended;
use crate::{SpawnError, TaskGroup};

/// How a member's registry entry is removed when its [`Member`] guard is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Registration {
    /// Its abort handle was or will be registered (`Core::register`): removed by the
    /// hand-off protocol of tasks (`Core::task_ended`).
    Registered,
    /// No abort handle will ever be registered: removed at once.
    Unregistered,
}

/// Owns a member's registry entry; dropping it removes the entry (and frees its slot).
pub(crate) struct Member {
    pub(crate) core: Arc<Core>,
    pub(crate) key: usize,
    pub(crate) admission: Admission,
    registration: Registration,
}

impl Drop for Member {
    fn drop(&mut self) {
        match self.registration {
            Registration::Registered => self.core.task_ended(self.key, self.admission),
            Registration::Unregistered => self.core.member_ended(self.key, self.admission),
        }
    }
}

impl<E: Send + 'static> TaskGroup<E> {
    /// Runs the blocking closure `f` on tokio's blocking pool as a member of the group, and
    /// returns its handle.
    ///
    /// `f` returns `()` or `Result<T, E>` with the group's own `E`, like a task: an `Err` fails
    /// the group, a panic is resumed by the scope once everything stopped. It is counted by
    /// [`len`](Self::len), holds a slot under [`limit`](crate::CancelScope::limit) (a closure
    /// waiting for its slot holds no pool thread), and a dropped scope hands it over to the
    /// scope it ran in, like any task.
    ///
    /// **A cancel cannot stop it once it runs**: a closure has no `.await` at which to stop.
    /// The scope waits for it, and its value, error or panic counts (like a poll that completes
    /// after an abort). It can watch [`is_cancelled`](Self::is_cancelled) to stop early. A
    /// closure not yet started when the group is cancelled (queued under `limit`, or waiting
    /// for a pool thread) is dropped unstarted and its handle resolves to `None`, as is one
    /// spawned into a cancelled or finished group. [`TaskHandle::abort`] on a closure that runs
    /// does not stop it either (the scope still waits for it).
    ///
    /// This is what sets it apart from [`tokio::task::JoinSet::spawn_blocking`]: a `JoinSet`
    /// that is dropped or aborted cannot wait for a running closure, which goes on running
    /// detached; here the awaited scope returns only after the closure ended.
    ///
    /// # Panics
    ///
    /// If the group captured no tokio runtime and none is current.
    ///
    /// ```
    /// use cancel_scope::{BoxError, CancelScope};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// let out = scope
    ///     .run(async move {
    ///         let digest = tg.spawn_blocking(|| {
    ///             let n: u64 = "12345".parse()?; // `?` into the group's error type
    ///             Ok::<_, BoxError>(n.wrapping_mul(31))
    ///         });
    ///         Ok(digest.await)
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap().completed(), Some(Some(382_695)));
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, O>(&self, f: F) -> TaskHandle<O::Value>
    where
        F: FnOnce() -> O + Send + 'static,
        O: TaskOutput<E>,
    {
        match spawn_blocking_inner(self, f, None) {
            Ok(handle) => handle,
            Err(err) if err.is_closed() => TaskHandle::unstarted(),
            Err(_) => crate::group::no_runtime(),
        }
    }
}

/// The one path of blocking members, named or not.
pub(crate) fn spawn_blocking_inner<E, F, O>(
    group: &TaskGroup<E>,
    f: F,
    name: Option<TaskName>,
) -> Result<TaskHandle<O::Value>, SpawnError<F>>
where
    E: Send + 'static,
    F: FnOnce() -> O + Send + 'static,
    O: TaskOutput<E>,
{
    let core = &group.core;
    let Some(runtime) = core
        .runtime
        .get()
        .cloned()
        .or_else(|| Handle::try_current().ok())
    else {
        return Err(SpawnError::no_runtime(f));
    };
    let Some((key, admission)) = core.reserve(Shield::Unshielded) else {
        return Err(SpawnError::closed(f));
    };
    let detach = Detach::for_output::<O::Value>();
    let handle_name = name.clone();
    let mut member = Member {
        core: core.clone(),
        key,
        admission,
        registration: Registration::Unregistered,
    };
    let mut handle = if let Admission::Queued(_) = admission {
        // Waits for its slot on the runtime, then hands the closure to the pool. The group
        // never aborts this wrapper (it has no abort handle): a cancel while queued ends it
        // through the gate; once the closure runs, the closure's own abort handle is the
        // registered one.
        let task_detach = detach.clone();
        let rt = runtime.clone();
        TaskHandle::spawned(
            runtime.spawn(async move {
                let mut gate = admission;
                let state =
                    std::future::poll_fn(|cx| match gate.poll_gate(&member.core, key, cx) {
                        GateState::Waiting => std::task::Poll::Pending,
                        other => std::task::Poll::Ready(other),
                    })
                    .await;
                if state == GateState::Dropped {
                    drop_unstarted(f, &member.core);
                    return Err(Ended::NotStarted);
                }
                member.admission = gate;
                member.registration = Registration::Registered;
                let core = member.core.clone();
                // The closure gives its guard back with its value, so the value is handled
                // here (to the handle, or dropped if the handle is gone) before the guard
                // leaves the registry: the scope waits for the value's destructor too.
                let mut job = Job { f: Some(f), member };
                let join = rt.spawn_blocking(move || {
                    let value = job.run(None, name);
                    (value, job)
                });
                core.register(key, join.abort_handle());
                let (value, job) = match join.await {
                    Ok(done) => done,
                    Err(error) if error.is_panic() => return Err(Ended::Panicked),
                    Err(_) => return Err(Ended::Cancelled),
                };
                // A value nobody wants is dropped here: a panic in its destructor is a panic
                // of the member, as for any task's discarded output.
                let value = value.and_then(|v| {
                    let delivered = catch_unwind(AssertUnwindSafe(|| {
                        deliver_to(Ok::<_, ()>(v), task_detach.as_deref())
                    }));
                    match delivered {
                        Ok(Ok(Some(v))) => Ok(v),
                        Ok(Ok(None) | Err(())) => Err(Ended::Detached),
                        Err(payload) => {
                            job.member.core.record_panic(payload);
                            Err(Ended::Panicked)
                        }
                    }
                });
                drop(job);
                value
            }),
            detach,
        )
    } else {
        member.registration = Registration::Registered;
        let task_detach = detach.clone();
        let mut job = Job { f: Some(f), member };
        let join = runtime.spawn_blocking(move || {
            let value = job.run(task_detach.as_deref(), name);
            // Leaves the registry only now, after a value nobody waits for was dropped.
            drop(job);
            value
        });
        core.register(key, join.abort_handle());
        TaskHandle::spawned(join, detach)
    };
    handle.name = handle_name;
    Ok(handle)
}

/// A closure handed to the blocking pool, with the guard of its registry entry. tokio drops it
/// unrun when a cancel aborts it while it waits for a pool thread: the closure (what it
/// captured) is then dropped first, a panic there being a panic of the member, and the guard
/// only after, so that the scope waits for those destructors too.
struct Job<F> {
    f: Option<F>,
    member: Member,
}

impl<F> Job<F> {
    /// Runs the closure (see [`run_closure`]); the guard stays in the job.
    fn run<E, O>(
        &mut self,
        detach: Option<&Detach>,
        name: Option<TaskName>,
    ) -> Result<O::Value, Ended>
    where
        E: Send + 'static,
        F: FnOnce() -> O + Send + 'static,
        O: TaskOutput<E>,
    {
        match self.f.take() {
            Some(f) => run_closure(&self.member, f, detach, name),
            None => Err(Ended::NotStarted),
        }
    }
}

impl<F> Drop for Job<F> {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            drop_unstarted(f, &self.member.core);
        }
    }
}

/// What the pool runs: nothing once the group is cancelled; else `f` in the group's context,
/// its error or panic recorded, and its value handed on (`detach`: dropped here if its handle is
/// gone; `None`: always handed on, to a wrapper that decides).
fn run_closure<E, F, O>(
    member: &Member,
    f: F,
    detach: Option<&Detach>,
    name: Option<TaskName>,
) -> Result<O::Value, Ended>
where
    E: Send + 'static,
    F: FnOnce() -> O + Send + 'static,
    O: TaskOutput<E>,
{
    if member.core.is_cancelled() {
        drop_unstarted(f, &member.core);
        return Err(Ended::NotStarted);
    }
    #[cfg(feature = "tracing")]
    let span = crate::trace::task_span(&member.core, name.as_deref(), "blocking");
    #[cfg(feature = "tracing")]
    let _entered = span.enter();
    let mut context = Some(member.core.clone());
    let ran = handover::enter(&mut context, || {
        catch_unwind(AssertUnwindSafe(|| deliver_to(f().into_result(), detach)))
    });
    match ran {
        Ok(Ok(Some(value))) => Ok(value),
        Ok(Ok(None)) => Err(Ended::Detached),
        Ok(Err(error)) => {
            member.core.record_task_error(error, name);
            Err(Ended::Failed)
        }
        Err(payload) => {
            member.core.record_panic(payload);
            Err(Ended::Panicked)
        }
    }
}

/// Drops a closure that will never run; a panic in a destructor of what it captured is a
/// panic of the member.
fn drop_unstarted<F>(f: F, core: &Arc<Core>) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(f))) {
        core.record_panic(payload);
    }
}
