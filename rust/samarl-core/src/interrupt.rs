//! Stopping long kernels: a kernel asks its [`Interrupt`] between chunks of work whether to go on,
//! and returns the error it gives.
//!
//! The core knows nothing of Python: the binding passes a check that runs Python's signal
//! handlers, so Ctrl-C stops a `mix` of a billion rounds within a few tens of milliseconds.
//! Checks are paced by the clock, not by the work done, so a check that costs a microsecond (or,
//! with another Python thread holding the GIL, a few milliseconds) costs a bounded fraction of
//! any kernel: kernels count their work with a `Pacer`, which reads the clock once per
//! [`PROBE_WORK`] units and asks the interrupt once per [`CHECK_INTERVAL`].

use std::time::{Duration, Instant};

use crate::error::Result;

/// Asked between chunks of a long kernel whether to go on.
///
/// Any `Fn() -> Result<()> + Sync` closure is one; [`Never`] never stops. Kernels call it on the
/// thread that called them, never from the thread pool.
pub trait Interrupt: Sync {
    /// `Ok(())` to go on; an error (normally [`CoreError::Interrupted`]) stops the kernel, which
    /// returns that error.
    ///
    /// [`CoreError::Interrupted`]: crate::CoreError::Interrupted
    fn check(&self) -> Result<()>;
}

impl<F: Fn() -> Result<()> + Sync> Interrupt for F {
    fn check(&self) -> Result<()> {
        self()
    }
}

/// The interrupt that never stops a kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct Never;

impl Interrupt for Never {
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// Units of work (row updates, or stored entries visited) between two reads of the clock: about
/// a millisecond of work at most, so a clock read (tens of nanoseconds) costs under 0.01%.
pub const PROBE_WORK: u64 = 1 << 18;
/// The time between two checks of the interrupt.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// Paces a kernel's checks of its [`Interrupt`]: [`Pacer::tick`] after each chunk of work.
pub(crate) struct Pacer<'a> {
    interrupt: &'a dyn Interrupt,
    /// Work since the clock was last read.
    work: u64,
    /// When the interrupt was last asked (the clock is first read after [`PROBE_WORK`] units, so
    /// short calls never read it).
    last: Option<Instant>,
    /// Times the interrupt was asked.
    checks: u64,
}

impl<'a> Pacer<'a> {
    pub(crate) fn new(interrupt: &'a dyn Interrupt) -> Self {
        Self {
            interrupt,
            work: 0,
            last: None,
            checks: 0,
        }
    }

    /// Counts `work` units just done; asks the interrupt when [`CHECK_INTERVAL`] has passed since
    /// the last time (or since the first [`PROBE_WORK`] units), and returns its error.
    pub(crate) fn tick(&mut self, work: usize) -> Result<()> {
        self.work += work as u64;
        if self.work < PROBE_WORK {
            return Ok(());
        }
        self.work = 0;
        let now = Instant::now();
        match self.last {
            None => self.last = Some(now),
            Some(last) if now.duration_since(last) >= CHECK_INTERVAL => {
                self.last = Some(now);
                self.checks += 1;
                self.interrupt.check()?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Times the interrupt was asked.
    #[cfg(test)]
    pub(crate) fn checks(&self) -> u64 {
        self.checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CoreError;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn the_pacer_asks_only_after_the_interval_and_passes_the_error_on() {
        let asked = AtomicU64::new(0);
        let stop_on_third = || {
            if asked.fetch_add(1, Ordering::Relaxed) == 2 {
                Err(CoreError::Interrupted)
            } else {
                Ok(())
            }
        };
        let mut pacer = Pacer::new(&stop_on_third);
        // Short bursts of work never read the clock, however many.
        for _ in 0..1000 {
            pacer.tick(1).unwrap();
        }
        assert_eq!(pacer.checks(), 0);
        let start = Instant::now();
        let result = loop {
            if let Err(e) = pacer.tick(PROBE_WORK as usize) {
                break e;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(result, CoreError::Interrupted);
        assert_eq!(pacer.checks(), 3);
        assert!(start.elapsed() >= 3 * CHECK_INTERVAL);
    }

    #[test]
    fn never_never_stops() {
        let mut pacer = Pacer::new(&Never);
        for _ in 0..10 {
            pacer.tick(PROBE_WORK as usize).unwrap();
        }
    }
}
