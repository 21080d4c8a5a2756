//! Memory checked before allocating: a size that comes from user input (agents, nodes, edges) and
//! that the machine cannot hold is a [`CoreError::Memory`] naming the argument and the bytes it
//! needs, never an abort.
//!
//! Two checks, as in the Python package (`samarl._validate.check_memory`):
//!
//! - before a constructor starts, [`check`] compares an estimate of its peak memory with what this
//!   machine has available ([`available`]: `MemAvailable` of `/proc/meminfo`, at most
//!   `SAMARL_MEMORY_LIMIT` bytes when that is set), so a request far beyond it fails at once;
//! - every large buffer is then reserved fallibly ([`filled`], [`with_capacity`], [`copied`],
//!   [`reserve`]): an allocation the system refuses is the same error, not `handle_alloc_error`'s
//!   abort. They do not read `/proc/meminfo` (some run once per node): the estimate does.

use std::collections::TryReserveError;

use crate::error::{CoreError, Result};

/// What a request is for, in its error message: `count` `unit` of argument `name` (e.g. `num_nodes`,
/// 1,000,000,000 `nodes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The argument whose size it is.
    pub name: &'static str,
    /// How many.
    pub count: u64,
    /// Of what (plural).
    pub unit: &'static str,
}

impl Request {
    /// `count` `unit` of argument `name`.
    #[must_use]
    pub fn new(name: &'static str, count: usize, unit: &'static str) -> Self {
        Self {
            name,
            count: count as u64,
            unit,
        }
    }

    /// The error for needing `bytes`, with what this machine has available (when known).
    #[must_use]
    pub fn error(self, bytes: u64, available: Option<u64>) -> CoreError {
        CoreError::Memory {
            name: self.name,
            what: format!("{} {}", thousands(self.count), self.unit),
            bytes,
            available,
        }
    }
}

