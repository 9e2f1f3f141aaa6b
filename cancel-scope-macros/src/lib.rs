//! Procedural macros for [`cancel-scope`](https://docs.rs/cancel-scope): the `cancel_scope!`
//! DSL and the `#[cancel_scoped]` attribute.
//!
//! Use them through the `cancel_scope` crate, which re-exports them. Both expand to calls of
//! `cancel_scope`'s public API only (`CancelScope`, `TaskGroup`), so what they do is exactly what
//! the runtime documents.
//!
//! The forms work in the arm handlers of `select!` too: [`cancel_scope!`](macro@cancel_scope)
//! shows the canonical server shape (an accept loop in `select!`, a task per connection, a
//! shutdown signal through `cancel_on`, a grace period, `cancel;` from an arm).
//!
//! Internally, each entry point is parse -> validate -> expand on `proc_macro2`, the stages
//! talking through typed structures and reporting into one `Diagnostics`:
//!
//! - parse (`ast`, with `args`, `options`, `mark`, `lexical`, `select`, `body`, `late`,
//!   `attr`): what was written, as typed structures (the options, the body with its forms
//!   marked, the late options, the attribute's item); never generates code;
//! - validate (`validate`): every rule, each error on the offending tokens, all reported
//!   together; yields the `Config` and a `Plan` (one action per body form);
//! - expand (`expand`, and `fallback` when there are errors): every generated token.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::pedantic)]
// Token streams are moved through the parse -> validate -> expand pipeline by value, as is usual
// in proc-macro code; borrowing them would only add clones at the call sites.
#![allow(clippy::needless_pass_by_value)]

mod args;
mod ast;
mod attr;
mod body;
mod diagnostics;
mod expand;
mod fallback;
mod late;
mod lexical;
mod mark;
mod options;
mod select;
mod validate;

#[cfg(test)]
mod prop_tests;

use crate::ast::{AttrInput, ScopeInput};
use crate::diagnostics::Diagnostics;
use crate::options::Site;
use crate::validate::Scope;
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;

