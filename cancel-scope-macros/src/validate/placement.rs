//! Where the body forms may stand, and what the body's value may look like: one [`Action`] per
//! form of the parsed body, an error (on the form's own tokens) for each form where it cannot
//! work, and the warnings.
//!
//! - `spawn EXPR` / `spawn(EXPR)` at a form position of the scope body spawns. `spawn(EXPR)`
//!   inside a closure, an `async` block or an item stays the ordinary call it is there (it may
//!   be `tokio::spawn`); `spawn EXPR` there is an error. In the body, either inside an
//!   expression (`v.push(spawn(f()))`) is an error that shows the two-line fix.
//! - `cancel;` works in the scope body only.
//! - `break` / `continue` cannot leave the body.
//! - In `#[cancel_scoped]`, the keyword form `spawn EXPR` is an error (rustc has already
//!   rejected the line; we say what to write), and so is an `Ok(..)` / `Err(..)` tail when
//!   `T` is not a `Result`.
//! - `NAME = ..;` at the top level after the first statement, NAME an option, warns; so do
//!   an `Ok(..)` / `Err(..)` tail of `cancel_scope!` (the macro cannot know `T`) and an arm
//!   handler written `=> cancel,` (a variable's value; the form is `=> { cancel; }`).

use crate::body::{Body, Ctx, FormKind, Tail, Variant};
use crate::diagnostics::{Diagnostics, Warning, source_text};
use crate::mark::{Position, SpawnSyntax, Spawner};
use crate::options::Site;
use syn::Type;

/// What the expansion does with a form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// `tg.spawn(EXPR)`.
    Spawn,
    /// Cancel the group and stop the body.
    Cancel,
    /// `spawn(EXPR)` where the forms do not apply: the ordinary call, as written.
    CallAsWritten,
    /// A `select!` call, written back with its handlers expanded.
    Select,
    /// `return Ok(EXPR)`.
    Return,
    /// An error was reported; the body is not expanded.
    Rejected,
}

/// The validated body: one action per form.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) actions: Vec<Action>,
}

impl Plan {
    /// Whether every form can be expanded.
    pub(crate) fn accepted(&self) -> bool {
        !self.actions.contains(&Action::Rejected)
    }
}

/// The name of the body for messages.
fn body_name(site: Site) -> &'static str {
    match site {
        Site::Macro => "the `cancel_scope!` body",
        Site::Attr => "the body of a `#[cancel_scoped]` fn",
    }
}

/// Is `ty` (the body's value type) a `Result` of some kind?
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident.to_string().ends_with("Result")),
        Type::Group(g) => is_result(&g.elem),
        Type::Paren(p) => is_result(&p.elem),
        _ => true,
    }
}

/// The action for a `spawn` form, or its error.
fn spawn_action(
    site: Site,
    here: Ctx,
    spawner: Spawner,
    (syntax, position): (SpawnSyntax, Position),
    expr: &syn::Expr,
    span: proc_macro2::Span,
    diag: &mut Diagnostics,
) -> Action {
    let kw = spawner.keyword();
    match (here, syntax, position) {
        (Ctx::Body, SpawnSyntax::Keyword, Position::Statement) if site == Site::Attr => {
            diag.error(
                span,
                format_args!(
                    "in a `#[cancel_scoped]` body, the {kw} form is written with parentheses: \
                     `{kw}({});` (an attribute's input must be valid Rust, so rustc rejects \
                     `{kw} EXPR` before this macro runs: ignore its hint for this line)",
                    source_text(expr)
                ),
            );
            Action::Rejected
        }
        (Ctx::Body, _, Position::Statement) => Action::Spawn,
        (_, SpawnSyntax::Keyword, Position::Expression) => {
            diag.error(
                span,
                format_args!(
                    "`{kw} EXPR` is only recognised at the start of a statement (or after `let PAT =`, \
                     `x =` or a match arm's `=>`) in the scope body; elsewhere name the task group \
                     with `as tg;` and call `tg.{kw}(EXPR)`"
                ),
            );
            Action::Rejected
        }
        (Ctx::Body, SpawnSyntax::Call, Position::Expression) => {
            let expr = source_text(expr);
            diag.error(
                span,
                format_args!(
                    "`{kw}({expr})` inside an expression is not the {kw} form: the form is \
                     recognised at the start of a statement and after `let h =`. Spawn first, \
                     then use the handle:\n    let h = {kw}({expr});\n    \
                     /* `h` where `{kw}({expr})` was */\n\
                     (to call a function named `{kw}`, write its path, e.g. `tokio::{kw}(..)`)"
                ),
            );
            Action::Rejected
        }
        (_, SpawnSyntax::Call, _) => Action::CallAsWritten,
        (_, SpawnSyntax::Keyword, Position::Statement) => {
            diag.error(
                span,
                format_args!(
                    "`{kw} EXPR` cannot be used inside {}: the forms only work in the scope body \
                     and its plain blocks; name the task group with `as tg;` and call \
                     `tg.{kw}(EXPR)` here (clone `tg` to move it into a closure or task)",
                    here.describe()
                ),
            );
            Action::Rejected
        }
    }
}

