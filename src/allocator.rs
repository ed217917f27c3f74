//! The process's allocator: mimalloc, entered through its plain `malloc`-style calls whenever
//! the layout allows.
//!
//! `mimalloc::MiMalloc` sends every allocation to `mi_malloc_aligned`, whatever its alignment.
//! mimalloc 3 (what `libmimalloc-sys` builds unless its `v2` feature is on) serves that quickly
//! only for a block of at most 1 KiB whose size class has a free block at hand. Anything else,
//! a 4 KiB read buffer or a small block when its page has run out, takes the aligned slow path,
//! which over-allocates and marks the page as holding interior pointers. That path ran 21 times
//! a TLS keep-alive request (`bench/results/cost-latest.md`).
//!
//! `mi_malloc` already aligns what most layouts ask. mimalloc's `MI_MAX_ALIGN_SIZE` is 16, so
//! it rounds every size class above 8 bytes to a multiple of 16 (`MI_ALIGN2W` in
//! `page-queue.c`) on 16-byte-aligned page starts. A layout whose alignment is at most 16 and at
//! most its size therefore goes to `mi_malloc` as it is. This is the rule Rust's own `System`
//! allocator uses with C `malloc`. Any other layout goes to the aligned calls.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// The largest alignment `mi_malloc` guarantees (`MI_MAX_ALIGN_SIZE`).
const MALLOC_ALIGN: usize = 16;

/// mimalloc, with `mi_malloc` for layouts it already aligns.
pub struct Allocator;

/// Whether a block of `size` bytes from `mi_malloc` (or `mi_realloc`) is aligned to `align`.
#[inline]
fn malloc_aligns(align: usize, size: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

// SAFETY: every block comes from mimalloc and goes back to it through `mi_free` or a mimalloc
// realloc; a layout `mi_malloc` may not align goes to mimalloc's aligned calls, as before.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if malloc_aligns(layout.align(), layout.size()) {
            mi::mi_malloc(layout.size()).cast()
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if malloc_aligns(layout.align(), layout.size()) {
            mi::mi_zalloc(layout.size()).cast()
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if malloc_aligns(layout.align(), new_size) {
            mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every block honours its layout's alignment and keeps its bytes, through alloc, zeroed
    /// alloc and realloc up and down, for alignments on either side of `MALLOC_ALIGN`. Several
    /// blocks of each layout are live at once, so they sit at different places in their page
    /// (a size class whose blocks were only 8-byte aligned would show on every other one).
    #[test]
    fn blocks_are_aligned_as_their_layouts_ask() {
        const LIVE: usize = 16;
        let a = Allocator;
        for align in [1usize, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [
                1usize, 3, 8, 15, 16, 24, 40, 72, 1000, 1025, 4096, 5000, 70_000,
            ] {
                for new_size in [size / 2 + 1, size * 3] {
                    let (Ok(layout), Ok(moved)) = (
                        Layout::from_size_align(size, align),
                        Layout::from_size_align(new_size, align),
                    ) else {
                        continue;
                    };
                    let what = format!("size {size} -> {new_size}, align {align}");
                    // SAFETY: non-zero sizes; each block is used within its size and freed
                    // once, with the layout it has at that point.
                    unsafe {
                        let mut live = Vec::with_capacity(LIVE);
                        for i in 0..LIVE {
                            let p = if i % 2 == 0 {
                                a.alloc(layout)
                            } else {
                                a.alloc_zeroed(layout)
                            };
                            assert!(!p.is_null(), "{what}");
                            assert_eq!(p as usize % align, 0, "block {i}: {what}");
                            if i % 2 == 1 {
                                let bytes = std::slice::from_raw_parts(p, size);
                                assert!(bytes.iter().all(|b| *b == 0), "zeroed: {what}");
                            }
                            p.write_bytes(i as u8, size);
                            live.push(p);
                        }
                        for (i, p) in live.into_iter().enumerate() {
                            let q = a.realloc(p, layout, new_size);
                            assert_eq!(q as usize % align, 0, "realloc {i}: {what}");
                            let kept = std::slice::from_raw_parts(q, size.min(new_size));
                            assert!(kept.iter().all(|b| *b == i as u8), "kept: {what}");
                            a.dealloc(q, moved);
                        }
                    }
                }
            }
        }
    }
}