/// Bytes this machine has available for new allocations: `MemAvailable` of `/proc/meminfo`
/// (Linux), at most `SAMARL_MEMORY_LIMIT` when that variable holds a size (bytes, or a number with
/// a `k`, `M`, `G` or `T` suffix, powers of 1000). `None` when neither is known (no check then).
pub fn available() -> Result<Option<u64>> {
    let limit = match std::env::var("SAMARL_MEMORY_LIMIT") {
        Ok(text) if !text.trim().is_empty() => Some(parse_size(&text).ok_or_else(|| {
            CoreError::invalid(
                "SAMARL_MEMORY_LIMIT",
                format!("expected a size in bytes such as 8G or 500M, got {text:?}"),
            )
        })?),
        _ => None,
    };
    let system = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_available(&text));
    Ok(match (system, limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Refuses `request` when its estimated peak, `bytes`, exceeds what is [`available`].
pub fn check(request: Request, bytes: u64) -> Result<()> {
    match available()? {
        Some(have) if bytes > have => Err(request.error(bytes, Some(have))),
        _ => Ok(()),
    }
}

/// `len` copies of `value`, reserved fallibly.
pub fn filled<T: Clone>(request: Request, len: usize, value: T) -> Result<Vec<T>> {
    let mut v = with_capacity(request, len)?;
    v.resize(len, value);
    Ok(v)
}

/// An empty vector with room for `capacity` values, reserved fallibly.
pub fn with_capacity<T>(request: Request, capacity: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    reserve(request, &mut v, capacity)?;
    Ok(v)
}

/// A copy of `values`, reserved fallibly.
pub fn copied<T: Clone>(request: Request, values: &[T]) -> Result<Vec<T>> {
    let mut v = with_capacity(request, values.len())?;
    v.extend_from_slice(values);
    Ok(v)
}

/// Room for `additional` more values in `v`, reserved fallibly. A vector that grows by pushes
/// calls this before it would reallocate (doubling, as `Vec` does), so growth cannot abort either.
pub fn reserve<T>(request: Request, v: &mut Vec<T>, additional: usize) -> Result<()> {
    v.try_reserve_exact(additional).map_err(|e| {
        refused(
            request,
            &e,
            v.len().saturating_add(additional),
            size_of::<T>(),
        )
    })
}

/// Pushes `value`, growing `v` fallibly (doubling its capacity) when it is full.
pub fn push<T>(request: Request, v: &mut Vec<T>, value: T) -> Result<()> {
    if v.len() == v.capacity() {
        reserve(request, v, v.capacity().max(64))?;
    }
    v.push(value);
    Ok(())
}

/// The error of a refused reservation of `len` values of `size` bytes each.
fn refused(request: Request, _: &TryReserveError, len: usize, size: usize) -> CoreError {
    let bytes = (len as u64).saturating_mul(size as u64);
    request.error(bytes, available().ok().flatten())
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A size such as `8G`, `500M`, `1.5GB` or `1000000` in bytes (suffixes are powers of 1000).
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    let (number, scale) = match t.char_indices().last()? {
        (i, 'k' | 'K') => (&t[..i], 1e3),
        (i, 'm' | 'M') => (&t[..i], 1e6),
        (i, 'g' | 'G') => (&t[..i], 1e9),
        (i, 't' | 'T') => (&t[..i], 1e12),
        _ => (t, 1.0),
    };
    let value = number.trim().parse::<f64>().ok()? * scale;
    (0.0..1.8e19).contains(&value).then_some(value as u64)
}

/// `n` with thousands separators (`1,000,000`).
#[must_use]
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `bytes` for people: `512 B`, `3.4 kB`, `12 MB`, `152 GB` (powers of 1000; two significant
/// digits below 10 of a unit). The same as `samarl._validate.format_bytes`.
#[must_use]
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(f64, &str); 4] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")];
    let b = bytes as f64;
    for (scale, unit) in UNITS {
        if b >= scale {
            let v = b / scale;
            return if v < 10.0 {
                format!("{v:.1} {unit}")
            } else {
                format!("{v:.0} {unit}")
            };
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: Request = Request {
        name: "num_nodes",
        count: 1_000_000_000,
        unit: "nodes",
    };

    #[test]
    fn the_message_names_the_argument_the_count_and_the_bytes() {
        let e = NODES.error(152_000_000_000, Some(21_000_000_000));
        assert_eq!(
            e.to_string(),
            "num_nodes: 1,000,000,000 nodes need ~152 GB (this machine has 21 GB available)"
        );
        let e = NODES.error(4_000_000_000, None);
        assert_eq!(
            e.to_string(),
            "num_nodes: 1,000,000,000 nodes need ~4.0 GB, more than this machine could allocate"
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(3_400), "3.4 kB");
        assert_eq!(format_bytes(12_300_000), "12 MB");
        assert_eq!(format_bytes(2_500_000_000_000), "2.5 TB");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(parse_size("8G"), Some(8_000_000_000));
        assert_eq!(parse_size(" 1.5GB "), Some(1_500_000_000));
        assert_eq!(parse_size("500m"), Some(500_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        for bad in ["", "G", "-1G", "lots", "1e30"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn mem_available_is_read_from_meminfo() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2000 kB\n";
        assert_eq!(mem_available(text), Some(2_048_000));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn a_reservation_the_system_refuses_is_an_error_not_an_abort() {
        // More than any address space: the allocator refuses without touching memory.
        let e = filled(NODES, usize::MAX / 8, 0u64).unwrap_err();
        assert!(
            matches!(
                e,
                CoreError::Memory {
                    name: "num_nodes",
                    ..
                }
            ),
            "{e}"
        );
        let mut v: Vec<u32> = with_capacity(NODES, 4).unwrap();
        assert!(reserve(NODES, &mut v, usize::MAX / 2).is_err());
        for i in 0..100 {
            push(NODES, &mut v, i).unwrap();
        }
        assert_eq!(v.len(), 100);
        assert_eq!(copied(NODES, &v[..3]).unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn a_request_beyond_what_is_available_fails_before_allocating() {
        // No machine has 2^63 bytes available (where the amount is unknown, nothing is checked).
        if available().unwrap().is_some() {
            assert!(matches!(
                check(NODES, 1 << 63),
                Err(CoreError::Memory { .. })
            ));
        }
        assert!(check(NODES, 1).is_ok());
    }
}
