//! The private thread pool. samarl never uses rayon's global pool, so it cannot fight with the host
//! application (or torch) over it. The size comes from `SAMARL_NUM_THREADS`, or [`set_num_threads`],
//! and defaults to the available cores. Kernels run serially below [`PARALLEL_THRESHOLD`] agents.
//!
//! Work is split into fixed-size chunks of [`CHUNK`] rows and every output row is written by exactly
//! one task, so results are bit-identical for any number of threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Rows per parallel task. Fixed (not derived from the thread count) so results never depend on it.
pub const CHUNK: usize = 16_384;
/// Below this many rows a kernel runs on the calling thread.
pub const PARALLEL_THRESHOLD: usize = 2 * CHUNK;

/// 0 means "not set yet: read `SAMARL_NUM_THREADS` or use the available cores".
static REQUESTED: AtomicUsize = AtomicUsize::new(0);
static POOL: Mutex<Option<Arc<rayon::ThreadPool>>> = Mutex::new(None);

/// The available cores, looked up once: `available_parallelism` reads cgroup files on Linux
/// (about 25 us a call), and kernels ask on every call.
fn available_cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

fn default_threads() -> usize {
    std::env::var("SAMARL_NUM_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(available_cores)
}

/// The number of threads kernels use.
#[must_use]
pub fn num_threads() -> usize {
    match REQUESTED.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

/// Sets the number of threads kernels use (`0` restores the default). The pool is rebuilt lazily.
pub fn set_num_threads(n: usize) {
    REQUESTED.store(n, Ordering::Relaxed);
    *POOL.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

fn pool() -> Option<Arc<rayon::ThreadPool>> {
    let threads = num_threads();
    if threads <= 1 {
        return None;
    }
    let mut guard = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(p) = guard.as_ref()
        && p.current_num_threads() == threads
    {
        return Some(Arc::clone(p));
    }
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("samarl-{i}"))
        .build()
        .ok()
        .map(Arc::new);
    guard.clone_from(&built);
    built
}

/// Whether a kernel over `rows` rows should go parallel.
#[must_use]
pub fn use_parallel(rows: usize) -> bool {
    rows >= PARALLEL_THRESHOLD && num_threads() > 1
}

/// Runs `f` inside the private pool when `rows` is large enough, else on the calling thread.
/// `f` receives `true` when it runs inside the pool (and may use rayon's parallel iterators).
pub fn run<R: Send>(rows: usize, f: impl FnOnce(bool) -> R + Send) -> R {
    if use_parallel(rows)
        && let Some(p) = pool()
    {
        return p.install(|| f(true));
    }
    f(false)
}

/// Applies `f(chunk_index, out_chunk)` to fixed-size chunks of `out` (`chunk_rows` rows of `width`
/// values each), in parallel when large. The partition is the same for any thread count.
pub fn for_each_chunk<T: Send>(
    out: &mut [T],
    width: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    use rayon::prelude::*;
    let rows = out.len() / width.max(1);
    let step = CHUNK * width.max(1);
    run(rows, |parallel| {
        if parallel {
            out.par_chunks_mut(step)
                .enumerate()
                .for_each(|(i, c)| f(i, c));
        } else {
            out.chunks_mut(step).enumerate().for_each(|(i, c)| f(i, c));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_once() {
        let mut out = vec![0u32; 3 * CHUNK + 17];
        for_each_chunk(&mut out, 1, |i, c| {
            for (j, x) in c.iter_mut().enumerate() {
                *x += (i * CHUNK + j) as u32;
            }
        });
        assert!(out.iter().enumerate().all(|(i, &x)| x as usize == i));
    }
}
