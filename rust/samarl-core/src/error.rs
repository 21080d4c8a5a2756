//! The one error type of the core. Every variant names the offending argument and what was expected,
//! so that the binding layer can turn it into a Python exception with a useful message.

use thiserror::Error;

/// Errors returned by the samarl core. Nothing in the core panics on user input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CoreError {
    /// An array has the wrong length or shape.
    #[error("{name}: expected {expected}, got {got}")]
    Shape {
        name: &'static str,
        expected: String,
        got: String,
    },
    /// A value is out of its allowed range (negative power, NaN action, zero agents, ...).
    #[error("{name}: {reason}")]
    InvalidValue { name: &'static str, reason: String },
    /// A graph description is malformed (index out of range, asymmetric, self loop, ...).
    #[error("invalid graph: {0}")]
    InvalidGraph(String),
    /// The operation needs a connected graph and this one is not.
    #[error(
        "graph is disconnected ({components} connected components); consensus needs a connected \
         communication graph"
    )]
    Disconnected { components: usize },
    /// The machine does not have the memory a request needs (an estimate before allocating, or an
    /// allocation the system refused); `what` says how many of what, e.g. `1,000 nodes`.
    #[error(
        "{name}: {what} need ~{}{}",
        crate::memory::format_bytes(*.bytes),
        availability(*.available)
    )]
    Memory {
        name: &'static str,
        what: String,
        bytes: u64,
        available: Option<u64>,
    },
    /// A long kernel was stopped by its [`Interrupt`](crate::interrupt::Interrupt) (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidValue`].
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidValue {
            name,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`CoreError::Shape`].
    pub fn shape(name: &'static str, expected: impl ToString, got: impl ToString) -> Self {
        Self::Shape {
            name,
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }
}

/// The end of a [`CoreError::Memory`] message: what this machine has available, when known.
fn availability(available: Option<u64>) -> String {
    match available {
        Some(bytes) => format!(
            " (this machine has {} available)",
            crate::memory::format_bytes(bytes)
        ),
        None => ", more than this machine could allocate".to_string(),
    }
}

/// Result alias used throughout the core.
pub type Result<T> = std::result::Result<T, CoreError>;

/// Checks that a slice has exactly `expected` elements.
pub fn check_len<T>(name: &'static str, xs: &[T], expected: usize) -> Result<()> {
    if xs.len() == expected {
        Ok(())
    } else {
        Err(CoreError::shape(
            name,
            format!("{expected} elements"),
            format!("{}", xs.len()),
        ))
    }
}

/// Checks that every value is finite; names the first offending index.
pub fn check_finite(name: &'static str, xs: &[f32]) -> Result<()> {
    // A fast vectorisable pass; the position is only looked up on failure.
    if xs.iter().all(|x| x.is_finite()) {
        return Ok(());
    }
    let i = xs.iter().position(|x| !x.is_finite()).unwrap_or(0);
    Err(CoreError::invalid(
        name,
        format!("must be finite, found {} at index {i}", xs[i]),
    ))
}

/// Checks that every value is finite and `>= 0`.
pub fn check_nonnegative(name: &'static str, xs: &[f32]) -> Result<()> {
    check_finite(name, xs)?;
    match xs.iter().position(|&x| x < 0.0) {
        None => Ok(()),
        Some(i) => Err(CoreError::invalid(
            name,
            format!("must be >= 0, found {} at index {i}", xs[i]),
        )),
    }
}
