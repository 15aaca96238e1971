//! A persistent (copy-on-write) B+ tree of byte keys and byte values: the memory backend's map.
//!
//! Cloning a [`Tree`] is O(1): nodes are shared behind `Arc`s and a write copies only the nodes
//! on its path that another clone still holds. A lone writer changes its nodes in place.
//!
//! The layout is chosen for memory locality, since a large map lives far outside the caches:
//! - A leaf is one page (4 KiB) holding its keys and values up to 1 KiB ([`Leaf`]), so a scan
//!   reads a few pages per hundred rows and each row sits beside its key (values in blocks of
//!   their own cost a cache miss per row: a table scan over them ran 20-40 % slower).
//! - Every node keeps, per key, the eight bytes that follow the prefix all its keys share, as a
//!   `u64` (a leaf in its slots, a branch in [`Heads`]). A search runs over those and reads a
//!   whole key only to break a tie or confirm a match: store keys share long prefixes (tenant,
//!   table), and a binary search that dereferenced each key it passed missed the cache on each.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use super::{compare_keys, PairVisitor};
use crate::error::Result;

/// Longest value stored inside a leaf; longer ones get a block of their own.
const INLINE_VALUE: usize = 1024;
/// Most children of a branch.
const FANOUT: usize = 64;
/// Entries a scan visits in one leaf from which it prefetches the leaf's page first.
const PREFETCH_FROM: usize = 8;
/// Longest shared prefix a node records; heads are taken after it.
const PREFIX_CAP: usize = 48;

/// An ordered map from byte keys to byte values with O(1) clones.
#[derive(Clone, Default)]
pub(super) struct Tree {
    root: Option<Node>,
}

#[derive(Clone)]
enum Node {
    Leaf(Arc<Leaf>),
    Branch(Arc<Branch>),
}

/// What a write below a branch reports to it: the separator and new right sibling of a split.
type Split = Option<(Box<[u8]>, Node)>;

impl Tree {
    /// The value of `key`.
    pub(super) fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let mut node = self.root.as_ref()?;
        loop {
            match node {
                Node::Branch(branch) => node = &branch.children[branch.child_for(key)],
                Node::Leaf(leaf) => {
                    return leaf.search(key).ok().map(|i| leaf.entry(i).1);
                }
            }
        }
    }

    /// Sets `key` to `value`.
    pub(super) fn insert(&mut self, key: &[u8], value: &[u8]) {
        let root = self
            .root
            .get_or_insert_with(|| Node::Leaf(Arc::new(Leaf::new(PAGE))));
        let (_, split) = root.insert(key, value);
        if let Some((separator, right)) = split {
            let left = self.root.take().expect("the root was just written");
            let mut branch = Branch {
                heads: Heads::default(),
                separators: vec![separator],
                children: vec![left, right],
            };
            branch.rebuild_heads();
            self.root = Some(Node::Branch(Arc::new(branch)));
        }
    }

    /// Removes `key`; `true` when it was there.
    pub(super) fn remove(&mut self, key: &[u8]) -> bool {
        let Some(root) = self.root.as_mut() else {
            return false;
        };
        if !root.remove(key) {
            return false;
        }
        // A branch left with one child hands the root to it; an empty root goes.
        loop {
            match self.root.take() {
                Some(Node::Branch(branch)) if branch.children.len() <= 1 => {
                    self.root = Arc::unwrap_or_clone(branch).children.pop();
                }
                Some(Node::Leaf(leaf)) if leaf.n == 0 => return true,
                other => {
                    self.root = other;
                    return true;
                }
            }
        }
    }

    /// Calls `f` with each pair in `[start, end]` (as the bounds say) in key order, or reverse
    /// key order, until it returns `false`; `Ok(false)` then.
    pub(super) fn visit(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        f: &mut PairVisitor<'_>,
    ) -> Result<bool> {
        match &self.root {
            Some(root) => root.visit(start, end, reverse, f),
            None => Ok(true),
        }
    }
}

