//! Allocator tuning for the server process.
//!
//! glibc's malloc gives every thread that allocates its own arena (up to 8 per core). Decoding
//! runs on tokio's blocking pool, so a busy server touches dozens of arenas, each keeping freed
//! memory to itself: measured at full ingest, that fragmentation was about 1.3 GiB of the peak
//! RSS. Capping the arenas at the core count removed it at no measurable throughput cost.

/// Caps glibc's malloc arenas at the number of cores, unless `MALLOC_ARENA_MAX` is set.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(2);
    set_arena_max(arenas);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(
    unsafe_code,
    reason = "mallopt is glibc's only interface to this setting"
)]
fn set_arena_max(arenas: libc::c_int) {
    // SAFETY: mallopt only changes allocator parameters; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn limit_malloc_arenas() {}
