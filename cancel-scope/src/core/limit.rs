//! The concurrency limit (`limit(n)`): a FIFO queue of tickets and the arithmetic that admits
//! them.
//!
//! A task spawned while `n` tasks hold slots takes a ticket and waits. Tickets
//! `base..base + queue.len()` are waiting; tickets below `base` were admitted (or dropped while
//! queued). A task admitted before it was first polled learns it from its ticket alone, so
//! admission never has to reach into a task.
//!
//! Everything here runs under the group's lock and touches no user code: wakers to wake are
//! pushed onto a list that the caller wakes once the lock is released.

use std::collections::VecDeque;
use std::task::Waker;

use super::few::Few;

/// Where a new task stands with respect to `limit(n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The group has no limit.
    Unlimited,
    /// It holds a slot from the start.
    Admitted,
    /// It waits in the queue with this ticket.
    Queued(u64),
}

/// What a queued task learns when it asks for its slot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GateState {
    /// It holds a slot: start.
    Admitted,
    /// Its group was cancelled while it was queued and it is not shielded: end unstarted.
    Dropped,
    /// Still queued; its waker was stored.
    Waiting,
}

/// Queue slots an idle limiter keeps; a larger queue is released once it is empty.
const RETAINED_QUEUE_SLOTS: usize = 1024;

/// One place in the queue.
enum Slot {
    Waiting(Option<Waker>),
    /// The task ended (dropped, aborted) while it was queued.
    Dropped,
}

/// The FIFO queue of tasks waiting for a slot.
pub(crate) struct Limiter {
    max: usize,
    running: usize,
    base: u64,
    queue: VecDeque<Slot>,
}

impl Limiter {
    pub(crate) fn new(max: usize) -> Self {
        Limiter {
            max,
            running: 0,
            base: 0,
            queue: VecDeque::new(),
        }
    }

    /// Changes the limit; a raised limit admits queued tasks at once.
    pub(crate) fn set_max(&mut self, max: usize, wakers: &mut Few<Waker>) {
        self.max = max;
        self.wake_admitted(wakers);
    }

    /// A slot for a new task, or a ticket in the queue. A free slot goes to the queue first.
    pub(crate) fn admit(&mut self) -> Admission {
        if self.running < self.max && self.queue.is_empty() {
            self.running += 1;
            Admission::Admitted
        } else {
            let ticket = self.base + self.queue.len() as u64;
            self.queue.push_back(Slot::Waiting(None));
            Admission::Queued(ticket)
        }
    }

    /// Whether a queued ticket was admitted; stores `waker` if it still waits. A replaced waker
    /// is handed back, to be dropped outside the lock.
    pub(crate) fn poll_ticket(&mut self, ticket: u64, waker: &mut Option<Waker>) -> GateState {
        if ticket < self.base {
            return GateState::Admitted;
        }
        if let Some(Slot::Waiting(slot)) = self.slot(ticket) {
            let same = match (slot.as_ref(), waker.as_ref()) {
                (Some(old), Some(new)) => old.will_wake(new),
                _ => false,
            };
            if !same {
                std::mem::swap(slot, waker);
            }
        }
        GateState::Waiting
    }

    /// A task of this group ended: gives back its slot (if it held one) or its place in the
    /// queue, and admits the next in line.
    pub(crate) fn release(&mut self, admission: Admission, wakers: &mut Few<Waker>) {
        let held_slot = match admission {
            Admission::Unlimited => false,
            Admission::Admitted => true,
            Admission::Queued(ticket) if ticket < self.base => true,
            Admission::Queued(ticket) => {
                if let Some(slot) = self.slot(ticket) {
                    if let Slot::Waiting(waker) = std::mem::replace(slot, Slot::Dropped) {
                        // Woken, not dropped: dropping it under the lock would run foreign
                        // code; a spurious wake of a dying task is harmless.
                        wakers.extend(waker);
                    }
                }
                false
            }
        };
        if held_slot {
            self.running -= 1;
        }
        self.wake_admitted(wakers);
    }

