//! Parse stage: options written too late. After the first statement of a body, `NAME = EXPR;`
//! is an ordinary assignment (a macro cannot see local variables, so it cannot tell whether
//! `NAME` is one). With NAME an option name, at the top level of the body, such a statement is
//! recorded here: validation turns it into a warning, and the expansion keeps the assignment
//! as written (see `expand`). Facts only; no rule and no generated code.

use crate::lexical::is_keyword;
use crate::options::OptKind;
use proc_macro2::Span;
use syn::{Expr, Stmt};

/// `NAME = EXPR;` after the first statement, NAME an option name.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LateOption {
    pub(crate) kind: OptKind,
    /// The span of `NAME`.
    pub(crate) span: Span,
    /// The index of the statement in the body.
    pub(crate) stmt: usize,
}

/// The late options among the top-level statements of a body.
pub(crate) fn find(stmts: &[Stmt]) -> Vec<LateOption> {
    stmts
        .iter()
        .enumerate()
        .skip(1)
        .filter_map(|(stmt, s)| {
            let Stmt::Expr(Expr::Assign(assign), _) = s else {
                return None;
            };
            let Expr::Path(path) = &*assign.left else {
                return None;
            };
            let ident = path.path.get_ident().filter(|_| path.qself.is_none())?;
            let name = ident.to_string();
            let kind = OptKind::from_name(&name).filter(|_| !is_keyword(&name))?;
            Some(LateOption {
                kind,
                span: ident.span(),
                stmt,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse::Parser as _;

    fn late(ts: proc_macro2::TokenStream) -> Vec<(&'static str, usize)> {
        let stmts = syn::Block::parse_within.parse2(ts).expect("parses");
        find(&stmts)
            .iter()
            .map(|l| (l.kind.name(), l.stmt))
            .collect()
    }

    #[test]
    fn only_top_level_assignments_after_the_first_statement() {
        assert_eq!(
            late(quote! {
                grace = 1;
                let x = 1;
                limit = 4;
                { grace = 2; }
                (timeout) = 3;
                other = 1;
                self::deadline = 2;
                r#parent = 1;
                limit += 1;
                timeout = 5
            }),
            [("limit", 2), ("timeout", 9)]
        );
        assert!(late(quote!(let x = 1; #[allow(unused)] parent = x;)).len() == 1);
    }
}
