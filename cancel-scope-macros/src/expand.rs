//! Expand stage: every token the macros generate, from validated structures only.
//!
//! The scope expression, against the runtime's public API:
//!
//! ```text
//! {
//!     let __scope = ::cancel_scope::CancelScope::new()   // or ::<E>::with_error()
//!         .parent(&(a)).timeout(d).grace(g).limit(n);    // one call per option, in order
//!     let __tg = __scope.group();
//!     let tg = ::core::clone::Clone::clone(&__tg);       // `as tg;`
//!     let __out = __scope.run(async {                   // `async` and `.await`: the
//!         let __v = { BODY };                            // span of the macro's name
//!         #[allow(unreachable_code)]
//!         let __r = ::core::result::Result::Ok(__v);
//!         __r
//!     }).await;
//!     __out                                              // an `Ok(..)` tail's span
//! }
//! ```
//!
//! and in `BODY`, each form's replacement:
//!
//! ```text
//! spawn EXPR            __tg.spawn(EXPR)
//! cancel;               { __tg.cancel(); match ::core::future::pending::<Infallible>().await {} };
//! return EXPR           return ::core::result::Result::Ok(EXPR)
//! limit = n;            (limit) = n;     // a late option: an assignment, without rustc's `let` hint
//! select! { p = f => { spawn x; } }   select! { p = f => { __tg.spawn(x); } }
//! ```
//!
//! `cancel;` never finishes: the scope drops the body as soon as it sees the cancel, so nothing
//! after it runs (no further loop iteration, no re-poll of a finished future in a `select!`
//! arm). `__scope`, `__tg`, `__v`, `__r` and `__out` are `Span::mixed_site()` identifiers, invisible to
//! the body. The async block is not `move`: the body may borrow the caller's locals. Warnings
//! are calls of `#[deprecated]` items of the runtime's `__private` module at the user's span.

use crate::attr::FnItem;
use crate::body::{Body, FormKind, Tail, Variant, marker_index};
use crate::diagnostics::Warning;
use crate::mark::Spawner;
use crate::options::{OptKind, OptValue};
use crate::validate::{Action, Config, Plan};
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens as _, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, ExprParen, Ident, Stmt, Type};

