//! SPEC section 7: behaviour of `cancel_scope!` and `#[cancel_scoped]`, on the current-thread
//! and the multi-thread runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cancel_scope::{
    BoxError, CancelReason, GroupError, Outcome, ScopeResult, TaskGroup, TaskHandle, cancel_scope,
    cancel_scoped,
};

/// Runs each listed `async fn` as two tests, `current_thread` and `multi_thread`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod current_thread {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $name() {
                    super::$name().await
                }
            )*
        }
        mod multi_thread {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name().await
                }
            )*
        }
    };
}

both!(
    trailing_expression_is_the_value,
    empty_body_is_unit,
    spawn_forms_and_handles,
    spawn_in_nested_blocks,
    spawn_paren_and_trailing_spawn,
    cancel_form_stops_the_body,
    cancel_in_match_arm_diverges,
    option_as_names_the_group,
    option_parent_single_and_list,
    option_parent_bracketed,
    option_timeout,
    option_deadline,
    option_grace,
    option_limit,
    option_error_type,
    option_crate_path,
    question_mark_in_body,
    return_in_body,
    body_borrows_locals,
    task_error_is_reported,
    late_assignment_is_ordinary_rust,
    warned_late_assignment_still_assigns,
    nested_scopes_each_handle_their_own_forms,
    spawn_call_in_closure_is_ordinary,
    attr_free_fn,
    attr_method,
    attr_generic_fn,
    attr_options,
    attr_question_mark_and_return,
    readme_cancel_a_group_of_sleeping_tasks,
    readme_linked_inner_scope_cancels_parent,
    scope_future_is_send_when_body_is,
    helper_names_are_hygienic,
    let_else_with_cancel,
);

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

async fn trailing_expression_is_the_value() {
    let out: ScopeResult<u32> = cancel_scope! { 42 };
    assert_eq!(out.unwrap(), Outcome::Completed(42));
}

