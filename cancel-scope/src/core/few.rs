//! [`Few`]: the list type of the work collected under a lock ([`Deferred`](super::Deferred)),
//! the abort batches and the walks along links.
//!
//! Those lists nearly always hold one item: the scope's waker when the last task ends, the one
//! group a cancel marks, the one task an abort reaches in a small group, the one parent of a
//! linked scope. A `Vec` allocates at its first push, so each of those cost a `malloc` and a
//! `free` on the paths that end tasks and cancel groups; in a linked chain torn down level by
//! level, that was five allocations per level (BENCHMARKS.md, "Wave 3, fifth session"). `Few`
//! keeps one item inline and only allocates from the second.

use std::mem;

/// A list that holds one item without allocating, and more in a `Vec`.
///
/// # Examples
///
/// ```ignore
/// let mut few = Few::default();
/// few.push(1); // inline
/// few.push(2); // now a `Vec`
/// assert_eq!(few.into_iter().collect::<Vec<_>>(), [1, 2]);
/// ```
#[derive(Debug, Default)]
pub(crate) enum Few<T> {
    /// No item.
    #[default]
    Empty,
    /// One item, inline.
    One(T),
    /// Any number of items (it stays a `Vec` once it was one).
    Many(Vec<T>),
}

impl<T> Few<T> {
    /// Whether it holds no item.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Few::Empty => true,
            Few::One(_) => false,
            Few::Many(items) => items.is_empty(),
        }
    }

    /// How many items it holds.
    pub(crate) fn len(&self) -> usize {
        match self {
            Few::Empty => 0,
            Few::One(_) => 1,
            Few::Many(items) => items.len(),
        }
    }

    /// Adds `item` at the end.
    pub(crate) fn push(&mut self, item: T) {
        if let Few::Many(items) = self {
            items.push(item);
            return;
        }
        *self = match mem::take(self) {
            Few::One(first) => Few::Many(vec![first, item]),
            _ => Few::One(item),
        };
    }

    /// Removes the last item.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if let Few::Many(items) = self {
            return items.pop();
        }
        match mem::take(self) {
            Few::One(item) => Some(item),
            _ => None,
        }
    }

    /// Moves every item of `other` to the end of this one, leaving `other` empty.
    pub(crate) fn append(&mut self, other: &mut Few<T>) {
        if matches!(self, Few::Empty) {
            mem::swap(self, other);
            return;
        }
        self.extend(mem::take(other));
    }

    /// Takes the items out, in order, keeping a `Vec`'s capacity for the next ones (a list
    /// filled and emptied in a loop, like the abort batches, allocates once).
    pub(crate) fn drain(&mut self) -> Drain<'_, T> {
        if let Few::Many(items) = self {
            return Drain::Many(items.drain(..));
        }
        let item = match mem::take(self) {
            Few::One(item) => Some(item),
            _ => None,
        };
        Drain::Inline(item.into_iter())
    }

    /// The items, in order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        match self {
            Few::Empty => [].iter(),
            Few::One(item) => std::slice::from_ref(item).iter(),
            Few::Many(items) => items.iter(),
        }
    }
}

impl<T> FromIterator<T> for Few<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut few = Few::default();
        few.extend(items);
        few
    }
}

impl<T> Extend<T> for Few<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        for item in items {
            self.push(item);
        }
    }
}

/// The items taken out of a [`Few`] by [`Few::drain`], in order.
pub(crate) enum Drain<'a, T> {
    /// Zero or one item left.
    Inline(std::option::IntoIter<T>),
    /// The items of the `Vec`, which stays.
    Many(std::vec::Drain<'a, T>),
}

impl<T> Iterator for Drain<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            Drain::Inline(item) => item.next(),
            Drain::Many(items) => items.next(),
        }
    }
}

/// The items of a [`Few`], in order.
pub(crate) enum IntoIter<T> {
    /// Zero or one item left.
    Inline(std::option::IntoIter<T>),
    /// The items of a `Vec`.
    Many(std::vec::IntoIter<T>),
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            IntoIter::Inline(item) => item.next(),
            IntoIter::Many(items) => items.next(),
        }
    }
}

impl<T> IntoIterator for Few<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        match self {
            Few::Empty => IntoIter::Inline(None.into_iter()),
            Few::One(item) => IntoIter::Inline(Some(item).into_iter()),
            Few::Many(items) => IntoIter::Many(items.into_iter()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Few;

    fn items(few: Few<u32>) -> Vec<u32> {
        few.into_iter().collect()
    }

    #[test]
    fn keeps_the_order_through_one_and_many() {
        let mut few = Few::default();
        assert!(few.is_empty());
        few.push(1);
        assert!(matches!(few, Few::One(1)));
        few.push(2);
        few.push(3);
        assert_eq!(few.len(), 3);
        assert_eq!(few.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(items(few), [1, 2, 3]);
    }

    #[test]
    fn pops_from_the_end_until_empty() {
        let mut few = Few::default();
        few.extend([1, 2]);
        assert_eq!(few.pop(), Some(2));
        assert_eq!(few.pop(), Some(1));
        assert_eq!(few.pop(), None);
        assert!(few.is_empty());
        few.push(4);
        assert_eq!(few.pop(), Some(4));
        assert_eq!(few.pop(), None);
    }

    #[test]
    fn drain_takes_everything_in_order_and_keeps_the_capacity() {
        let mut few = Few::default();
        assert_eq!(few.drain().count(), 0);
        few.push(1);
        assert_eq!(few.drain().collect::<Vec<u32>>(), [1]);
        assert!(matches!(few, Few::Empty));
        few.extend([1, 2, 3]);
        assert_eq!(few.drain().collect::<Vec<_>>(), [1, 2, 3]);
        assert!(few.is_empty());
        assert!(matches!(&few, Few::Many(items) if items.capacity() >= 3));
        few.push(4);
        assert_eq!(few.iter().copied().collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn append_moves_everything_and_empties_the_other() {
        for (a, b) in [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (2, 1),
            (1, 3),
            (0, 3),
            (3, 0),
        ] {
            let mut left: Few<u32> = Few::default();
            left.extend(0..a);
            let mut right: Few<u32> = Few::default();
            right.extend(10..10 + b);
            left.append(&mut right);
            assert!(right.is_empty(), "{a} + {b}");
            let want: Vec<u32> = (0..a).chain(10..10 + b).collect();
            assert_eq!(items(left), want, "{a} + {b}");
        }
    }

    #[test]
    fn drops_every_item_once() {
        use std::rc::Rc;
        let counted = Rc::new(());
        for n in 0..4 {
            let mut few = Few::default();
            few.extend((0..n).map(|_| counted.clone()));
            assert_eq!(Rc::strong_count(&counted), 1 + n);
            drop(few);
            assert_eq!(Rc::strong_count(&counted), 1);
        }
        let mut few = Few::default();
        few.extend([counted.clone(), counted.clone(), counted.clone()]);
        let mut iter = few.into_iter();
        drop(iter.next());
        assert_eq!(Rc::strong_count(&counted), 3);
        drop(iter);
        assert_eq!(Rc::strong_count(&counted), 1);
    }
}
