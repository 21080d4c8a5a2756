//! Running core calls with the GIL released and Ctrl-C working: the one helper every binding
//! goes through (STYLE rules 15 and 21).

use std::sync::{Mutex, PoisonError};

use pyo3::prelude::*;
use samarl_core::CoreError;
use samarl_core::interrupt::Interrupt;

use crate::errors::to_py;

/// Runs `call` with the GIL released, and maps its error in the one place errors are mapped.
/// Borrow slices before, build Python objects after.
///
/// `call` gets an [`Interrupt`] to hand its kernel. Each check attaches to Python and runs its
/// signal handlers (`PyErr_CheckSignals`); if one raises (Ctrl-C: `KeyboardInterrupt`), the
/// kernel stops with `CoreError::Interrupted` and that very exception propagates. Kernels check
/// on the calling thread, paced to about every 20 ms (`samarl_core::interrupt::CHECK_INTERVAL`).
/// Python runs signal handlers on the main thread only, so elsewhere a check just attaches and
/// detaches.
pub fn detach<T: Send>(
    py: Python<'_>,
    call: impl FnOnce(&dyn Interrupt) -> samarl_core::Result<T> + Send,
) -> PyResult<T> {
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let check_signals = || {
        #[allow(
            clippy::redundant_closure_for_method_calls,
            reason = "the method is not general over the lifetime"
        )]
        Python::attach(|py| py.check_signals()).map_err(|err| {
            *raised.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
            CoreError::Interrupted
        })
    };
    let result = py.detach(|| call(&check_signals));
    match (
        result,
        raised.into_inner().unwrap_or_else(PoisonError::into_inner),
    ) {
        (Err(CoreError::Interrupted), Some(err)) => Err(err),
        (result, _) => to_py(result),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};

    #[test]
    fn results_and_errors_pass_through() {
        Python::attach(|py| {
            assert_eq!(
                detach(py, |interrupt| interrupt.check().map(|()| 7)).unwrap(),
                7
            );
            let err = detach(py, |_| -> samarl_core::Result<()> {
                Err(CoreError::invalid("x", "bad"))
            })
            .unwrap_err();
            assert!(err.is_instance_of::<PyValueError>(py));
        });
    }

    #[test]
    fn an_interrupted_kernel_raises_keyboard_interrupt() {
        // Without a pending Python exception (a kernel that stopped on its own), the mapping in
        // errors.rs gives KeyboardInterrupt.
        Python::attach(|py| {
            let err = detach(py, |_| -> samarl_core::Result<()> {
                Err(CoreError::Interrupted)
            })
            .unwrap_err();
            assert!(err.is_instance_of::<PyKeyboardInterrupt>(py));
        });
    }
}