impl Node {
    fn insert(&mut self, key: &[u8], value: &[u8]) -> (bool, Split) {
        match self {
            Node::Leaf(leaf) => {
                let leaf = Arc::make_mut(leaf);
                let found = leaf.search(key);
                let need = leaf.room_needed(found, key, value);
                if need > leaf.free() && need <= leaf.free() + leaf.garbage {
                    leaf.compact(0);
                }
                // A leaf with nothing to move out grows a page for the entry instead of splitting.
                let lone = leaf.n == 0 || (leaf.n == 1 && found.is_ok());
                if need > leaf.free() && lone {
                    leaf.compact(need);
                }
                if need <= leaf.free() {
                    return (leaf.write(found, key, value), None);
                }
                let mut right = leaf.split(found == Err(leaf.n));
                let target = if right.n == 0 || compare_keys(key, right.key(0)) != Ordering::Less {
                    &mut right
                } else {
                    leaf
                };
                let found = target.search(key);
                let need = target.room_needed(found, key, value);
                if need > target.free() {
                    target.compact(need);
                }
                let added = target.write(found, key, value);
                let separator: Box<[u8]> = right.key(0).into();
                (added, Some((separator, Node::Leaf(Arc::new(right)))))
            }
            Node::Branch(branch) => {
                let branch = Arc::make_mut(branch);
                let at = branch.child_for(key);
                let (added, split) = branch.children[at].insert(key, value);
                let Some((separator, right)) = split else {
                    return (added, None);
                };
                branch.separators.insert(at, separator);
                branch.children.insert(at + 1, right);
                branch.heads_inserted(at);
                let split = (branch.children.len() > FANOUT).then(|| {
                    let (separator, right) = branch.split(at + 2 == branch.children.len());
                    (separator, Node::Branch(Arc::new(right)))
                });
                (added, split)
            }
        }
    }

    fn remove(&mut self, key: &[u8]) -> bool {
        match self {
            Node::Leaf(leaf) => {
                // Look before writing: a miss must not copy a shared leaf.
                let Ok(i) = leaf.search(key) else {
                    return false;
                };
                Arc::make_mut(leaf).remove_at(i);
                true
            }
            Node::Branch(shared) => {
                let at = shared.child_for(key);
                // Look before writing when another clone holds this branch: a miss must not
                // copy it.
                if Arc::strong_count(shared) > 1 && !shared.children[at].contains(key) {
                    return false;
                }
                let branch = Arc::make_mut(shared);
                let removed = branch.children[at].remove(key);
                if removed {
                    branch.tidy(at);
                }
                removed
            }
        }
    }

    fn contains(&self, key: &[u8]) -> bool {
        match self {
            Node::Leaf(leaf) => leaf.search(key).is_ok(),
            Node::Branch(branch) => branch.children[branch.child_for(key)].contains(key),
        }
    }

    /// Keys below this node, or children for a branch: zero means the node is empty.
    fn entries(&self) -> usize {
        match self {
            Node::Leaf(leaf) => leaf.n,
            Node::Branch(branch) => branch.children.len(),
        }
    }

    fn underfull(&self) -> bool {
        match self {
            Node::Leaf(leaf) => leaf.used() < PAGE / 4,
            Node::Branch(branch) => branch.children.len() < FANOUT / 4,
        }
    }

    fn visit(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        f: &mut PairVisitor<'_>,
    ) -> Result<bool> {
        match self {
            Node::Leaf(leaf) => {
                let from = match start {
                    Bound::Unbounded => 0,
                    Bound::Included(k) => leaf.search(k).unwrap_or_else(|i| i),
                    Bound::Excluded(k) => leaf.search(k).map_or_else(|i| i, |i| i + 1),
                };
                let to = match end {
                    Bound::Unbounded => leaf.n,
                    Bound::Included(k) => leaf.search(k).map_or_else(|i| i, |i| i + 1),
                    Bound::Excluded(k) => leaf.search(k).unwrap_or_else(|i| i),
                };
                if from >= to {
                    return Ok(true);
                }
                if to - from >= PREFETCH_FROM {
                    leaf.prefetch();
                }
                in_order(from..to, reverse, |i| {
                    let (key, value) = leaf.entry(i);
                    f(key, value)
                })
            }
            Node::Branch(branch) => {
                let first = match start {
                    Bound::Unbounded => 0,
                    Bound::Included(k) | Bound::Excluded(k) => branch.child_for(k),
                };
                let last = match end {
                    Bound::Unbounded => branch.children.len() - 1,
                    Bound::Included(k) | Bound::Excluded(k) => branch.child_for(k),
                };
                if first > last {
                    return Ok(true);
                }
                // Only the first and last children need the bounds; those between lie inside.
                let bounds = |c: usize| {
                    (
                        if c == first { start } else { Bound::Unbounded },
                        if c == last { end } else { Bound::Unbounded },
                    )
                };
                in_order(first..last + 1, reverse, |c| {
                    let (s, e) = bounds(c);
                    branch.children[c].visit(s, e, reverse, f)
                })
            }
        }
    }
}

