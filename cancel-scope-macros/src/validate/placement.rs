//! Where the body forms may stand, and what the body's value may look like: one [`Action`] per
//! form of the parsed body, an error (on the form's own tokens, worded by `advice`) for each
//! form where it cannot work, and the warnings.
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
//! - `NAME = ..;` at the top level after the first statement, NAME an option, warns (and stays
//!   an assignment, which the expansion writes `(NAME) = ..;`); so do an `Ok(..)` / `Err(..)`
//!   tail of `cancel_scope!` (the macro cannot know `T`) and an arm handler written
//!   `=> cancel,` (a variable's value; the form is `=> { cancel; }`).

use crate::body::{Body, Ctx, FormKind, Tail, Variant};
use crate::diagnostics::{Diagnostics, Warning, source_text};
use crate::mark::{Position, SpawnSyntax, Spawner};
use crate::options::Site;
use crate::validate::advice;
use syn::{Ident, Type};

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
    /// The top-level statements `NAME = EXPR;` (NAME an option) that stay assignments: the
    /// expansion writes them `(NAME) = EXPR;`, which means the same, so that rustc does not
    /// suggest `let NAME = ..` (which would compile and silently drop the option).
    pub(crate) late_assignments: Vec<usize>,
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

/// The group's handle in the body (`as NAME`) and where the body is, for messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scope<'a> {
    pub(crate) site: Site,
    pub(crate) name: Option<&'a Ident>,
}

/// The action for a `spawn` form, or its error.
fn spawn_action(
    scope: Scope<'_>,
    here: Ctx,
    spawner: Spawner,
    (syntax, position): (SpawnSyntax, Position),
    expr: &syn::Expr,
    span: proc_macro2::Span,
    diag: &mut Diagnostics,
) -> Action {
    let kw = spawner.keyword();
    let expr = source_text(expr);
    let written = match syntax {
        SpawnSyntax::Keyword => format!("{kw} {expr}"),
        SpawnSyntax::Call => format!("{kw}({expr})"),
    };
    match (here, syntax, position) {
        (Ctx::Body, SpawnSyntax::Keyword, Position::Statement) if scope.site == Site::Attr => {
            diag.error(
                span,
                format_args!(
                    "in a `#[cancel_scoped]` body, the {kw} form is written with parentheses: \
                     `{kw}({expr});` (an attribute's input must be valid Rust, so rustc rejects \
                     `{kw} EXPR` before this macro runs: ignore its hint for this line)",
                ),
            );
            Action::Rejected
        }
        (Ctx::Body, _, Position::Statement) => Action::Spawn,
        (Ctx::Body, _, Position::Expression) => {
            let is_call = syntax == SpawnSyntax::Call;
            diag.error(span, advice::not_in_an_expression(kw, &written, is_call));
            Action::Rejected
        }
        // Outside the body proper, `spawn(x)` is ordinary Rust (it may be `tokio::spawn`).
        (_, SpawnSyntax::Call, _) => Action::CallAsWritten,
        (_, SpawnSyntax::Keyword, _) if spawner == Spawner::Local => {
            diag.error(span, advice::local_not_in_nested_code(here, &written));
            Action::Rejected
        }
        (_, SpawnSyntax::Keyword, _) => {
            let call = format!("{kw}({expr})");
            let msg = advice::not_in_nested_code(scope.site, here, scope.name, &written, &call);
            diag.error(span, msg);
            Action::Rejected
        }
    }
}

