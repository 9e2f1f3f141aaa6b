//! Items the macros of `cancel-scope-macros` call, and nothing else should: stable-Rust
//! warnings. A proc macro cannot emit a warning on stable, but a call of a `#[deprecated]`
//! item at a user's span makes rustc print the item's note there, as a warning the user can
//! silence the way the note says. Not part of the public API; may change in any release.

#![doc(hidden)]

/// Calls that raise a warning about an option written after the first statement of a
/// `cancel_scope!` body, where `NAME = EXPR;` is an ordinary assignment.
pub mod late_option {
    macro_rules! late_option {
        ($($name:ident => $note:literal;)*) => {$(
            #[doc = concat!("Raises the warning for a late `", stringify!($name), " = ..;`.")]
            #[deprecated(note = $note)]
            #[inline(always)]
            pub const fn $name() {}
        )*};
    }
    late_option! {
        parent => "`parent = ..` after the first statement assigns a variable; options go before the first statement (to keep the assignment, write `{ parent = ..; }` or `(parent) = ..;`)";
        timeout => "`timeout = ..` after the first statement assigns a variable; options go before the first statement (to keep the assignment, write `{ timeout = ..; }` or `(timeout) = ..;`)";
        deadline => "`deadline = ..` after the first statement assigns a variable; options go before the first statement (to keep the assignment, write `{ deadline = ..; }` or `(deadline) = ..;`)";
        grace => "`grace = ..` after the first statement assigns a variable; options go before the first statement (to keep the assignment, write `{ grace = ..; }` or `(grace) = ..;`)";
        limit => "`limit = ..` after the first statement assigns a variable; options go before the first statement (to keep the assignment, write `{ limit = ..; }` or `(limit) = ..;`)";
        error => "`error = ..` after the first statement assigns a variable; options go before the first statement (to keep the assignment, write `{ error = ..; }` or `(error) = ..;`)";
    }
}

/// Raises the warning for a body whose value is written `Ok(..)` / `Err(..)`.
#[deprecated(
    note = "the body's value is `T`, not `Result<T, E>`: write `v` instead of \
                     `Ok(v)` (the scope adds the `Ok` itself), and `Err(e)?` instead of \
                     `Err(e)`; to make a `Result` the value, bind it first: `let r = Ok(v); r`"
)]
#[inline(always)]
pub const fn body_value_is_a_result() {}

/// Raises the warning for an arm handler written `=> cancel,`.
#[deprecated(
    note = "`=> cancel,` is the value of a variable named `cancel`, not the cancel \
                     form: to cancel the group and stop the body, write `=> { cancel; }` (to \
                     mean the variable, write `=> (cancel),`)"
)]
#[inline(always)]
pub const fn arm_cancel_is_a_value() {}
