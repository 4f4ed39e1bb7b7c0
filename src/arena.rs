//! The global allocator: a bump arena, with the C library's malloc behind it.
//!
//! ns-rootless allocates a few hundred KiB, almost all of it while it prepares a launch, and
//! frees it all at once at exit. musl's malloc gives each size class pages of its own and hands
//! them back as soon as they are empty: ~50 mmap and munmap calls per launch, and as many more
//! mappings for the sandbox's init to copy. Bumping a pointer through one untouched .bss array
//! costs neither (untouched pages cost no memory). Memory freed in the arena is reused only
//! when it was the last block (a Vec growing in place); what doesn't fit goes to malloc.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

const SIZE: usize = 1 << 20;

#[repr(C, align(4096))]
struct Bytes(UnsafeCell<[u8; SIZE]>);

pub struct Arena {
    bytes: Bytes,
    /// Offset of the first free byte.
    next: AtomicUsize,
}

// SAFETY: the bytes are handed out in disjoint ranges, each range to one owner, by atomic
// updates of `next` (Acquire/Release: bytes given back by one thread are handed to another only
// after its writes to them). ns-rootless has one thread; the unit tests' harness has several.
unsafe impl Sync for Arena {}

impl Arena {
    pub const fn new() -> Arena {
        Arena {
            bytes: Bytes(UnsafeCell::new([0; SIZE])),
            next: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> usize {
        self.bytes.0.get() as usize
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        (self.base()..self.base() + SIZE).contains(&(ptr as usize))
    }

    /// Bumps `next` past a block of `size` bytes aligned to `align`; None when it doesn't fit.
    fn bump(&self, size: usize, align: usize) -> Option<*mut u8> {
        let base = self.base();
        let mut next = self.next.load(Ordering::Acquire);
        loop {
            // Layout's alignment is a power of two: a mask, not checked_next_multiple_of's
            // division (a few hundred allocations per launch).
            let start = (base + next).checked_add(align - 1)? & !(align - 1);
            let start = start - base;
            let end = start.checked_add(size).filter(|&end| end <= SIZE)?;
            match self
                .next
                .compare_exchange_weak(next, end, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some((base + start) as *mut u8),
                Err(now) => next = now,
            }
        }
    }
}

// SAFETY: blocks come from disjoint ranges of the arena or from System, and each is given back
// to where it came from (`owns`).
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout.size(), layout.align()) {
            Some(ptr) => ptr,
            // SAFETY: the caller's layout, as GlobalAlloc requires.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.owns(ptr) {
            // The last block is taken back (a loop that allocates and frees reuses it); any
            // other stays until exit.
            let start = ptr as usize - self.base();
            let _ = self.next.compare_exchange(
                start + layout.size(),
                start,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        } else {
            // SAFETY: a block System gave out with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: a block System gave out with this layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // The last block grows or shrinks in place; any other shrinks in place.
        let start = ptr as usize - self.base();
        let resized = start
            .checked_add(new_size)
            .filter(|&end| end <= SIZE)
            .is_some_and(|end| {
                let old_end = start + layout.size();
                let moved =
                    self.next
                        .compare_exchange(old_end, end, Ordering::AcqRel, Ordering::Acquire);
                moved.is_ok()
            });
        if resized || new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: new_size is non-zero and fits isize once rounded to the alignment (the
        // caller's promise); the old block holds layout.size() valid bytes, and is given back
        // only once they are copied.
        unsafe {
            let new = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_the_last_is_reused() {
        static A: Arena = Arena::new();
        unsafe {
            let a = A.alloc(layout(3, 1));
            let b = A.alloc(layout(16, 64));
            assert!(A.owns(a) && A.owns(b));
            assert_eq!(b as usize % 64, 0);
            assert!(b as usize >= a as usize + 3);
            A.dealloc(b, layout(16, 64));
            assert_eq!(A.alloc(layout(16, 64)), b, "the last block is taken back");
            A.dealloc(a, layout(3, 1));
            assert_ne!(
                A.alloc(layout(3, 1)),
                a,
                "an earlier block stays until exit"
            );
        }
    }

    #[test]
    fn realloc_grows_the_last_block_in_place_and_moves_others_with_their_bytes() {
        static A: Arena = Arena::new();
        unsafe {
            let a = A.alloc(layout(4, 1));
            a.copy_from_nonoverlapping(b"abcd".as_ptr(), 4);
            assert_eq!(A.realloc(a, layout(4, 1), 100), a);
            let b = A.alloc(layout(8, 8));
            let moved = A.realloc(a, layout(100, 1), 200);
            assert!(moved != a && A.owns(moved) && moved as usize > b as usize);
            assert_eq!(std::slice::from_raw_parts(moved, 4), b"abcd");
            assert_eq!(
                A.realloc(moved, layout(200, 1), 10),
                moved,
                "shrinks in place"
            );
        }
    }

    #[test]
    fn what_does_not_fit_comes_from_malloc() {
        static A: Arena = Arena::new();
        unsafe {
            let big = A.alloc(layout(SIZE + 1, 8));
            assert!(!big.is_null() && !A.owns(big));
            big.write_bytes(7, SIZE + 1);
            let bigger = A.realloc(big, layout(SIZE + 1, 8), 2 * SIZE);
            assert!(!A.owns(bigger));
            assert_eq!(*bigger.add(SIZE), 7);
            A.dealloc(bigger, layout(2 * SIZE, 8));
        }
    }
}