/// Validates the body's forms. `value_ty` is the `T` of the attribute's return type.
pub(crate) fn validate_body(
    body: &Body,
    scope: Scope<'_>,
    value_ty: Option<&Type>,
    diag: &mut Diagnostics,
) -> Plan {
    let site = scope.site;
    let mut late_assignments = Vec::new();
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
            } => spawn_action(
                scope,
                here,
                *spawner,
                (*syntax, *position),
                expr,
                span,
                diag,
            ),
            FormKind::Cancel if here == Ctx::Body => Action::Cancel,
            FormKind::Cancel => {
                let msg = advice::not_in_nested_code(site, here, scope.name, "cancel;", "cancel()");
                diag.error(span, msg);
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
        for late in &body.late_options {
            diag.warn(Warning::LateOption {
                kind: late.kind,
                span: late.span,
            });
            late_assignments.push(late.stmt);
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
            (Site::Macro, _) => diag.warn(Warning::BodyValueIsResult {
                variant: *variant,
                span: *span,
            }),
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
    Plan {
        actions,
        late_assignments,
    }
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
        let plan = validate_body(&body, Scope { site, name: None }, None, &mut diag);
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
                let s = || spawn fetch(y);
                v.push(spawn g());
                break;
                'outer: loop { loop { continue 'outer; } }
                loop { async { break; }; }
                continue 'elsewhere;
            },
        );
        assert!(!plan.accepted());
        assert_eq!(errs.len(), 8, "{errs:?}");
        assert!(errs[0].starts_with("`spawn x` cannot be used inside a closure"));
        assert!(errs[0].contains("`as tg;` and call `tg.spawn(x)` here"));
        assert!(errs[1].contains("inside an `async` block") && errs[1].contains("tg.cancel()"));
        assert!(errs[2].contains("nested item") && errs[2].contains("pass `tg` to the item"));
        assert!(errs[3].contains("let h = spawn(fetch(1));"), "{}", errs[3]);
        assert!(errs[3].contains("write its path"), "{}", errs[3]);
        // An unbraced closure body is a closure too, whatever the position.
        assert!(errs[4].starts_with("`spawn fetch(y)` cannot be used inside a closure"));
        assert!(
            errs[4].contains("call `tg.spawn(fetch(y))` here"),
            "{}",
            errs[4]
        );
        assert!(errs[5].contains("let h = spawn g();") && !errs[5].contains("write its path"));
        assert!(errs[5].contains(advice::FORM_POSITIONS), "{}", errs[5]);
        assert!(errs[6].starts_with("`break` cannot leave the `cancel_scope!` body"));
        assert!(errs[7].starts_with("`continue` cannot leave"));
    }

    #[test]
    fn the_advice_names_the_group_as_written() {
        let mut diag = Diagnostics::default();
        let body = Body::parse(quote! { let f = async { spawn x(); }; }, &mut diag).unwrap();
        let name: Ident = syn::parse_quote!(workers);
        let scope = Scope {
            site: Site::Macro,
            name: Some(&name),
        };
        validate_body(&body, scope, None, &mut diag);
        let msg = &diag.messages()[0];
        assert!(msg.contains("; call `workers.spawn(x())` here"), "{msg}");
        assert!(msg.contains("`let workers = workers.clone();`"), "{msg}");
        let mut diag = Diagnostics::default();
        let body = Body::parse(quote! { let f = || { cancel; }; }, &mut diag).unwrap();
        let attr = Scope {
            site: Site::Attr,
            name: None,
        };
        validate_body(&body, attr, None, &mut diag);
        assert!(diag.messages()[0].contains("`#[cancel_scoped(as tg)]`"));
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
        // The late `limit = 4;` (statement 1) stays an assignment, parenthesised.
        assert_eq!(plan.late_assignments, [1]);
        // In the attribute, an `Ok(..)` tail is an error when `T` is not a `Result`.
        let mut diag = Diagnostics::default();
        let body = Body::parse(quote! { limit = 4; Ok(1) }, &mut diag).unwrap();
        let attr = Scope {
            site: Site::Attr,
            name: None,
        };
        let plan = validate_body(&body, attr, Some(&syn::parse_quote!(u32)), &mut diag);
        assert!(!plan.accepted());
        assert!(diag.messages()[0].starts_with("the body's value is `u32`"));
        assert!(diag.warnings().is_empty());
        let plan = validate_body(
            &body,
            attr,
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
