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
//! Here the slots live in chunks that are allocated one by one, next to the task cells they
//! serve, and indexed by blocks of at most [`BLOCK_CHUNKS`] chunk pointers: no slot is ever
//! copied and no allocation exceeds 512 bytes (only the first block grows, up to that size),
//! spawn and removal are O(1), and the memory goes back in whole chunks once the registry is
//! empty (keeping [`RETAINED_CHUNKS`] for the next burst), so a burst leaves nothing behind.
//!
//! The chunk sizes are chosen for the allocator, measured with glibc's (see BENCHMARKS.md):
//! - every chunk after the first holds [`CHUNK_SLOTS`] slots, 120 bytes: small enough for the
//!   allocator's never-coalesced free lists (glibc's fast bins), so the chunks of a burst keep
//!   the freed task cells between them from merging into a heap top that is then trimmed and
//!   faulted back in at the next burst;
//! - the first chunk holds [`FIRST_SLOTS`], 72 bytes, the size of the first allocation of the
//!   `Slab` this replaced and of a group's link entries: a small group (a deep chain of
//!   scopes, a request handler) keeps its entries where a walk along a chain finds them in
//!   cache (a 136-byte first chunk made a 10k-deep chain's cancel about 2x slower).
//!
//! Invariants:
//! 1. A chunk is on the `room` list iff it has a free slot (`free != 0`).
//! 2. `len` is the number of occupied slots; chunks are only freed when `len == 0`, so a key
//!    handed out stays valid until its slot is removed.

use super::Entry;

/// Slots per chunk after the first: 7 slots of 16 bytes and an 8-byte header make a 120-byte
/// allocation.
const CHUNK_SLOTS: usize = 7;
/// Slots of the first chunk: 72 bytes.
const FIRST_SLOTS: usize = 4;
/// Bits of a key that address the slot inside its chunk.
const SLOT_BITS: u32 = 3;
/// Chunk pointers per block: 512 bytes.
const BLOCK_CHUNKS: usize = 64;
/// Chunks an empty registry keeps for the next burst (about 450 tasks' worth).
const RETAINED_CHUNKS: usize = 64;
/// `room` list terminator.
const NONE: u32 = u32::MAX;
/// Slots, as a chunk of any size is seen.
type Slots = [Option<Entry>];

/// A chunk of `S` slots: `[Option<Entry>; N]` when it is made, [`Slots`] behind a pointer.
struct Chunk<S: ?Sized = Slots> {
    /// Bit `i` set: slot `i` is free.
    free: u8,
    /// Next chunk on the `room` list (invariant 1).
    next_room: u32,
    slots: S,
}

/// The first chunk.
type FirstChunk = Chunk<[Option<Entry>; FIRST_SLOTS]>;
/// Every other chunk.
type BlockChunk = Chunk<[Option<Entry>; CHUNK_SLOTS]>;

impl<const N: usize> Chunk<[Option<Entry>; N]> {
    /// A chunk of `N` free slots.
    fn boxed(next_room: u32) -> Box<Self> {
        Box::new(Chunk {
            free: all_free(N),
            next_room,
            slots: [const { None }; N],
        })
    }
}

/// The `free` mask of a chunk of `n` free slots.
const fn all_free(n: usize) -> u8 {
    u8::MAX >> (8 - n)
}

/// The live tasks of one group, by key.
pub(crate) struct Registry {
    chunks: Chunks,
    /// Head of the list of chunks with a free slot.
    room: u32,
    /// Live entries (a `u32` keeps the registry, and so the group's state, as small as the
    /// `Slab` it replaced: the size of the group's allocation shows in deep chains of scopes).
    len: u32,
}

/// The chunks of a registry, by index: the first one alone (a group of up to four tasks
/// makes one allocation), the others in blocks.
struct Chunks {
    first: Option<Box<FirstChunk>>,
    /// Chunks `1..`; boxed on purpose: each chunk is its own small allocation, made next to
    /// the task cells it serves (a block of inline chunks would be one 7.7 KB allocation).
    #[allow(clippy::vec_box)]
    blocks: Vec<Vec<Box<BlockChunk>>>,
}

impl Chunks {
    #[inline]
    fn get(&self, index: usize) -> Option<&Chunk> {
        match index.checked_sub(1) {
            None => self.first.as_deref().map(|c| c as &Chunk),
            Some(i) => self
                .blocks
                .get(i / BLOCK_CHUNKS)?
                .get(i % BLOCK_CHUNKS)
                .map(|c| &**c as &Chunk),
        }
    }

