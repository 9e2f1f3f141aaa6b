//! What the `adversarial3_*` test binaries share on top of `adversarial/mod.rs`: drop counters,
//! panic payloads and destructors that panic, a destructor that calls back into groups, and a
//! way to catch the panic an awaited scope resumes.
#![allow(dead_code, unreachable_pub)] // each binary uses what it needs

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cancel_scope::{CancelScope, TaskGroup};
use futures::FutureExt;

/// Counts drops of its guards.
#[derive(Clone, Default)]
pub(crate) struct Count(pub(crate) Arc<AtomicUsize>);

impl Count {
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
    pub(crate) fn guard(&self) -> Guard {
        Guard(self.0.clone())
    }
}

/// Adds one to its `Count` when dropped.
pub(crate) struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A panic payload that says where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Payload(pub(crate) u32);

/// Panics with `Payload(n)` when dropped (unless already unwinding).
pub(crate) struct PanicOnDrop(pub(crate) u32);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::panic::panic_any(Payload(self.0));
        }
    }
}

/// Awaits `fut`, catching a panic.
pub(crate) async fn catch<F: Future>(fut: F) -> Result<F::Output, Box<dyn Any + Send>> {
    std::panic::AssertUnwindSafe(fut).catch_unwind().await
}

/// The `Payload` number of a caught panic, or a description of what else it was.
pub(crate) fn payload(p: &(dyn Any + Send)) -> Result<u32, String> {
    if let Some(Payload(n)) = p.downcast_ref::<Payload>() {
        Ok(*n)
    } else if let Some(s) = p.downcast_ref::<&str>() {
        Err(format!("&str payload: {s}"))
    } else if let Some(s) = p.downcast_ref::<String>() {
        Err(format!("String payload: {s}"))
    } else {
        Err("payload of another type".into())
    }
}

/// What the futures and closures spawned by [`CallsBack`] did.
#[derive(Default)]
pub(crate) struct Probe {
    /// Destructors of `CallsBack` that ran to their end.
    pub(crate) ran: AtomicUsize,
    /// Futures or closures created by a destructor (each owns one guard of `dropped`).
    pub(crate) created: AtomicUsize,
    /// Of those, the ones that started.
    pub(crate) started: AtomicUsize,
    /// `try_spawn` calls that were accepted.
    pub(crate) accepted: AtomicUsize,
    /// Guards of created futures and closures dropped.
    pub(crate) dropped: Count,
    /// What the destructors saw: `(group index, len, cancel_reason)`, in order.
    pub(crate) seen: Mutex<Vec<(usize, usize, Option<cancel_scope::CancelReason>)>>,
}

impl Probe {
    pub(crate) fn new() -> Arc<Probe> {
        Arc::new(Probe::default())
    }
    pub(crate) fn ran(&self) -> usize {
        self.ran.load(Ordering::SeqCst)
    }
    pub(crate) fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }
    pub(crate) fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    pub(crate) fn dropped(&self) -> usize {
        self.dropped.get()
    }
}

/// A value whose destructor calls every method of each group in `groups` (spawns of every
/// kind, `len`, `cancelled()` polled once, `deadline`, a scope linked to it and dropped), then
/// cancels the groups whose index is in `cancel`. Every future or closure it spawns counts
/// in `probe`.
pub(crate) struct CallsBack {
    pub(crate) groups: Vec<TaskGroup>,
    pub(crate) cancel: Vec<usize>,
    pub(crate) probe: Arc<Probe>,
}

impl CallsBack {
    pub(crate) fn new(groups: &[&TaskGroup], cancel: &[usize], probe: &Arc<Probe>) -> Self {
        CallsBack {
            groups: groups.iter().map(|g| (*g).clone()).collect(),
            cancel: cancel.to_vec(),
            probe: probe.clone(),
        }
    }
}

fn probed(probe: &Arc<Probe>) -> impl Future<Output = ()> + Send + 'static {
    probe.created.fetch_add(1, Ordering::SeqCst);
    let g = probe.dropped.guard();
    let p = probe.clone();
    async move {
        let _g = g;
        p.started.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }
}

impl Drop for CallsBack {
    fn drop(&mut self) {
        for (i, g) in self.groups.iter().enumerate() {
            let len = g.len();
            let _ = g.is_empty();
            let _ = g.is_cancelled();
            let reason = g.cancel_reason();
            let _ = g.deadline();
            let _ = g.cancelled().now_or_never();
            self.probe.seen.lock().unwrap().push((i, len, reason));
            drop(g.spawn(probed(&self.probe)));
            drop(g.spawn_shielded(probed(&self.probe)));
            drop(g.named("from a destructor").spawn(probed(&self.probe)));
            if let Ok(h) = g.try_spawn(probed(&self.probe)) {
                self.probe.accepted.fetch_add(1, Ordering::SeqCst);
                drop(h);
            }
            {
                self.probe.created.fetch_add(1, Ordering::SeqCst);
                let guard = self.probe.dropped.guard();
                let p = self.probe.clone();
                drop(g.spawn_blocking(move || {
                    let _g = guard;
                    p.started.fetch_add(1, Ordering::SeqCst);
                }));
            }
            // link a scope to the group and drop it, unrun
            let linked = CancelScope::new().parent(g);
            let _ = linked.group().len();
            drop(linked);
            let _ = g.clone();
        }
        for &i in &self.cancel {
            self.groups[i].cancel();
        }
        self.probe.ran.fetch_add(1, Ordering::SeqCst);
    }
}

/// The number of futures and closures one `CallsBack` destructor creates per group.
pub(crate) const CREATED_PER_GROUP: usize = 5;

/// Panics with `p`; typed `()` so that a task ending in it returns `()`.
pub(crate) fn panic_with<P: Any + Send + 'static>(p: P) {
    std::panic::panic_any(p)
}

/// Runs `f` on the runtime `build` makes, in a thread with an 8 MiB stack, under a 10 s
/// watchdog; resumes its panic.
pub(crate) fn wd_rt(
    name: &'static str,
    build: fn() -> tokio::runtime::Runtime,
    f: fn() -> std::pin::Pin<Box<dyn Future<Output = ()>>>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::Builder::new()
        .name(name.into())
        .stack_size(8 << 20)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let rt = build();
                rt.block_on(f());
                rt.shutdown_timeout(std::time::Duration::from_millis(500));
            }));
            let _ = tx.send(());
            r
        })
        .unwrap();
    match rx.recv_timeout(std::time::Duration::from_secs(10)) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(p)) | Err(p) => std::panic::resume_unwind(p),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("hung: {name}"),
    }
}

/// Sets its flag when dropped, after a pause that lets anything racing with it go first.
pub(crate) struct SlowFlag(pub(crate) Arc<std::sync::atomic::AtomicBool>);

impl Drop for SlowFlag {
    fn drop(&mut self) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Keeps the default panic hook quiet for `Payload` panics (the ones these tests cause on
/// purpose, by the hundred): printing a backtrace for each would make the tests slow.
pub(crate) fn quiet_payload_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Payload>() {
                prev(info);
            }
        }));
    });
}

/// A boxed `Send` future of `()`.
pub(crate) type BoxFut = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
