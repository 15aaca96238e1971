//! The module's memory allocator: dlmalloc (the allocator Rust's standard library uses on
//! wasm32) over a page source that grows linear memory by an eighth of its size at a time
//! (1–16 MiB) instead of by the few pages each request needs.
//!
//! Every `memory.grow` detaches the JavaScript `ArrayBuffer` over the memory, and V8 counts the
//! new pages as external memory: most growths set off a full mark-compact of the whole JS heap.
//! In 64 KiB steps, writing 300k edges grew memory ~250 times, and those collections were half
//! of the time. Linear memory never shrinks, with or without this; what it adds at most is one
//! step of pages not yet used (16 MiB once memory is past 128 MiB).
//!
//! The cargo feature `wasm-allocator` (on by default) installs it as the global allocator of
//! wasm32 builds without threads; turn default features off to bring your own.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;
use core::ptr;

/// WebAssembly's page size.
const PAGE: usize = 64 * 1024;
/// The smallest and largest growth step.
const MIN_STEP: usize = 1 << 20;
const MAX_STEP: usize = 16 << 20;

/// Bytes to grow by when the allocator needs `size` more and memory holds `current`: at least
/// `size` and at least one step, in whole pages; `None` if that overflows.
fn grow_bytes(size: usize, current: usize) -> Option<usize> {
    let step = (current / 8).clamp(MIN_STEP, MAX_STEP);
    size.max(step).checked_next_multiple_of(PAGE)
}

/// Pages for dlmalloc, taken from the end of linear memory in steps (see the module docs).
struct SteppedPages;

// SAFETY: `alloc` returns only fresh pages from `memory.grow` (zeroed, never handed out before),
// with their true size; nothing is ever freed or remapped.
unsafe impl dlmalloc::Allocator for SteppedPages {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let current = wasm32::memory_size(0) * PAGE;
        // One step if the host allows it, else exactly what is needed.
        for bytes in [
            grow_bytes(size, current),
            size.checked_next_multiple_of(PAGE),
        ]
        .into_iter()
        .flatten()
        {
            let previous_pages = wasm32::memory_grow(0, bytes / PAGE);
            if previous_pages != usize::MAX {
                return ((previous_pages * PAGE) as *mut u8, bytes, 0);
            }
        }
        (ptr::null_mut(), 0, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

/// dlmalloc over [`SteppedPages`]. Without the `atomics` target feature a wasm32 module runs on
/// one thread, so it needs no lock (the only kind of build that installs it).
pub struct ModuleAllocator(UnsafeCell<dlmalloc::Dlmalloc<SteppedPages>>);

// SAFETY: single-threaded (see the type's docs); the allocator is never re-entered, as dlmalloc
// allocates nothing itself.
unsafe impl Sync for ModuleAllocator {}

// SAFETY: forwards to dlmalloc, whose contracts are GlobalAlloc's.
unsafe impl GlobalAlloc for ModuleAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).malloc(layout.size(), layout.align())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).calloc(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        (*self.0.get()).free(ptr, layout.size(), layout.align())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size)
    }
}

#[cfg(not(target_feature = "atomics"))]
#[global_allocator]
static ALLOCATOR: ModuleAllocator = ModuleAllocator(UnsafeCell::new(
    dlmalloc::Dlmalloc::new_with_allocator(SteppedPages),
));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_one_step_of_whole_pages_at_least() {
        assert_eq!(grow_bytes(100, 0), Some(MIN_STEP));
        assert_eq!(grow_bytes(100, 64 << 20), Some(8 << 20));
        assert_eq!(grow_bytes(100, 1 << 30), Some(MAX_STEP));
        assert_eq!(grow_bytes(MAX_STEP + 1, 1 << 30), Some(MAX_STEP + PAGE));
        assert_eq!(grow_bytes(usize::MAX - 5, 0), None);
    }
}
