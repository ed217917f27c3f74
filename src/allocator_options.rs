//! Commit mimalloc's arena on demand instead of eagerly (its default on Linux): with eager
//! commit, memory mimalloc has used stays resident after it is freed and purged. Measured with
//! `bench/cache_memory.sh` (issue 14, bench/results/cache-memory-latest.md): 12 MiB less RSS
//! idle, 15 MiB less with 100,000 cached identities. The option is read when the arena is
//! first reserved, at the first allocation, which the Rust runtime makes before `main`: so
//! this runs as an ELF constructor.

extern "C" {
    /// mimalloc's API (linked through `libmimalloc-sys`, which declares it only with its
    /// `extended` feature).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_arena_eager_commit` in `mi_option_t` (the same in mimalloc 2 and 3).
const ARENA_EAGER_COMMIT: std::ffi::c_int = 4;

extern "C" fn lazy_arena_commit() {
    // SAFETY: sets one integer option, before any thread or allocation exists.
    unsafe { mi_option_set(ARENA_EAGER_COMMIT, 0) }
}

#[used]
#[link_section = ".init_array"]
static LAZY_ARENA_COMMIT: extern "C" fn() = lazy_arena_commit;
