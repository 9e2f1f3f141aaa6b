//! The errors and panics a group collected: the type-erased list of errors of the group's error
//! type (pushed in the order they happened, taken once at the end) and the first panic.
//!
//! The list is created at the first failure, so a group that never fails pays one `None`.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::member::names::TaskName;

/// Errors and panics of one group.
#[derive(Default)]
pub(crate) struct Failures {
    /// `Vec<E>` of the group's error type, created at the first error.
    errors: Option<Box<dyn Any + Send>>,
    /// Errors recorded.
    pub(crate) error_count: usize,
    /// The names of the named members among the errors: (index in `errors`, name).
    names: Vec<(usize, TaskName)>,
    /// The first panic's payload.
    panic: Option<Box<dyn Any + Send>>,
    /// Panics after the first, dropped with the unwinding (counted for tracing).
    pub(crate) later_panics: usize,
}

/// What a finished group failed with, taken out of it.
pub(crate) struct Taken {
    /// The `Vec<E>` of errors, if any.
    pub(crate) errors: Option<Box<dyn Any + Send>>,
    /// The first panic, if any.
    pub(crate) panic: Option<Box<dyn Any + Send>>,
    /// Names of the errors' members, by index.
    pub(crate) names: Vec<(usize, TaskName)>,
}

impl Failures {
    /// Appends an error of the group's error type `E`.
    #[cfg(test)]
    pub(crate) fn push_error<E: Send + 'static>(&mut self, error: E) {
        self.push_error_named(error, None);
    }

    /// Appends an error of the group's error type `E`, of a member named `name`.
    pub(crate) fn push_error_named<E: Send + 'static>(&mut self, error: E, name: Option<TaskName>) {
        if let Some(name) = name {
            self.names.push((self.error_count, name));
        }
        self.error_count += 1;
        let errors = self.errors.get_or_insert_with(|| Box::new(Vec::<E>::new()));
        match errors.downcast_mut::<Vec<E>>() {
            Some(errors) => errors.push(error),
            None => unreachable!("a group's errors all have the group's error type"),
        }
    }

    /// Keeps the first panic; gives a later one back, for the caller to drop outside its lock
    /// (a payload's destructor is user code).
    pub(crate) fn push_panic(
        &mut self,
        payload: Box<dyn Any + Send>,
    ) -> Option<Box<dyn Any + Send>> {
        if self.panic.is_none() {
            self.panic = Some(payload);
            None
        } else {
            self.later_panics += 1;
            Some(payload)
        }
    }

    /// Takes the first panic out (a scope dropped unfinished forwards it to the scope it ran
    /// in).
    pub(crate) fn take_panic(&mut self) -> Option<Box<dyn Any + Send>> {
        self.panic.take()
    }

    /// Takes the errors recorded so far out (a race's win: they are not errors of the race), to
    /// be dropped outside the lock.
    pub(crate) fn take_errors(&mut self) -> Option<Box<dyn Any + Send>> {
        self.error_count = 0;
        self.errors.take()
    }

    /// `true` once a panic was recorded.
    #[cfg(feature = "tracing")]
    pub(crate) fn has_panic(&self) -> bool {
        self.panic.is_some()
    }

    /// Takes everything out, at the scope's end.
    pub(crate) fn take(self) -> Taken {
        Taken {
            errors: self.errors,
            panic: self.panic,
            names: self.names,
        }
    }
}

/// Drops a value nobody will see again while a panic is on its way (an error or a later
/// panic's payload dropped with the unwinding of the first): a panic in its destructor is one
/// more later panic, dropped too, so that it never replaces the first.
pub(crate) fn drop_discarded<T>(value: T) {
    let mut next = catch_unwind(AssertUnwindSafe(|| drop(value))).err();
    while let Some(payload) = next {
        next = catch_unwind(AssertUnwindSafe(|| drop(payload))).err();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_order_and_only_the_first_panic_stays() {
        let mut f = Failures::default();
        f.push_error::<u32>(1);
        f.push_error::<u32>(2);
        assert!(f.push_panic(Box::new("first")).is_none());
        let later = f.push_panic(Box::new("second"));
        assert_eq!(*later.unwrap().downcast::<&str>().unwrap(), "second");
        assert_eq!(f.later_panics, 1);
        let taken = f.take();
        assert_eq!(
            *taken.errors.unwrap().downcast::<Vec<u32>>().unwrap(),
            vec![1, 2]
        );
        assert_eq!(*taken.panic.unwrap().downcast::<&str>().unwrap(), "first");
    }
}
