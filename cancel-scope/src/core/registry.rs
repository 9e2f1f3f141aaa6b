//! The registry of a group's live tasks: fixed-size chunks of slots that never move.
//!
//! Every task holds a slot from its spawn until its future was dropped; the key of the slot is
//! how the task, its handle and the group's `abort` find it. A contiguous `Slab` served this
//! before, and its memory pattern cost more than its work: it grew by reallocation (copying,
//! and allocating then freeing blocks of up to megabytes during every burst of spawns), and the
//! large frees made glibc's `malloc` consolidate its free lists and give the top of the heap
//! back to the kernel at every burst, so the next burst page-faulted it back in (three times
//! `JoinSet`'s page faults for 100k short tasks, the whole gap to it; see BENCHMARKS.md).
//!
//! Here the slots live in chunks of [`CHUNK_SLOTS`] (one small allocation, 120 bytes, made
//! next to the task cells it serves), indexed by blocks of [`BLOCK_CHUNKS`] chunk pointers:
//! nothing is ever copied or reallocated while tasks are alive, spawn and removal are O(1),
//! and the memory goes back in whole chunks once the registry is empty (keeping
//! [`RETAINED_CHUNKS`] for the next burst), so a burst leaves nothing behind.
//!
//! Invariants:
//! 1. A chunk is on the `room` list iff it has a free slot (`free != 0`).
//! 2. `len` is the number of occupied slots; chunks are only freed when `len == 0`, so a key
//!    handed out stays valid until its slot is removed.

use super::Entry;

/// Slots per chunk: 7 slots of 16 bytes and an 8-byte header make a 120-byte allocation.
const CHUNK_SLOTS: usize = 7;
/// Bits of a key that address the slot inside its chunk.
const SLOT_BITS: u32 = 3;
/// Chunk pointers per block: 512 bytes.
const BLOCK_CHUNKS: usize = 64;
/// Chunks an empty registry keeps for the next burst (about 450 tasks' worth).
const RETAINED_CHUNKS: usize = 64;
/// `room` list terminator.
const NONE: u32 = u32::MAX;
/// A chunk with every slot free.
const ALL_FREE: u8 = (1 << CHUNK_SLOTS) - 1;

struct Chunk {
    /// Bit `i` set: slot `i` is free.
    free: u8,
    /// Next chunk on the `room` list (invariant 1).
    next_room: u32,
    slots: [Option<Entry>; CHUNK_SLOTS],
}

/// The live tasks of one group, by key.
pub(crate) struct Registry {
    /// Boxed on purpose: each chunk is its own small allocation, made next to the task cells
    /// it serves; a block of inline chunks would be one 7.7 KB allocation instead.
    #[allow(clippy::vec_box)]
    blocks: Vec<Vec<Box<Chunk>>>,
    /// Chunks allocated (across all blocks).
    chunks: usize,
    /// Head of the list of chunks with a free slot.
    room: u32,
    len: usize,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// An empty registry; allocates nothing.
    pub(crate) const fn new() -> Registry {
        Registry {
            blocks: Vec::new(),
            chunks: 0,
            room: NONE,
            len: 0,
        }
    }

    /// Live tasks.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `entry`; returns its key.
    pub(crate) fn insert(&mut self, entry: Entry) -> usize {
        if self.room == NONE {
            self.grow();
        }
        let index = self.room as usize;
        let chunk = &mut self.blocks[index / BLOCK_CHUNKS][index % BLOCK_CHUNKS];
        let slot = chunk.free.trailing_zeros() as usize;
        chunk.free &= !(1 << slot);
        chunk.slots[slot] = Some(entry);
        if chunk.free == 0 {
            // Invariant 1: a full chunk leaves the list.
            self.room = std::mem::replace(&mut chunk.next_room, NONE);
        }
        self.len += 1;
        (index << SLOT_BITS) | slot
    }

    /// The entry of `key`, if it is live.
    pub(crate) fn get(&self, key: usize) -> Option<&Entry> {
        let (index, slot) = split(key);
        let chunk = self
            .blocks
            .get(index / BLOCK_CHUNKS)?
            .get(index % BLOCK_CHUNKS)?;
        chunk.slots.get(slot)?.as_ref()
    }

    /// The entry of `key`, if it is live.
    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut Entry> {
        let (index, slot) = split(key);
        let chunk = self
            .blocks
            .get_mut(index / BLOCK_CHUNKS)?
            .get_mut(index % BLOCK_CHUNKS)?;
        chunk.slots.get_mut(slot)?.as_mut()
    }

    /// Removes the entry of `key`, if it is live. Its memory stays with the registry until the
    /// registry is empty (invariant 2).
    pub(crate) fn remove(&mut self, key: usize) -> Option<Entry> {
        let (index, slot) = split(key);
        let room = self.room;
        let chunk = self
            .blocks
            .get_mut(index / BLOCK_CHUNKS)?
            .get_mut(index % BLOCK_CHUNKS)?;
        let entry = chunk.slots.get_mut(slot)?.take()?;
        if chunk.free == 0 {
            // Invariant 1: the chunk has room again.
            chunk.next_room = room;
            self.room = chunk_index(index);
        }
        chunk.free |= 1 << slot;
        self.len -= 1;
        if self.len == 0 && self.chunks > RETAINED_CHUNKS {
            self.release();
        }
        Some(entry)
    }

