//! Borrowing numpy arrays as contiguous slices, with errors that name the argument.

use numpy::{Element, PyReadonlyArray, PyReadwriteArray};
use pyo3::PyResult;

use crate::errors::ShapeError;

fn not_contiguous(name: &str) -> pyo3::PyErr {
    ShapeError::new_err(format!(
        "{name}: expected a C-contiguous array (use numpy.ascontiguousarray)"
    ))
}

/// A read-only contiguous view of `arr`.
pub fn slice<'a, T: Element, D: numpy::ndarray::Dimension>(
    name: &str,
    arr: &'a PyReadonlyArray<'_, T, D>,
) -> PyResult<&'a [T]> {
    arr.as_slice().map_err(|_| not_contiguous(name))
}

/// A writable contiguous view of `arr`.
pub fn slice_mut<'a, T: Element, D: numpy::ndarray::Dimension>(
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

/// Converts Python's int64 indices to `u32`, naming the argument when one is negative or
/// `>= 2^32`.
pub fn to_u32(name: &str, xs: &[i64]) -> PyResult<Vec<u32>> {
    to_index(name, xs, "2^32")
}

/// Converts Python's int64 offsets to `usize`, naming the argument when one is negative.
pub fn to_usize(name: &str, xs: &[i64]) -> PyResult<Vec<usize>> {
    to_index(name, xs, "2^64")
}

fn to_index<T: TryFrom<i64>>(name: &str, xs: &[i64], bound: &str) -> PyResult<Vec<T>> {
    xs.iter()
        .map(|&x| {
            T::try_from(x).map_err(|_| {
                crate::errors::InvalidValueError::new_err(format!(
                    "{name}: indices must be in [0, {bound}), found {x}"
                ))
            })
        })
        .collect()
}
