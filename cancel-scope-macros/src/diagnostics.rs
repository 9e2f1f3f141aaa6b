//! The one diagnostics type every stage reports into: errors (all of them, combined, on the
//! offending tokens) and warnings (typed; the expand stage renders them as calls of
//! `#[deprecated]` items, the only warning a proc macro can raise on stable Rust).
//!
//! No stage stops at its first error: each records what it found and hands the next stage
//! something usable, so that a user sees every mistake of one macro call at once.

use crate::body::Variant;
use crate::options::OptKind;
use proc_macro2::{Span, TokenStream};
use std::fmt::Display;

/// A warning the expansion raises at a user's span.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Warning {
    /// `NAME = EXPR;` with NAME an option name, after the first statement of the body: an
    /// assignment, not an option.
    LateOption { kind: OptKind, span: Span },
    /// The body's tail expression is an `Ok(..)` / `Err(..)` call, but its value is `T`.
    BodyValueIsResult { variant: Variant, span: Span },
    /// An arm handler (`match` or `select!`) that is the bare identifier `cancel`: a value,
    /// not the form, which is written `=> { cancel; }`.
    ArmCancelIsAValue { span: Span },
}

/// Errors and warnings of one macro call.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    errors: Option<syn::Error>,
    warnings: Vec<Warning>,
}

impl Diagnostics {
    /// Records an error at `span`.
    pub(crate) fn error(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error (or several, combined).
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(all) => all.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// Appends everything `other` recorded.
    pub(crate) fn append(&mut self, other: Diagnostics) {
        if let Some(e) = other.errors {
            self.push(e);
        }
        self.warnings.extend(other.warnings);
    }

    /// Records a warning.
    pub(crate) fn warn(&mut self, warning: Warning) {
        self.warnings.push(warning);
    }

    /// Whether any error was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.errors.is_some()
    }

    /// How many errors were recorded (a stage compares counts to see whether it added any).
    pub(crate) fn error_count(&self) -> usize {
        self.errors
            .as_ref()
            .map_or(0, |e| e.clone().into_iter().count())
    }

    /// The warnings recorded, in order.
    pub(crate) fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The errors as `compile_error!` invocations (empty without errors).
    pub(crate) fn error_tokens(&self) -> TokenStream {
        self.errors
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }

    /// Every error message, in order (for tests).
    #[cfg(test)]
    pub(crate) fn messages(&self) -> Vec<String> {
        self.errors
            .clone()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }
}

/// Tokens as a user would write them, for messages (`std::io::Error`, `fetch(url)`).
pub(crate) fn source_text(tokens: impl quote::ToTokens) -> String {
    let mut s = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" .", "."),
        (". ", "."),
        ("! (", "!("),
    ] {
        s = s.replace(from, to);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_combined_in_order() {
        let mut d = Diagnostics::default();
        assert!(!d.has_errors() && d.error_tokens().is_empty());
        d.error(Span::call_site(), "first");
        d.push(syn::Error::new(Span::call_site(), "second"));
        d.warn(Warning::BodyValueIsResult {
            variant: Variant::Ok,
            span: Span::call_site(),
        });
        assert!(d.has_errors());
        assert_eq!(d.messages(), ["first", "second"]);
        assert_eq!(d.warnings().len(), 1);
        assert_eq!(
            d.error_tokens()
                .to_string()
                .matches("compile_error")
                .count(),
            2
        );
    }

    #[test]
    fn source_text_reads_like_source() {
        let ty: syn::Type = syn::parse_quote!(Result<u32, std::io::Error>);
        assert_eq!(source_text(ty), "Result<u32, std::io::Error>");
        let e: syn::Expr = syn::parse_quote!(fetch(url).await);
        assert_eq!(source_text(e), "fetch(url).await");
    }
}