/// Calls `step` on each index of `range`, ascending or descending, until it returns `false`;
/// `Ok(false)` then.
fn in_order(
    range: std::ops::Range<usize>,
    reverse: bool,
    mut step: impl FnMut(usize) -> Result<bool>,
) -> Result<bool> {
    if reverse {
        for i in range.rev() {
            if !step(i)? {
                return Ok(false);
            }
        }
    } else {
        for i in range {
            if !step(i)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The bytes every key of a node starts with (at most [`PREFIX_CAP`] of them): a node's keys
/// are compared by their heads after it.
#[derive(Clone, Copy)]
struct Prefix {
    len: u8,
    bytes: [u8; PREFIX_CAP],
}

impl Default for Prefix {
    fn default() -> Self {
        Prefix {
            len: 0,
            bytes: [0; PREFIX_CAP],
        }
    }
}

impl Prefix {
    /// The prefix of the keys from `first` to `last` (every key between shares it).
    fn of(first: &[u8], last: &[u8]) -> Prefix {
        let len = shared_prefix(first, last);
        let mut bytes = [0; PREFIX_CAP];
        bytes[..len].copy_from_slice(&first[..len]);
        Prefix {
            len: len as u8,
            bytes,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }

    fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the key just inserted at `i`, among `n` keys from `first` to `last`, leaves
    /// this no longer the shared prefix: the first key, or a new first or last key that shares
    /// less with the others.
    fn outgrown_by(&self, i: usize, n: usize, first: &[u8], last: &[u8]) -> bool {
        n == 1 || ((i == 0 || i == n - 1) && shared_prefix(first, last) < self.len())
    }
}

/// The part of each key after a node's shared prefix, eight bytes of it as a big-endian `u64`:
/// the compact array a branch's binary search runs over (a leaf keeps its heads in its slots).
///
/// Invariant: every key of the node starts with `prefix` and `heads[i]` is
/// [`head_of`]`(key i, prefix length)`. Heads order like their keys (a smaller head means a
/// smaller key), and equal heads leave the order to the whole keys.
#[derive(Clone, Default)]
struct Heads {
    prefix: Prefix,
    heads: Vec<u64>,
}

/// Eight bytes of `key` from `skip` on, zero-padded, as a big-endian number.
#[inline(always)]
fn head_of(key: &[u8], skip: usize) -> u64 {
    let rest = key.get(skip..).unwrap_or_default();
    if rest.len() >= 8 {
        u64::from_be_bytes(rest[..8].try_into().expect("eight bytes"))
    } else {
        let mut bytes = [0u8; 8];
        bytes[..rest.len()].copy_from_slice(rest);
        u64::from_be_bytes(bytes)
    }
}

/// Length of the common prefix of `a` and `b`, at most [`PREFIX_CAP`].
fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .take(PREFIX_CAP)
        .take_while(|(x, y)| x == y)
        .count()
}

impl Heads {
    /// Recomputes everything from the node's `n` keys.
    fn rebuild<'k>(&mut self, n: usize, key: impl Fn(usize) -> &'k [u8]) {
        self.heads.clear();
        self.prefix = match n {
            0 => Prefix::default(),
            _ => Prefix::of(key(0), key(n - 1)),
        };
        let skip = self.prefix.len();
        self.heads.extend((0..n).map(|i| head_of(key(i), skip)));
    }

    /// Records the key just inserted at `i` (the node now has `n` keys).
    fn inserted<'k>(&mut self, i: usize, n: usize, key: impl Fn(usize) -> &'k [u8]) {
        if self.prefix.outgrown_by(i, n, key(0), key(n - 1)) {
            self.rebuild(n, key);
        } else {
            self.heads.insert(i, head_of(key(i), self.prefix.len()));
        }
    }

    /// `Ok(i)`: key `i` is `key`; `Err(i)`: `key` would go at `i`.
    #[inline]
    fn search<'k>(&self, key: &[u8], key_at: impl Fn(usize) -> &'k [u8]) -> Result<usize, usize> {
        search_keys(
            self.prefix.as_slice(),
            self.heads.len(),
            key,
            |i| self.heads[i],
            key_at,
        )
    }
}

/// A leaf: one page holding the entries (a key, then its inline value) packed from its start,
/// and a sorted array of [`Slot`]s at its end, growing down towards them.
///
/// One allocation of one size per leaf, made when the leaf is and never resized: leaves whose
/// buffers grew step by step made the allocator's slow paths a large share of a write. A write
/// appends its entry after the others (keys written in ascending order lie at ascending
/// addresses, as a forward scan reads them) and leaves the bytes it replaces as garbage; a leaf
/// rewrites its page compactly, in key order, when it splits or its garbage is needed.
#[derive(Clone)]
struct Leaf {
    /// The prefix every key shares; the slots' heads start after it.
    prefix: Prefix,
    page: Box<[u8]>,
    /// Number of slots.
    n: usize,
    /// End of the entries: they fill `page[..high]`.
    high: usize,
    /// Bytes of `page[..high]` no slot points at.
    garbage: usize,
    /// Values longer than [`INLINE_VALUE`], each in a block of its own, named by their slots.
    blocks: Vec<Arc<[u8]>>,
}