    /// Every live entry.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.blocks
            .iter()
            .flatten()
            .flat_map(|chunk| chunk.slots.iter().flatten())
    }

    /// Whether the registry holds memory.
    pub(crate) fn has_memory(&self) -> bool {
        self.chunks > 0
    }

    /// Adds a chunk with every slot free and puts it on the `room` list.
    fn grow(&mut self) {
        let index = self.chunks;
        if index % BLOCK_CHUNKS == 0 {
            self.blocks.push(Vec::with_capacity(BLOCK_CHUNKS));
        }
        let block = self.blocks.last_mut().expect("a block was just ensured");
        block.push(Box::new(Chunk {
            free: ALL_FREE,
            next_room: self.room,
            slots: Default::default(),
        }));
        self.chunks += 1;
        self.room = chunk_index(index);
    }

    /// Frees every chunk beyond the first [`RETAINED_CHUNKS`] of an empty registry (they hold
    /// no entries, so this runs no user code) and rebuilds the `room` list over the rest.
    fn release(&mut self) {
        debug_assert_eq!(self.len, 0);
        self.blocks.truncate(RETAINED_CHUNKS.div_ceil(BLOCK_CHUNKS));
        let mut room = NONE;
        let mut chunks = 0;
        for block in &mut self.blocks {
            block.truncate(RETAINED_CHUNKS - chunks);
            block.shrink_to(BLOCK_CHUNKS);
            for chunk in block.iter_mut() {
                chunk.free = ALL_FREE;
                chunk.next_room = room;
                room = chunk_index(chunks);
                chunks += 1;
            }
        }
        self.blocks.shrink_to_fit();
        self.chunks = chunks;
        self.room = room;
    }
}

/// A chunk index as stored in the `room` list.
fn chunk_index(index: usize) -> u32 {
    match u32::try_from(index) {
        Ok(i) if i != NONE => i,
        _ => panic!("cancel-scope: more than 29 billion live tasks in one group"),
    }
}

/// A key's chunk index and slot.
#[inline]
fn split(key: usize) -> (usize, usize) {
    (key >> SLOT_BITS, key & ((1 << SLOT_BITS) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::grace::Shield;

    fn entry() -> Entry {
        Entry {
            abort: None,
            shield: Shield::Unshielded,
            ended_early: false,
        }
    }

    #[test]
    fn a_chunk_is_120_bytes() {
        assert_eq!(std::mem::size_of::<Chunk>(), 120);
    }

    #[test]
    fn keys_stay_valid_and_slots_are_reused() {
        let mut r = Registry::new();
        let keys: Vec<usize> = (0..1000).map(|_| r.insert(entry())).collect();
        assert_eq!(r.len(), 1000);
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 1000, "keys are unique");
        for &k in keys.iter().step_by(2) {
            assert!(r.remove(k).is_some());
            assert!(r.remove(k).is_none(), "a removed key is gone");
            assert!(r.get(k).is_none());
        }
        assert_eq!(r.len(), 500);
        assert_eq!(r.iter().count(), 500);
        let chunks = r.chunks;
        for _ in 0..500 {
            r.insert(entry());
        }
        assert_eq!(r.chunks, chunks, "freed slots are reused before growing");
        for &k in keys.iter().skip(1).step_by(2) {
            assert!(r.get_mut(k).is_some());
        }
    }

    #[test]
    fn an_empty_registry_gives_its_burst_back() {
        let mut r = Registry::new();
        let keys: Vec<usize> = (0..100_000).map(|_| r.insert(entry())).collect();
        assert!(r.chunks >= 100_000 / CHUNK_SLOTS);
        for k in keys {
            r.remove(k);
        }
        assert!(r.is_empty());
        assert_eq!(r.chunks, RETAINED_CHUNKS);
        assert!(r.blocks.capacity() <= RETAINED_CHUNKS.div_ceil(BLOCK_CHUNKS));
        // The retained chunks are all usable again.
        let keys: Vec<usize> = (0..RETAINED_CHUNKS * CHUNK_SLOTS)
            .map(|_| r.insert(entry()))
            .collect();
        assert_eq!(r.chunks, RETAINED_CHUNKS);
        assert_eq!(r.len(), keys.len());
    }

    #[test]
    fn out_of_range_keys_are_absent() {
        let mut r = Registry::new();
        assert!(r.get(0).is_none());
        assert!(r.remove(12345).is_none());
        let k = r.insert(entry());
        assert!(r.get(k | 7).is_none(), "slot 7 does not exist");
        assert!(r.get(k + (1 << 20)).is_none());
    }
}
