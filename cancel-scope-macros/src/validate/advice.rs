//! The messages for body forms written where they do not work, each naming the user's own
//! tokens (`spawn fetch()`, `tg.spawn(fetch())`) rather than placeholders. Which message
//! applies is `placement`'s decision; this file only words it.

use crate::body::Ctx;
use crate::options::Site;
use std::fmt::Write as _;
use syn::Ident;

/// Where the forms are recognised, worded once for every message (`mark` is the truth).
pub(crate) const FORM_POSITIONS: &str = "at the start of a statement, after `let PAT =` or \
     `place =`, and right after a match arm's `=>`, in the scope body and its plain blocks \
     (`if`, `match`, loops)";

/// How the group is reached where the forms do not work: through a named handle, with
/// `call` (`spawn(fetch())`, `cancel()`) called on it.
fn on_a_named_handle(site: Site, ctx: Ctx, name: Option<&Ident>, call: &str) -> String {
    let tg = name.map_or_else(|| "tg".to_owned(), ToString::to_string);
    let naming = match (name, site) {
        (Some(_), _) => String::new(),
        (None, Site::Macro) => "name the task group with `as tg;` and ".to_owned(),
        (None, Site::Attr) => "name the task group with `#[cancel_scoped(as tg)]` and ".to_owned(),
    };
    match ctx {
        Ctx::Item => format!(
            "{naming}pass `{tg}` to the item (a `&TaskGroup` parameter) to call `{tg}.{call}` there"
        ),
        Ctx::Body | Ctx::Closure | Ctx::Async | Ctx::Const => format!(
            "{naming}call `{tg}.{call}` here (to move the group into a `move` closure or a \
             task, clone it first: `let {tg} = {tg}.clone();`)"
        ),
    }
}

/// A form (`written`: `spawn fetch()`, `cancel;`) inside a closure, an `async` block, an item
/// or a `const` block.
pub(crate) fn not_in_nested_code(
    site: Site,
    ctx: Ctx,
    name: Option<&Ident>,
    written: &str,
    call: &str,
) -> String {
    format!(
        "`{written}` cannot be used inside {}: the forms only work in the scope body and its \
         plain blocks (`if`, `match`, loops); {}",
        ctx.describe(),
        on_a_named_handle(site, ctx, name, call)
    )
}

/// A `spawn_local` form inside a closure, an `async` block, an item or a `const` block: local
/// tasks belong to the scope's own `run` future, which only the body reaches.
pub(crate) fn local_not_in_nested_code(ctx: Ctx, written: &str) -> String {
    format!(
        "`{written}` cannot be used inside {}: a local task is polled by the scope's own `run` \
         future and can only be spawned from the scope body and its plain blocks (`if`, `match`, \
         loops); spawn it there, or use `spawn` for a task that runs on its own",
        ctx.describe()
    )
}

/// A spawn form (`written`: `spawn fetch()` or `spawn(fetch())`) inside an expression of the
/// body, with the two-line fix.
pub(crate) fn not_in_an_expression(kw: &str, written: &str, is_call: bool) -> String {
    let mut msg = format!(
        "`{written}` inside an expression is not the {kw} form: the form is recognised \
         {FORM_POSITIONS}. Spawn first, then use the handle:\n    let h = {written};\n    \
         /* `h` where `{written}` was */"
    );
    if is_call {
        let _ = write!(
            msg,
            "\n(to call a function named `{kw}`, write its path, e.g. `tokio::{kw}(..)`)"
        );
    }
    msg
}