/// Bytes of a leaf's page; a leaf whose one entry is larger gets a page its size.
const PAGE: usize = 4096;
/// Bytes of a [`Slot`] in a page.
const SLOT: usize = 16;
/// Marks [`Slot::value`] as a block index.
const BLOCK: u16 = 0x8000;

/// A leaf's entry: its key's head, where its key starts and how long it is, and its inline
/// value's length or [`BLOCK`] | the index of its block.
#[derive(Clone, Copy)]
struct Slot {
    head: u64,
    at: u32,
    key_len: u16,
    value: u16,
}

impl Slot {
    fn inline_len(&self) -> usize {
        if self.value & BLOCK == 0 {
            usize::from(self.value)
        } else {
            0
        }
    }

    fn block(&self) -> Option<usize> {
        (self.value & BLOCK != 0).then_some(usize::from(self.value & !BLOCK))
    }

    /// Bytes of its entry in the page.
    fn entry_len(&self) -> usize {
        usize::from(self.key_len) + self.inline_len()
    }
}

/// How a value is stored: the inline bytes, or none when it takes a block.
fn inline_part(value: &[u8]) -> &[u8] {
    if value.len() <= INLINE_VALUE {
        value
    } else {
        &[]
    }
}

impl Leaf {
    /// An empty leaf with a page of `size` bytes.
    fn new(size: usize) -> Leaf {
        Leaf {
            prefix: Prefix::default(),
            page: vec![0; size].into_boxed_slice(),
            n: 0,
            high: 0,
            garbage: 0,
            blocks: Vec::new(),
        }
    }

    /// Where slot `i` lies in the page.
    #[inline(always)]
    fn slot_at(&self, i: usize) -> usize {
        self.page.len() - (self.n - i) * SLOT
    }

    #[inline(always)]
    fn slot(&self, i: usize) -> Slot {
        let at = self.slot_at(i);
        let b: &[u8; SLOT] = self.page[at..at + SLOT].try_into().expect("a slot");
        Slot {
            head: u64::from_ne_bytes(b[..8].try_into().expect("8 bytes")),
            at: u32::from_ne_bytes(b[8..12].try_into().expect("4 bytes")),
            key_len: u16::from_ne_bytes(b[12..14].try_into().expect("2 bytes")),
            value: u16::from_ne_bytes(b[14..].try_into().expect("2 bytes")),
        }
    }

    #[inline(always)]
    fn head(&self, i: usize) -> u64 {
        let at = self.slot_at(i);
        u64::from_ne_bytes(self.page[at..at + 8].try_into().expect("8 bytes"))
    }

    fn set_slot(&mut self, i: usize, slot: Slot) {
        let at = self.slot_at(i);
        let b = &mut self.page[at..at + SLOT];
        b[..8].copy_from_slice(&slot.head.to_ne_bytes());
        b[8..12].copy_from_slice(&slot.at.to_ne_bytes());
        b[12..14].copy_from_slice(&slot.key_len.to_ne_bytes());
        b[14..].copy_from_slice(&slot.value.to_ne_bytes());
    }

    #[inline]
    fn key(&self, i: usize) -> &[u8] {
        let slot = self.slot(i);
        let at = slot.at as usize;
        &self.page[at..at + usize::from(slot.key_len)]
    }

    /// Key and value of entry `i`.
    #[inline]
    fn entry(&self, i: usize) -> (&[u8], &[u8]) {
        let slot = self.slot(i);
        let at = slot.at as usize;
        let key_end = at + usize::from(slot.key_len);
        let value = match slot.block() {
            None => &self.page[key_end..key_end + usize::from(slot.value)],
            Some(block) => &self.blocks[block],
        };
        (&self.page[at..key_end], value)
    }