    /// Wakes every queued task (on cancel: each learns whether it ends unstarted).
    pub(crate) fn wake_queued(&mut self, wakers: &mut Few<Waker>) {
        for slot in &mut self.queue {
            if let Slot::Waiting(waker) = slot {
                wakers.extend(waker.take());
            }
        }
    }

    /// Admits queued tickets while slots are free, waking each admitted task.
    fn wake_admitted(&mut self, wakers: &mut Few<Waker>) {
        while self.running < self.max {
            match self.queue.pop_front() {
                None => break,
                Some(Slot::Dropped) => self.base += 1,
                Some(Slot::Waiting(waker)) => {
                    self.base += 1;
                    self.running += 1;
                    wakers.extend(waker);
                }
            }
        }
        if self.queue.is_empty() && self.queue.capacity() > RETAINED_QUEUE_SLOTS {
            // A burst leaves nothing behind (an empty queue holds no waker).
            self.queue = VecDeque::new();
        }
    }

    /// The queue slot of a waiting ticket (`ticket >= base`).
    fn slot(&mut self, ticket: u64) -> Option<&mut Slot> {
        let index = usize::try_from(ticket - self.base).ok()?;
        self.queue.get_mut(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(a: Admission) -> u64 {
        match a {
            Admission::Queued(t) => t,
            other => panic!("expected a ticket, got {other:?}"),
        }
    }

    #[test]
    fn admits_up_to_the_limit_then_queues_in_order() {
        let mut l = Limiter::new(2);
        assert_eq!(l.admit(), Admission::Admitted);
        assert_eq!(l.admit(), Admission::Admitted);
        let t0 = ticket(l.admit());
        let t1 = ticket(l.admit());
        assert_eq!((t0, t1), (0, 1));
        let mut wakers = Few::default();
        let mut w = None;
        assert_eq!(l.poll_ticket(t0, &mut w), GateState::Waiting);
        l.release(Admission::Admitted, &mut wakers);
        assert_eq!(l.poll_ticket(t0, &mut w), GateState::Admitted);
        assert_eq!(l.poll_ticket(t1, &mut w), GateState::Waiting);
    }

    #[test]
    fn a_ticket_dropped_while_queued_gives_its_turn_to_the_next() {
        let mut l = Limiter::new(1);
        let first = l.admit();
        let t0 = l.admit();
        let t1 = ticket(l.admit());
        let mut wakers = Few::default();
        l.release(t0, &mut wakers); // dropped while queued: holds no slot
        assert_eq!(l.running, 1);
        l.release(first, &mut wakers);
        let mut w = None;
        assert_eq!(l.poll_ticket(t1, &mut w), GateState::Admitted);
        assert_eq!(l.running, 1);
    }

    #[test]
    fn a_ticket_admitted_before_its_first_poll_releases_its_slot() {
        let mut l = Limiter::new(1);
        let first = l.admit();
        let t0 = l.admit();
        let mut wakers = Few::default();
        l.release(first, &mut wakers);
        assert_eq!(l.running, 1);
        l.release(t0, &mut wakers); // admitted, never polled: still holds the slot
        assert_eq!(l.running, 0);
    }

    #[test]
    fn raising_the_limit_admits_at_once() {
        let mut l = Limiter::new(1);
        l.admit();
        let t0 = ticket(l.admit());
        let t1 = ticket(l.admit());
        let mut wakers = Few::default();
        l.set_max(3, &mut wakers);
        let mut w = None;
        assert_eq!(l.poll_ticket(t0, &mut w), GateState::Admitted);
        assert_eq!(l.poll_ticket(t1, &mut w), GateState::Admitted);
        assert_eq!(l.running, 3);
    }

    #[test]
    fn a_free_slot_goes_to_the_queue_before_a_new_spawn() {
        let mut l = Limiter::new(1);
        let first = l.admit();
        let _t0 = l.admit();
        let mut wakers = Few::default();
        l.release(first, &mut wakers);
        // The slot went to ticket 0; a new spawn queues behind nobody but still waits.
        assert!(matches!(l.admit(), Admission::Queued(1)));
    }

    #[test]
    fn limit_usize_max_never_queues() {
        let mut l = Limiter::new(usize::MAX);
        for _ in 0..1000 {
            assert_eq!(l.admit(), Admission::Admitted);
        }
    }
}