    #[inline]
    fn get_mut(&mut self, index: usize) -> Option<&mut Chunk> {
        match index.checked_sub(1) {
            None => self.first.as_deref_mut().map(|c| c as &mut Chunk),
            Some(i) => self
                .blocks
                .get_mut(i / BLOCK_CHUNKS)?
                .get_mut(i % BLOCK_CHUNKS)
                .map(|c| &mut **c as &mut Chunk),
        }
    }

    /// Chunks allocated.
    fn count(&self) -> usize {
        match (&self.first, self.blocks.last()) {
            (None, _) => 0,
            (Some(_), None) => 1,
            (Some(_), Some(last)) => 1 + (self.blocks.len() - 1) * BLOCK_CHUNKS + last.len(),
        }
    }

    /// Adds a chunk with every slot free, whose `room` successor is `next_room`; returns its
    /// index.
    fn push(&mut self, next_room: u32) -> usize {
        let index = self.count();
        match index.checked_sub(1) {
            None => self.first = Some(FirstChunk::boxed(next_room)),
            Some(i) => {
                if i % BLOCK_CHUNKS == 0 {
                    // The first block grows with the group; later ones are full-sized at
                    // once. Either way no block exceeds 512 bytes.
                    let capacity = if i == 0 { 0 } else { BLOCK_CHUNKS };
                    self.blocks.push(Vec::with_capacity(capacity));
                }
                let block = self.blocks.last_mut().expect("a block was just ensured");
                block.push(BlockChunk::boxed(next_room));
            }
        }
        index
    }

    /// Keeps the first `keep` chunks (all empty), frees the others, and links the kept ones
    /// into a `room` list; returns its head.
    ///
    /// The chunks are freed newest first (the reverse of their allocation). Freed oldest first,
    /// a long-running scope made glibc give the top of its heap back to the kernel at the end
    /// of every burst and fault it back in at the next one: over 21 bursts of 100k short tasks
    /// in one process, 52.8k page faults (`JoinSet`: 24.0k); freed newest first, 13.3k, and
    /// 10-13% less CPU time at 16 and 64 bytes (BENCHMARKS.md, "The order the registry frees
    /// its chunks in"). The memory given back is the same.
    fn truncate_empty(&mut self, keep: usize) -> u32 {
        let rest = keep.saturating_sub(1);
        while self.blocks.len() > rest.div_ceil(BLOCK_CHUNKS) {
            if let Some(mut block) = self.blocks.pop() {
                free_newest_first_in(&mut block, 0);
            }
        }
        let mut left = rest;
        for block in &mut self.blocks {
            free_newest_first_in(block, left);
            block.shrink_to(BLOCK_CHUNKS);
            left -= block.len();
        }
        self.blocks.shrink_to_fit();
        if keep == 0 {
            self.first = None;
        }
        let mut room = NONE;
        for index in 0..self.count() {
            let chunk = self.get_mut(index).expect("a kept chunk");
            chunk.free = all_free(chunk.slots.len());
            chunk.next_room = room;
            room = chunk_index(index);
        }
        room
    }
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
            chunks: Chunks {
                first: None,
                blocks: Vec::new(),
            },
            room: NONE,
            len: 0,
        }
    }

    /// Live tasks.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `entry`; returns its key.
    pub(crate) fn insert(&mut self, entry: Entry) -> usize {
        if self.room == NONE {
            self.room = chunk_index(self.chunks.push(NONE));
        }
        let index = self.room as usize;
        let chunk = self
            .chunks
            .get_mut(index)
            .expect("a chunk on the room list");
        let slot = chunk.free.trailing_zeros() as usize;
        chunk.free &= !(1 << slot);
        chunk.slots[slot] = Some(entry);
        if chunk.free == 0 {
            // Invariant 1: a full chunk leaves the list.
            self.room = std::mem::replace(&mut chunk.next_room, NONE);
        }
        self.len = self
            .len
            .checked_add(1)
            .expect("cancel-scope: more than 4 billion live tasks in one group");
        (index << SLOT_BITS) | slot
    }

    /// The entry of `key`, if it is live.
    pub(crate) fn get(&self, key: usize) -> Option<&Entry> {
        let (index, slot) = split(key);
        self.chunks.get(index)?.slots.get(slot)?.as_ref()
    }

    /// The entry of `key`, if it is live.
    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut Entry> {
        let (index, slot) = split(key);
        self.chunks.get_mut(index)?.slots.get_mut(slot)?.as_mut()
    }

    /// Removes the entry of `key`, if it is live. Its memory stays with the registry until the
    /// registry is empty (invariant 2).
    pub(crate) fn remove(&mut self, key: usize) -> Option<Entry> {
        let (index, slot) = split(key);
        let room = self.room;
        let chunk = self.chunks.get_mut(index)?;
        let entry = chunk.slots.get_mut(slot)?.take()?;
        if chunk.free == 0 {
            // Invariant 1: the chunk has room again.
            chunk.next_room = room;
            self.room = chunk_index(index);
        }
        chunk.free |= 1 << slot;
        self.len -= 1;
        if self.len == 0 && self.chunks.count() > RETAINED_CHUNKS {
            // Empty chunks hold no user values: freeing them runs no user code.
            self.room = self.chunks.truncate_empty(RETAINED_CHUNKS);
        }
        Some(entry)
    }

    /// Chunks allocated: [`for_each_in_chunk`](Self::for_each_in_chunk) takes `0..chunks()`.
    /// A walk that releases the lock between chunks may go on from where it stopped: chunks
    /// never move, and are only freed once the registry is empty (invariant 2).
    pub(crate) fn chunks(&self) -> usize {
        self.chunks.count()
    }

    /// Calls `f` with every live entry of chunk `index` (none if there is no such chunk).
    pub(crate) fn for_each_in_chunk(&mut self, index: usize, f: impl FnMut(&mut Entry)) {
        if let Some(chunk) = self.chunks.get_mut(index) {
            if chunk.free != all_free(chunk.slots.len()) {
                chunk.slots.iter_mut().flatten().for_each(f);
            }
        }
    }

    /// Whether the registry holds memory.
    pub(crate) fn has_memory(&self) -> bool {
        self.chunks.first.is_some()
    }
}

