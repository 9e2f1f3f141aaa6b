//! Items the macros of `cancel-scope-macros` call, and nothing else should: stable-Rust
//! warnings. A proc macro cannot emit a warning on stable, but a call of a `#[deprecated]`
//! item at a user's span makes rustc print the item's path and note there, as a warning the
//! user can silence the way the note says. The items are named so that rustc's headline
//! (`use of deprecated function `cancel_scope::__private::NAME``) already reads as the
//! advice. Not part of the public API; may change in any release.

#![doc(hidden)]
// The names are sentences; `__` separates their clauses.
#![allow(non_snake_case)]

/// One warning item per option that can be assigned after the first statement of a
/// `cancel_scope!` body, where `NAME = EXPR;` is an ordinary assignment.
macro_rules! late_option {
    ($($name:ident => $option:literal, $note:literal;)*) => {$(
        #[doc = concat!("Raises the warning for `", $option, " = ..;` after the first statement.")]
        #[deprecated(note = $note)]
        #[inline(always)]
        pub const fn $name() {}
    )*};
}

late_option! {
    parent_is_an_option__move_it_above_the_first_statement => "parent",
        "options go before the first statement: move this line above the first statement; do not add `let` (the scope would silently get no parent). To assign a variable named `parent` here, write `{ parent = ..; }` or `(parent) = ..;`";
    timeout_is_an_option__move_it_above_the_first_statement => "timeout",
        "options go before the first statement: move this line above the first statement; do not add `let` (the scope would silently get no timeout). To assign a variable named `timeout` here, write `{ timeout = ..; }` or `(timeout) = ..;`";
    deadline_is_an_option__move_it_above_the_first_statement => "deadline",
        "options go before the first statement: move this line above the first statement; do not add `let` (the scope would silently get no deadline). To assign a variable named `deadline` here, write `{ deadline = ..; }` or `(deadline) = ..;`";
    grace_is_an_option__move_it_above_the_first_statement => "grace",
        "options go before the first statement: move this line above the first statement; do not add `let` (the scope would silently get no grace period). To assign a variable named `grace` here, write `{ grace = ..; }` or `(grace) = ..;`";
    limit_is_an_option__move_it_above_the_first_statement => "limit",
        "options go before the first statement: move this line above the first statement; do not add `let` (the scope would silently get no limit). To assign a variable named `limit` here, write `{ limit = ..; }` or `(limit) = ..;`";
    cancel_on_is_an_option__move_it_above_the_first_statement => "cancel_on",
        "options go before the first statement: move this line above the first statement; do not add `let` (the scope would silently not listen to the signal). To assign a variable named `cancel_on` here, write `{ cancel_on = ..; }` or `(cancel_on) = ..;`";
    supervise_is_an_option__move_it_above_the_first_statement => "supervise",
        "options go before the first statement: move this line above the first statement and write it `supervise;` (the scope would silently not supervise). To assign a variable named `supervise` here, write `{ supervise = ..; }` or `(supervise) = ..;`";
    error_is_an_option__move_it_above_the_first_statement => "error",
        "options go before the first statement: move this line above the first statement; do not add `let` (the scope would silently keep the default error type). To assign a variable named `error` here, write `{ error = ..; }` or `(error) = ..;`";
}

/// Raises the warning for a body whose value is written `Ok(..)`.
#[deprecated(
    note = "the body's value is `T`: write `v` instead of `Ok(v)` (the scope adds the `Ok` \
            itself); to make a `Result` the body's value, bind it first: `let r = Ok(v); r`"
)]
#[inline(always)]
pub const fn body_value_is_T__write_v_instead_of_Ok_v() {}

/// Raises the warning for a body whose value is written `Err(..)`.
#[deprecated(
    note = "the body's value is `T`: to fail the body, write `Err(e)?` instead of `Err(e)` \
            (`?` converts `e` into the group's error type); to make a `Result` the body's \
            value, bind it first: `let r = Err(e); r`"
)]
#[inline(always)]
pub const fn body_value_is_T__write_Err_e_question_mark_to_fail() {}

/// Raises the warning for an arm handler written `=> cancel,`.
#[deprecated(
    note = "`=> cancel,` is not the cancel form (only the statement `cancel;` is): write \
            `=> { cancel; }` to cancel the group and stop the body (to use the value of a \
            variable named `cancel`, write `=> (cancel),`)"
)]
#[inline(always)]
pub const fn cancel_in_an_arm_is_a_statement__write_a_block_with_cancel() {}
