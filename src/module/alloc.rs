//! The global allocator: Redis's own inside the server, the system's
//! everywhere else.
//!
//! Inside redis-server every allocation goes through the module API, so
//! Redis counts it in `used_memory` and `maxmemory` applies to it. The same
//! crate also runs as a plain library and in its tests, where the module
//! API was never initialized; there the system allocator serves.
//!
//! The choice is made per call, but it cannot change while a block is
//! live: the API's pointers are set once, by `RedisModule_Init`, before the
//! module allocates anything, and never in a process that is not Redis.
//!
//! `RedisModule_TryAlloc` (Redis 7.0 and later) returns null when memory
//! runs out instead of aborting the server, so `try_reserve` can report
//! the failure; on older servers `RedisModule_Alloc` serves.

use std::alloc::{GlobalAlloc, Layout, System};

use redis_module::raw;

/// Allocates through Redis when loaded in it, through the system if not.
pub(crate) struct ModuleAllocator;

/// A size rounded up to a multiple of `layout`'s alignment: Redis's
/// allocator aligns blocks to their size class, so such a size is enough
/// for any alignment up to the size itself.
fn aligned_size(layout: Layout) -> usize {
    (layout.size() + layout.align() - 1) & !(layout.align() - 1)
}

// SAFETY: every block is allocated and freed by the same allocator: the
// module API's pointers are set before the first allocation in a loaded
// module and never otherwise (see the file header), so `alloc` and
// `dealloc` always take the same branch for a given block.
unsafe impl GlobalAlloc for ModuleAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: reading the API pointers, written once at load time
        // before any allocation of this module.
        let (try_alloc, alloc) =
            unsafe { (raw::RedisModule_TryAlloc, raw::RedisModule_Alloc) };
        match try_alloc.or(alloc) {
            // SAFETY: a Redis allocation function, called with a size.
            Some(allocate) => unsafe { allocate(aligned_size(layout)) }.cast(),
            // SAFETY: forwarded with the caller's own valid layout.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`.
        let free = unsafe { raw::RedisModule_Free };
        match free {
            // SAFETY: `ptr` came from the Redis branch of `alloc`.
            Some(free) => unsafe { free(ptr.cast()) },
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }
}
