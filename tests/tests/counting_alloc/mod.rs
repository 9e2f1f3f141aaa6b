//! A global allocator that counts the bytes live (and their peak), for the memory tests. A test
//! binary that declares `mod counting_alloc;` counts every allocation it makes; its tests must
//! then measure one at a time, since the count is process-wide.

// Each memory test binary uses a different part of this module.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(bytes: isize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

#[allow(clippy::cast_possible_wrap)] // allocation sizes are below `isize::MAX` by contract
fn signed(bytes: usize) -> isize {
    bytes as isize
}

// SAFETY: forwards every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(signed(layout.size()));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is the same.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(signed(layout.size()), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract, which is the same.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(signed(new_size) - signed(layout.size()));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which is the same.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Bytes allocated and not yet freed, process-wide.
pub(crate) fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// Restarts peak tracking from the bytes live now, and returns them.
pub(crate) fn reset_peak() -> isize {
    let now = live();
    PEAK.store(now, Ordering::SeqCst);
    now
}

/// The highest byte count seen since the last `reset_peak`.
pub(crate) fn peak() -> isize {
    PEAK.load(Ordering::SeqCst)
}
