//! Crash failpoints for tests: `SEXTANT_FAILPOINTS=flush.after_objects,flush.after_register`
//! makes a debug build abort the process (as `kill -9` would) when it reaches a named point.
//! Release builds compile them away.

/// Aborts the process if `name` is listed in `SEXTANT_FAILPOINTS` (debug builds only).
#[cfg(debug_assertions)]
pub(crate) fn hit(name: &str) {
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let list = LIST.get_or_init(|| {
        std::env::var("SEXTANT_FAILPOINTS")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    if list.iter().any(|n| n == name) {
        eprintln!("failpoint {name} reached: aborting");
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn hit(_name: &str) {}