    /// Asks the CPU for the page's entries and slots without waiting for them, so a scan over
    /// many of its entries takes its cache misses together rather than one at a time (x86-64;
    /// other targets have no stable prefetch instruction and skip it).
    fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            let slots = self.page.len() - self.n * SLOT;
            for part in [&self.page[..self.high], &self.page[slots..]] {
                for line in part.chunks(64) {
                    // SAFETY: a prefetch is a hint: it never faults and reads nothing into the
                    // program.
                    unsafe {
                        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                        _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
                    }
                }
            }
        }
    }

    fn search(&self, key: &[u8]) -> Result<usize, usize> {
        search_keys(
            self.prefix.as_slice(),
            self.n,
            key,
            |i| self.head(i),
            |i| self.key(i),
        )
    }

    /// Bytes between the slots and the entries.
    fn free(&self) -> usize {
        self.page.len() - self.n * SLOT - self.high
    }

    /// Bytes the slots and live entries take.
    fn used(&self) -> usize {
        self.n * SLOT + self.high - self.garbage
    }

    /// Copies `key` and `inline` after the entries; returns where they start.
    fn put_entry(&mut self, key: &[u8], inline: &[u8]) -> u32 {
        let at = self.high;
        self.high += key.len() + inline.len();
        self.page[at..at + key.len()].copy_from_slice(key);
        self.page[at + key.len()..at + key.len() + inline.len()].copy_from_slice(inline);
        at as u32
    }

    /// The slot's value field for `value`, adding a block when it takes one.
    fn value_field(&mut self, value: &[u8]) -> u16 {
        if value.len() <= INLINE_VALUE {
            value.len() as u16
        } else {
            self.blocks.push(value.into());
            BLOCK | (self.blocks.len() - 1) as u16
        }
    }

    /// Drops block `block`, moving the last block into its place.
    fn drop_block(&mut self, block: usize) {
        self.blocks.swap_remove(block);
        let moved = self.blocks.len();
        if block < moved {
            if let Some(i) = (0..self.n).find(|&i| self.slot(i).block() == Some(moved)) {
                let mut slot = self.slot(i);
                slot.value = BLOCK | block as u16;
                self.set_slot(i, slot);
            }
        }
    }

    /// Bytes writing `key` = `value` needs beyond the page's free space now, given where
    /// [`search`](Self::search) found it.
    fn room_needed(&self, found: Result<usize, usize>, key: &[u8], value: &[u8]) -> usize {
        let inline = inline_part(value).len();
        match found {
            Ok(i) => {
                let slot = self.slot(i);
                if inline <= slot.inline_len() {
                    0
                } else {
                    usize::from(slot.key_len) + inline
                }
            }
            Err(_) => SLOT + key.len() + inline,
        }
    }

    /// Writes `key` = `value` where [`search`](Self::search) found it, with the room
    /// [`room_needed`](Self::room_needed) free; `true` when the key is new.
    fn write(&mut self, found: Result<usize, usize>, key: &[u8], value: &[u8]) -> bool {
        let inline = inline_part(value);
        match found {
            Ok(i) => {
                let mut slot = self.slot(i);
                if let Some(block) = slot.block() {
                    self.drop_block(block);
                }
                let old = slot.inline_len();
                if inline.len() <= old {
                    let at = slot.at as usize + usize::from(slot.key_len);
                    self.page[at..at + inline.len()].copy_from_slice(inline);
                    self.garbage += old - inline.len();
                } else {
                    self.garbage += slot.entry_len();
                    slot.at = self.put_entry(key, inline);
                }
                slot.value = self.value_field(value);
                self.set_slot(i, slot);
                false
            }
            Err(i) => {
                let at = self.put_entry(key, inline);
                let value = self.value_field(value);
                // The slots before `i` move down one place; those from `i` on stay.
                let start = self.slot_at(0);
                self.page.copy_within(start..start + i * SLOT, start - SLOT);
                self.n += 1;
                let slot = Slot {
                    head: head_of(key, self.prefix.len()),
                    at,
                    key_len: key.len() as u16,
                    value,
                };
                self.set_slot(i, slot);
                if self
                    .prefix
                    .outgrown_by(i, self.n, self.key(0), self.key(self.n - 1))
                {
                    self.refresh_heads();
                }
                true
            }
        }
    }

    fn remove_at(&mut self, i: usize) {
        let slot = self.slot(i);
        if let Some(block) = slot.block() {
            self.drop_block(block);
        }
        let start = self.slot_at(0);
        self.page.copy_within(start..start + i * SLOT, start + SLOT);
        self.n -= 1;
        self.garbage += slot.entry_len();
        if self.n == 0 {
            self.high = 0;
            self.garbage = 0;
        }
        // Fewer keys never share less: the prefix and heads stay true.
    }

    /// Recomputes the shared prefix from the first and last keys, and every head.
    fn refresh_heads(&mut self) {
        if self.n == 0 {
            self.prefix = Prefix::default();
            return;
        }
        self.prefix = Prefix::of(self.key(0), self.key(self.n - 1));
        let skip = self.prefix.len();
        for i in 0..self.n {
            let mut slot = self.slot(i);
            slot.head = head_of(self.key(i), skip);
            self.set_slot(i, slot);
        }
    }

    /// A compact leaf holding `parts`' entries in order, each part a leaf and a range of its
    /// slots, in a page of at least `room` bytes: entries laid out in key order, no garbage.
    fn gather(parts: &[(&Leaf, std::ops::Range<usize>)], room: usize) -> Leaf {
        let bytes: usize = parts
            .iter()
            .flat_map(|(leaf, range)| range.clone().map(|i| SLOT + leaf.slot(i).entry_len()))
            .sum();
        let mut out = Leaf::new(PAGE.max(bytes + room));
        // Slots are placed from the end of the page by count: set it first.
        out.n = parts.iter().map(|(_, r)| r.len()).sum();
        let mut i = 0;
        for (leaf, range) in parts {
            for j in range.clone() {
                let mut slot = leaf.slot(j);
                let at = slot.at as usize;
                let key_end = at + usize::from(slot.key_len);
                slot.at = out.put_entry(
                    &leaf.page[at..key_end],
                    &leaf.page[key_end..at + slot.entry_len()],
                );
                if let Some(block) = slot.block() {
                    out.blocks.push(leaf.blocks[block].clone());
                    slot.value = BLOCK | (out.blocks.len() - 1) as u16;
                }
                out.set_slot(i, slot);
                i += 1;
            }
        }
        out.refresh_heads();
        out
    }

    /// Rewrites the page compactly, with at least `room` bytes free: in place when a page of
    /// the usual size has the room, through a new page otherwise.
    fn compact(&mut self, room: usize) {
        if self.page.len() != PAGE || PAGE - self.used() < room {
            *self = Leaf::gather(&[(self, 0..self.n)], room);
            return;
        }
        let mut scratch = [0u8; PAGE];
        let mut high = 0;
        for i in 0..self.n {
            let mut slot = self.slot(i);
            let (at, len) = (slot.at as usize, slot.entry_len());
            scratch[high..high + len].copy_from_slice(&self.page[at..at + len]);
            slot.at = high as u32;
            high += len;
            self.set_slot(i, slot);
        }
        self.page[..high].copy_from_slice(&scratch[..high]);
        self.high = high;
        self.garbage = 0;
    }

    /// Splits the leaf in two by bytes, or, when `appending` (the next key goes after every
    /// key), keeps every entry here and returns an empty right sibling: keys written in
    /// ascending order (the log, sequential ids) then fill their leaves instead of leaving each
    /// half empty.
    fn split(&mut self, appending: bool) -> Leaf {
        let n = self.n;
        let m = if appending {
            n
        } else if n == 1 {
            0
        } else {
            let half = self.used() / 2;
            let mut sum = 0;
            (0..n)
                .position(|i| {
                    sum += SLOT + self.slot(i).entry_len();
                    sum > half
                })
                .unwrap_or(n)
                .clamp(1, n - 1)
        };
        let right = Leaf::gather(&[(self, m..n)], 0);
        *self = Leaf::gather(&[(self, 0..m)], 0);
        right
    }
}

