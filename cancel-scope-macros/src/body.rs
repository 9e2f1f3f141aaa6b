//! Parse stage, second half: the body as typed structures.
//!
//! [`Body::parse`] runs the marking pass (`mark`), parses the marked statements with syn, and
//! walks them once to record *where* each form stands: in the scope body proper, or inside a
//! closure, an `async` block, an item or a `const` block ([`Ctx`]). The same walk cuts out, as
//! forms of their own, what the expansion must rewrite or validation must see: `return` in the
//! body, and `break` / `continue` that would leave it. It records facts only: the rules are
//! `validate`'s, the generated code `expand`'s.

use crate::diagnostics::Diagnostics;
use crate::late::{self, LateOption};
use crate::mark::{self, Marker, Position, RawForm, SpawnSyntax, Spawner};
use crate::select::RawSelect;
use proc_macro2::{Span, TokenStream};
use quote::ToTokens as _;
use syn::parse::{ParseStream, Parser as _};
use syn::spanned::Spanned as _;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, Lifetime, Stmt};

/// Where a form stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ctx {
    Body,
    Closure,
    Async,
    Item,
    Const,
}

impl Ctx {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Ctx::Body => "the scope body",
            Ctx::Closure => "a closure",
            Ctx::Async => "an `async` block",
            Ctx::Item => "a nested item (fn, impl, ...)",
            Ctx::Const => "a `const` block",
        }
    }
}

/// One arm of a `select!` call, its handler parsed.
#[derive(Clone, Debug)]
pub(crate) struct Arm {
    pub(crate) handler: Expr,
}

/// What a form is.
#[derive(Clone, Debug)]
pub(crate) enum FormKind {
    Spawn {
        spawner: Spawner,
        syntax: SpawnSyntax,
        position: Position,
        expr: Expr,
    },
    Cancel,
    /// A `select!` call whose arm handlers may hold forms; `arms` is `None` when a handler
    /// does not parse (the call is then left as written, for the macro to report).
    Select {
        raw: RawSelect,
        arms: Option<Vec<Arm>>,
    },
    /// `return EXPR` in the body (it returns the body's value `T`).
    Return {
        token: Span,
        expr: Option<Expr>,
    },
    /// `break` / `continue` that would leave the body.
    Escape {
        keyword: &'static str,
    },
}

/// A form and where it stands.
#[derive(Clone, Debug)]
pub(crate) struct Form {
    pub(crate) span: Span,
    pub(crate) kind: FormKind,
    pub(crate) ctx: Ctx,
}

/// `Ok` or `Err`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variant {
    Ok,
    Err,
}

/// The body's trailing expression, as far as the macro can tell.
#[derive(Clone, Debug)]
pub(crate) enum Tail {
    /// None, or an expression whose type the macro cannot know.
    Other,
    /// An `Ok(..)` / `Err(..)` call: the value is then a `Result`, almost always a mistake.
    ResultCall {
        variant: Variant,
        /// The span of the call's first token.
        span: Span,
        /// The whole call and its arguments, for messages.
        call: TokenStream,
        args: TokenStream,
    },
}

/// A parsed body.
#[derive(Clone, Debug)]
pub(crate) struct Body {
    /// The statements, with markers in place of the forms.
    pub(crate) stmts: Vec<Stmt>,
    pub(crate) forms: Vec<Form>,
    /// `NAME = ..;` after the first statement, NAME an option name (`late`).
    pub(crate) late_options: Vec<LateOption>,
    /// Arm handlers written `=> cancel,` (a value, not the form).
    pub(crate) arm_cancels: Vec<Span>,
    pub(crate) tail: Tail,
    /// Whether parsing the body reported no error (a form without its future, a handler of a
    /// `select!` that does not parse, ...).
    pub(crate) clean: bool,
}

/// The index of a marker macro, if `mac` is one.
pub(crate) fn marker_index(mac: &syn::Macro) -> Option<usize> {
    if !mac.path.is_ident(mark::MARKER) {
        return None;
    }
    mac.parse_body::<syn::LitInt>().ok()?.base10_parse().ok()
}

