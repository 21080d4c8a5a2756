//! Relabelling: kernels built on a graph relabelled for locality take and return blocks in the
//! caller's node order, moved in and out once per call (see [`super::Mixer`]).

use super::check_block_shape;
use super::spare::SpareBuffers;
use crate::error::{CoreError, Result};
use crate::memory::{self, Request};
use crate::pool::{self, CHUNK};

/// A relabelling of a graph's nodes: internal node `i` is the caller's node `order[i]`.
///
/// A [`Mixer`] built on the relabelled graph (for locality, [`Graph::rcm_order`]) takes and
/// returns blocks in the caller's order through it: each kernel runs on the rows moved to the
/// internal order and back.
///
/// [`Mixer`]: super::Mixer
/// [`Graph::rcm_order`]: crate::graph::Graph::rcm_order
#[derive(Debug, Clone, PartialEq)]
pub struct Relabelling {
    order: Vec<u32>,
    inverse: Vec<u32>,
    /// Internal-order copies kept between calls.
    spare: SpareBuffers<f32>,
}

impl Relabelling {
    /// The relabelling with `order[i]` the caller's node at internal position `i`. `order` must
    /// be a permutation of `0..order.len()` with fewer than `2^32` entries
    /// ([`CoreError::InvalidValue`] named `order`).
    pub fn new(order: &[u32]) -> Result<Self> {
        let n = order.len();
        let invalid = |msg: String| CoreError::invalid("order", msg);
        let len = u32::try_from(n).map_err(|_| invalid(format!("too many nodes ({n})")))?;
        let request = Request::new("num_nodes", n, "nodes");
        let mut inverse = memory::filled(request, n, u32::MAX)?;
        for (i, &k) in (0..len).zip(order) {
            let Some(slot) = inverse.get_mut(k as usize) else {
                return Err(invalid(format!("entries must be in 0..{n}, found {k}")));
            };
            if *slot != u32::MAX {
                return Err(invalid(format!("{k} appears twice: not a permutation")));
            }
            *slot = i;
        }
        Ok(Self {
            order: memory::copied(request, order)?,
            inverse,
            spare: SpareBuffers::default(),
        })
    }

    /// Number of nodes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there are no nodes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// `order[i]`: the caller's node at internal position `i`.
    #[must_use]
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// The rows of `x` (row-major `[n, cols]`, caller's order) in the internal order.
    /// A wrong length is a [`CoreError::Shape`] named `name`, `cols == 0` a
    /// [`CoreError::InvalidValue`] named `cols`.
    pub(super) fn to_internal(
        &self,
        name: &'static str,
        x: &[f32],
        cols: usize,
    ) -> Result<Vec<f32>> {
        check_block_shape(name, x, self.len(), cols)?;
        let mut out = vec![0.0; x.len()];
        permute_rows(x, &self.order, &mut out, cols);
        Ok(out)
    }

    /// Runs `kernel` on the rows of `x` (caller's order) moved to the internal order, then moves
    /// them back. Errors as in [`Relabelling::to_internal`], or `kernel`'s, which leave `x`
    /// untouched.
    pub(super) fn run_internal(
        &self,
        name: &'static str,
        x: &mut [f32],
        cols: usize,
        kernel: impl FnOnce(&mut [f32]) -> Result<()>,
    ) -> Result<()> {
        check_block_shape(name, x, self.len(), cols)?;
        let mut internal = self.spare.take(x.len());
        permute_rows(x, &self.order, &mut internal, cols);
        let result = kernel(&mut internal);
        if result.is_ok() {
            permute_rows(&internal, &self.inverse, x, cols);
        }
        self.spare.keep([internal]);
        result
    }
}

/// Row gather `out[i] = src[index[i]]` for row-major `[n, cols]` blocks, in parallel over fixed
/// chunks; `index` holds valid row numbers (a [`Relabelling`]'s).
fn permute_rows(src: &[f32], index: &[u32], out: &mut [f32], cols: usize) {
    pool::for_each_chunk(out, cols, |chunk, rows| {
        let picks = &index[chunk * CHUNK..];
        if cols == 1 {
            // One value per row: a plain load (a slice copy would call `memmove` per row).
            for (y, &k) in rows.iter_mut().zip(picks) {
                *y = src[k as usize];
            }
        } else {
            for (row, &k) in rows.chunks_exact_mut(cols).zip(picks) {
                let k = k as usize;
                row.copy_from_slice(&src[k * cols..(k + 1) * cols]);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::float_cmp, reason = "the moved value must come back exactly")]
    fn relabelling_checks_the_permutation() {
        let name = |r: Result<Relabelling>| match r {
            Err(CoreError::InvalidValue { name, .. }) => name,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(name(Relabelling::new(&[0, 4, 1, 2])), "order");
        assert_eq!(name(Relabelling::new(&[0, 1, 2, u32::MAX])), "order");
        assert_eq!(name(Relabelling::new(&[0, 1, 1, 2])), "order");
        let r = Relabelling::new(&[3, 0, 2, 1]).unwrap();
        assert_eq!(r.order(), [3, 0, 2, 1]);
        let src: Vec<f32> = (0..8).map(|v| v as f32).collect();
        assert_eq!(
            r.to_internal("x", &src, 2).unwrap(),
            [6.0, 7.0, 0.0, 1.0, 4.0, 5.0, 2.0, 3.0]
        );
        assert!(matches!(
            r.to_internal("x", &src[..6], 2),
            Err(CoreError::Shape { name: "x", .. })
        ));
        let mut x = src.clone();
        r.run_internal("x", &mut x, 2, |v| {
            v[0] += 100.0;
            Ok(())
        })
        .unwrap();
        assert_eq!(x[6], 106.0, "internal row 0 is the caller's row 3");
    }
}
