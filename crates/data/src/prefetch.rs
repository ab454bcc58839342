//! A cache hint for loops that read scattered memory in an order known ahead: the TF-IDF
//! scorer's vocabulary tables, a batch's texts, the linear solvers' rows.

/// Asks the CPU to bring the cache line holding the start of `value` in, without waiting for
/// it. A plain load of a line that is not in cache holds the pipeline up until it arrives; a
/// prefetch a few steps ahead overlaps that wait with useful work. A no-op where the
/// architecture has no stable prefetch intrinsic.
#[inline(always)]
pub fn prefetch<T: ?Sized>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint to the cache: it reads nothing into the program and never
    // faults, whatever the address; this one comes from a live reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