fn parse_expr(tokens: TokenStream, diag: &mut Diagnostics) -> Expr {
    match syn::parse2::<Expr>(tokens.clone()) {
        Ok(e) => e,
        Err(e) => {
            diag.push(e);
            Expr::Verbatim(tokens)
        }
    }
}

impl Body {
    /// Parses a body. `None` when the statements do not parse (the error is in `diag`).
    pub(crate) fn parse(tokens: TokenStream, diag: &mut Diagnostics) -> Option<Body> {
        let errors_before = diag.error_count();
        let marked = Marker::new(diag).mark_body(tokens);
        let forms = marked
            .forms
            .into_iter()
            .map(|raw| Form::parse(raw, diag))
            .collect();
        let mut stmts = match (|s: ParseStream<'_>| Block::parse_within(s)).parse2(marked.tokens) {
            Ok(stmts) => stmts,
            Err(e) => {
                diag.push(e);
                return None;
            }
        };
        let mut walk = Placement {
            forms,
            ctx: Vec::new(),
            labels: Vec::new(),
            loops: 0,
        };
        for stmt in &mut stmts {
            walk.visit_stmt_mut(stmt);
        }
        let tail = match stmts.last() {
            Some(Stmt::Expr(Expr::Call(call), None)) => match &*call.func {
                Expr::Path(p) => match p.path.segments.last() {
                    Some(s) if s.arguments.is_none() && (s.ident == "Ok" || s.ident == "Err") => {
                        Tail::ResultCall {
                            variant: if s.ident == "Ok" {
                                Variant::Ok
                            } else {
                                Variant::Err
                            },
                            span: call.span(),
                            call: call.to_token_stream(),
                            args: call.args.to_token_stream(),
                        }
                    }
                    _ => Tail::Other,
                },
                _ => Tail::Other,
            },
            _ => Tail::Other,
        };
        Some(Body {
            late_options: late::find(&stmts),
            stmts,
            forms: walk.forms,
            arm_cancels: marked.arm_cancels,
            tail,
            clean: diag.error_count() == errors_before,
        })
    }
}

impl Form {
    fn parse(raw: RawForm, diag: &mut Diagnostics) -> Form {
        let (span, kind) = match raw {
            RawForm::Spawn {
                span,
                spawner,
                syntax,
                position,
                expr,
            } => {
                let mut expr = parse_expr(expr, diag);
                if let (SpawnSyntax::Call, Expr::Paren(p)) = (syntax, &expr) {
                    expr = (*p.expr).clone();
                }
                let kind = FormKind::Spawn {
                    spawner,
                    syntax,
                    position,
                    expr,
                };
                (span, kind)
            }
            RawForm::Cancel { span } => (span, FormKind::Cancel),
            RawForm::Select(raw) => {
                let arms = raw
                    .arms
                    .iter()
                    .map(|arm| {
                        syn::parse2(arm.handler.clone())
                            .ok()
                            .map(|handler| Arm { handler })
                    })
                    .collect();
                (raw.span, FormKind::Select { raw, arms })
            }
        };
        Form {
            span,
            kind,
            ctx: Ctx::Body,
        }
    }
}

/// The walk that records where each form stands and cuts out `return`, `break`, `continue`.
struct Placement {
    forms: Vec<Form>,
    ctx: Vec<Ctx>,
    /// Labels of loops and blocks inside the body, innermost last.
    labels: Vec<String>,
    /// Loops inside the body around the current point.
    loops: usize,
}

impl Placement {
    fn here(&self) -> Ctx {
        self.ctx.last().copied().unwrap_or(Ctx::Body)
    }

    fn with_ctx(&mut self, ctx: Ctx, f: impl FnOnce(&mut Self)) {
        self.ctx.push(ctx);
        let (labels, loops) = (std::mem::take(&mut self.labels), self.loops);
        self.loops = 0;
        f(self);
        self.labels = labels;
        self.loops = loops;
        self.ctx.pop();
    }

    fn in_loop(&mut self, label: Option<&Lifetime>, counts: bool, f: impl FnOnce(&mut Self)) {
        if let Some(l) = label {
            self.labels.push(l.ident.to_string());
        }
        self.loops += usize::from(counts);
        f(self);
        self.loops -= usize::from(counts);
        if label.is_some() {
            self.labels.pop();
        }
    }

