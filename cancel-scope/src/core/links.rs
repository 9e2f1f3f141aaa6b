//! `parent()` links between groups: forming a link, and unlinking a finished group.
//!
//! A child knows its parents (strongly enough to find them: `Weak`), each parent knows its
//! children in a slab (`Weak`, by key). Neither keeps the other alive. A group unlinks itself
//! from its parents when it finishes, so short-lived linked scopes leave nothing behind; a
//! parent's list of children is released once it is empty.
//!
//! Forming a link takes the parent's lock, then (released) the child's: never both at once
//! (invariant 2 of [`cancel`](super::cancel)). The link is recorded in the parent under the
//! parent's lock, where a walk reads the children, and the parent's cancel state is read under
//! that same lock: either a walk that cancels the parent finds the new child, or the linker
//! finds the parent cancelled and cancels the child itself (invariant 6).

use slab::Slab;

use super::cancel::cancel;
use super::{Core, Phase};
use crate::CancelReason;
use crate::sync::{Arc, Weak};

/// The links of one group, created at its first link.
#[derive(Default)]
pub(crate) struct Links {
    /// Groups this one is linked to as a child, with this group's key in their `children`.
    parents: Vec<Link>,
    /// Groups linked to this one as their parent.
    children: Slab<Weak<Core>>,
    /// The reason of a travelling cancel of this group whose walk is marking the ancestors
    /// first (invariant 5 of [`cancel`](super::cancel)): reserved under this group's lock
    /// before the walk starts, so that whatever reaches this group in the meantime (a parent
    /// that saw its cancel dropping this scope, say) records the request, the first cause.
    pub(crate) reserved: Option<CancelReason>,
}

/// This group's place among one parent's children.
pub(crate) struct Link {
    group: Weak<Core>,
    key: usize,
}

impl Links {
    /// The parents still alive.
    pub(crate) fn parents(&self) -> impl Iterator<Item = Arc<Core>> + '_ {
        self.parents.iter().filter_map(|link| link.group.upgrade())
    }

    /// The children still alive.
    pub(crate) fn children(&self) -> impl Iterator<Item = Arc<Core>> + '_ {
        self.children
            .iter()
            .filter_map(|(_, child)| child.upgrade())
    }
}

/// Links `child` to `parent`: `parent`'s cancels reach `child` (as `Parent`), and `child`'s
/// travelling cancels reach `parent` (as `Child`). Takes effect now: a parent cancelled but
/// still running cancels the child at once; a finished parent is not linked; a child already
/// cancelled by request passes it on to the parent at once.
pub(crate) fn link(child: &Arc<Core>, parent: &Arc<Core>) {
    if Arc::ptr_eq(child, parent) {
        return;
    }
    let (key, parent_cancelled) = {
        let mut pst = parent.lock();
        if pst.phase != Phase::Open {
            return;
        }
        let key = pst
            .links
            .get_or_insert_default()
            .children
            .insert(Arc::downgrade(child));
        (key, parent.is_cancelled())
    };
    let recorded = {
        let mut st = child.lock();
        if st.phase == Phase::Open {
            st.links.get_or_insert_default().parents.push(Link {
                group: Arc::downgrade(parent),
                key,
            });
            true
        } else {
            false
        }
    };
    if !recorded {
        remove_child(parent, key);
        return;
    }
    if parent_cancelled {
        cancel(child, CancelReason::Parent);
    } else if child.reason().is_some_and(CancelReason::travels_up) {
        // Already cancelled by request: the link passes it on, as it would have.
        cancel(parent, CancelReason::Child);
    }
}

/// Removes a finished group from its parents' lists of children.
pub(crate) fn unlink(links: Links) {
    let Links {
        parents, children, ..
    } = links;
    // The children keep their (now dead) `Weak` to this group; they unlink from nothing.
    drop(children);
    for link in parents {
        if let Some(parent) = link.group.upgrade() {
            remove_child(&parent, link.key);
        }
    }
}

/// Removes the child at `key` from `parent`'s children, releasing an emptied list.
fn remove_child(parent: &Core, key: usize) {
    let mut st = parent.lock();
    if let Some(links) = &mut st.links {
        links.children.try_remove(key);
        if links.children.is_empty() && links.children.capacity() > RETAINED_CHILD_SLOTS {
            links.children = Slab::new();
        }
    }
}

/// Child slots a parent keeps once it has no linked children left.
const RETAINED_CHILD_SLOTS: usize = 16;
