//! The one place where core errors become Python exceptions.
//!
//! Every exception derives from `ValueError`, so `except ValueError` keeps working for callers who do
//! not care about the finer classes. `samarl.errors` re-exports them. An interrupted kernel raises
//! `KeyboardInterrupt` (or whatever Python's signal handler raised: see `detach.rs`).

use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::{PyErr, create_exception};
use samarl_core::CoreError;

create_exception!(
    samarl._core,
    SamarlError,
    PyValueError,
    "Base class of every error raised by samarl's engine."
);
create_exception!(
    samarl._core,
    ShapeError,
    SamarlError,
    "An array has the wrong shape, length or memory layout."
);
create_exception!(
    samarl._core,
    InvalidValueError,
    SamarlError,
    "A value is out of range: NaN or inf, a negative power, zero agents, ..."
);
create_exception!(
    samarl._core,
    MemoryLimitError,
    InvalidValueError,
    "A size (agents, nodes, edges, days) needs more memory than this machine has available."
);
create_exception!(
    samarl._core,
    GraphError,
    SamarlError,
    "A graph description is malformed (index out of range, asymmetric pattern, ...)."
);
create_exception!(
    samarl._core,
    DisconnectedGraphError,
    GraphError,
    "The communication graph is disconnected where consensus needs it connected."
);

/// Newtype so that `From<CoreError> for PyErr` can live here (orphan rule).
pub struct PyCoreError(pub CoreError);

impl From<CoreError> for PyCoreError {
    fn from(e: CoreError) -> Self {
        Self(e)
    }
}

impl From<PyCoreError> for PyErr {
    fn from(PyCoreError(e): PyCoreError) -> Self {
        let msg = e.to_string();
        match e {
            CoreError::Shape { .. } => ShapeError::new_err(msg),
            CoreError::InvalidValue { .. } => InvalidValueError::new_err(msg),
            CoreError::Memory { .. } => MemoryLimitError::new_err(msg),
            CoreError::InvalidGraph(_) => GraphError::new_err(msg),
            CoreError::Disconnected { .. } => DisconnectedGraphError::new_err(msg),
            CoreError::Interrupted => PyKeyboardInterrupt::new_err(msg),
        }
    }
}

/// Converts a core result into a Python result.
pub fn to_py<T>(r: samarl_core::Result<T>) -> PyResult<T> {
    r.map_err(|e| PyCoreError(e).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class_of(e: CoreError) -> String {
        Python::attach(|py| {
            let err: PyErr = PyCoreError(e).into();
            err.get_type(py).name().unwrap().to_string()
        })
    }

    #[test]
    fn each_core_error_maps_to_its_exception() {
        assert_eq!(class_of(CoreError::shape("x", "3", "4")), "ShapeError");
        assert_eq!(
            class_of(CoreError::invalid("x", "bad")),
            "InvalidValueError"
        );
        assert_eq!(
            class_of(CoreError::Memory {
                name: "num_nodes",
                what: "1,000 nodes".into(),
                bytes: 1 << 40,
                available: Some(1 << 30),
            }),
            "MemoryLimitError"
        );
        assert_eq!(class_of(CoreError::InvalidGraph("g".into())), "GraphError");
        assert_eq!(
            class_of(CoreError::Disconnected { components: 2 }),
            "DisconnectedGraphError"
        );
        assert_eq!(class_of(CoreError::Interrupted), "KeyboardInterrupt");
    }

    #[test]
    fn a_memory_limit_is_an_invalid_value_that_says_the_bytes() {
        Python::attach(|py| {
            let err: PyErr = PyCoreError(CoreError::Memory {
                name: "num_nodes",
                what: "1,000,000,000 nodes".into(),
                bytes: 48_000_000_000,
                available: Some(21_000_000_000),
            })
            .into();
            assert!(err.is_instance_of::<InvalidValueError>(py));
            assert!(err.is_instance_of::<PyValueError>(py));
            assert_eq!(
                err.value(py).to_string(),
                "num_nodes: 1,000,000,000 nodes need ~48 GB (this machine has 21 GB available)"
            );
        });
    }

    #[test]
    fn every_exception_is_a_value_error() {
        Python::attach(|py| {
            let err: PyErr = PyCoreError(CoreError::Disconnected { components: 3 }).into();
            assert!(err.is_instance_of::<PyValueError>(py));
            assert!(err.is_instance_of::<GraphError>(py));
            assert!(err.to_string().contains("3 connected components"));
        });
    }
}
