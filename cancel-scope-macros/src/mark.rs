//! Parse stage, first half: finding the body forms in the token stream.
//!
//! The forms (`spawn EXPR`, `cancel;`) are not Rust syntax, so syn cannot parse them. This
//! token-level pass looks at form positions (the start of a statement, after a statement-level
//! `=`, after a match arm's `=>`, in the arm handlers of `select!`), cuts each form out and
//! leaves a marker `__cancel_scope_private_form!(N)` in its place, `N` indexing the
//! [`RawForm`] table it returns. Spans are the user's. It never decides whether a form is
//! allowed where it stands (that needs syn's view of closures and `async` blocks, see
//! `body`), and never generates code.
//!
//! It descends into every group except macro-call arguments (a nested `cancel_scope!` handles
//! its own forms); the arguments of `select!` / `select_biased!` (any path ending in those
//! names) are split into arms, and only the arm handlers are marked.

use crate::diagnostics::Diagnostics;
use crate::lexical::{
    arm_end, find_punct, is_arrow_at, is_ident, is_keyword, is_macro_args, is_paren, is_punct,
    standalone_eq, starts_future,
};
use crate::select::{self, RawSelect};
use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// The marker macro's name. It never reaches the output: the expand stage replaces every one.
pub(crate) const MARKER: &str = "__cancel_scope_private_form";

/// The spawn-like forms, by keyword. A new one (`spawn_local EXPR;`) is a variant and its
/// keyword here, plus its runtime call in `expand` (an exhaustive `match` there); marking,
/// placement rules and messages follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spawner {
    /// `spawn EXPR`: a task of the group (`TaskGroup::spawn`).
    Task,
    /// `spawn_local EXPR`: a local task, polled inside the scope's own `run` future
    /// (`Locals::spawn`); it may borrow what outlives the scope expression.
    Local,
}

impl Spawner {
    pub(crate) const ALL: &[Spawner] = &[Spawner::Task, Spawner::Local];

    /// The form's keyword.
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            Spawner::Task => "spawn",
            Spawner::Local => "spawn_local",
        }
    }

    pub(crate) fn from_keyword(ident: &Ident) -> Option<Spawner> {
        Spawner::ALL.iter().copied().find(|s| ident == s.keyword())
    }
}

/// How a `spawn` form was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpawnSyntax {
    /// `spawn EXPR` (the macro's keyword form).
    Keyword,
    /// `spawn(EXPR)` (the attribute's form, also accepted by the macro).
    Call,
}

/// Where a form stands in its statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// A form position: a statement start, after `let PAT =` / `place =`, after `=>`.
    Statement,
    /// Inside an expression (`f(spawn x)`, `v.push(spawn(f()))`).
    Expression,
}

/// A form as cut out of the tokens.
#[derive(Clone, Debug)]
pub(crate) enum RawForm {
    Spawn {
        span: Span,
        spawner: Spawner,
        syntax: SpawnSyntax,
        position: Position,
        /// The future expression, its own forms already marked.
        expr: TokenStream,
    },
    Cancel {
        span: Span,
    },
    Select(RawSelect),
}

/// What the marking pass found.
#[derive(Debug, Default)]
pub(crate) struct Marked {
    /// The statements with markers in place of the forms.
    pub(crate) tokens: TokenStream,
    pub(crate) forms: Vec<RawForm>,
    /// Arm handlers that are the bare identifier `cancel` (a value, not the form).
    pub(crate) arm_cancels: Vec<Span>,
}

/// Whether a token sequence is the body itself or a nested block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// The scope body: `spawn` with nothing after it is an error.
    Top,
    /// A nested group: `{ spawn }` may be the struct shorthand `S { spawn }`.
    Nested,
}

/// Whether a token sequence holds statements or one expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seq {
    Stmts,
    Expr,
}

/// A marker `__cancel_scope_private_form!(index)` with the span of the form's keyword (its
/// delimiter that of the macro call it replaces, so that `select! { .. }` needs no `;`).
fn marker(index: usize, span: Span, delimiter: Delimiter) -> [TokenTree; 3] {
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    let mut lit = Literal::usize_unsuffixed(index);
    lit.set_span(span);
    let mut group = Group::new(delimiter, TokenTree::Literal(lit).into());
    group.set_span(span);
    [
        TokenTree::Ident(Ident::new(MARKER, span)),
        TokenTree::Punct(bang),
        TokenTree::Group(group),
    ]
}

/// The marking pass and its state.
#[derive(Debug)]
pub(crate) struct Marker<'d> {
    forms: Vec<RawForm>,
    arm_cancels: Vec<Span>,
    diag: &'d mut Diagnostics,
}