/// `cancel_scope! { .. }`: parse -> validate -> expand.
pub(crate) fn scope_macro(input: TokenStream2) -> TokenStream2 {
    let mut diag = Diagnostics::default();
    let input = ScopeInput::parse(input, &mut diag);
    let config = validate::validate_options(input.options, Site::Macro, &mut diag);
    diag.append(input.body_diagnostics);
    let error_ty = config.error_ty.as_ref();
    let head = expand::macro_name_span();
    let code = match &input.body {
        Some(body) => {
            let scope = Scope {
                site: Site::Macro,
                name: config.name.as_ref(),
            };
            let plan = validate::validate_body(body, scope, None, &mut diag);
            if body.clean && plan.accepted() {
                let warnings = expand::warnings(&config, diag.warnings());
                expand::scope_expr(&config, error_ty, body, &plan, warnings, head)
            } else {
                fallback::scope_expr(&config, error_ty, head)
            }
        }
        None => fallback::scope_expr(&config, error_ty, head),
    };
    if diag.has_errors() {
        let errors = diag.error_tokens();
        quote!({ #errors #code })
    } else {
        code
    }
}

/// `#[cancel_scoped(..)] ITEM`: parse -> validate -> expand.
pub(crate) fn scoped_attr(args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let mut diag = Diagnostics::default();
    let code = match AttrInput::parse(args, item, &mut diag) {
        AttrInput::NotFn { item } => item,
        AttrInput::Fn {
            options,
            item,
            body,
        } => {
            let config = validate::validate_options(options, Site::Attr, &mut diag);
            let errors_before = diag.error_count();
            let tail = body.as_ref().map(|body| &body.tail);
            let sig = validate::validate_fn(&item.sig, tail, &mut diag);
            let sig_ok = diag.error_count() == errors_before;
            match &body {
                Some(body) => {
                    let scope = Scope {
                        site: Site::Attr,
                        name: config.name.as_ref(),
                    };
                    let plan =
                        validate::validate_body(body, scope, sig.value_ty.as_ref(), &mut diag);
                    if body.clean && sig_ok && plan.accepted() {
                        let warnings = expand::warnings(&config, diag.warnings());
                        let scope = expand::scope_expr(
                            &config,
                            sig.error_ty.as_ref(),
                            body,
                            &plan,
                            warnings,
                            Span::call_site(),
                        );
                        expand::fn_with_body(&item, scope)
                    } else {
                        fallback::fn_item(&item)
                    }
                }
                None => fallback::fn_item(&item),
            }
        }
    };
    let mut out = diag.error_tokens();
    out.extend(code);
    out
}

/// Runs a block of statements as the body of a cancel scope, and awaits it.
///
/// `cancel_scope! { .. }` is an expression of type
/// `ScopeResult<T, E> = Result<Outcome<T>, GroupError<E>>`. The macro awaits the scope itself:
/// write no `.await` after it, and use it inside `async` code only, an `async fn` or an
/// `async { .. }` block (in a program, for example in `#[tokio::main] async fn main`).
/// Elsewhere rustc reports "`await` is only allowed inside `async` functions and blocks" on the
/// macro's name. The body runs in the caller's task: it may borrow locals and need not be
/// `Send` or `'static`.
///
/// # Options
///
/// Options come first, each at most once, each ending with `;`:
///
/// | option | meaning |
/// | --- | --- |
/// | `as tg;` | binds `tg` to the scope's `TaskGroup<E>` (clone it to move it into tasks) |
/// | `parent = a, b;` or `parent = [a, b];` | links the scope to these groups (`CancelScope::parent`) |
/// | `timeout = DURATION;` | cancels the group `DURATION` after the scope starts (reason `Deadline`) |
/// | `deadline = INSTANT;` | the same at a `tokio::time::Instant`; excludes `timeout` |
/// | `grace = DURATION;` | on cancel, tasks get this long to finish before they are aborted |
/// | `limit = N;` | at most `N` tasks run at once; further spawns queue |
/// | `cancel_on = a, b;` | cancel the group (reason `Signal`) when any of these futures resolves (`CancelScope::cancel_on`; also `cancel_on = [a, b];`) |
/// | `supervise;` | keep going: a task's error is kept but does not cancel its siblings (`CancelScope::supervise`) |
/// | `error = Type;` | the group's error type (default `BoxError`) |
/// | `crate = path;` | path of the runtime crate, for re-exporters (default `::cancel_scope`) |
///
/// After the first statement, `NAME = EXPR;` is an ordinary assignment (a macro cannot see local
/// variables). With NAME an option name at the top level of the body, the macro adds a warning
/// that options go before the first statement, and rustc reports the unknown variable if there
/// is none: move the line above the first statement (adding `let` would compile and silently
/// drop the option). Write `{ limit = ..; }` or `(limit) = ..;` to assign a variable of that
/// name without the warning. An unknown NAME in the leading lines is an error ("did you
/// mean"); to begin a body with an assignment, put it after another statement or inside a
/// block.
///
/// # Body forms
///
/// The body is ordinary Rust plus three forms, recognised at the start of a statement in the
/// body and its nested blocks (`if`, `match`, loops, plain blocks), after `let PAT =` or
/// `place =`, and right after a match arm's `=>`:
///
/// - `spawn EXPR;` spawns the future `EXPR` into the group (`TaskGroup::spawn`). `spawn (x);`
///   and `spawn(x);` spawn `x`; a function named `spawn` is called by path (`self::spawn(x)`).
/// - `let h = spawn EXPR;` keeps the `TaskHandle<T>`.
/// - `spawn_local EXPR;` / `let h = spawn_local EXPR;` spawn a *local* task: polled inside the
///   scope's own `run` future, concurrently with the body, never in parallel. It may borrow what
///   was declared before the macro and need not be `Send` (an `Rc`, a `RefCell` borrowed across
///   an `.await`); every rule of a task applies (its error fails the group, a cancel drops it,
///   the scope waits for it, it is counted and held to `limit`). `h` is a `LocalHandle<T>`. A
///   body that uses it makes the scope's future `!Send`; for a `Send` scope with borrowing local
///   tasks use the runtime API (`Locals::new()` and `CancelScope::run_with_locals`). A local of
///   the body itself cannot be borrowed (it dies before the scope ends): move it in
///   (`spawn_local async move { .. }`).
/// - `cancel;` cancels the group; the statements after it never run (it has type `!`, so it can
///   end a `match` arm).
///
/// A trailing expression is the body's value (`T`, not `Ok(T)`: the macro warns about an
/// `Ok(..)` / `Err(..)` tail); `return EXPR` ends the body with that value; `?` works on the
/// group's error type `E`; `break` and `continue` cannot leave the body (a compile error says so).
/// The forms are not recognised inside closures, `async` blocks, nested items or macro calls (a
/// nested `cancel_scope!` handles its own); there `spawn EXPR` and `cancel;` are compile errors
/// that tell you to name the group (`as tg;`) and call `tg.spawn(..)` / `tg.cancel()`, while
/// `spawn(x)` stays ordinary Rust (it may be `tokio::spawn`). In the body itself, `spawn x` or
/// `spawn(x)` inside an expression (`v.push(spawn(x))`) is an error that shows the fix
/// (`let h = spawn(x);` first); call another function named `spawn` by its path.
///
/// # In `select!`
///
/// The forms also work in the arm handlers of `tokio::select!`, `futures::select!` and
/// `select_biased!` (any path ending in `select` or `select_biased`), which run in the body:
///
/// - `=> { .. }`: a block; every form works at its statement starts, as in a `match` arm.
///   `=> { cancel; }` cancels the group and stops the body right there: the loop around the
///   `select!` does not go round again, so no finished future is polled again.
/// - `=> spawn EXPR,` (or `=> spawn(EXPR),`): spawns, for its effect: like `=> { spawn EXPR; }`,
///   the arm has type `()`, as the other arms of a `select!` usually have. To keep the handle,
///   write a block (`=> { let h = spawn EXPR; .. }`).
/// - `=> cancel,` unbraced is not the cancel form (only the statement `cancel;` is): the macro
///   warns and says to write `=> { cancel; }` (`=> (cancel),` uses a variable named `cancel`,
///   without the warning).
///
/// The patterns, futures and preconditions (`, if COND`), `biased;`, `else =>`, `default =>` and
/// `complete =>` are left as written. Other macros stay opaque: a form inside them is reported
/// as it is in a closure.
///
/// The canonical server shape: an accept loop in `select!`, a task per connection, a shutdown
/// signal (`cancel_on`), a grace period for the connections' clean-up, and `cancel;` from an
/// arm when the listener closes:
///
/// ```
/// use std::time::Duration;
/// use cancel_scope::{cancel_scope, CancelReason, Outcome, ScopeResult};
/// use tokio::sync::{mpsc, oneshot};
///
/// async fn handle(conn: u32) {
///     // serve one connection
/// #   let _ = conn;
/// }
///
/// async fn serve(
///     mut listener: mpsc::Receiver<u32>,      // stands for a `TcpListener`
///     shutdown: oneshot::Receiver<()>,        // or `tokio::signal::ctrl_c()`, a token
/// ) -> ScopeResult<()> {
///     cancel_scope! {
///         cancel_on = shutdown;               // the signal cancels the scope (reason `Signal`)
///         grace = Duration::from_secs(5);     // then connections get 5 s to finish
///         loop {
///             tokio::select! {
///                 Some(conn) = listener.recv() => spawn handle(conn),
///                 else => {
///                     cancel;                 // the listener closed: stop here
///                 }
///             }
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (conn_tx, listener) = mpsc::channel(16);
/// let (shutdown_tx, shutdown) = oneshot::channel();
/// conn_tx.send(1).await.unwrap();
/// shutdown_tx.send(()).unwrap();
/// assert_eq!(
///     serve(listener, shutdown).await.unwrap(),
///     Outcome::Cancelled(CancelReason::Signal)
/// );
/// # }
/// ```
///
/// # Examples
///
/// Every option and form:
///
/// ```
/// use std::time::Duration;
/// use cancel_scope::{cancel_scope, BoxError, CancelReason, Outcome, ScopeResult};
///
/// #[derive(Debug)]
/// struct FetchError;
///
/// async fn fetch(n: u32) -> Result<u32, FetchError> {
///     tokio::time::sleep(Duration::from_millis(u64::from(n))).await;
///     Ok(n * 10)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let out: ScopeResult<u32> = cancel_scope! {
///     as outer;                                   // name the group
///     let inner: ScopeResult<u32, FetchError> = cancel_scope! {
///         as tg;
///         parent = outer;                         // linked: a cancel here cancels `outer` too
///         timeout = Duration::from_secs(5);       // or: deadline = tokio::time::Instant::now() + ..;
///         grace = Duration::from_millis(100);     // clean-up time for cancelled tasks
///         limit = 2;                              // at most two tasks at once
///         error = FetchError;                     // the group's error type
///         crate = ::cancel_scope;                 // for re-exporters
///         for n in 1..=3 {
///             spawn fetch(n);                     // spawn a task
///         }
///         let h = spawn fetch(4);                 // ... and keep its handle
///         let first = h.await.unwrap_or(0);
///         if tg.is_cancelled() {
///             cancel;                             // cancel the group; nothing after runs
///         }
///         first + 2                               // the body's value
///     };
///     inner.unwrap().completed().unwrap_or(0)
/// };
/// assert_eq!(out.unwrap(), Outcome::Completed(42));
///
/// // `cancel;` stops every task and leaves the scope without an error.
/// let out = cancel_scope! {
///     for secs in 1..=4 {
///         spawn tokio::time::sleep(Duration::from_secs(secs));
///     }
///     cancel;
/// };
/// assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
///
/// // `?` works in the body; errors of tasks and body are collected.
/// let out: ScopeResult<u32> = cancel_scope! {
///     spawn async { Err::<(), BoxError>("task failed".into()) };
///     let n: u32 = "12".parse()?;
///     n
/// };
/// assert_eq!(out.unwrap_err().first().to_string(), "task failed");
/// # }
/// ```
///
/// # Common mistakes
///
/// A task must be `Send` (it runs on the runtime's workers):
///
/// ```compile_fail
/// # use cancel_scope::cancel_scope;
/// # async fn f() {
/// let _ = cancel_scope! {
///     spawn async {
///         let shared = std::rc::Rc::new(1);
///         tokio::task::yield_now().await;
///         drop(shared);
///     };
/// };
/// # }
/// # fn main() {}
/// ```
///
/// ```text
/// error: future cannot be sent between threads safely
///   |     spawn async {
///   |     ^^^^^ future created by async block is not `Send`
/// note: future is not `Send` as this value is used across an await
/// ```
///
/// A task must be `'static`: it cannot borrow the caller's locals (move a clone in instead):
///
/// ```compile_fail,E0597
/// # use cancel_scope::cancel_scope;
/// # async fn f() {
/// let name = String::from("task");
/// let _ = cancel_scope! {
///     spawn async { println!("{name}") };
/// };
/// # }
/// # fn main() {}
/// ```
///
/// ```text
/// error[E0597]: `name` does not live long enough
///   | let name = String::from("task");
///   |     ---- binding `name` declared here
///   | let _ = cancel_scope! {
///   |         - value captured here by coroutine
///   |     spawn async { println!("{name}") };
///   |     ----- argument requires that `name` is borrowed for `'static`
/// ```
///
/// (For a variable declared in the body, rustc says E0373, "async block may outlive the current
/// function", and suggests `async move` itself.)
///
/// The fix: move the value (or a clone of it) into the task with `async move`:
///
/// ```
/// # use cancel_scope::cancel_scope;
/// # async fn f() {
/// let name = String::from("task");
/// let _ = cancel_scope! {
///     let name = name.clone();
///     spawn async move { println!("{name}") };
/// };
/// # }
/// # fn main() {}
/// ```
///
/// The macro awaits, so it needs `async` code:
///
/// ```compile_fail,E0728
/// # use cancel_scope::cancel_scope;
/// fn main() {
///     let _ = cancel_scope! { 1 };
/// }
/// ```
///
/// ```text
/// error[E0728]: `await` is only allowed inside `async` functions and blocks
///   | fn main() {
///   | --------- this is not `async`
///   |     let _ = cancel_scope! { 1 };
///   |             ^ only allowed inside `async` functions and blocks
/// ```
///
/// The fix: call it from an `async fn` (for a program, `#[tokio::main] async fn main()`) or an
/// `async { .. }` block.
///
/// An unknown option:
///
/// ```compile_fail
/// # use cancel_scope::cancel_scope;
/// # async fn f(tg: cancel_scope::TaskGroup) {
/// let _ = cancel_scope! {
///     parents = tg;
///     1
/// };
/// # }
/// # fn main() {}
/// ```
///
/// ```text
/// error: unknown option `parents`; did you mean `parent`?
///        valid options are: `as NAME`, `parent`, `timeout`, `deadline`, `grace`, `limit`, `error`, `crate`
/// ```
///
/// An option after the first statement is an assignment (here of an unknown variable):
///
/// ```compile_fail,E0425
/// # use std::time::Duration;
/// # use cancel_scope::cancel_scope;
/// # async fn f() {
/// let _ = cancel_scope! {
///     let x = 1;
///     timeout = Duration::from_secs(1);
///     x
/// };
/// # }
/// # fn main() {}
/// ```
///
/// ```text
/// error[E0425]: cannot find value `timeout` in this scope
/// warning: use of deprecated function
///          `cancel_scope::__private::timeout_is_an_option__move_it_above_the_first_statement`:
///          options go before the first statement: move this line above the first statement;
///          do not add `let` (the scope would silently get no timeout). [..]
/// ```
///
/// The forms do not work inside closures and `async` blocks:
///
/// ```compile_fail
/// # use cancel_scope::cancel_scope;
/// # async fn f() {
/// let _ = cancel_scope! {
///     let stop = async { cancel; };
///     stop.await;
/// };
/// # }
/// # fn main() {}
/// ```
///
/// ```text
/// error: `cancel;` cannot be used inside an `async` block: the forms only work in the scope body
///        and its plain blocks (`if`, `match`, loops); name the task group with `as tg;` and call
///        `tg.cancel()` here (to move the group into a `move` closure or a task, clone it first:
///        `let tg = tg.clone();`)
/// ```
#[proc_macro]
pub fn cancel_scope(input: TokenStream) -> TokenStream {
    scope_macro(input.into()).into()
}

/// Makes the body of an `async fn` the body of a cancel scope.
///
/// The function must be an `async fn` with a body (free function, method or generic function)
/// declared `-> ScopeResult<T, E>` or `-> ScopeResult<T>` (any path ending in `ScopeResult`; the
/// default `E` is `BoxError`). Its signature stays exactly as written; the body's value is `T`,
/// `?` works on `E` and `return EXPR` returns `T`.
///
/// Arguments, all optional, separated by commas: `as tg`, `parent = [a, b]` (or `parent = a`),
/// `timeout = EXPR` or `deadline = EXPR`, `grace = EXPR`, `limit = EXPR`,
/// `cancel_on = EXPR` (or `cancel_on = [a, b]`), `supervise`, `crate = path`. They
/// mean what the options of [`cancel_scope!`] mean; the expressions may use the function's
/// parameters. `error = ..` is not accepted: the error type comes from the return type.
///
/// Because an attribute receives only code that already parses as Rust, the body forms are
/// written `spawn(EXPR);`, `let h = spawn(EXPR);` and `cancel;`; they work where they work in
/// [`cancel_scope!`], arm handlers of `select!` included (`=> spawn(EXPR),`, `=> { cancel; }`).
/// `spawn(EXPR)` inside an expression (`handles.push(spawn(f()))`) is an error that shows the
/// fix: `let h = spawn(f());` first, then use `h`. The body's value is `T`: an `Ok(..)` tail,
/// when `T` is not a `Result`, is an error that says so.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use cancel_scope::{cancel_scoped, BoxError, CancelReason, Outcome, ScopeResult, TaskGroup};
///
/// #[cancel_scoped]
/// async fn double(n: u64) -> ScopeResult<u64> {
///     let h = spawn(async move { Ok::<_, BoxError>(n * 2) });
///     h.await.unwrap_or(0)
/// }
///
/// struct Crawler {
///     pages: Vec<u64>,
/// }
///
/// impl Crawler {
///     #[cancel_scoped(as tg, limit = 2, timeout = Duration::from_secs(5), grace = Duration::ZERO)]
///     async fn crawl(&self, stop_early: bool) -> ScopeResult<usize> {
///         for &ms in &self.pages {
///             spawn(tokio::time::sleep(Duration::from_millis(ms)));
///         }
///         if stop_early {
///             cancel;
///         }
///         tg.len()
///     }
/// }
///
/// #[cancel_scoped(parent = [parent], crate = ::cancel_scope)]
/// async fn parse_all<T: std::str::FromStr + Send + 'static>(
///     parent: &TaskGroup,
///     text: &str,
/// ) -> ScopeResult<Vec<T>>
/// where
///     T::Err: std::error::Error + Send + Sync + 'static,
/// {
///     let mut out = Vec::new();
///     for part in text.split(',') {
///         out.push(part.parse::<T>()?);
///     }
///     out
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(double(21).await.unwrap(), Outcome::Completed(42));
/// let crawler = Crawler { pages: vec![1, 2, 3] };
/// assert_eq!(crawler.crawl(true).await.unwrap(), Outcome::Cancelled(CancelReason::Requested));
/// let scope = cancel_scope::CancelScope::new();
/// let tg = scope.group();
/// assert_eq!(parse_all::<u8>(&tg, "1,2").await.unwrap(), Outcome::Completed(vec![1, 2]));
/// assert!(parse_all::<u8>(&tg, "1,x").await.is_err());
/// # }
/// ```
///
/// # Common mistakes
///
/// ```compile_fail
/// # use cancel_scope::{cancel_scoped, ScopeResult};
/// #[cancel_scoped]
/// fn run() -> ScopeResult<u32> {
///     1
/// }
/// # fn main() {}
/// ```
///
/// ```text
/// error: `#[cancel_scoped]` only works on an `async fn`: the scope awaits its tasks; write `async fn`
/// ```
///
/// ```compile_fail
/// # use cancel_scope::cancel_scoped;
/// #[cancel_scoped]
/// async fn run() -> Result<u32, std::io::Error> {
///     Ok(1)
/// }
/// # fn main() {}
/// ```
///
/// ```text
/// error: a `#[cancel_scoped]` fn must return `ScopeResult<T>` or `ScopeResult<T, E>`, not
///        `Result<u32, std::io::Error>`: declare `-> ScopeResult<u32, std::io::Error>`, and
///        write the body's value as `1` instead of `Ok(1)` (the body's value becomes `T`, the
///        scope adds the `Ok`; `?` works on `E`)
/// ```
///
/// ```compile_fail
/// # use cancel_scope::{cancel_scoped, ScopeResult};
/// #[cancel_scoped(error = std::io::Error)]
/// async fn run() -> ScopeResult<u32> {
///     1
/// }
/// # fn main() {}
/// ```
///
/// ```text
/// error: `error` cannot be set in `#[cancel_scoped]`: the error type comes from the return type;
///        declare the function as `-> ScopeResult<T, YourError>`
/// ```
#[proc_macro_attribute]
pub fn cancel_scoped(args: TokenStream, item: TokenStream) -> TokenStream {
    scoped_attr(args.into(), item.into()).into()
}
