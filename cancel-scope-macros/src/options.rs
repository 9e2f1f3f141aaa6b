//! The options, described once: the [`OptKind`] table (name, value shape, what the value should
//! look like, where it may be written), the value grammar every shape shares, and the
//! "did you mean" search over the table. The parse stage (`args`) records what was written;
//! whether a combination is allowed is `validate`'s job.
//!
//! Adding an option:
//!
//! 1. one row of `options_table!` below: `Supervise => "supervise", Flag, Sites::Both,
//!    "nothing";` (a flag: `supervise;` in the macro, `supervise` in the attribute) or
//!    `CancelOn => "cancel_on", ExprList, Sites::Both, "one or more futures (..)";` (a list:
//!    `cancel_on = a, b;` / `cancel_on = [a, b]`);
//! 2. its expansion: one arm of the exhaustive `match` in `expand::builder`
//!    (`(OptKind::Supervise, OptValue::Flag) => out.extend(quote!(.supervise()))`, or one
//!    `.cancel_on(#e)` per expression of `OptValue::List`);
//! 3. if NAME can be assigned (it is not a keyword), one row in the runtime's
//!    `__private::late_option!` list, for the late-option warning: the item
//!    `NAME_is_an_option__move_it_above_the_first_statement` (`expand::late_option_item`) and
//!    its note, worded as the other rows' (a unit test checks it).
//!
//! Parsing, "did you mean", the list of valid names, duplicates and the attribute's argument
//! grammar follow from the row.

use proc_macro2::Span;
use quote::ToTokens as _;
use std::fmt::Write as _;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Path, Token, Type};

/// What an option's value looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// No value: `NAME;` in the macro, `NAME` in the attribute.
    Flag,
    /// One expression.
    Expr,
    /// One or more expressions: `a, b` (macro only) or `[a, b]` or `a`.
    ExprList,
    /// A type.
    Type,
    /// A module path (`::cancel_scope`).
    Path,
}

/// Where an option may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sites {
    /// In `cancel_scope!` and in `#[cancel_scoped(..)]`.
    Both,
    /// In `cancel_scope!` only; the attribute reports this message instead.
    MacroOnly(&'static str),
}

/// Where options are being parsed: grammar differs slightly (`;` vs `,`, `parent = a, b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Site {
    Macro,
    Attr,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) shape: Shape,
    /// What the value should look like, for messages.
    pub(crate) expects: &'static str,
    pub(crate) sites: Sites,
}

macro_rules! options_table {
    ($($kind:ident => $name:literal, $shape:ident, $sites:expr, $expects:literal;)*) => {
        /// Which option a line sets. `as NAME` is not in the table: it binds a name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum OptKind {
            $($kind,)*
        }

        impl OptKind {
            /// Every option, in documentation order.
            pub(crate) const ALL: &[OptKind] = &[$(OptKind::$kind,)*];

            /// The option's row.
            pub(crate) fn spec(self) -> &'static Spec {
                match self {
                    $(OptKind::$kind => &Spec {
                        name: $name,
                        shape: Shape::$shape,
                        expects: $expects,
                        sites: $sites,
                    },)*
                }
            }
        }
    };
}

options_table! {
    Parent => "parent", ExprList, Sites::Both,
        "one or more task group expressions (`parent = a, b;` or `parent = [a, b];`)";
    Timeout => "timeout", Expr, Sites::Both, "a `std::time::Duration` expression";
    Deadline => "deadline", Expr, Sites::Both, "a `tokio::time::Instant` expression";
    Grace => "grace", Expr, Sites::Both, "a `std::time::Duration` expression";
    Limit => "limit", Expr, Sites::Both, "a `usize` expression";
    CancelOn => "cancel_on", ExprList, Sites::Both,
        "one or more futures (`cancel_on = a, b;` or `cancel_on = [a, b];`)";
    Supervise => "supervise", Flag, Sites::Both,
        "nothing (`supervise;` in the macro, `supervise` in the attribute)";
    Error => "error", Type,
        Sites::MacroOnly(
            "`error` cannot be set in `#[cancel_scoped]`: the error type comes from the return \
             type; declare the function as `-> ScopeResult<T, YourError>`"),
        "a type";
    Crate => "crate", Path, Sites::Both, "a path such as `::cancel_scope`";
}

