//! Working buffers kept between calls.

use std::fmt;
use std::sync::{Mutex, PoisonError};

/// Working buffers kept between calls: fresh multi-megabyte buffers would fault in new pages
/// from the OS on every call (milliseconds at a million agents).
#[derive(Default)]
pub(super) struct SpareBuffers<T>(Mutex<Vec<Vec<T>>>);

impl<T: Copy + Default> SpareBuffers<T> {
    /// A buffer of `len` values with unspecified contents.
    pub(super) fn take(&self, len: usize) -> Vec<T> {
        let spare = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut buf = spare.unwrap_or_default();
        buf.resize(len, T::default());
        buf
    }

    /// Keeps `bufs` for later calls.
    pub(super) fn keep(&self, bufs: impl IntoIterator<Item = Vec<T>>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(bufs);
    }
}

/// A copy starts with no spare buffers.
impl<T> Clone for SpareBuffers<T> {
    fn clone(&self) -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

/// Spare buffers are a cache, not part of the value.
impl<T> PartialEq for SpareBuffers<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> fmt::Debug for SpareBuffers<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpareBuffers")
    }
}