    /// Records a new form and returns its marker expression.
    fn cut(&mut self, span: Span, kind: FormKind) -> Expr {
        let index = self.forms.len();
        self.forms.push(Form {
            span,
            kind,
            ctx: self.here(),
        });
        let mut lit = proc_macro2::Literal::usize_unsuffixed(index);
        lit.set_span(span);
        Expr::Macro(syn::ExprMacro {
            attrs: Vec::new(),
            mac: syn::Macro {
                path: syn::Ident::new(mark::MARKER, span).into(),
                bang_token: syn::Token![!](span),
                delimiter: syn::MacroDelimiter::Paren(syn::token::Paren(span)),
                tokens: proc_macro2::TokenTree::Literal(lit).into(),
            },
        })
    }

    /// A marker: records the context, then walks the form's own expressions.
    fn visit_marker(&mut self, index: usize) {
        let here = self.here();
        let Some(form) = self.forms.get_mut(index) else {
            return;
        };
        form.ctx = here;
        let mut kind = std::mem::replace(&mut form.kind, FormKind::Cancel);
        match &mut kind {
            FormKind::Spawn { expr, .. } => self.visit_expr_mut(expr),
            FormKind::Select { arms, .. } => {
                for arm in arms.iter_mut().flatten() {
                    self.visit_expr_mut(&mut arm.handler);
                }
            }
            FormKind::Cancel | FormKind::Return { .. } | FormKind::Escape { .. } => {}
        }
        self.forms[index].kind = kind;
    }

    fn escapes(&self, label: Option<&Lifetime>) -> bool {
        self.here() == Ctx::Body
            && match label {
                Some(l) => !self.labels.contains(&l.ident.to_string()),
                None => self.loops == 0,
            }
    }
}

impl VisitMut for Placement {
    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(m) = stmt {
            if let Some(index) = marker_index(&m.mac) {
                self.visit_marker(index);
                return;
            }
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Macro(m) => {
                if let Some(index) = marker_index(&m.mac) {
                    self.visit_marker(index);
                }
            }
            Expr::Closure(_) => self.with_ctx(Ctx::Closure, |v| visit_mut::visit_expr_mut(v, expr)),
            Expr::Async(_) => self.with_ctx(Ctx::Async, |v| visit_mut::visit_expr_mut(v, expr)),
            Expr::Const(_) => self.with_ctx(Ctx::Const, |v| visit_mut::visit_expr_mut(v, expr)),
            Expr::Loop(l) => {
                let label = l.label.as_ref().map(|l| l.name.clone());
                self.in_loop(label.as_ref(), true, |v| visit_mut::visit_expr_mut(v, expr));
            }
            Expr::While(l) => {
                let label = l.label.as_ref().map(|l| l.name.clone());
                self.in_loop(label.as_ref(), true, |v| visit_mut::visit_expr_mut(v, expr));
            }
            Expr::ForLoop(l) => {
                let label = l.label.as_ref().map(|l| l.name.clone());
                self.in_loop(label.as_ref(), true, |v| visit_mut::visit_expr_mut(v, expr));
            }
            Expr::Block(b) if b.label.is_some() => {
                let label = b.label.as_ref().map(|l| l.name.clone());
                self.in_loop(label.as_ref(), false, |v| {
                    visit_mut::visit_expr_mut(v, expr);
                });
            }
            Expr::Return(r) if self.here() == Ctx::Body => {
                if let Some(e) = &mut r.expr {
                    self.visit_expr_mut(e);
                }
                let token = r.return_token.span;
                let kind = FormKind::Return {
                    token,
                    expr: r.expr.take().map(|e| *e),
                };
                *expr = self.cut(token, kind);
            }
            Expr::Break(b) if self.escapes(b.label.as_ref()) => {
                let span = b.break_token.span;
                *expr = self.cut(span, FormKind::Escape { keyword: "break" });
            }
            Expr::Continue(c) if self.escapes(c.label.as_ref()) => {
                let span = c.continue_token.span;
                *expr = self.cut(
                    span,
                    FormKind::Escape {
                        keyword: "continue",
                    },
                );
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, item: &mut syn::Item) {
        self.with_ctx(Ctx::Item, |v| visit_mut::visit_item_mut(v, item));
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