async fn empty_body_is_unit() {
    let out = cancel_scope! {};
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    let out = cancel_scope! { let _x = 1; };
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

async fn spawn_forms_and_handles() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h1 = hits.clone();
    let out = cancel_scope! {
        spawn async move {
            h1.fetch_add(1, Ordering::SeqCst);
        };
        let h: TaskHandle<u32> = spawn async { Ok::<_, BoxError>(7) };
        let unit = spawn sleep_ms(1);
        unit.await;
        h.await
    };
    assert_eq!(out.unwrap(), Outcome::Completed(Some(7)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

async fn spawn_in_nested_blocks() {
    let hits = Arc::new(AtomicUsize::new(0));
    let out = cancel_scope! {
        for i in 0..4 {
            let hits = hits.clone();
            if i % 2 == 0 {
                spawn async move { hits.fetch_add(1, Ordering::SeqCst); };
            } else {
                match i {
                    1 => spawn async move { hits.fetch_add(10, Ordering::SeqCst); },
                    _ => spawn async move { hits.fetch_add(100, Ordering::SeqCst); },
                };
            }
        }
        {
            let hits = hits.clone();
            spawn async move { hits.fetch_add(1000, Ordering::SeqCst); };
        }
        let mut n = 0;
        while n < 2 {
            n += 1;
            let mut tries = 0;
            loop {
                tries += 1;
                let hits = hits.clone();
                spawn async move { hits.fetch_add(10_000, Ordering::SeqCst); };
                if tries == 1 {
                    break;
                }
            }
        }
    };
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1 + 1 + 10 + 100 + 1000 + 20_000
    );
}

async fn spawn_paren_and_trailing_spawn() {
    let out = cancel_scope! {
        spawn (async { Ok::<_, BoxError>(1u8) });
        let h = spawn(async { Ok::<_, BoxError>(2u8) });
        let v = h.await;
        assert_eq!(v, Some(2));
        spawn async { Ok::<_, BoxError>(3u8) }
    };
    let handle = out.unwrap().completed().expect("completed");
    // The scope waited for the task: the handle is ready.
    assert_eq!(handle.await, Some(3));
}

async fn cancel_form_stops_the_body() {
    let reached = Arc::new(AtomicUsize::new(0));
    let out = cancel_scope! {
        spawn sleep_ms(10_000);
        cancel;
        #[allow(unreachable_code)]
        reached.fetch_add(1, Ordering::SeqCst);
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(reached.load(Ordering::SeqCst), 0);
}

async fn cancel_in_match_arm_diverges() {
    let input: Option<u32> = None;
    let out = cancel_scope! {
        let v: u32 = match input {
            Some(v) => v,
            None => {
                cancel;
            }
        };
        v
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    let out = cancel_scope! {
        if input.is_some() {
            cancel;
        }
        5
    };
    assert_eq!(out.unwrap(), Outcome::Completed(5));
}

async fn option_as_names_the_group() {
    let out = cancel_scope! {
        as tg;
        let inner: TaskGroup = tg.clone();
        spawn async move {
            sleep_ms(5).await;
            inner.cancel();
        };
        tg.spawn(sleep_ms(10_000));
        sleep_ms(10_000).await;
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

async fn option_parent_single_and_list() {
    let outer: ScopeResult<()> = cancel_scope! {
        as a;
        let b_scope = cancel_scope::CancelScope::new();
        let b = b_scope.group();
        let inner = cancel_scope! {
            parent = a, b;
            cancel;
        };
        assert_eq!(inner.unwrap(), Outcome::Cancelled(CancelReason::Requested));
        assert_eq!(b.cancel_reason(), Some(CancelReason::Child));
        drop(b_scope);
        sleep_ms(10_000).await;
    };
    assert_eq!(outer.unwrap(), Outcome::Cancelled(CancelReason::Child));

    let outer: ScopeResult<()> = cancel_scope! {
        as a;
        let inner = cancel_scope! {
            parent = a;
            spawn async { sleep_ms(10_000).await };
            sleep_ms(5).await;
            a.cancel();
            sleep_ms(10_000).await;
        };
        assert_eq!(inner.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    };
    assert_eq!(outer.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

async fn option_parent_bracketed() {
    let outer = cancel_scope! {
        as a;
        let inner = cancel_scope! {
            parent = [a];
            cancel;
        };
        assert!(inner.unwrap().is_cancelled());
    };
    assert_eq!(outer.unwrap(), Outcome::Cancelled(CancelReason::Child));
}

async fn option_timeout() {
    let out = cancel_scope! {
        timeout = Duration::from_millis(20);
        spawn sleep_ms(10_000);
        sleep_ms(10_000).await;
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    let out = cancel_scope! {
        timeout = Duration::from_secs(60);
        spawn sleep_ms(1);
        3
    };
    assert_eq!(out.unwrap(), Outcome::Completed(3));
}

async fn option_deadline() {
    let at = tokio::time::Instant::now() + Duration::from_millis(20);
    let out = cancel_scope! {
        deadline = at;
        sleep_ms(10_000).await;
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
}

async fn option_grace() {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let c = cleaned.clone();
    let out = cancel_scope! {
        as tg;
        grace = Duration::from_secs(5);
        let task_tg = tg.clone();
        spawn async move {
            task_tg.cancelled().await;
            sleep_ms(5).await; // async clean-up, within the grace period
            c.fetch_add(1, Ordering::SeqCst);
        };
        sleep_ms(5).await;
        cancel;
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(cleaned.load(Ordering::SeqCst), 1);
}

async fn option_limit() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let out = cancel_scope! {
        limit = 2;
        for _ in 0..6 {
            let running = running.clone();
            let peak = peak.clone();
            spawn async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                sleep_ms(5).await;
                running.fetch_sub(1, Ordering::SeqCst);
            };
        }
    };
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(peak.load(Ordering::SeqCst) <= 2);
}

#[derive(Debug, PartialEq)]
struct MyErr(&'static str);

impl std::fmt::Display for MyErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for MyErr {}

async fn option_error_type() {
    let out: ScopeResult<(), MyErr> = cancel_scope! {
        error = MyErr;
        spawn async { Err::<(), _>(MyErr("task")) };
        sleep_ms(10_000).await;
    };
    let err: GroupError<MyErr> = out.unwrap_err();
    assert_eq!(err.first(), &MyErr("task"));
}

mod reexport {
    pub(crate) use cancel_scope as rt;
}

async fn option_crate_path() {
    let out = cancel_scope! {
        crate = crate::reexport::rt;
        spawn sleep_ms(1);
        1
    };
    assert_eq!(out.unwrap(), Outcome::Completed(1));
}

fn parse_num(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

async fn question_mark_in_body() {
    let out = cancel_scope! {
        let a = parse_num("4")?;
        a + 1
    };
    assert_eq!(out.unwrap(), Outcome::Completed(5));
    let out = cancel_scope! {
        spawn sleep_ms(10_000);
        let a = parse_num("x")?;
        a + 1
    };
    let err = out.unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(err.first().to_string().contains("invalid digit"));

    let out = cancel_scope! {
        error = MyErr;
        let v: Result<u32, MyErr> = Err(MyErr("body"));
        v?
    };
    assert_eq!(out.unwrap_err().into_errors(), vec![MyErr("body")]);
}

async fn return_in_body() {
    let early = true;
    let out = cancel_scope! {
        if early {
            return 1;
        }
        let f = || 3; // `return` inside a closure stays the closure's
        f() + 10
    };
    assert_eq!(out.unwrap(), Outcome::Completed(1));
}

async fn body_borrows_locals() {
    let mut local = vec![1, 2];
    let out = cancel_scope! {
        local.push(3);
        local.len()
    };
    assert_eq!(out.unwrap(), Outcome::Completed(3));
    assert_eq!(local, [1, 2, 3]);
}

async fn task_error_is_reported() {
    let out = cancel_scope! {
        spawn async { Err::<(), BoxError>("boom".into()) };
        spawn sleep_ms(10_000);
    };
    let err = out.unwrap_err();
    assert_eq!(err.first().to_string(), "boom");
}

async fn late_assignment_is_ordinary_rust() {
    // After the first statement, `NAME = ..;` is an assignment; with NAME an option name it
    // warns unless written in a block or with the place in parentheses (ui case
    // `option-after-statement`), as here.
    let mut limit = 0;
    let mut grace = 0;
    let out = cancel_scope! {
        let _first = ();
        (limit) = 5;
        {
            grace = 2;
        }
        limit + grace
    };
    assert_eq!(out.unwrap(), Outcome::Completed(7));
    assert_eq!((limit, grace), (5, 2));
}

// The warning (a `#[deprecated]` call) is the point of the line; the assignment must happen all
// the same (the expansion writes it `(limit) = ..;`, which means the same).
#[allow(deprecated)]
async fn warned_late_assignment_still_assigns() {
    let mut limit = 0;
    let out = cancel_scope! {
        let _first = ();
        limit = 5;
        limit + 1
    };
    assert_eq!(out.unwrap(), Outcome::Completed(6));
    assert_eq!(limit, 5);
}

async fn nested_scopes_each_handle_their_own_forms() {
    let out = cancel_scope! {
        spawn sleep_ms(1);
        let inner = cancel_scope! {
            spawn sleep_ms(10_000);
            cancel;
        };
        assert_eq!(inner.unwrap(), Outcome::Cancelled(CancelReason::Requested));
        7
    };
    assert_eq!(out.unwrap(), Outcome::Completed(7));
}

async fn spawn_call_in_closure_is_ordinary() {
    use tokio::spawn;
    let out = cancel_scope! {
        let start = || spawn(async { 5u8 });
        let via_closure = || {
            spawn(async { 6u8 })
        };
        start().await.unwrap() + via_closure().await.unwrap()
    };
    assert_eq!(out.unwrap(), Outcome::Completed(11));
}

#[cancel_scoped]
async fn fetch_all(n: u64) -> ScopeResult<u64> {
    for i in 0..n {
        spawn(sleep_ms(i));
    }
    let h = spawn(async move { Ok::<_, BoxError>(n * 2) });
    h.await.unwrap_or(0)
}

async fn attr_free_fn() {
    assert_eq!(fetch_all(3).await.unwrap(), Outcome::Completed(6));
}

struct Service {
    base: u32,
}

impl Service {
    #[cancel_scoped(as tg)]
    async fn run(&self, stop: bool) -> ScopeResult<u32> {
        let _ = tg.len();
        if stop {
            cancel;
        }
        self.base + 1
    }
}

async fn attr_method() {
    let s = Service { base: 4 };
    assert_eq!(s.run(false).await.unwrap(), Outcome::Completed(5));
    assert_eq!(
        s.run(true).await.unwrap(),
        Outcome::Cancelled(CancelReason::Requested)
    );
}

#[cancel_scoped]
async fn generic<T: Clone + Send + 'static>(
    value: T,
    copies: usize,
) -> cancel_scope::ScopeResult<Vec<T>, MyErr> {
    let mut handles = Vec::new();
    for _ in 0..copies {
        let v = value.clone();
        let h = spawn(async move { Ok(v) });
        handles.push(h);
    }
    let mut out = Vec::new();
    for h in handles {
        out.extend(h.await);
    }
    out
}

async fn attr_generic_fn() {
    assert_eq!(
        generic("x", 3).await.unwrap(),
        Outcome::Completed(vec!["x"; 3])
    );
}

#[cancel_scoped(as tg, parent = [parent], timeout = Duration::from_millis(20), grace = Duration::ZERO, limit = 1, crate = ::cancel_scope)]
async fn with_options(parent: &TaskGroup) -> ScopeResult<()> {
    let _ = tg.is_cancelled();
    spawn(sleep_ms(10_000));
    sleep_ms(10_000).await;
}

async fn attr_options() {
    let out = cancel_scope! {
        as outer;
        let inner = with_options(&outer).await;
        assert_eq!(inner.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
        1
    };
    // A deadline does not travel up.
    assert_eq!(out.unwrap(), Outcome::Completed(1));
}

#[cancel_scoped]
async fn sum(text: &str) -> ScopeResult<u32> {
    let mut total = 0;
    for part in text.split(',') {
        if part.is_empty() {
            return total;
        }
        total += parse_num(part)?;
    }
    total
}

async fn attr_question_mark_and_return() {
    assert_eq!(sum("1,2").await.unwrap(), Outcome::Completed(3));
    assert_eq!(sum("1,,5").await.unwrap(), Outcome::Completed(1));
    assert!(sum("1,x").await.is_err());
}

/// The Python library's first README example: cancel a group of sleeping tasks; the block
/// exits without an error.
async fn readme_cancel_a_group_of_sleeping_tasks() {
    let out = cancel_scope! {
        for secs in 1..=4 {
            spawn tokio::time::sleep(Duration::from_secs(secs));
        }
        cancel;
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// The second README example: an inner scope linked to the outer group; cancelling the inner
/// group cancels the outer one too.
async fn readme_linked_inner_scope_cancels_parent() {
    let out = cancel_scope! {
        as outer_tg;
        spawn tokio::time::sleep(Duration::from_secs(10));
        let inner = cancel_scope! {
            parent = outer_tg;
            spawn tokio::time::sleep(Duration::from_secs(10));
            cancel;
        };
        assert_eq!(inner.unwrap(), Outcome::Cancelled(CancelReason::Requested));
        tokio::time::sleep(Duration::from_secs(10)).await;
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Child));
}

async fn scope_future_is_send_when_body_is() {
    let task = tokio::spawn(async {
        let out = cancel_scope! {
            as tg;
            spawn sleep_ms(1);
            let h = spawn async { Ok::<_, BoxError>(2u8) };
            let _ = tg.len();
            h.await
        };
        out.unwrap()
    });
    assert_eq!(task.await.unwrap(), Outcome::Completed(Some(2)));
}

async fn helper_names_are_hygienic() {
    let __scope = 1;
    let __tg = 2;
    let out = cancel_scope! {
        let __v = 3;
        let __r = 4;
        spawn sleep_ms(1);
        __scope + __tg + __v + __r
    };
    assert_eq!(out.unwrap(), Outcome::Completed(10));
}

async fn let_else_with_cancel() {
    let input: Option<u8> = None;
    let out = cancel_scope! {
        let Some(v) = input else {
            cancel;
        };
        v
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}
