//! Borrowing numpy arrays as contiguous slices, with errors that name the argument.
//!
//! Array arguments arrive as `&Bound<PyArray<T, D>>` and are borrowed here, never by PyO3's
//! extraction of `PyReadonlyArray` / `PyReadwriteArray`: that extraction unwraps numpy's borrow
//! check, so a read-only array, or one that aliases another argument or an array a detached call
//! is still writing, would raise `PanicException` instead of an error naming the argument.

use numpy::{
    BorrowError, Element, PyArray, PyArray1, PyArrayMethods, PyReadonlyArray, PyReadwriteArray,
    ndarray::Dimension,
};
use pyo3::prelude::*;
use samarl_core::memory::{self, Request};

use crate::errors::{InvalidValueError, ShapeError, to_py};

/// Borrows `arr` for reading. Fails, naming `name`, while memory it shares is borrowed for
/// writing (by another argument of the same call, or by a call still running on another thread).
pub fn readonly<'py, T: Element, D: Dimension>(
    name: &str,
    arr: &Bound<'py, PyArray<T, D>>,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    arr.try_readonly().map_err(|e| borrow_error(name, &e))
}

/// Borrows `arr` for writing. Fails, naming `name`, when it is read-only or memory it shares is
/// already borrowed.
pub fn readwrite<'py, T: Element, D: Dimension>(
    name: &str,
    arr: &Bound<'py, PyArray<T, D>>,
) -> PyResult<PyReadwriteArray<'py, T, D>> {
    arr.try_readwrite().map_err(|e| borrow_error(name, &e))
}

/// The `InvalidValueError` for a failed borrow of argument `name`.
fn borrow_error(name: &str, e: &BorrowError) -> PyErr {
    InvalidValueError::new_err(match e {
        BorrowError::NotWriteable => format!(
            "{name}: the array is read-only (flags.writeable is False) and this call writes \
             into it; pass a writeable array, e.g. a copy"
        ),
        BorrowError::AlreadyBorrowed => format!(
            "{name}: the array shares memory with another argument, or with an array that a \
             running call is writing; pass a separate array"
        ),
        other => format!("{name}: cannot borrow the array ({other})"),
    })
}

fn not_contiguous(name: &str) -> pyo3::PyErr {
    ShapeError::new_err(format!(
        "{name}: expected a C-contiguous array (use numpy.ascontiguousarray)"
    ))
}

/// A read-only contiguous view of `arr`.
pub fn slice<'a, T: Element, D: Dimension>(
    name: &str,
    arr: &'a PyReadonlyArray<'_, T, D>,
) -> PyResult<&'a [T]> {
    arr.as_slice().map_err(|_| not_contiguous(name))
}

/// A writable contiguous view of `arr`.
pub fn slice_mut<'a, T: Element, D: Dimension>(
    name: &str,
    arr: &'a mut PyReadwriteArray<'_, T, D>,
) -> PyResult<&'a mut [T]> {
    arr.as_slice_mut().map_err(|_| not_contiguous(name))
}

/// Number of columns of a 1-D (`cols = 1`) or 2-D (`cols = shape[1]`) array.
pub fn columns(name: &str, shape: &[usize]) -> PyResult<usize> {
    match shape {
        [_] => Ok(1),
        [_, m] => Ok(*m),
        _ => Err(ShapeError::new_err(format!(
            "{name}: expected a 1-D [n] or 2-D [n, m] array, got shape {shape:?}"
        ))),
    }
}

/// A copy of the values of `arr` (contiguous, any shape, flattened), reserved fallibly.
pub fn to_vec<T: Element + Clone, D: Dimension>(
    name: &'static str,
    arr: &Bound<'_, PyArray<T, D>>,
) -> PyResult<Vec<T>> {
    let borrowed = readonly(name, arr)?;
    let values = slice(name, &borrowed)?;
    to_py(memory::copied(values_of(name, values.len()), values))
}

/// What a copy of argument `name` is for, in a memory error: its `len` values.
fn values_of(name: &'static str, len: usize) -> Request {
    Request::new(name, len, "values")
}

/// Python's int64 indices in `arr` as `u32`, naming the argument when one is negative or
/// `>= 2^32`.
pub fn to_u32<D: Dimension>(
    name: &'static str,
    arr: &Bound<'_, PyArray<i64, D>>,
) -> PyResult<Vec<u32>> {
    to_index(name, arr, "2^32")
}

/// Python's int64 offsets in `arr` as `usize`, naming the argument when one is negative.
pub fn to_usize<D: Dimension>(
    name: &'static str,
    arr: &Bound<'_, PyArray<i64, D>>,
) -> PyResult<Vec<usize>> {
    to_index(name, arr, "2^64")
}

fn to_index<T: TryFrom<i64>, D: Dimension>(
    name: &'static str,
    arr: &Bound<'_, PyArray<i64, D>>,
    bound: &str,
) -> PyResult<Vec<T>> {
    let borrowed = readonly(name, arr)?;
    let values = slice(name, &borrowed)?;
    let mut out = to_py(memory::with_capacity(
        values_of(name, values.len()),
        values.len(),
    ))?;
    for &x in values {
        out.push(T::try_from(x).map_err(|_| {
            InvalidValueError::new_err(format!(
                "{name}: indices must be in [0, {bound}), found {x}"
            ))
        })?);
    }
    Ok(out)
}

/// A CSR matrix `(indptr, indices, data)` as Python arrays (int64, int64, float32).
pub type CsrArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f32>>,
);

/// The engine's CSR arrays moved out to Python (indices widened to int64).
pub fn csr_to_py(py: Python<'_>, csr: (Vec<usize>, Vec<u32>, Vec<f32>)) -> CsrArrays<'_> {
    let (indptr, indices, data) = csr;
    (
        PyArray1::from_vec(py, indptr.into_iter().map(|x| x as i64).collect()),
        PyArray1::from_vec(py, indices.into_iter().map(i64::from).collect()),
        PyArray1::from_vec(py, data),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrow_errors_are_value_errors_naming_the_argument() {
        Python::attach(|py| {
            for (e, says) in [
                (BorrowError::NotWriteable, "read-only"),
                (BorrowError::AlreadyBorrowed, "shares memory"),
            ] {
                let err = borrow_error("x", &e);
                assert!(err.is_instance_of::<InvalidValueError>(py));
                assert!(err.is_instance_of::<pyo3::exceptions::PyValueError>(py));
                let msg = err.to_string();
                assert!(msg.contains("x: ") && msg.contains(says), "{msg}");
            }
        });
    }
}