impl<'d> Marker<'d> {
    pub(crate) fn new(diag: &'d mut Diagnostics) -> Self {
        Marker {
            forms: Vec::new(),
            arm_cancels: Vec::new(),
            diag,
        }
    }

    /// Marks a whole body.
    pub(crate) fn mark_body(mut self, body: TokenStream) -> Marked {
        let tokens: Vec<TokenTree> = body.into_iter().collect();
        let tokens = self.mark_seq(&tokens, Level::Top, Seq::Stmts);
        Marked {
            tokens,
            forms: self.forms,
            arm_cancels: self.arm_cancels,
        }
    }

    fn push_form(&mut self, form: RawForm, span: Span, out: &mut Vec<TokenTree>) {
        let delimiter = match &form {
            RawForm::Select(select) => select.delimiter,
            RawForm::Spawn { .. } | RawForm::Cancel { .. } => Delimiter::Parenthesis,
        };
        out.extend(marker(self.forms.len(), span, delimiter));
        self.forms.push(form);
    }

    /// Marks an arm handler of `select!` (tokens up to the arm's `,`), by the rules of a
    /// `match` arm: `=> spawn EXPR` / `=> spawn(EXPR)` unbraced, anything in a block. The
    /// unbraced spawn becomes `{ spawn EXPR; }`, of type `()`.
    pub(crate) fn mark_arm_handler(&mut self, tokens: &[TokenTree]) -> TokenStream {
        if let [TokenTree::Ident(id)] = tokens {
            if id == "cancel" {
                self.arm_cancels.push(id.span());
            }
        }
        if let [TokenTree::Ident(id), rest @ ..] = tokens {
            if let Some(spawner) = Spawner::from_keyword(id).filter(|_| starts_future(rest.first()))
            {
                let syntax = if is_paren(rest.first()) {
                    SpawnSyntax::Call
                } else {
                    SpawnSyntax::Keyword
                };
                let expr = self.mark_seq(rest, Level::Nested, Seq::Expr);
                let mut out = Vec::new();
                let form = RawForm::Spawn {
                    span: id.span(),
                    spawner,
                    syntax,
                    position: Position::Statement,
                    expr,
                };
                self.push_form(form, id.span(), &mut out);
                // Run for its effect, like `=> { spawn EXPR; }`: every arm of a `select!` has
                // the same type, and the others are usually blocks of type `()`.
                out.push(TokenTree::Punct(Punct::new(';', Spacing::Alone)));
                let mut block = Group::new(Delimiter::Brace, out.into_iter().collect());
                block.set_span(id.span());
                return TokenTree::Group(block).into();
            }
        }
        self.mark_seq(tokens, Level::Nested, Seq::Expr)
    }

