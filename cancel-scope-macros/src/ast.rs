//! The parse stage's output: what each macro was given, as typed structures. Parsing never
//! generates code and never gives up at the first error: every error goes to the
//! [`Diagnostics`], and what could be parsed is kept for the later stages.

use crate::args;
use crate::attr::{self, FnItem};
use crate::body::Body;
use crate::diagnostics::Diagnostics;
use crate::options::RawOptions;
use proc_macro2::TokenStream;
use syn::parse::{ParseStream, Parser as _};

/// `cancel_scope! { OPTIONS BODY }`.
#[derive(Debug)]
pub(crate) struct ScopeInput {
    pub(crate) options: RawOptions,
    /// `None` when the body's statements do not parse.
    pub(crate) body: Option<Body>,
    /// What parsing the body reported, kept apart so that the pipeline can report it after
    /// the options' own errors, in the order the user wrote things.
    pub(crate) body_diagnostics: Diagnostics,
}

/// `#[cancel_scoped(ARGS)] ITEM`.
#[derive(Debug)]
pub(crate) enum AttrInput {
    /// Applied to a function with a body.
    Fn {
        options: RawOptions,
        item: Box<FnItem>,
        /// `None` when the body's statements do not parse.
        body: Option<Body>,
    },
    /// Applied to something else; the item is kept as written.
    NotFn { item: TokenStream },
}

impl ScopeInput {
    pub(crate) fn parse(input: TokenStream, diag: &mut Diagnostics) -> ScopeInput {
        let mut split = None;
        let parser = |s: ParseStream<'_>| {
            split = Some(args::parse_macro_options(s, diag));
            Ok(())
        };
        // The parser itself never fails: errors go to `diag`.
        let _ = parser.parse2(input);
        let args = split.unwrap_or_default();
        let mut body_diagnostics = Diagnostics::default();
        let body = Body::parse(args.body, &mut body_diagnostics);
        ScopeInput {
            options: args.options,
            body,
            body_diagnostics,
        }
    }
}

impl AttrInput {
    pub(crate) fn parse(args: TokenStream, item: TokenStream, diag: &mut Diagnostics) -> AttrInput {
        let mut options = None;
        let parser = |s: ParseStream<'_>| {
            options = Some(args::parse_attr_args(s, diag));
            Ok(())
        };
        let _ = parser.parse2(args);
        let options = options.unwrap_or_default();
        match attr::parse_target(item.clone()) {
            Ok(item) => {
                let body = Body::parse(item.body.clone(), diag);
                AttrInput::Fn {
                    options,
                    item: Box::new(item),
                    body,
                }
            }
            Err(e) => {
                diag.push(e);
                AttrInput::NotFn { item }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn scope_input_keeps_options_and_body() {
        let mut diag = Diagnostics::default();
        let input = ScopeInput::parse(quote!(as tg; limit = 2; spawn f(); 1), &mut diag);
        assert!(!diag.has_errors() && !input.body_diagnostics.has_errors());
        assert_eq!(input.options.names.len(), 1);
        assert_eq!(input.options.opts.len(), 1);
        let body = input.body.unwrap();
        assert_eq!((body.stmts.len(), body.forms.len()), (2, 1));
    }

    #[test]
    fn attr_input_splits_the_item() {
        let mut diag = Diagnostics::default();
        let input = AttrInput::parse(
            quote!(as tg),
            quote!(
                #[inline]
                pub async fn f(&self) -> ScopeResult<()> {
                    spawn(g());
                }
            ),
            &mut diag,
        );
        assert!(!diag.has_errors(), "{:?}", diag.messages());
        let AttrInput::Fn {
            options,
            item,
            body,
        } = input
        else {
            panic!("not a fn");
        };
        assert_eq!(options.names.len(), 1);
        assert_eq!(
            (item.attrs.len(), item.sig.ident.to_string()),
            (1, "f".into())
        );
        assert_eq!(body.unwrap().forms.len(), 1);
        let input = AttrInput::parse(
            quote!(),
            quote!(
                struct S;
            ),
            &mut diag,
        );
        assert!(matches!(input, AttrInput::NotFn { .. }) && diag.has_errors());
    }
}