/// Frees the chunks of `block` past the first `keep`, the newest first (see
/// [`Chunks::truncate_empty`]).
#[allow(clippy::vec_box)]
fn free_newest_first_in(block: &mut Vec<Box<BlockChunk>>, keep: usize) {
    while block.len() > keep {
        block.pop();
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
        Entry::launching(Shield::Unshielded)
    }

    #[test]
    fn sizes() {
        assert_eq!(std::mem::size_of::<BlockChunk>(), 120);
        assert_eq!(std::mem::size_of::<FirstChunk>(), 72);
        assert_eq!(std::mem::size_of::<Registry>(), 40);
        assert!(FIRST_SLOTS.max(CHUNK_SLOTS) <= 1 << SLOT_BITS);
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
        let mut live = 0;
        for index in 0..r.chunks() {
            r.for_each_in_chunk(index, |_| live += 1);
        }
        assert_eq!(live, 500);
        let chunks = r.chunks.count();
        for _ in 0..500 {
            r.insert(entry());
        }
        assert_eq!(
            r.chunks.count(),
            chunks,
            "freed slots are reused before growing"
        );
        for &k in keys.iter().skip(1).step_by(2) {
            assert!(r.get_mut(k).is_some());
        }
    }

    #[test]
    fn an_empty_registry_gives_its_burst_back() {
        let mut r = Registry::new();
        let keys: Vec<usize> = (0..100_000).map(|_| r.insert(entry())).collect();
        assert!(r.chunks.count() >= 100_000 / CHUNK_SLOTS);
        for k in keys {
            r.remove(k);
        }
        assert!(r.is_empty());
        assert_eq!(r.chunks.count(), RETAINED_CHUNKS);
        assert!(r.chunks.blocks.capacity() <= RETAINED_CHUNKS.div_ceil(BLOCK_CHUNKS));
        // The retained chunks are all usable again.
        let retained_slots = FIRST_SLOTS + (RETAINED_CHUNKS - 1) * CHUNK_SLOTS;
        let keys: Vec<usize> = (0..retained_slots).map(|_| r.insert(entry())).collect();
        assert_eq!(r.chunks.count(), RETAINED_CHUNKS);
        assert_eq!(r.len(), keys.len());
        r.insert(entry());
        assert_eq!(r.chunks.count(), RETAINED_CHUNKS + 1, "one more grows");
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