fn mixed(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The builder chain `CancelScope::new().parent(..)...`. A new option's expansion goes in the
/// `match` (it is exhaustive, so the compiler lists the place).
pub(crate) fn builder(config: &Config, error_ty: Option<&Type>) -> TokenStream {
    let krate = &config.krate;
    let mut out = if let Some(ty) = error_ty {
        quote_spanned!(ty.span()=> #krate::CancelScope::<#ty>::with_error())
    } else {
        quote!(#krate::CancelScope::new())
    };
    for (kind, value) in &config.builder {
        match (kind, value) {
            (OptKind::Parent, OptValue::List(parents)) => {
                for p in parents {
                    out.extend(quote_spanned!(p.span()=> .parent(&(#p))));
                }
            }
            (OptKind::Timeout, OptValue::Expr(d)) => {
                out.extend(quote_spanned!(d.span()=> .timeout(#d)));
            }
            (OptKind::Deadline, OptValue::Expr(at)) => {
                out.extend(quote_spanned!(at.span()=> .deadline(#at)));
            }
            (OptKind::Grace, OptValue::Expr(g)) => {
                out.extend(quote_spanned!(g.span()=> .grace(#g)));
            }
            (OptKind::Limit, OptValue::Expr(n)) => {
                out.extend(quote_spanned!(n.span()=> .limit(#n)));
            }
            (OptKind::CancelOn, OptValue::List(signals)) => {
                for signal in signals {
                    out.extend(quote_spanned!(signal.span()=> .cancel_on(#signal)));
                }
            }
            (OptKind::Supervise, OptValue::Flag) => out.extend(quote!(.supervise())),
            // Not builder calls (`validate::Config` keeps them apart), or a value of another
            // shape (the table makes that impossible).
            (
                OptKind::Parent
                | OptKind::Timeout
                | OptKind::Deadline
                | OptKind::Grace
                | OptKind::Limit
                | OptKind::CancelOn
                | OptKind::Supervise
                | OptKind::Error
                | OptKind::Crate,
                _,
            ) => {}
        }
    }
    out
}

/// `tokens` with every token's span set to `span`.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect()
}

/// The name of the runtime's `__private` item that raises the warning for a late option:
/// rustc's headline ("use of deprecated function `..::__private::NAME`") reads as the advice.
pub(crate) fn late_option_item(kind: OptKind) -> String {
    format!(
        "{}_is_an_option__move_it_above_the_first_statement",
        kind.name()
    )
}

/// The statements that raise the warnings: calls of the runtime's `#[deprecated]` items, at
/// the user's span.
pub(crate) fn warnings(config: &Config, warnings: &[Warning]) -> TokenStream {
    let mut out = TokenStream::new();
    for w in warnings {
        let (span, item) = match *w {
            Warning::LateOption { kind, span } => (span, late_option_item(kind)),
            Warning::BodyValueIsResult { variant, span } => {
                let item = match variant {
                    Variant::Ok => "body_value_is_T__write_v_instead_of_Ok_v",
                    Variant::Err => "body_value_is_T__write_Err_e_question_mark_to_fail",
                };
                (span, item.to_owned())
            }
            Warning::ArmCancelIsAValue { span } => (
                span,
                "cancel_in_an_arm_is_a_statement__write_a_block_with_cancel".to_owned(),
            ),
        };
        let krate = respan(&config.krate, span);
        let item = Ident::new(&item, span);
        out.extend(quote_spanned!(span=> #krate::__private::#item();));
    }
    out
}

/// The span rustc shows for what the macro call as a whole does (it awaits; its body is a
/// coroutine): the start of the `cancel_scope!` call, one caret on the macro's name, rather
/// than the whole call. Where `proc_macro::Span::start` is not available (Rust < 1.88, or
/// outside a macro, as in unit tests), the whole call.
pub(crate) fn macro_name_span() -> Span {
    // `span_start` is set by the build script on Rust >= 1.88 only.
    #[cfg(span_start)]
    #[allow(clippy::incompatible_msrv)]
    if proc_macro::is_available() {
        return proc_macro::Span::call_site().start().into();
    }
    Span::call_site()
}

/// Replaces every marker of the body by its expansion.
struct Rewrite<'a> {
    body: &'a Body,
    plan: &'a Plan,
    /// Whether a form needs the group handle `__tg`.
    used_tg: bool,
    /// Whether a form spawns a local task (the scope then runs with `__locals`).
    used_locals: bool,
}

impl Rewrite<'_> {
    fn expand(&mut self, index: usize) -> Expr {
        let (Some(form), Some(&action)) =
            (self.body.forms.get(index), self.plan.actions.get(index))
        else {
            return Expr::Verbatim(quote!(::core::unreachable!()));
        };
        let span = form.span;
        let tg = Ident::new("__tg", Span::mixed_site().located_at(span));
        let tokens = match (&form.kind, action) {
            (FormKind::Spawn { spawner, expr, .. }, Action::Spawn) => {
                let arg = self.rewritten(expr);
                // Who spawns, with which method, for each spawn-like form.
                let (owner, method) = match spawner {
                    Spawner::Task => {
                        self.used_tg = true;
                        (tg, "spawn")
                    }
                    Spawner::Local => {
                        self.used_locals = true;
                        (
                            Ident::new("__locals", Span::mixed_site().located_at(span)),
                            "spawn",
                        )
                    }
                };
                let method = Ident::new(method, span);
                let dot = quote_spanned!(span=> .);
                // The argument keeps its own spans, so "not a future", "not Send" and borrow
                // errors point at the user's expression.
                quote!(#owner #dot #method(#arg))
            }
            (FormKind::Spawn { spawner, expr, .. }, Action::CallAsWritten) => {
                let arg = self.rewritten(expr);
                let name = Ident::new(spawner.keyword(), span);
                quote!(#name(#arg))
            }
            (FormKind::Cancel, Action::Cancel) => {
                self.used_tg = true;
                quote_spanned! {span=>
                    {
                        #tg.cancel();
                        match ::core::future::pending::<::core::convert::Infallible>().await {}
                    }
                }
            }
            (FormKind::Select { raw, arms: None }, Action::Select) => raw.original.clone(),
            (
                FormKind::Select {
                    raw,
                    arms: Some(arms),
                },
                Action::Select,
            ) => {
                let mut args = TokenStream::new();
                for (arm, parsed) in raw.arms.iter().zip(arms) {
                    args.extend(arm.head.clone());
                    args.extend(arm.arrow.clone());
                    args.extend(self.rewritten(&parsed.handler).into_token_stream());
                    args.extend(arm.comma.clone());
                }
                args.extend(raw.rest.clone());
                let mut group = proc_macro2::Group::new(raw.delimiter, args);
                group.set_span(raw.span);
                let mut out = raw.path.clone();
                out.extend([TokenTree::Group(group)]);
                out
            }
            (FormKind::Return { token, expr }, Action::Return) => {
                let value = if let Some(e) = expr {
                    self.rewritten(e).into_token_stream()
                } else {
                    quote_spanned!(*token=> ())
                };
                quote_spanned!(*token=> return ::core::result::Result::Ok(#value))
            }
            _ => quote_spanned!(span=> ::core::unreachable!()),
        };
        Expr::Verbatim(tokens)
    }

    fn rewritten(&mut self, expr: &Expr) -> Expr {
        let mut expr = expr.clone();
        self.visit_expr_mut(&mut expr);
        expr
    }
}

impl VisitMut for Rewrite<'_> {
    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(m) = stmt {
            if let Some(index) = marker_index(&m.mac) {
                *stmt = Stmt::Expr(self.expand(index), m.semi_token);
                return;
            }
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::Macro(m) = expr {
            if let Some(index) = marker_index(&m.mac) {
                *expr = self.expand(index);
                return;
            }
        }
        visit_mut::visit_expr_mut(self, expr);
    }
}

/// The scope expression for a validated body; `head` is the span of what the call as a whole
/// does (`macro_name_span` for `cancel_scope!`).
pub(crate) fn scope_expr(
    config: &Config,
    error_ty: Option<&Type>,
    body: &Body,
    plan: &Plan,
    warnings: TokenStream,
    head: Span,
) -> TokenStream {
    let mut rewrite = Rewrite {
        body,
        plan,
        used_tg: false,
        used_locals: false,
    };
    let mut stmts = body.stmts.clone();
    for stmt in &mut stmts {
        rewrite.visit_stmt_mut(stmt);
    }
    for &index in &plan.late_assignments {
        if let Some(Stmt::Expr(Expr::Assign(assign), _)) = stmts.get_mut(index) {
            let left = std::mem::replace(&mut *assign.left, Expr::Verbatim(TokenStream::new()));
            *assign.left = Expr::Paren(ExprParen {
                attrs: Vec::new(),
                paren_token: syn::token::Paren(left.span()),
                expr: Box::new(left),
            });
        }
    }
    let tail_span = match body.tail {
        Tail::ResultCall { span, .. } => Some(span),
        Tail::Other => None,
    };
    scope_around(
        config,
        error_ty,
        stmts,
        Uses {
            tg: rewrite.used_tg,
            locals: rewrite.used_locals,
        },
        warnings,
        (head, tail_span),
    )
}

/// Which hidden handles the expanded body uses.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Uses {
    /// The group handle `__tg` (spawn, cancel).
    pub(crate) tg: bool,
    /// The local tasks' `__locals` (`spawn_local`).
    pub(crate) locals: bool,
}

/// The scope expression around already expanded statements. The body's `async` and the
/// `.await` carry `head`, so that "`await` is only allowed inside `async` functions" and
/// "value captured here by coroutine" point at the macro's name. With `tail_span`, the scope's
/// value carries that span, so that a type mismatch of the body's value is reported on the
/// tail expression rather than on the whole macro.
pub(crate) fn scope_around(
    config: &Config,
    error_ty: Option<&Type>,
    mut stmts: Vec<Stmt>,
    uses: Uses,
    warnings: TokenStream,
    (head, tail_span): (Span, Option<Span>),
) -> TokenStream {
    let used_tg = uses.tg;
    let scope = mixed("__scope");
    let tg = mixed("__tg");
    let locals = mixed("__locals");
    let krate = &config.krate;
    let v = mixed("__v");
    let r = mixed("__r");
    let build = builder(config, error_ty);
    // Without a trailing expression the block's value is `()` (or `!` after `cancel;`): no
    // `()` is written, since one after a diverging statement would warn as unreachable.
    let tail = match stmts.last() {
        Some(Stmt::Expr(_, None)) => match stmts.pop() {
            Some(Stmt::Expr(e, None)) => e.into_token_stream(),
            _ => quote!(),
        },
        _ => quote!(),
    };
    let group = match (&config.name, used_tg) {
        (Some(name), true) => quote! {
            let #tg = #scope.group();
            let #name = ::core::clone::Clone::clone(&#tg);
        },
        (Some(name), false) => quote!(let #name = #scope.group();),
        (None, true) => quote!(let #tg = #scope.group();),
        (None, false) => quote!(),
    };
    let out = mixed("__out");
    let value = Ident::new(
        "__out",
        Span::mixed_site().located_at(tail_span.unwrap_or_else(Span::call_site)),
    );
    let async_kw = quote_spanned!(head=> async);
    let await_kw = quote_spanned!(head=> .await);
    let body = quote! {
        #async_kw {
            #warnings
            let #v = { #(#stmts)* #tail };
            #[allow(unreachable_code)]
            let #r = ::core::result::Result::Ok(#v);
            #r
        }
    };
    // With local tasks, the `Locals` is declared first (dropped last: the run future borrows
    // it) and the scope runs with it. The DSL's local tasks may be `!Send` (an `Rc`, a
    // `RefCell` borrow across an await), so the scope's future is then `!Send`; a `Send` one
    // with borrowing local tasks is the runtime API's `Locals::new()` + `run_with_locals`.
    let (locals_decl, run) = if uses.locals {
        (
            quote!(let #locals = #krate::Locals::unsend();),
            quote!(#scope.run_with_locals(&#locals, #body)),
        )
    } else {
        (quote!(), quote!(#scope.run(#body)))
    };
    quote! {
        {
            #locals_decl
            let #scope = #build;
            #group
            let #out = #run #await_kw;
            #value
        }
    }
}

/// The function with `body` (an expression) as its whole body, its signature as written.
pub(crate) fn fn_with_body(item: &FnItem, body: TokenStream) -> TokenStream {
    let attrs = &item.attrs;
    let vis = &item.vis;
    let sig = &item.sig;
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}

#[cfg(test)]
#[path = "expand_tests.rs"]
mod tests;
