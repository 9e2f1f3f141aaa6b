//! Adversarial: SPEC section 3 trait promises, checked at compile time (a broken promise fails to
//! compile this test binary) and at run time.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::pin::Pin;

use cancel_scope::{
    BoxError, CancelReason, CancelScope, GroupError, Outcome, SpawnError, TaskGroup, TaskHandle,
};

/// Neither Debug nor Sync (only `E: Send + 'static` is required).
struct NotDebugNotSync(#[allow(dead_code)] Cell<u32>);

/// A future that is not Debug.
struct NoDebugFut;
impl Future for NoDebugFut {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

fn debug<T: fmt::Debug>() {}
fn group_traits<T: Clone + Send + Sync + 'static + UnwindSafe + RefUnwindSafe + fmt::Debug>() {}
fn handle_traits<T: fmt::Debug + UnwindSafe + Future>() {}
fn error_traits<T: fmt::Debug + fmt::Display + std::error::Error>() {}
fn reason_traits<T: Copy + Eq + Hash + fmt::Debug>() {}

// SPEC 3: "CancelScope, TaskGroup, TaskHandle and SpawnError implement Debug without requiring T, E or F to"; "TaskGroup<E> is Clone + Send + Sync + 'static" with E only Send
#[test]
fn debug_and_auto_traits_without_bounds_on_contents() {
    debug::<CancelScope<NotDebugNotSync>>();
    group_traits::<TaskGroup<NotDebugNotSync>>();
    handle_traits::<TaskHandle<NotDebugNotSync>>();
    error_traits::<SpawnError<NoDebugFut>>();
    reason_traits::<CancelReason>();
    debug::<Outcome<u8>>();
    debug::<GroupError<u8>>();
    error_traits::<GroupError<BoxError>>();
    error_traits::<GroupError<std::io::Error>>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let scope = CancelScope::<NotDebugNotSync>::with_error();
        let tg = scope.group();
        let h = tg.spawn(async { Ok::<_, NotDebugNotSync>(NotDebugNotSync(Cell::new(1))) });
        assert!(!format!("{scope:?}").is_empty());
        assert!(!format!("{tg:?}").is_empty());
        assert!(!format!("{h:?}").is_empty());
        // the group handle moves to another thread and is used there (Send + Sync with E !Sync)
        let tg2 = tg.clone();
        std::thread::spawn(move || {
            let _ = tg2.len();
            let _ = format!("{tg2:?}");
        })
        .join()
        .unwrap();
        tg.cancel();
        let e = tg.try_spawn(NoDebugFut).expect_err("closed");
        assert!(!format!("{e:?}").is_empty());
        assert!(!e.to_string().is_empty());
        let out = scope.run(async { Ok::<_, NotDebugNotSync>(()) }).await;
        assert!(matches!(
            out,
            Ok(Outcome::Cancelled(CancelReason::Requested))
        ));
        assert!(h.await.is_none());
    });
}

// SPEC 3: "CancelScope::new() gives E = BoxError"; "GroupError<BoxError> works with ? into ... BoxError"
#[test]
fn group_error_converts_with_question_mark() {
    fn inner(e: GroupError<BoxError>) -> Result<(), BoxError> {
        Err(e)?;
        Ok(())
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let out = CancelScope::new()
            .run(async { Err::<(), BoxError>("boom".into()) })
            .await;
        let e = out.unwrap_err();
        assert_eq!(e.len(), 1);
        let b = inner(e).unwrap_err();
        assert!(b.to_string().contains("boom"));
        let src = b.source().map(ToString::to_string);
        assert_eq!(src.as_deref(), Some("boom"));
    });
}