impl OptKind {
    /// The option's name as written.
    pub(crate) fn name(self) -> &'static str {
        self.spec().name
    }

    /// The option called `name` (`r#` prefix already removed), if any.
    pub(crate) fn from_name(name: &str) -> Option<OptKind> {
        OptKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The names valid at `site` (with `as NAME` first), for "did you mean" and the list.
    pub(crate) fn names_at(site: Site) -> Vec<&'static str> {
        let mut names = vec!["as"];
        names.extend(
            OptKind::ALL
                .iter()
                .filter(|k| site == Site::Macro || k.spec().sites == Sites::Both)
                .map(|k| k.name()),
        );
        names
    }
}

/// The parsed value of an option.
#[derive(Clone, Debug)]
pub(crate) enum OptValue {
    Flag,
    Expr(Expr),
    List(Vec<Expr>),
    Type(Type),
    Path(Path),
}

impl OptValue {
    /// The span of the value's last token (where a missing `;` belongs).
    pub(crate) fn end_span(&self) -> Option<Span> {
        let tokens = match self {
            OptValue::Flag => return None,
            OptValue::Expr(e) => e.to_token_stream(),
            OptValue::List(v) => v.last()?.to_token_stream(),
            OptValue::Type(t) => t.to_token_stream(),
            OptValue::Path(p) => p.to_token_stream(),
        };
        tokens.into_iter().last().map(|t| t.span())
    }
}

/// One option as written.
#[derive(Clone, Debug)]
pub(crate) struct RawOpt {
    pub(crate) kind: OptKind,
    /// The option's name, for "set multiple times" and similar errors.
    pub(crate) name_span: Span,
    pub(crate) value: OptValue,
}

/// Everything written before the body (or in the attribute's parentheses).
#[derive(Clone, Debug, Default)]
pub(crate) struct RawOptions {
    /// Every `as NAME` (more than one is a validation error).
    pub(crate) names: Vec<Ident>,
    pub(crate) opts: Vec<RawOpt>,
}

/// Parses the value of an option of row `spec` from `input`, which holds exactly the value's
/// tokens (macro: everything up to `;`) or is followed by `,` (attribute). `name` is the
/// option's name token, for errors about a missing value.
pub(crate) fn parse_value(
    spec: &Spec,
    site: Site,
    input: ParseStream<'_>,
) -> syn::Result<OptValue> {
    if spec.shape == Shape::Flag {
        return Ok(OptValue::Flag);
    }
    if input.is_empty() || (site == Site::Attr && input.peek(Token![,])) {
        return Err(input.error(format_args!(
            "`{}` needs a value: {}",
            spec.name, spec.expects
        )));
    }
    Ok(match spec.shape {
        Shape::Flag => OptValue::Flag,
        Shape::ExprList => {
            if input.peek(syn::token::Bracket) {
                let content;
                syn::bracketed!(content in input);
                let list = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
                if list.is_empty() {
                    return Err(input.error(format_args!("`{} = []` is empty", spec.name)));
                }
                OptValue::List(list.into_iter().collect())
            } else if site == Site::Macro {
                let list = Punctuated::<Expr, Token![,]>::parse_separated_nonempty(input)?;
                OptValue::List(list.into_iter().collect())
            } else {
                OptValue::List(vec![input.parse()?])
            }
        }
        Shape::Expr => OptValue::Expr(input.parse()?),
        Shape::Type => OptValue::Type(input.parse()?),
        Shape::Path => OptValue::Path(input.call(Path::parse_mod_style)?),
    })
}