    /// Marks the forms in `tokens`: a block's statements or an expression.
    // One pass over a token sequence with the statement-start state in locals; split up, that
    // state would have to be threaded through every piece.
    #[allow(clippy::too_many_lines)]
    fn mark_seq(&mut self, tokens: &[TokenTree], level: Level, seq: Seq) -> TokenStream {
        let stmts = seq == Seq::Stmts;
        let mut out: Vec<TokenTree> = Vec::with_capacity(tokens.len());
        let mut at_start = stmts;
        let mut i = 0;
        while i < tokens.len() {
            let tt = &tokens[i];
            let next = tokens.get(i + 1);
            // Outer attributes keep a statement start.
            if at_start
                && is_punct(Some(tt), '#')
                && matches!(next, Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket)
            {
                out.extend(tokens[i..i + 2].iter().cloned());
                i += 2;
                continue;
            }
            if let TokenTree::Ident(id) = tt {
                if let Some(spawner) = Spawner::from_keyword(id) {
                    let after_eq = stmts && i > 0 && standalone_eq(tokens, i - 1);
                    let after_arrow = stmts && i >= 2 && is_arrow_at(tokens, i - 2);
                    let position = if at_start || after_eq || after_arrow {
                        Position::Statement
                    } else {
                        Position::Expression
                    };
                    let not_path = i == 0
                        || !(is_punct(tokens.get(i - 1), '.')
                            || is_punct(tokens.get(i - 1), ':')
                            || is_ident(tokens.get(i - 1), "fn"));
                    let paren = is_paren(next);
                    let is_form = match position {
                        Position::Statement => starts_future(next),
                        // `spawn x` inside an expression is a misplaced form; `spawn(x)` is one
                        // unless it is a path (`tokio::spawn(x)`), a method or a declaration.
                        Position::Expression => not_path && starts_future(next),
                    };
                    if is_form {
                        let end = if after_arrow {
                            arm_end(tokens, i)
                        } else if position == Position::Expression && paren {
                            i + 2
                        } else {
                            find_punct(tokens, i + 1, &[';'])
                        };
                        let expr = self.mark_seq(&tokens[i + 1..end], Level::Nested, Seq::Expr);
                        let syntax = if paren {
                            SpawnSyntax::Call
                        } else {
                            SpawnSyntax::Keyword
                        };
                        let form = RawForm::Spawn {
                            span: id.span(),
                            spawner,
                            syntax,
                            position,
                            expr,
                        };
                        self.push_form(form, id.span(), &mut out);
                        at_start = false;
                        i = end;
                        continue;
                    }
                    let nothing_after = next.is_none()
                        || is_punct(next, ';')
                        || (after_arrow && is_punct(next, ','));
                    let may_be_shorthand =
                        level == Level::Nested && i == 0 && stmts && next.is_none();
                    if position == Position::Statement && nothing_after && !may_be_shorthand {
                        let kw = spawner.keyword();
                        self.diag.error(
                            id.span(),
                            format_args!(
                                "`{kw}` needs a future to spawn: `{kw} EXPR;` (for example `{kw} async {{ .. }};`)"
                            ),
                        );
                        out.push(TokenTree::Group(Group::new(
                            Delimiter::Parenthesis,
                            TokenStream::new(),
                        )));
                        at_start = false;
                        i += 1;
                        continue;
                    }
                } else if id == "cancel"
                    && stmts
                    && i >= 2
                    && is_arrow_at(tokens, i - 2)
                    && (next.is_none() || is_punct(next, ','))
                {
                    self.arm_cancels.push(id.span());
                } else if id == "cancel" && at_start {
                    if is_punct(next, ';') {
                        self.push_form(RawForm::Cancel { span: id.span() }, id.span(), &mut out);
                        at_start = false;
                        i += 1;
                        continue;
                    }
                    let extra = match next {
                        Some(TokenTree::Ident(n)) => !is_keyword(&n.to_string()),
                        Some(TokenTree::Literal(_)) => true,
                        _ => false,
                    };
                    if extra {
                        let end = find_punct(tokens, i + 1, &[';']);
                        let extra: TokenStream = tokens[i + 1..end].iter().cloned().collect();
                        self.diag.push(syn::Error::new_spanned(
                            extra,
                            "`cancel` takes nothing after it: write `cancel;` to cancel this scope's group \
                             (to cancel another group, call `.cancel()` on its handle)",
                        ));
                        self.push_form(RawForm::Cancel { span: id.span() }, id.span(), &mut out);
                        at_start = false;
                        i = end;
                        continue;
                    }
                }
            }
            match tt {
                TokenTree::Group(g) if is_macro_args(tokens, i) => {
                    if select::is_select_call(&out) {
                        let raw = select::split(g, &mut out, self);
                        let span = raw.span;
                        self.push_form(RawForm::Select(raw), span, &mut out);
                    } else {
                        out.push(tt.clone());
                    }
                    // `m! { .. }` is a whole statement; the next token starts another.
                    at_start = stmts && g.delimiter() == Delimiter::Brace;
                }
                TokenTree::Group(g) => {
                    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                    let is_block = g.delimiter() == Delimiter::Brace;
                    let content = self.mark_seq(
                        &inner,
                        Level::Nested,
                        if is_block { Seq::Stmts } else { Seq::Expr },
                    );
                    let mut new = Group::new(g.delimiter(), content);
                    new.set_span(g.span());
                    out.push(TokenTree::Group(new));
                    at_start = stmts && is_block;
                }
                TokenTree::Punct(p) if p.as_char() == ';' => {
                    out.push(tt.clone());
                    at_start = stmts;
                }
                _ => {
                    out.push(tt.clone());
                    at_start = false;
                }
            }
            i += 1;
        }
        out.into_iter().collect()
    }
}

/// The span of the first keyword-form `spawn EXPR` (not `spawn(EXPR)`) in a body, if any.
#[cfg(test)]
pub(crate) fn first_keyword_spawn(marked: &Marked) -> Option<Span> {
    marked.forms.iter().find_map(|f| match f {
        RawForm::Spawn {
            span,
            syntax: SpawnSyntax::Keyword,
            ..
        } => Some(*span),
        _ => None,
    })
}

#[cfg(test)]
#[path = "mark_tests.rs"]
mod tests;
