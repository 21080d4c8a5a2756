//! `samarl._core`: the PyO3 binding of samarl-core.
//!
//! Each binding converts numpy arrays (zero copy in), calls exactly one core function with the GIL
//! released and Ctrl-C working (`detach.rs`), and maps errors in one place (`errors.rs`). The Python package `samarl` wraps these
//! classes with validation and a friendlier API.

mod arrays;
mod consensus;
mod detach;
mod env;
mod errors;
mod graph;
mod halo;
mod rng;

#[pyo3::pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::consensus::PyConsensus;
    #[pymodule_export]
    use crate::env::PyDemandResponse;
    #[pymodule_export]
    use crate::errors::{
        DisconnectedGraphError, GraphError, InvalidValueError, MemoryLimitError, SamarlError,
        ShapeError,
    };
    #[pymodule_export]
    use crate::graph::PyGraph;
    #[pymodule_export]
    use crate::halo::PyHaloRows;
    #[pymodule_export]
    use crate::rng::{box_muller_f64, uniform_f32, uniform_f64};

    /// Sets the number of threads the engine's kernels use (0 restores the default: the
    /// `SAMARL_NUM_THREADS` variable, else the available cores).
    #[pyfunction]
    fn set_num_threads(n: usize) {
        samarl_core::pool::set_num_threads(n);
    }

    /// The number of threads the engine's kernels use.
    #[pyfunction]
    fn get_num_threads() -> usize {
        samarl_core::pool::num_threads()
    }

    /// Rows per parallel task and the size below which kernels run serially.
    #[pyfunction]
    fn parallel_layout() -> (usize, usize) {
        (
            samarl_core::pool::CHUNK,
            samarl_core::pool::PARALLEL_THRESHOLD,
        )
    }

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        // A forked child inherits the pool's bookkeeping but not its threads: go serial there.
        let hook = m.getattr("_after_fork_in_child")?;
        let kwargs = pyo3::types::PyDict::new(m.py());
        kwargs.set_item("after_in_child", hook)?;
        m.py()
            .import("os")?
            .call_method("register_at_fork", (), Some(&kwargs))?;
        Ok(())
    }

    /// Fork hook: the child process runs kernels serially (its parent's pool threads do not exist).
    #[pyfunction]
    fn _after_fork_in_child() {
        samarl_core::pool::set_num_threads(1);
    }
}
