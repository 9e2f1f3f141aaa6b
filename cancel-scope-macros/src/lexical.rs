//! Token-level predicates the marking pass (`mark`) and the `select!` splitter share: which
//! tokens are keywords, where a statement-level `=` or a `=>` stands, whether a group is a
//! macro call's arguments. They look at `proc_macro2` tokens only, before syn sees anything.

use crate::mark::Spawner;
use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use syn::Expr;
use syn::parse::{ParseStream, Parser as _};

/// Rust keywords; an identifier that is one of these cannot be a plain value.
const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Keywords that can start the expression after `spawn`.
const EXPR_KEYWORDS: &[&str] = &[
    "async", "move", "unsafe", "loop", "match", "while", "self", "Self", "super", "crate", "if",
    "for",
];

/// Is `name` a Rust keyword?
pub(crate) fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

/// Is `tt` the punctuation `c`?
pub(crate) fn is_punct(tt: Option<&TokenTree>, c: char) -> bool {
    matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

/// Is `tt` the identifier `name`?
pub(crate) fn is_ident(tt: Option<&TokenTree>, name: &str) -> bool {
    matches!(tt, Some(TokenTree::Ident(i)) if i == name)
}

/// Is `tt` a parenthesised group?
pub(crate) fn is_paren(tt: Option<&TokenTree>) -> bool {
    matches!(tt, Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis)
}

/// Can `next` start the future expression of the keyword form `spawn EXPR`? Only tokens for
/// which `spawn NEXT` is not valid Rust, so that `spawn.x`, `spawn = 1`, `spawn::f()`,
/// `spawn!(..)`, `spawn => ..` and `S { spawn, .. }` stay ordinary Rust.
pub(crate) fn starts_future(next: Option<&TokenTree>) -> bool {
    match next {
        Some(TokenTree::Ident(i)) => {
            let s = i.to_string();
            !KEYWORDS.contains(&s.as_str()) || EXPR_KEYWORDS.contains(&s.as_str())
        }
        Some(TokenTree::Literal(_)) => true,
        Some(TokenTree::Group(g)) => {
            matches!(g.delimiter(), Delimiter::Parenthesis | Delimiter::None)
        }
        _ => false,
    }
}

/// Is `tokens[i]` (a group) the argument list of a macro call (`path!(..)`, `m! {..}`,
/// `macro_rules! name {..}`)?
pub(crate) fn is_macro_args(tokens: &[TokenTree], i: usize) -> bool {
    let prev = |k: usize| i.checked_sub(k).and_then(|j| tokens.get(j));
    if is_punct(prev(1), '!') {
        if let Some(TokenTree::Ident(id)) = prev(2) {
            return !KEYWORDS.contains(&id.to_string().as_str());
        }
        return false;
    }
    matches!(prev(1), Some(TokenTree::Ident(_)))
        && is_punct(prev(2), '!')
        && is_ident(prev(3), "macro_rules")
}

/// Index of the first token at or after `from` that is one of `terms` at this level.
pub(crate) fn find_punct(tokens: &[TokenTree], from: usize, terms: &[char]) -> usize {
    (from..tokens.len())
        .find(|&j| matches!(&tokens[j], TokenTree::Punct(p) if terms.contains(&p.as_char())))
        .unwrap_or(tokens.len())
}

/// Is `tokens[k]` an `=` that is an assignment or a `let` initialiser (not part of `==`,
/// `+=`, `<=`, `=>`, ...)?
pub(crate) fn standalone_eq(tokens: &[TokenTree], k: usize) -> bool {
    let Some(TokenTree::Punct(p)) = tokens.get(k) else {
        return false;
    };
    if p.as_char() != '=' || p.spacing() != Spacing::Alone {
        return false;
    }
    !matches!(k.checked_sub(1).map(|j| &tokens[j]), Some(TokenTree::Punct(q)) if q.spacing() == Spacing::Joint)
}

/// Do `tokens[i]` and `tokens[i + 1]` spell `=>`?
pub(crate) fn is_arrow_at(tokens: &[TokenTree], i: usize) -> bool {
    matches!((tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == '=' && a.spacing() == Spacing::Joint && b.as_char() == '>')
}

/// Where an unbraced arm handler (of a `match` or a `select!`) starting at `start` ends: after the Rust expression there (so
/// that a `,` inside `f::<A, B>()` does not end it), or at the next top-level `,` when the
/// tokens are not an expression (`;` ends it too). A leading spawn-like keyword is skipped over.
pub(crate) fn arm_end(tokens: &[TokenTree], start: usize) -> usize {
    let comma = |j: usize| matches!(tokens.get(j), Some(TokenTree::Punct(p)) if p.as_char() == ',' || p.as_char() == ';');
    let next_comma = (start..tokens.len())
        .find(|&j| comma(j))
        .unwrap_or(tokens.len());
    let skip = usize::from(
        matches!(tokens.get(start), Some(TokenTree::Ident(i)) if Spawner::from_keyword(i).is_some())
            && starts_future(tokens.get(start + 1)),
    );
    let from = (start + skip).min(tokens.len());
    let stream: TokenStream = tokens[from..].iter().cloned().collect();
    let total = tokens.len() - from;
    let rest = (|s: ParseStream<'_>| {
        s.parse::<Expr>()?;
        s.parse::<TokenStream>()
    })
    .parse2(stream);
    match rest {
        Ok(rest) => {
            let end = from + total - rest.into_iter().count();
            if end == tokens.len() || comma(end) {
                end
            } else {
                next_comma
            }
        }
        Err(_) => next_comma,
    }
}