/// Levenshtein distance, for "did you mean".
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest valid name, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    valid
        .iter()
        .map(|v| (edit_distance(&lower, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3) && *d < v.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// The error for an unknown option name.
pub(crate) fn unknown_option(name: &str, span: Span, site: Site) -> syn::Error {
    let valid = OptKind::names_at(site);
    let list = valid
        .iter()
        .map(|v| {
            if *v == "as" {
                "`as NAME`".to_owned()
            } else {
                format!("`{v}`")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let what = match site {
        Site::Macro => "option",
        Site::Attr => "`#[cancel_scoped]` argument",
    };
    let mut msg = format!("unknown {what} `{name}`");
    let suggestion = suggest(name, &valid);
    if let Some(s) = suggestion {
        let _ = write!(msg, "; did you mean `{s}`?");
    }
    let _ = write!(msg, "\nvalid {what}s are: {list}");
    if site == Site::Macro && suggestion.is_none() {
        msg.push_str(
            "\nnote: leading `NAME = VALUE;` lines are options; to start the body with an \
             assignment, put it after another statement or inside a block",
        );
    }
    syn::Error::new(span, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse::Parser as _;

    #[test]
    fn the_table_is_consistent() {
        for kind in OptKind::ALL {
            assert_eq!(OptKind::from_name(kind.name()), Some(*kind));
        }
        assert_eq!(OptKind::from_name("as"), None);
        assert_eq!(
            OptKind::names_at(Site::Macro),
            [
                "as",
                "parent",
                "timeout",
                "deadline",
                "grace",
                "limit",
                "cancel_on",
                "supervise",
                "error",
                "crate"
            ]
        );
        assert!(!OptKind::names_at(Site::Attr).contains(&"error"));
    }

    /// Every option that can be assigned late has its warning item in the runtime's
    /// `__private` (a new row needs one there too, in the `late_option!` list), with a note
    /// about that option.
    #[test]
    fn every_option_has_its_late_option_warning() {
        let private = include_str!("../../cancel-scope/src/private.rs");
        for kind in OptKind::ALL {
            let name = kind.name();
            if crate::lexical::is_keyword(name) {
                continue;
            }
            let item = crate::expand::late_option_item(*kind);
            let row = format!("\n    {item} => \"{name}\",\n        \"options go before");
            assert!(private.contains(&row), "no `late_option` item for `{name}`");
            let escape = format!("write `{{ {name} = ..; }}` or `({name}) = ..;`\";");
            assert!(private.contains(&escape), "no escape for `{name}`");
        }
    }

    #[test]
    fn distance_and_suggestions() {
        let valid = OptKind::names_at(Site::Macro);
        assert_eq!(edit_distance("parents", "parent"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(suggest("parents", &valid), Some("parent"));
        assert_eq!(suggest("Timeout", &valid), Some("timeout"));
        assert_eq!(suggest("dedline", &valid), Some("deadline"));
        assert_eq!(suggest("max_tasks", &valid), None);
        assert_eq!(suggest("x", &valid), None);
        let msg = unknown_option("parnt", Span::call_site(), Site::Attr).to_string();
        assert!(
            msg.starts_with("unknown `#[cancel_scoped]` argument `parnt`; did you mean `parent`?")
        );
    }

    fn value(spec: &Spec, site: Site, ts: proc_macro2::TokenStream) -> syn::Result<OptValue> {
        (|s: ParseStream<'_>| parse_value(spec, site, s)).parse2(ts)
    }

    #[test]
    fn every_shape_parses() {
        let list = OptKind::Parent.spec();
        assert!(
            matches!(value(list, Site::Macro, quote!(a, b)), Ok(OptValue::List(v)) if v.len() == 2)
        );
        assert!(
            matches!(value(list, Site::Attr, quote!([a, b, c])), Ok(OptValue::List(v)) if v.len() == 3)
        );
        assert!(value(list, Site::Macro, quote!([])).is_err());
        assert!(matches!(
            value(OptKind::Limit.spec(), Site::Macro, quote!(2 * n)),
            Ok(OptValue::Expr(_))
        ));
        assert!(matches!(
            value(OptKind::Error.spec(), Site::Macro, quote!(io::Error)),
            Ok(OptValue::Type(_))
        ));
        assert!(matches!(
            value(OptKind::Crate.spec(), Site::Macro, quote!(::a::b)),
            Ok(OptValue::Path(_))
        ));
        let err = value(OptKind::Timeout.spec(), Site::Macro, quote!()).unwrap_err();
        assert!(err.to_string().contains("`timeout` needs a value"), "{err}");
        let flag = Spec {
            name: "flag",
            shape: Shape::Flag,
            expects: "nothing",
            sites: Sites::Both,
        };
        assert!(matches!(
            value(&flag, Site::Macro, quote!()),
            Ok(OptValue::Flag)
        ));
    }
}