/// Validates the body's forms. `value_ty` is the `T` of the attribute's return type.
pub(crate) fn validate_body(
    body: &Body,
    site: Site,
    value_ty: Option<&Type>,
    diag: &mut Diagnostics,
) -> Plan {
    let mut actions = Vec::with_capacity(body.forms.len());
    for form in &body.forms {
        let here = form.ctx;
        let span = form.span;
        let action = match &form.kind {
            FormKind::Spawn {
                spawner,
                syntax,
                position,
                expr,
            } => spawn_action(site, here, *spawner, (*syntax, *position), expr, span, diag),
            FormKind::Cancel if here == Ctx::Body => Action::Cancel,
            FormKind::Cancel => {
                diag.error(
                    span,
                    format_args!(
                        "`cancel;` cannot be used inside {}: the forms only work in the scope body and its \
                         plain blocks; name the task group with `as tg;` and call `tg.cancel()` here",
                        here.describe()
                    ),
                );
                Action::Rejected
            }
            FormKind::Select { .. } => Action::Select,
            FormKind::Return { .. } => Action::Return,
            FormKind::Escape { keyword, .. } => {
                diag.error(
                    span,
                    format_args!(
                        "`{keyword}` cannot leave {}: the body runs as its own future, which the scope \
                         awaits; to end the body early write `return VALUE;` (its value) or `cancel;` \
                         (cancel the group), or put the loop inside the body",
                        body_name(site)
                    ),
                );
                Action::Rejected
            }
        };
        actions.push(action);
    }
    if site == Site::Macro {
        for &(kind, span) in &body.late_options {
            diag.warn(Warning::LateOption { kind, span });
        }
    }
    for &span in &body.arm_cancels {
        diag.warn(Warning::ArmCancelIsAValue { span });
    }
    if let Tail::ResultCall {
        variant,
        span,
        call,
        args,
    } = &body.tail
    {
        match (site, value_ty) {
            (Site::Macro, _) => diag.warn(Warning::BodyValueIsResult { span: *span }),
            (Site::Attr, Some(ty)) if !is_result(ty) => {
                let ty = source_text(ty);
                let args = source_text(args);
                let fix = match variant {
                    Variant::Ok => format!("write `{args}` instead of `Ok({args})`"),
                    Variant::Err => format!("to fail the body, write `Err({args})?`"),
                };
                diag.push(syn::Error::new_spanned(
                    call,
                    format_args!(
                        "the body's value is `{ty}` (the `T` of `ScopeResult<T, E>`), not a `Result`: \
                         {fix}; the scope adds the `Ok` itself, and `?` works on `E`"
                    ),
                ));
                actions.push(Action::Rejected);
            }
            (Site::Attr, _) => {}
        }
    }
    Plan { actions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn plan(site: Site, ts: TokenStream) -> (Plan, Vec<String>, usize) {
        let mut diag = Diagnostics::default();
        let body = Body::parse(ts, &mut diag).expect("parses");
        assert!(!diag.has_errors(), "{:?}", diag.messages());
        let plan = validate_body(&body, site, None, &mut diag);
        (plan, diag.messages(), diag.warnings().len())
    }

    #[test]
    fn forms_in_the_body_are_accepted() {
        let (plan, errs, warnings) = plan(
            Site::Macro,
            quote! {
                spawn f();
                let h = spawn(g());
                loop { tokio::select! { _ = a => { cancel; } x = b => spawn h(x), } break; }
                if c { return 5; }
                let k = || spawn(x);
            },
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(warnings, 0);
        assert!(plan.accepted());
        assert_eq!(
            plan.actions,
            [
                Action::Spawn,
                Action::Spawn,
                Action::Cancel,
                Action::Spawn,
                Action::Select,
                Action::CallAsWritten,
                Action::Return
            ]
        );
    }

    #[test]
    fn misplaced_forms_are_errors() {
        let (plan, errs, _) = plan(
            Site::Macro,
            quote! {
                let f = || { spawn x; };
                let g = async { cancel; };
                fn item() { cancel; }
                handles.push(spawn(fetch(1)));
                let s = || spawn y;
                break;
                'outer: loop { loop { continue 'outer; } }
                loop { async { break; }; }
                continue 'elsewhere;
            },
        );
        assert!(!plan.accepted());
        assert_eq!(errs.len(), 7, "{errs:?}");
        assert!(errs[0].contains("inside a closure") && errs[0].contains("tg.spawn(EXPR)"));
        assert!(errs[1].contains("inside an `async` block") && errs[1].contains("tg.cancel()"));
        assert!(errs[2].contains("nested item"));
        assert!(errs[3].contains("let h = spawn(fetch(1));"), "{}", errs[3]);
        assert!(errs[4].contains("only recognised at the start of a statement"));
        assert!(errs[5].starts_with("`break` cannot leave the `cancel_scope!` body"));
        assert!(errs[6].starts_with("`continue` cannot leave"));
    }

    #[test]
    fn late_options_and_result_tails_warn() {
        let (plan, errs, warnings) = plan(
            Site::Macro,
            quote! {
                let x = 1; limit = 4; { grace = 2; } (timeout) = 3; other = 1;
                match x { 1 => cancel, _ => (cancel) };
                tokio::select! { _ = a => cancel, _ = b => { cancel } }
                Ok(x)
            },
        );
        assert!(errs.is_empty() && plan.accepted());
        assert_eq!(warnings, 4);
        // In the attribute, an `Ok(..)` tail is an error when `T` is not a `Result`.
        let mut diag = Diagnostics::default();
        let body = Body::parse(quote! { limit = 4; Ok(1) }, &mut diag).unwrap();
        let plan = validate_body(&body, Site::Attr, Some(&syn::parse_quote!(u32)), &mut diag);
        assert!(!plan.accepted());
        assert!(diag.messages()[0].starts_with("the body's value is `u32`"));
        assert!(diag.warnings().is_empty());
        let plan = validate_body(
            &body,
            Site::Attr,
            Some(&syn::parse_quote!(Result<u8, E>)),
            &mut Diagnostics::default(),
        );
        assert!(plan.accepted());
    }

    #[test]
    fn keyword_spawn_in_the_attribute() {
        let (plan, errs, _) = plan(Site::Attr, quote! { spawn fetch(); });
        assert!(!plan.accepted());
        assert!(errs[0].contains("`spawn(fetch());`"), "{errs:?}");
    }
}