/// Where `key` falls among `n` sorted keys that all start with `prefix`, given each key's head
/// after the prefix and each whole key: `Ok(i)` when key `i` is `key`, `Err(i)` when `key`
/// would go at `i`.
#[inline]
fn search_keys<'k>(
    prefix: &[u8],
    n: usize,
    key: &[u8],
    head_at: impl Fn(usize) -> u64,
    key_at: impl Fn(usize) -> &'k [u8],
) -> Result<usize, usize> {
    if n == 0 {
        return Err(0);
    }
    let skip = prefix.len();
    match compare_keys(&key[..skip.min(key.len())], prefix) {
        Ordering::Less => return Err(0),
        Ordering::Greater => return Err(n),
        Ordering::Equal => {}
    }
    let head = head_of(key, skip);
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if head_at(mid) < head {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut i = lo;
    while i < n && head_at(i) == head {
        match compare_keys(key_at(i), key) {
            Ordering::Less => i += 1,
            Ordering::Equal => return Ok(i),
            Ordering::Greater => return Err(i),
        }
    }
    Err(i)
}

/// A branch: `children[i]` holds the keys from `separators[i - 1]` (included) to
/// `separators[i]` (excluded).
#[derive(Clone)]
struct Branch {
    heads: Heads,
    separators: Vec<Box<[u8]>>,
    children: Vec<Node>,
}

impl Branch {
    /// The child whose keys would include `key`: the number of separators ≤ `key`.
    #[inline]
    fn child_for(&self, key: &[u8]) -> usize {
        match self.heads.search(key, |i| &self.separators[i]) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    fn rebuild_heads(&mut self) {
        let separators = &self.separators;
        self.heads.rebuild(separators.len(), |i| &separators[i]);
    }

    fn heads_inserted(&mut self, i: usize) {
        let separators = &self.separators;
        self.heads.inserted(i, separators.len(), |j| &separators[j]);
    }

    /// Moves the upper half of the children into a new right sibling, or only the last child
    /// when `appending` (see [`Leaf::split`]); returns the separator between the two and the
    /// sibling.
    fn split(&mut self, appending: bool) -> (Box<[u8]>, Branch) {
        let m = if appending {
            self.children.len() - 1
        } else {
            self.children.len() / 2
        };
        let children = self.children.split_off(m);
        let separators = self.separators.split_off(m);
        let up = self.separators.pop().expect("a full branch has separators");
        let mut right = Branch {
            heads: Heads::default(),
            separators,
            children,
        };
        right.rebuild_heads();
        self.rebuild_heads();
        (up, right)
    }

    /// After a removal below child `at`: drops it when empty, or merges it with a sibling when
    /// it has shrunk and the two fit in one node.
    fn tidy(&mut self, at: usize) {
        if self.children[at].entries() == 0 {
            self.children.remove(at);
            if !self.separators.is_empty() {
                self.separators.remove(at.saturating_sub(1));
            }
            self.rebuild_heads();
            return;
        }
        if !self.children[at].underfull() || self.children.len() < 2 {
            return;
        }
        let left = if at + 1 < self.children.len() {
            at
        } else {
            at - 1
        };
        let fits = match (&self.children[left], &self.children[left + 1]) {
            (Node::Leaf(a), Node::Leaf(b)) => a.used() + b.used() <= PAGE,
            (Node::Branch(a), Node::Branch(b)) => a.children.len() + b.children.len() <= FANOUT,
            _ => false,
        };
        if !fits {
            return;
        }
        let right = self.children.remove(left + 1);
        let separator = self.separators.remove(left);
        match (&mut self.children[left], right) {
            (Node::Leaf(a), Node::Leaf(b)) => {
                *a = Arc::new(Leaf::gather(&[(a, 0..a.n), (&b, 0..b.n)], 0));
            }
            (Node::Branch(a), Node::Branch(b)) => {
                let a = Arc::make_mut(a);
                let b = Arc::unwrap_or_clone(b);
                a.separators.push(separator);
                a.separators.extend(b.separators);
                a.children.extend(b.children);
                a.rebuild_heads();
            }
            _ => unreachable!("siblings are at one depth"),
        }
        self.rebuild_heads();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn pairs(
        tree: &Tree,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        tree.visit(start, end, reverse, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })
        .unwrap();
        out
    }

    fn expected(
        model: &BTreeMap<Vec<u8>, Vec<u8>>,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out: Vec<_> = model
            .range::<[u8], _>((start, end))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if reverse {
            out.reverse();
        }
        out
    }

    /// Depth of every leaf, and every node's keys in order within its separators.
    fn check_shape(
        node: &Node,
        low: Option<&[u8]>,
        high: Option<&[u8]>,
        depth: usize,
        leaves: &mut Vec<usize>,
    ) {
        match node {
            Node::Leaf(leaf) => {
                leaves.push(depth);
                let mut live = 0;
                for i in 0..leaf.n {
                    let key = leaf.key(i);
                    assert!(low.is_none_or(|l| key >= l) && high.is_none_or(|h| key < h));
                    assert!(i == 0 || leaf.key(i - 1) < key);
                    assert_eq!(leaf.head(i), head_of(key, leaf.prefix.len()));
                    assert!(key.starts_with(leaf.prefix.as_slice()));
                    let slot = leaf.slot(i);
                    assert!(slot.at as usize + slot.entry_len() <= leaf.high);
                    live += slot.entry_len();
                }
                assert_eq!(live + leaf.garbage, leaf.high);
                assert!(leaf.n * SLOT + leaf.high <= leaf.page.len());
            }
            Node::Branch(branch) => {
                assert_eq!(branch.separators.len() + 1, branch.children.len());
                for (c, child) in branch.children.iter().enumerate() {
                    let lo = if c == 0 {
                        low
                    } else {
                        Some(&*branch.separators[c - 1])
                    };
                    let hi = branch.separators.get(c).map(|s| &**s).or(high);
                    check_shape(child, lo, hi, depth + 1, leaves);
                }
            }
        }
    }

    type Model = BTreeMap<Vec<u8>, Vec<u8>>;

    fn check(tree: &Tree, model: &Model) {
        let all = pairs(tree, Bound::Unbounded, Bound::Unbounded, false);
        assert_eq!(
            all,
            expected(model, Bound::Unbounded, Bound::Unbounded, false)
        );
        if let Some(root) = &tree.root {
            let mut leaves = Vec::new();
            check_shape(root, None, None, 0, &mut leaves);
            assert!(
                leaves.iter().all(|&d| d == leaves[0]),
                "leaves at one depth"
            );
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(Vec<u8>, usize),
        Remove(Vec<u8>),
        Snapshot,
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        // Long shared prefixes and short distinct tails, as store keys have.
        (0..4usize, prop::collection::vec(0u8..6, 0..12)).prop_map(|(p, tail)| {
            let mut k = vec![b't'; p * 9];
            k.extend(tail);
            k
        })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (key(), 0usize..3000).prop_map(|(k, n)| Op::Put(k, n)),
            3 => key().prop_map(Op::Remove),
            1 => Just(Op::Snapshot),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_an_ordered_map_and_snapshots_stay_put(ops in prop::collection::vec(op(), 1..1500)) {
            let mut tree = Tree::default();
            let mut model = BTreeMap::new();
            let mut snapshots: Vec<(Tree, Model)> = Vec::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Put(k, len) => {
                        // Value sizes across the inline limit; contents tell writes apart.
                        let v: Vec<u8> = (0..len).map(|i| (i + n) as u8).collect();
                        tree.insert(&k, &v);
                        model.insert(k, v);
                    }
                    Op::Remove(k) => {
                        prop_assert_eq!(tree.remove(&k), model.remove(&k).is_some());
                    }
                    Op::Snapshot => snapshots.push((tree.clone(), model.clone())),
                }
                let probe = vec![b't'; (n % 4) * 9];
                prop_assert_eq!(tree.get(&probe), model.get(&probe).map(|v| v.as_slice()));
            }
            check(&tree, &model);
            for (snapshot, then) in &snapshots {
                check(snapshot, then);
            }
            for k in model.keys() {
                prop_assert_eq!(tree.get(k), model.get(k).map(|v| v.as_slice()));
            }
        }

        #[test]
        fn range_visits_match_an_ordered_map(
            keys in prop::collection::btree_set(key(), 0..600),
            a in key(), b in key(), kinds in (0..3u8, 0..3u8), reverse in any::<bool>(), stop in 0usize..50,
        ) {
            let mut tree = Tree::default();
            let mut model = BTreeMap::new();
            for k in keys {
                tree.insert(&k, &k);
                model.insert(k.clone(), k);
            }
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let bound = |kind: u8, k: &Vec<u8>| -> Bound<Vec<u8>> {
                match kind { 0 => Bound::Included(k.clone()), 1 => Bound::Excluded(k.clone()), _ => Bound::Unbounded }
            };
            let (start, end) = (bound(kinds.0, &lo), bound(kinds.1, &hi));
            if matches!((&start, &end), (Bound::Excluded(s), Bound::Excluded(e)) if s == e) {
                return Ok(()); // an empty range BTreeMap refuses
            }
            let s = start.as_ref().map(|v| v.as_slice());
            let e = end.as_ref().map(|v| v.as_slice());
            let want = expected(&model, s, e, reverse);
            prop_assert_eq!(&pairs(&tree, s, e, reverse), &want);
            // Stopping early stops.
            let mut seen = 0;
            let finished = tree.visit(s, e, reverse, &mut |_, _| { seen += 1; Ok(seen < stop) }).unwrap();
            prop_assert_eq!(seen, want.len().min(stop.max(1)));
            prop_assert_eq!(finished, want.len() < stop.max(1));
        }
    }

    #[test]
    fn entries_larger_than_a_page_get_pages_of_their_own() {
        let mut tree = Tree::default();
        let mut model = BTreeMap::new();
        for round in 0..3u8 {
            for i in 0..120usize {
                // Keys up to the backend's 16 KiB limit beside small ones; values up to the
                // inline limit, replaced by longer and shorter ones in later rounds.
                let len = if i % 5 == 0 {
                    4000 + i * 100
                } else {
                    8 + i % 7
                };
                let mut key = vec![b'a' + (i % 3) as u8; len];
                key.extend_from_slice(&(i as u32).to_be_bytes());
                let value = vec![round; (i * 37 + usize::from(round) * 300) % (INLINE_VALUE + 1)];
                tree.insert(&key, &value);
                model.insert(key, value);
            }
            check(&tree, &model);
        }
        let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
        for key in keys.iter().step_by(2) {
            assert!(tree.remove(key));
            model.remove(key);
        }
        check(&tree, &model);
    }

    #[test]
    fn grows_and_shrinks_through_many_levels() {
        let mut tree = Tree::default();
        let mut model = BTreeMap::new();
        let key = |i: u64| {
            let mut k = b"tenant\0table\0".to_vec();
            k.extend_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_be_bytes());
            k
        };
        for i in 0..60_000u64 {
            let v = vec![i as u8; (i % 40) as usize];
            tree.insert(&key(i), &v);
            model.insert(key(i), v);
        }
        let snapshot = (tree.clone(), model.clone());
        check(&tree, &model);
        for i in (0..60_000u64).filter(|i| i % 7 != 0) {
            assert!(tree.remove(&key(i)));
            model.remove(&key(i));
        }
        check(&tree, &model);
        for i in 0..60_000u64 {
            tree.remove(&key(i));
        }
        assert!(tree.root.is_none());
        check(&snapshot.0, &snapshot.1);
    }
}
