//! The members of the world's groups: task futures (with drop guards), blocking closures, local
//! tasks, and the inputs of races and joins.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;

use super::{BoxFut, Local, PanicId, World, run_scope};
use crate::reliability::case::{Kind, Member, TaskSpec};

/// Removes the task from the live set when its future (or closure) is dropped.
pub(super) struct DropGuard {
    w: Arc<World>,
    id: usize,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.w.log().alive.remove(&self.id);
    }
}

fn guard(w: &Arc<World>, s: usize, id: usize) -> DropGuard {
    let mut log = w.log();
    log.alive.insert(id, s);
    log.created += 1;
    DropGuard { w: w.clone(), id }
}

/// Spawns `t` into group `s` as its member kind says (`locals`: the scope's, for local tasks).
pub(super) fn spawn_task(w: &Arc<World>, s: usize, t: &TaskSpec, locals: Option<&Local>) {
    let g = guard(w, s, t.id);
    let tg = &w.groups[s];
    match t.member {
        Member::Task => drop(tg.spawn(task(w.clone(), s, t.clone(), g))),
        Member::Shielded => drop(tg.spawn_shielded(task(w.clone(), s, t.clone(), g))),
        Member::Local => {
            let locals = locals.expect("local tasks are spawned by a `run` body");
            drop(locals.spawn(task(w.clone(), s, t.clone(), g)));
        }
        Member::Blocking => {
            let (w2, id, kind) = (w.clone(), t.id, t.kind.clone());
            let handle = tg.spawn_blocking(move || {
                let _guard = g;
                w2.log().started.insert(id);
                match kind {
                    Kind::Fail(_) => {
                        w2.log().failed.push((s, id as u32));
                        Err(id as u32)
                    }
                    Kind::Panic(_) => {
                        w2.log().panicked.push((s, id as u32));
                        std::panic::panic_any(PanicId(id as u32))
                    }
                    _ => Ok(()),
                }
            });
            if w.sync_blocking {
                // The closure runs on the pool while this thread waits: its result (and the
                // cancel it may cause) lands before the spawner goes on.
                let start = std::time::Instant::now();
                while !handle.is_finished() {
                    assert!(
                        start.elapsed() < Duration::from_secs(30),
                        "blocking member {id} never ended"
                    );
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
        }
    }
}

/// The contenders of a race or the members of a join: the scope's tasks in input order, each
/// giving its task id as its value.
pub(super) fn input(
    w: Arc<World>,
    s: usize,
) -> impl Iterator<Item = BoxFut<Result<usize, u32>>> + Send + 'static {
    let specs = w.case.scopes[s].tasks.clone();
    specs.into_iter().map(move |t| {
        let id = t.id;
        let g = guard(&w, s, id);
        task(w.clone(), s, t, g)
            .map(move |r| r.map(|()| id))
            .boxed()
    })
}

fn task(w: Arc<World>, s: usize, t: TaskSpec, guard: DropGuard) -> BoxFut<Result<(), u32>> {
    Box::pin(async move {
        let _guard = guard;
        w.log().started.insert(t.id);
        let start = Instant::now();
        let until = |d: u64| tokio::time::sleep_until(start + w.dur(d));
        let id = t.error_id();
        match t.kind {
            Kind::Yields(k) => {
                for _ in 0..k {
                    tokio::task::yield_now().await;
                }
                Ok(())
            }
            Kind::Complete(d) => {
                until(d).await;
                Ok(())
            }
            Kind::Fail(d) => {
                until(d).await;
                w.log().failed.push((s, id));
                Err(id)
            }
            Kind::Panic(d) => {
                until(d).await;
                w.log().panicked.push((s, id));
                std::panic::panic_any(PanicId(id))
            }
            Kind::Forever => std::future::pending().await,
            Kind::CancelOwn(d) => {
                until(d).await;
                w.groups[s].cancel();
                Ok(())
            }
            Kind::CancelOther(d, j) => {
                until(d).await;
                w.groups[j].cancel();
                Ok(())
            }
            Kind::Signal(d, j) => {
                until(d).await;
                let tx = w.signals[j].lock().unwrap().take();
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
                Ok(())
            }
            Kind::Spawn(d, children) => {
                until(d).await;
                for c in &children {
                    spawn_task(&w, s, c, None);
                }
                Ok(())
            }
            Kind::Cleanup(d, fail) => {
                w.groups[s].cancelled().await;
                tokio::time::sleep(w.dur(d)).await;
                if fail {
                    w.log().failed.push((s, id));
                    Err(id)
                } else {
                    Ok(())
                }
            }
            Kind::RunScope(n) => {
                run_scope(w.clone(), n).await;
                Ok(())
            }
        }
    })
}
