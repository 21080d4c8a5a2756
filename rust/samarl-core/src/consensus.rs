//! Consensus over a communication graph: Metropolis–Hastings weights, `K` rounds of `x <- W x`,
//! lossy links, dynamic average tracking and the spectral gap.
//!
//! `W` is symmetric and doubly stochastic, so every round keeps the column means of `x` and, on a
//! connected graph, drives every row to them at the rate `sigma2(W)` per round.
//!
//! The kernels gather: output row `i` reads the rows of its neighbours. Rows are split into fixed
//! [`CHUNK`]-row tasks and each row is summed in one fixed order, so the result is bit-identical
//! for any number of threads. Relabelling the graph with [`Graph::rcm_order`] first keeps the
//! gathers close in memory.
//!
//! Lossless rounds on one column of a *banded* graph (bandwidth below 21,840, as after
//! [`Graph::rcm_order`]) take a specialised path, [`Banded`]: the same sums in the same order, but
//! from a compact copy of `W` and over all rounds at once (temporal blocking), so the graph is
//! streamed from memory once per call instead of once per round.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;

use std::fmt;
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::error::{CoreError, Result, check_finite};
use crate::graph::{Graph, unit_f64};
use crate::pool::{self, CHUNK};
use crate::rng;

/// Stream id of the link-failure draws of [`Weights::mix_lossy`] (the env's arrivals use
/// [`rng::STREAM_ARRIVALS`]).
pub const STREAM_LINKS: u64 = 2;

/// A symmetric, doubly stochastic consensus matrix `W` on a graph.
///
/// The off-diagonal entries share the graph's CSR pattern (`indptr`, `indices`, `data`); the
/// diagonal is stored separately in `diag`.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    n: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f32>,
    diag: Vec<f32>,
    /// The compact copy behind the lossless single-column fast path, for banded graphs.
    banded: Option<Banded>,
}

impl Weights {
    /// Metropolis–Hastings weights: `W_ij = 1 / (1 + max(deg_i, deg_j))` on every edge and
    /// `W_ii = 1 - sum_j W_ij`, both computed in `f64` and stored as `f32`.
    ///
    /// Each node needs only its neighbours' degrees, so agents can build their row locally.
    #[must_use]
    pub fn metropolis(g: &Graph) -> Self {
        let degree = g.degrees();
        let (indptr, indices) = (g.indptr(), g.indices());
        let mut data = Vec::with_capacity(indices.len());
        let mut diag = Vec::with_capacity(g.num_nodes());
        for (i, bounds) in indptr.windows(2).enumerate() {
            let mut off_diagonal = 0.0f64;
            for &j in &indices[bounds[0]..bounds[1]] {
                let w = 1.0 / (1.0 + f64::from(degree[i].max(degree[j as usize])));
                off_diagonal += w;
                data.push(w as f32);
            }
            diag.push((1.0 - off_diagonal) as f32);
        }
        let banded = Banded::new(g, &degree, &diag);
        Self {
            n: g.num_nodes(),
            indptr: indptr.to_vec(),
            indices: indices.to_vec(),
            data,
            diag,
            banded,
        }
    }

    /// Number of nodes (rows of `W`).
    #[must_use]
    pub fn num_nodes(&self) -> usize {
        self.n
    }

    /// Row pointers of the off-diagonal part, `n + 1` entries (the graph's `indptr`).
    #[must_use]
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column indices of the off-diagonal part, sorted within each row (the graph's `indices`).
    #[must_use]
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Off-diagonal weights `W_ij`, aligned with [`Weights::indices`].
    #[must_use]
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Diagonal weights `W_ii`, one per node.
    #[must_use]
    pub fn diag(&self) -> &[f32] {
        &self.diag
    }

    /// The full `W`, diagonal included, as CSR `(indptr, indices, data)` with columns sorted.
    #[must_use]
    pub fn to_csr(&self) -> (Vec<usize>, Vec<u32>, Vec<f32>) {
        let nnz = self.indices.len() + self.n;
        let mut indptr = Vec::with_capacity(self.n + 1);
        let mut indices = Vec::with_capacity(nnz);
        let mut data = Vec::with_capacity(nnz);
        indptr.push(0);
        for i in 0..self.n {
            let (nbrs, ws) = self.row(i);
            let split = nbrs.partition_point(|&j| (j as usize) < i);
            indices.extend_from_slice(&nbrs[..split]);
            data.extend_from_slice(&ws[..split]);
            indices.push(i as u32);
            data.push(self.diag[i]);
            indices.extend_from_slice(&nbrs[split..]);
            data.extend_from_slice(&ws[split..]);
            indptr.push(indices.len());
        }
        (indptr, indices, data)
    }

    /// Applies `x <- W x` `rounds` times to every column of `x` (row-major `[n, cols]`).
    ///
    /// Row `i` becomes `W_ii * x_i + sum_j W_ij * x_j`, accumulated in `f32` with the diagonal
    /// term first and the neighbours in CSR order. Rounds ping-pong between `x` and one scratch
    /// buffer allocated per call. `cols == 0` and non-finite values are
    /// [`CoreError::InvalidValue`] (named `cols` and `x`), a wrong length is a
    /// [`CoreError::Shape`] named `x`; `x` is untouched on error.
    pub fn mix(&self, x: &mut [f32], cols: usize, rounds: usize) -> Result<()> {
        self.check_block("x", x, cols)?;
        self.lossless(x, cols, rounds);
        Ok(())
    }

    /// [`Weights::mix`] on `x` in the caller's node order, these weights being built on the graph
    /// relabelled by `relabelling`: row `k` of `x` is the internal row `i` with `order[i] == k`.
    /// The rows move to the internal order and back once per call, through buffers kept between
    /// calls. Errors as in [`Weights::mix`], and a relabelling of another size is a
    /// [`CoreError::Shape`] named `order`.
    pub fn mix_relabelled(
        &self,
        x: &mut [f32],
        cols: usize,
        rounds: usize,
        relabelling: &Relabelling,
    ) -> Result<()> {
        self.check_block("x", x, cols)?;
        relabelling.check_len(self.n)?;
        relabelling.run_internal("x", x, cols, |v| {
            self.lossless(v, cols, rounds);
            Ok(())
        })
    }

    /// Dynamic average tracking: `y <- W^rounds y + (g_new - g_old)`, all row-major `[n, cols]`.
    ///
    /// If `y` starts at `g` and the signals change from `g_old` to `g_new` between calls, the
    /// column means of `y` always equal those of the current signal. Validation as in
    /// [`Weights::mix`], with the names `y`, `g_new` and `g_old`.
    pub fn track(
        &self,
        y: &mut [f32],
        g_new: &[f32],
        g_old: &[f32],
        cols: usize,
        rounds: usize,
    ) -> Result<()> {
        self.check_block("y", y, cols)?;
        self.check_block("g_new", g_new, cols)?;
        self.check_block("g_old", g_old, cols)?;
        self.lossless(y, cols, rounds);
        for ((y, &new), &old) in y.iter_mut().zip(g_new).zip(g_old) {
            *y += new - old;
        }
        Ok(())
    }

    /// Like [`Weights::mix`], over unreliable links.
    ///
    /// In round `r` the undirected edge `{i, j}` (`i < j`) is down when
    /// `rng::uniform_f32(seed, STREAM_LINKS, i * n + j, round_offset + r) < drop_prob`. Both
    /// endpoints then use their own value in place of the other's, which moves the edge's weight
    /// onto both diagonals: every round's matrix stays symmetric and doubly stochastic, so the
    /// column means are kept. Row `i` is `W_ii * x_i + sum_j W_ij * (up ? x_j : x_i)` in CSR
    /// order. `drop_prob == 0` is exactly [`Weights::mix`]; `drop_prob == 1` leaves `x` unchanged.
    ///
    /// `drop_prob` must be in `[0, 1]` ([`CoreError::InvalidValue`] named `drop_prob`); `x` is
    /// validated as in [`Weights::mix`].
    pub fn mix_lossy(
        &self,
        x: &mut [f32],
        cols: usize,
        rounds: usize,
        drop_prob: f32,
        seed: u64,
        round_offset: u64,
    ) -> Result<()> {
        if !(0.0..=1.0).contains(&drop_prob) {
            return Err(CoreError::invalid(
                "drop_prob",
                format!("must be in [0, 1], got {drop_prob}"),
            ));
        }
        self.check_block("x", x, cols)?;
        if drop_prob == 0.0 {
            self.lossless(x, cols, rounds);
        } else if drop_prob < 1.0 {
            let n = self.n as u64;
            self.iterate(x, cols, rounds, |r| {
                let step = round_offset.wrapping_add(r as u64);
                move |i: usize, j: usize| {
                    let (lo, hi) = (i.min(j) as u64, i.max(j) as u64);
                    rng::uniform_f32(seed, STREAM_LINKS, lo * n + hi, step) >= drop_prob
                }
            });
        }
        Ok(())
    }

    /// The second largest singular value of `W`, i.e. the largest `|eigenvalue|` of
    /// `M = W - (1/n) 1 1^T`; the spectral gap is `1 - sigma2`, and consensus error shrinks by about
    /// `sigma2` per round.
    ///
    /// Power iteration in `f64` from a random start (seeded by `seed`) with the mean removed at
    /// every step. The estimate is `||M v||` for the current unit iterate `v` (the square root of
    /// the Rayleigh quotient of `M^2`, which converges even when `+sigma2` and `-sigma2` are both
    /// eigenvalues); iteration stops once it changes by less than `tol`, or after `max_iter`
    /// products (at least one). Returns 0 for a single node; 1 (up to rounding) if the graph is
    /// disconnected.
    #[must_use]
    pub fn sigma2(&self, max_iter: usize, tol: f64, seed: u64) -> f64 {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut v: Vec<f64> = (0..self.n).map(|_| unit_f64(&mut rng) - 0.5).collect();
        if center_and_normalize(&mut v) == 0.0 {
            return 0.0;
        }
        let mut w = vec![0.0f64; self.n];
        let mut estimate = f64::NAN;
        for _ in 0..max_iter.max(1) {
            self.apply_f64(&v, &mut w);
            let norm = center_and_normalize(&mut w);
            if norm == 0.0 {
                return 0.0;
            }
            std::mem::swap(&mut v, &mut w);
            let converged = (norm - estimate).abs() < tol;
            estimate = norm;
            if converged {
                break;
            }
        }
        estimate
    }

    /// Off-diagonal neighbours and weights of row `i`.
    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[range.clone()], &self.data[range])
    }

    /// Checks `cols >= 1`, `values.len() == n * cols` and finiteness.
    fn check_block(&self, name: &'static str, values: &[f32], cols: usize) -> Result<()> {
        check_block_shape(name, values, self.n, cols)?;
        check_finite(name, values)
    }

    /// Runs `rounds` lossless rounds: [`Weights::iterate`] with every link up, or, for one column
    /// of a banded graph, the bit-identical [`Banded`] fast path.
    fn lossless(&self, x: &mut [f32], cols: usize, rounds: usize) {
        if let Some((band, plan)) = self.fast_path(cols, rounds) {
            band.iterate(x, rounds, plan);
        } else {
            self.iterate(x, cols, rounds, |_| all_links_up);
        }
    }

    /// The [`Banded`] fast path and its plan, when it applies: lossless rounds on one column of a
    /// banded graph.
    fn fast_path(&self, cols: usize, rounds: usize) -> Option<(&Banded, Plan)> {
        let band = self.banded.as_ref().filter(|_| cols == 1 && rounds > 0)?;
        Some((band, band.plan()?))
    }

    /// Runs `rounds` rounds, ping-ponging between `x` and one scratch buffer. `links(r)` says
    /// which links are up in round `r`.
    fn iterate<L>(&self, x: &mut [f32], cols: usize, rounds: usize, links: impl Fn(usize) -> L)
    where
        L: Fn(usize, usize) -> bool + Sync,
    {
        if rounds == 0 {
            return;
        }
        let mut scratch = vec![0.0f32; x.len()];
        for r in 0..rounds {
            if r % 2 == 0 {
                self.round(x, &mut scratch, cols, &links(r));
            } else {
                self.round(&scratch, x, cols, &links(r));
            }
        }
        if rounds % 2 == 1 {
            x.copy_from_slice(&scratch);
        }
    }

    /// One round `y = W x` (without the links that are down), in parallel over row chunks.
    /// Narrow blocks get a kernel with the width known at compile time, which the compiler
    /// unrolls and vectorises; every kernel sums in the same order, so they agree bit for bit.
    fn round(
        &self,
        x: &[f32],
        y: &mut [f32],
        cols: usize,
        up: &(impl Fn(usize, usize) -> bool + Sync),
    ) {
        pool::for_each_chunk(y, cols, |chunk, out| {
            let first = chunk * CHUNK;
            match cols {
                1 => self.gather_fixed::<1>(x, out, first, up),
                2 => self.gather_fixed::<2>(x, out, first, up),
                3 => self.gather_fixed::<3>(x, out, first, up),
                4 => self.gather_fixed::<4>(x, out, first, up),
                _ => self.gather_any(x, out, first, cols, up),
            }
        });
    }

    /// Rows `first..` of `W x` for `[n, C]` blocks; `out` holds whole rows.
    fn gather_fixed<const C: usize>(
        &self,
        x: &[f32],
        out: &mut [f32],
        first: usize,
        up: &impl Fn(usize, usize) -> bool,
    ) {
        let (x, _) = x.as_chunks::<C>();
        let (out, _) = out.as_chunks_mut::<C>();
        for (i, y) in (first..).zip(out) {
            let (nbrs, ws) = self.row(i);
            let xi = &x[i];
            let d = self.diag[i];
            let mut acc = xi.map(|v| d * v);
            for (&j, &w) in nbrs.iter().zip(ws) {
                let j = j as usize;
                let xj = if up(i, j) { &x[j] } else { xi };
                for (a, &v) in acc.iter_mut().zip(xj) {
                    *a += w * v;
                }
            }
            *y = acc;
        }
    }

    /// Rows `first..` of `W x` for `[n, cols]` blocks of any width; `out` holds whole rows.
    fn gather_any(
        &self,
        x: &[f32],
        out: &mut [f32],
        first: usize,
        cols: usize,
        up: &impl Fn(usize, usize) -> bool,
    ) {
        for (i, y) in (first..).zip(out.chunks_exact_mut(cols)) {
            let (nbrs, ws) = self.row(i);
            let xi = &x[i * cols..(i + 1) * cols];
            let d = self.diag[i];
            for (a, &v) in y.iter_mut().zip(xi) {
                *a = d * v;
            }
            for (&j, &w) in nbrs.iter().zip(ws) {
                let j = j as usize;
                let xj = if up(i, j) {
                    &x[j * cols..(j + 1) * cols]
                } else {
                    xi
                };
                for (a, &v) in y.iter_mut().zip(xj) {
                    *a += w * v;
                }
            }
        }
    }

    /// `y = W v` in `f64` (for [`Weights::sigma2`]).
    fn apply_f64(&self, v: &[f64], y: &mut [f64]) {
        pool::for_each_chunk(y, 1, |chunk, out| {
            for (i, y) in (chunk * CHUNK..).zip(out.iter_mut()) {
                let (nbrs, ws) = self.row(i);
                *y = nbrs
                    .iter()
                    .zip(ws)
                    .fold(f64::from(self.diag[i]) * v[i], |acc, (&j, &w)| {
                        acc + f64::from(w) * v[j as usize]
                    });
            }
        });
    }
}

/// Rows per wavefront block at least (blocks are at least the bandwidth wide).
const MIN_BLOCK: usize = 1024;
/// A parallel part recomputes up to `1 / HALO_FRACTION` of its rows as halo for its neighbours.
const HALO_FRACTION: usize = 8;
/// Rows summed side by side by [`Banded`]'s kernel.
const LANES: usize = 8;
/// Slots a row group can address: its `u16` slot numbers index a window of this many.
const WINDOW: usize = 1 << 16;
/// The `[x, r]` slot that padding entries read: `min(r_i, 0) * -0.0 = -0.0`, which leaves every
/// `f32` sum unchanged.
const SENTINEL: [f32; 2] = [-0.0, 0.0];

/// One slot of a [`Banded`] buffer: `[x_i, r_i]`.
type Slot = [f32; 2];

/// The fast path of lossless single-column rounds on a banded graph: the same arithmetic as
/// [`Weights::gather_fixed`] (`W_ii x_i + sum_j W_ij x_j` in `f32`, neighbours in CSR order),
/// from a compact copy of `W`, on [`LANES`] rows at a time, with temporal blocking over rounds.
///
/// **Blocks and slots.** Rows are cut into blocks of `block >= bandwidth` rows, so the neighbours
/// of a row in block `b` lie in blocks `b - 1 ..= b + 1`. The working buffers hold `[x_i, r_i]`
/// slots block by block, each block followed by one [`SENTINEL`] slot (a stride of `block + 1`).
/// The three blocks around `b` fit in a window of [`WINDOW`] slots, so a neighbour is stored as
/// its `u16` slot number in that window: two bytes per nonzero, and indexing a
/// `[Slot; WINDOW]` with a `u16` needs no bounds check.
///
/// **No stored weights.** With `r_i = f32(1 / (1 + deg_i))`,
/// `W_ij = f32(1 / (1 + max(deg_i, deg_j))) = min(r_i, r_j)` exactly (rounding is monotonic), and
/// `r_j` is read with `x_j` from the same slot.
///
/// **Rows side by side.** A row's sum is a chain of dependent adds whose length (the degree)
/// varies from row to row. Within each block, rows are sorted by degree and taken in groups of
/// [`LANES`], stored in sliced ELLPACK layout: column `c` of a group holds the `c`-th neighbour
/// of each of its rows, padded to the group's largest degree with the block's sentinel slot
/// (sorting keeps the padding small). The lanes' chains run interleaved, with a fixed trip count
/// per group and no branches.
///
/// **Temporal blocking.** Round `r` on block `b` needs round `r - 1` only on blocks
/// `b - 1 ..= b + 1`. A wavefront visits `(r, b)` in order of `s = r + b`, lower rounds first
/// within `s`; then two ping-pong buffers suffice (round `r` overwrites round `r - 2` on block `b`
/// after its last reader, round `r - 1` on `b + 1`), and the blocks in flight (about
/// `rounds + 2`) stay in cache: each block's row structure is read from memory once per call, not
/// once per round.
///
/// **Parallelism.** Each thread owns a contiguous part of the blocks and also computes, in private
/// buffers, the halo its owned rows depend on (one block fewer per side each round). Every value
/// is computed by the same arithmetic whichever task computes it, so results do not depend on the
/// thread count; the halo is capped at `1 / HALO_FRACTION` of a part by splitting the rounds into
/// sweeps.
#[derive(Debug, Clone, PartialEq)]
struct Banded {
    /// How rows are cut into blocks and laid out in the working buffers.
    blocks: Blocks,
    /// The window slot of each lane's row, group `g` at `lane_slot[LANES * g..][..LANES]` (a
    /// permutation of its block's rows sorted by degree; rows `n..` pad the last group).
    lane_slot: Vec<u16>,
    /// `W_ii` of each lane's row (0 for padding rows), aligned with `lane_slot`.
    lane_diag: Vec<f32>,
    /// Group `g` has its columns in `columns[group_start[g]..group_start[g + 1]]`.
    group_start: Vec<u32>,
    /// Per group, column-major `[width][LANES]` window slots of the neighbours.
    columns: Vec<u16>,
    /// `r_i = f32(1 / (1 + deg_i))`.
    rate: Vec<f32>,
    /// Working buffers kept from earlier calls, two per parallel part (about `16 n` bytes in
    /// all).
    spare: SpareBuffers<Slot>,
}

/// Working buffers kept between calls: fresh multi-megabyte buffers would fault in new pages
/// from the OS on every call (milliseconds at a million agents).
#[derive(Default)]
struct SpareBuffers<T>(Mutex<Vec<Vec<T>>>);

impl<T: Copy + Default> SpareBuffers<T> {
    /// A buffer of `len` values with unspecified contents.
    fn take(&self, len: usize) -> Vec<T> {
        let spare = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut buf = spare.unwrap_or_default();
        buf.resize(len, T::default());
        buf
    }

    /// Keeps `bufs` for later calls.
    fn keep(&self, bufs: impl IntoIterator<Item = Vec<T>>) {
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

/// `n` rows cut into blocks of `block` rows, laid out in [`Banded`]'s working buffers block by
/// block, each block followed by its sentinel slot.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Blocks {
    n: usize,
    /// Rows per block: a multiple of [`LANES`], at least the bandwidth.
    block: usize,
}

impl Blocks {
    /// Number of blocks.
    fn count(self) -> usize {
        self.n.div_ceil(self.block)
    }

    /// Slots per block in the working buffers: its rows, then the sentinel.
    fn stride(self) -> usize {
        self.block + 1
    }

    /// The buffer slot of row `i` (counted from block 0).
    fn slot(self, i: usize) -> usize {
        i / self.block * self.stride() + i % self.block
    }

    /// The buffer slot of block `b`'s sentinel.
    fn sentinel(self, b: usize) -> usize {
        b * self.stride() + self.block
    }

    /// The first slot of the window that block `b`'s groups address: block `b - 1`'s first.
    fn window_start(self, b: usize) -> usize {
        b.saturating_sub(1) * self.stride()
    }

    /// The rows of block `b`.
    fn rows(self, b: usize) -> Range<usize> {
        b * self.block..((b + 1) * self.block).min(self.n)
    }

    /// The blocks that round `r` of a `rounds`-round sweep computes for the part that owns the
    /// blocks `owned`: those and `rounds - r` more per side (round 0 is the input).
    fn span(self, owned: &Range<usize>, rounds: usize, r: usize) -> Range<usize> {
        owned.start.saturating_sub(rounds - r)..(owned.end + rounds - r).min(self.count())
    }
}

/// How [`Banded::iterate`] splits a call: parallel parts of `part_blocks` blocks (or one serial
/// part), and sweeps of at most `sweep` rounds.
#[derive(Debug, Clone, Copy)]
struct Plan {
    part_blocks: usize,
    sweep: usize,
    parallel: bool,
}

/// One part's working buffers for a sweep: the slots of the blocks its `owned` blocks depend on,
/// from slot `base` on. After `rounds` rounds the result is in `odd` if `rounds` is odd.
struct Sweep {
    owned: Range<usize>,
    base: usize,
    rounds: usize,
    even: Vec<Slot>,
    odd: Vec<Slot>,
}

impl Sweep {
    /// The buffer holding the latest round.
    fn result(&self) -> &[Slot] {
        if self.rounds % 2 == 1 {
            &self.odd
        } else {
            &self.even
        }
    }
}

/// The [`WINDOW`] slots of `buf` from `start` (every buffer has a window of slack past its last
/// block).
fn window(buf: &[Slot], start: usize) -> &[Slot; WINDOW] {
    buf[start..]
        .first_chunk()
        .expect("a window of slack follows the last block")
}

/// [`window`], mutable.
fn window_mut(buf: &mut [Slot], start: usize) -> &mut [Slot; WINDOW] {
    buf[start..]
        .first_chunk_mut()
        .expect("a window of slack follows the last block")
}

impl Banded {
    /// The compact copy of the Metropolis–Hastings weights of `g` (diagonal `diag`), or `None`
    /// when three blocks at least as wide as the bandwidth do not fit in a [`WINDOW`], or the
    /// column count overflows `u32`.
    fn new(g: &Graph, degree: &[u32], diag: &[f32]) -> Option<Self> {
        let block = g.bandwidth().max(MIN_BLOCK).next_multiple_of(LANES);
        if 3 * (block + 1) > WINDOW {
            return None;
        }
        let (n, indptr, indices) = (g.num_nodes(), g.indptr(), g.indices());
        let blocks = Blocks { n, block };
        let mut band = Self {
            blocks,
            lane_slot: Vec::new(),
            lane_diag: Vec::new(),
            group_start: vec![0],
            columns: Vec::with_capacity(indices.len() + indices.len() / 8),
            rate: degree
                .iter()
                .map(|&d| (1.0 / (1.0 + f64::from(d))) as f32)
                .collect(),
            spare: SpareBuffers::default(),
        };
        let mut rows: Vec<usize> = (0..n.next_multiple_of(LANES)).collect();
        for block_rows in rows[..n].chunks_mut(block) {
            block_rows.sort_by_key(|&i| degree[i]);
        }
        let degree_of = |i: usize| degree.get(i).map_or(0, |&d| d as usize);
        for (g, group) in rows.chunks_exact(LANES).enumerate() {
            let b = g * LANES / block;
            let start = blocks.window_start(b);
            let local = |i: usize| u16::try_from(blocks.slot(i) - start).ok();
            let sentinel = u16::try_from(blocks.sentinel(b) - start).ok()?;
            for &i in group {
                band.lane_slot.push(local(i)?);
                band.lane_diag.push(diag.get(i).copied().unwrap_or(0.0));
            }
            let width = group.iter().map(|&i| degree_of(i)).max().unwrap_or(0);
            for c in 0..width {
                for &i in group {
                    let slot = if c < degree_of(i) {
                        local(indices[indptr[i] + c] as usize)?
                    } else {
                        sentinel
                    };
                    band.columns.push(slot);
                }
            }
            band.group_start
                .push(u32::try_from(band.columns.len()).ok()?);
        }
        Some(band)
    }

    /// The split of a call, or `None` when parallel parts would be too small for their halo (the
    /// plain kernel is then faster).
    fn plan(&self) -> Option<Plan> {
        let (n, blocks) = (self.blocks.n, self.blocks.count());
        if blocks == 0 {
            return None;
        }
        if !pool::use_parallel(n) {
            return Some(Plan {
                part_blocks: blocks,
                sweep: usize::MAX,
                parallel: false,
            });
        }
        let part_blocks = blocks.div_ceil(pool::num_threads());
        (part_blocks >= HALO_FRACTION).then_some(Plan {
            part_blocks,
            sweep: part_blocks / HALO_FRACTION,
            parallel: true,
        })
    }

    /// `rounds` lossless rounds on one column `x`, in sweeps of at most `plan.sweep` rounds.
    /// Each sweep loads every part's input (owned rows and halo) from `x`, runs the parts, and
    /// writes their owned rows back into `x`.
    fn iterate(&self, x: &mut [f32], rounds: usize, plan: Plan) {
        let blocks = self.blocks.count();
        let parts = blocks.div_ceil(plan.part_blocks);
        let mut done = 0;
        while done < rounds {
            let k = plan.sweep.min(rounds - done);
            pool::run(self.blocks.n, |_| {
                let src: &[f32] = x;
                let load = |p: usize| {
                    let owned = p * plan.part_blocks..((p + 1) * plan.part_blocks).min(blocks);
                    self.load(src, owned, k)
                };
                let mut sweeps: Vec<Sweep> = if plan.parallel {
                    (0..parts).into_par_iter().map(load).collect()
                } else {
                    (0..parts).map(load).collect()
                };
                if plan.parallel {
                    sweeps.par_iter_mut().for_each(|s| self.run(s));
                } else {
                    for s in &mut sweeps {
                        self.run(s);
                    }
                }
                self.store(&sweeps, plan, x);
                self.spare
                    .keep(sweeps.into_iter().flat_map(|s| [s.even, s.odd]));
            });
            done += k;
        }
    }

    /// Loads, from `x`, the input of the part that owns the blocks `owned` for a `rounds`-round
    /// sweep into both buffers: every input block's slots (the rows `n..` of a partial last block
    /// as zeros) and its sentinel, then a window of slack that is never read.
    fn load(&self, x: &[f32], owned: Range<usize>, rounds: usize) -> Sweep {
        let input = self.blocks.span(&owned, rounds, 0);
        let (stride, block) = (self.blocks.stride(), self.blocks.block);
        let used = input.len() * stride;
        let (mut even, mut odd) = (
            self.spare.take(used + WINDOW),
            self.spare.take(used + WINDOW),
        );
        let base = input.start * stride;
        for (slots, b) in even[..used].chunks_exact_mut(stride).zip(input) {
            let rows = self.blocks.rows(b);
            let (real, rest) = slots.split_at_mut(rows.len());
            for ((slot, &v), &r) in real.iter_mut().zip(&x[rows.clone()]).zip(&self.rate[rows]) {
                *slot = [v, r];
            }
            rest.fill([0.0; 2]);
            rest[block - real.len()] = SENTINEL;
        }
        odd[..used].copy_from_slice(&even[..used]);
        Sweep {
            owned,
            base,
            rounds,
            even,
            odd,
        }
    }

    /// Runs a loaded sweep along the wavefront.
    fn run(&self, sweep: &mut Sweep) {
        let (rounds, base) = (sweep.rounds, sweep.base);
        let input = self.blocks.span(&sweep.owned, rounds, 0);
        for s in input.start + 1..input.end + rounds {
            for r in 1..=rounds.min(s) {
                let b = s - r;
                if !self.blocks.span(&sweep.owned, rounds, r).contains(&b) {
                    continue;
                }
                if r % 2 == 1 {
                    self.block_round(&sweep.even, &mut sweep.odd, base, b);
                } else {
                    self.block_round(&sweep.odd, &mut sweep.even, base, b);
                }
            }
        }
    }

    /// Writes the owned rows of every part's sweep into `x`.
    fn store(&self, sweeps: &[Sweep], plan: Plan, x: &mut [f32]) {
        let (block, stride) = (self.blocks.block, self.blocks.stride());
        let copy = |(rows, sweep): (&mut [f32], &Sweep)| {
            for (out, b) in rows.chunks_mut(block).zip(sweep.owned.clone()) {
                let slots = &sweep.result()[b * stride - sweep.base..];
                for (y, slot) in out.iter_mut().zip(slots) {
                    *y = slot[0];
                }
            }
        };
        let part_rows = plan.part_blocks * block;
        if plan.parallel {
            x.par_chunks_mut(part_rows).zip(sweeps).for_each(copy);
        } else {
            x.chunks_mut(part_rows).zip(sweeps).for_each(copy);
        }
    }

    /// One round on the groups of block `b`: `x_i <- W_ii x_i + sum_j min(r_i, r_j) x_j` from
    /// `src` to `dst`, buffers that start at slot `base`.
    fn block_round(&self, src: &[Slot], dst: &mut [Slot], base: usize, b: usize) {
        let start = self.blocks.window_start(b) - base;
        let (src, dst) = (window(src, start), window_mut(dst, start));
        let rows = self.blocks.rows(b);
        for g in rows.start / LANES..rows.end.div_ceil(LANES) {
            let slots = &self.lane_slot[g * LANES..][..LANES];
            let diag = &self.lane_diag[g * LANES..][..LANES];
            let mut rate = [0.0f32; LANES];
            let mut acc = [0.0f32; LANES];
            for lane in 0..LANES {
                let [x, r] = src[usize::from(slots[lane])];
                rate[lane] = r;
                acc[lane] = diag[lane] * x;
            }
            let columns =
                &self.columns[self.group_start[g] as usize..self.group_start[g + 1] as usize];
            for column in columns.chunks_exact(LANES) {
                for lane in 0..LANES {
                    let [xj, rj] = src[usize::from(column[lane])];
                    let w = if rj < rate[lane] { rj } else { rate[lane] };
                    acc[lane] += w * xj;
                }
            }
            for lane in 0..LANES {
                dst[usize::from(slots[lane])][0] = acc[lane];
            }
        }
    }
}

/// A relabelling of a graph's nodes: internal node `i` is the caller's node `order[i]`.
///
/// [`Weights`] built on the relabelled graph (for locality, [`Graph::rcm_order`]) take and
/// return blocks in the caller's order through it ([`Weights::mix_relabelled`], or any kernel
/// wrapped in [`Relabelling::run_internal`]).
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
    pub fn new(order: &[i64]) -> Result<Self> {
        let n = order.len();
        let invalid = |msg: String| CoreError::invalid("order", msg);
        let len = u32::try_from(n).map_err(|_| invalid(format!("too many nodes ({n})")))?;
        let mut inverse = vec![u32::MAX; n];
        let mut compact = Vec::with_capacity(n);
        for (i, &k) in (0..len).zip(order) {
            let Some(slot) = usize::try_from(k).ok().and_then(|k| inverse.get_mut(k)) else {
                return Err(invalid(format!("entries must be in 0..{n}, found {k}")));
            };
            if *slot != u32::MAX {
                return Err(invalid(format!("{k} appears twice: not a permutation")));
            }
            *slot = i;
            compact.push(k as u32);
        }
        Ok(Self {
            order: compact,
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
    pub fn to_internal(&self, name: &'static str, x: &[f32], cols: usize) -> Result<Vec<f32>> {
        check_block_shape(name, x, self.len(), cols)?;
        let mut out = vec![0.0; x.len()];
        permute_rows(x, &self.order, &mut out, cols);
        Ok(out)
    }

    /// Runs `kernel` on the rows of `x` (caller's order) moved to the internal order, then moves
    /// them back. Errors as in [`Relabelling::to_internal`], or `kernel`'s, which leave `x`
    /// untouched.
    pub fn run_internal(
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

    /// Checks that the relabelling has `n` nodes ([`CoreError::Shape`] named `order`).
    fn check_len(&self, n: usize) -> Result<()> {
        if self.len() == n {
            Ok(())
        } else {
            Err(CoreError::shape(
                "order",
                format!("{n} entries (one per node)"),
                format!("{} entries", self.len()),
            ))
        }
    }
}

/// Checks `cols >= 1` ([`CoreError::InvalidValue`] named `cols`) and that `values` holds a
/// row-major `[n, cols]` block ([`CoreError::Shape`] named `name`).
fn check_block_shape(name: &'static str, values: &[f32], n: usize, cols: usize) -> Result<()> {
    if cols == 0 {
        return Err(CoreError::invalid("cols", "must be >= 1"));
    }
    if n.checked_mul(cols) == Some(values.len()) {
        Ok(())
    } else {
        Err(CoreError::shape(
            name,
            format!("[{n}, {cols}] (num_nodes x cols values)"),
            format!("{} values", values.len()),
        ))
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

/// The link filter of lossless rounds.
fn all_links_up(_: usize, _: usize) -> bool {
    true
}

/// Removes the mean of `v` and scales it to unit norm; returns the norm before scaling (`v` is
/// left centred but unscaled when that norm is 0). Serial sums, so the result is deterministic.
fn center_and_normalize(v: &mut [f64]) -> f64 {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    for x in v.iter_mut() {
        *x -= mean;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
    norm
}

#[cfg(test)]
#[allow(
    clippy::float_cmp,
    reason = "the tests assert bit-exact results on purpose"
)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use rand_xoshiro::rand_core::Rng;

    fn random_values(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..len)
            .map(|_| (rng.next_u64() >> 40) as f32 / 8_388_608.0 - 1.0)
            .collect()
    }

    /// `W` as a dense `f64` matrix.
    fn dense(w: &Weights) -> Vec<Vec<f64>> {
        let n = w.num_nodes();
        let (indptr, indices, data) = w.to_csr();
        let mut a = vec![vec![0.0; n]; n];
        for i in 0..n {
            for k in indptr[i]..indptr[i + 1] {
                a[i][indices[k] as usize] = f64::from(data[k]);
            }
        }
        a
    }

    fn column_means(x: &[f32], cols: usize) -> Vec<f64> {
        let rows = x.len() / cols;
        (0..cols)
            .map(|c| {
                x.iter()
                    .skip(c)
                    .step_by(cols)
                    .map(|&v| f64::from(v))
                    .sum::<f64>()
                    / rows as f64
            })
            .collect()
    }

    fn max_abs(x: &[f32]) -> f64 {
        x.iter().fold(0.0f64, |m, &v| m.max(f64::from(v.abs())))
    }

    /// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (test oracle).
    fn symmetric_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
        let n = a.len();
        for _sweep in 0..100 {
            let off: f64 = (0..n)
                .flat_map(|p| (0..n).filter(move |&q| q != p).map(move |q| (p, q)))
                .map(|(p, q)| a[p][q] * a[p][q])
                .sum();
            if off < 1e-26 {
                break;
            }
            for p in 0..n {
                for q in p + 1..n {
                    if a[p][q] == 0.0 {
                        continue;
                    }
                    let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                    let t = theta.signum() / (theta.abs() + theta.hypot(1.0));
                    let c = 1.0 / t.hypot(1.0);
                    let s = t * c;
                    for row in &mut a {
                        let (kp, kq) = (row[p], row[q]);
                        row[p] = c * kp - s * kq;
                        row[q] = s * kp + c * kq;
                    }
                    let (above, below) = a.split_at_mut(q);
                    for (pk, qk) in above[p].iter_mut().zip(below[0].iter_mut()) {
                        (*pk, *qk) = (c * *pk - s * *qk, s * *pk + c * *qk);
                    }
                }
            }
        }
        (0..n).map(|i| a[i][i]).collect()
    }

    /// `sigma2` from the dense spectrum of `W - J/n`.
    fn dense_sigma2(w: &Weights) -> f64 {
        let n = w.num_nodes();
        let mut a = dense(w);
        for row in &mut a {
            for v in row.iter_mut() {
                *v -= 1.0 / n as f64;
            }
        }
        symmetric_eigenvalues(a)
            .iter()
            .fold(0.0f64, |m, l| m.max(l.abs()))
    }

    fn arb_graph(max_n: usize) -> impl Strategy<Value = Graph> {
        (1..max_n)
            .prop_flat_map(|n| (Just(n), vec((0..n as u32, 0..n as u32), 0..3 * n)))
            .prop_map(|(n, edges)| Graph::from_edges(n, &edges).unwrap())
    }

    #[test]
    fn metropolis_on_a_path() {
        // Degrees 1, 2, 1: both edges weigh 1/3.
        let w = Weights::metropolis(&Graph::from_edges(3, &[(0, 1), (1, 2)]).unwrap());
        assert_eq!(w.data(), &[1.0 / 3.0; 4]);
        assert_eq!(w.diag(), &[2.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0]);
        let (indptr, indices, data) = w.to_csr();
        assert_eq!(indptr, vec![0, 2, 5, 7]);
        assert_eq!(indices, vec![0, 1, 0, 1, 2, 1, 2]);
        assert_eq!(data[2..5], [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
    }

    #[test]
    fn one_round_matches_the_dense_product() {
        let g = Graph::erdos_renyi(60, 5.0, 1, true).unwrap();
        let w = Weights::metropolis(&g);
        let a = dense(&w);
        let x0 = random_values(60, 2);
        let mut x = x0.clone();
        w.mix(&mut x, 1, 1).unwrap();
        for (row, &got) in a.iter().zip(&x) {
            let want: f64 = row.iter().zip(&x0).map(|(a, &x)| a * f64::from(x)).sum();
            assert!((want - f64::from(got)).abs() < 1e-6);
        }
    }

    #[test]
    fn zero_rounds_is_the_identity() {
        let w = Weights::metropolis(&Graph::ring(9, 2).unwrap());
        let x0 = random_values(18, 3);
        let mut x = x0.clone();
        w.mix(&mut x, 2, 0).unwrap();
        assert_eq!(x, x0);
        w.track(&mut x, &x0, &x0, 2, 0).unwrap();
        assert_eq!(x, x0);
    }

    #[test]
    fn every_block_width_matches_single_columns_bitwise() {
        // Widths 1-4 take the fixed-width kernels, 5 and 9 the general one.
        let n = 300;
        let w = Weights::metropolis(&Graph::random_geometric(n, 0.12, 4).unwrap());
        for cols in [2, 3, 4, 5, 9] {
            let x0 = random_values(n * cols, cols as u64);
            let column = |x: &[f32], c: usize| -> Vec<f32> {
                x.iter().skip(c).step_by(cols).copied().collect()
            };
            let (mut mixed, mut lossy) = (x0.clone(), x0.clone());
            w.mix(&mut mixed, cols, 7).unwrap();
            w.mix_lossy(&mut lossy, cols, 3, 0.25, 9, 1).unwrap();
            for c in 0..cols {
                let (mut one, mut one_lossy) = (column(&x0, c), column(&x0, c));
                w.mix(&mut one, 1, 7).unwrap();
                w.mix_lossy(&mut one_lossy, 1, 3, 0.25, 9, 1).unwrap();
                assert_eq!(column(&mixed, c), one, "mix, cols={cols}, column {c}");
                assert_eq!(
                    column(&lossy, c),
                    one_lossy,
                    "mix_lossy, cols={cols}, column {c}"
                );
            }
        }
    }

    #[test]
    fn mix_converges_to_the_mean_on_connected_graphs() {
        let graphs = [
            Graph::ring(20, 2).unwrap(),
            Graph::grid_2d(6, 7).unwrap(),
            Graph::erdos_renyi(50, 4.0, 8, true).unwrap(),
            Graph::watts_strogatz(40, 2, 0.3, 8).unwrap(),
        ];
        for g in &graphs {
            let w = Weights::metropolis(g);
            let mut x = random_values(g.num_nodes() * 2, 9);
            let means = column_means(&x, 2);
            w.mix(&mut x, 2, 5000).unwrap();
            for (k, &v) in x.iter().enumerate() {
                assert!(
                    (f64::from(v) - means[k % 2]).abs() < 1e-4,
                    "{v} vs {}",
                    means[k % 2]
                );
            }
        }
    }

    #[test]
    fn track_is_mix_plus_the_signal_change() {
        let w = Weights::metropolis(&Graph::erdos_renyi(100, 4.0, 1, true).unwrap());
        let (g_old, g_new) = (random_values(200, 1), random_values(200, 2));
        let mut y = random_values(200, 3);
        let mut expected = y.clone();
        w.mix(&mut expected, 2, 3).unwrap();
        for ((e, &new), &old) in expected.iter_mut().zip(&g_new).zip(&g_old) {
            *e += new - old;
        }
        w.track(&mut y, &g_new, &g_old, 2, 3).unwrap();
        assert_eq!(y, expected);
    }

    #[test]
    fn bad_inputs_are_errors_and_leave_the_state_alone() {
        let w = Weights::metropolis(&Graph::ring(5, 1).unwrap());
        let x0 = random_values(5, 1);
        let mut x = x0.clone();
        let name = |r: Result<()>| match r {
            Err(CoreError::InvalidValue { name, .. } | CoreError::Shape { name, .. }) => name,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(name(w.mix(&mut x, 0, 1)), "cols");
        assert!(matches!(
            w.mix(&mut x, 2, 1),
            Err(CoreError::Shape { name: "x", .. })
        ));
        assert!(matches!(
            w.mix(&mut x[..4], 1, 1),
            Err(CoreError::Shape { name: "x", .. })
        ));
        let mut bad = x0.clone();
        bad[3] = f32::NAN;
        assert!(matches!(
            w.mix(&mut bad, 1, 1),
            Err(CoreError::InvalidValue { name: "x", .. })
        ));
        assert!(bad[..3] == x0[..3] && bad[4] == x0[4]);
        assert_eq!(name(w.track(&mut x, &x0[..4], &x0, 1, 1)), "g_new");
        assert_eq!(name(w.track(&mut x, &x0, &bad, 1, 1)), "g_old");
        assert_eq!(name(w.track(&mut bad.clone(), &x0, &x0, 1, 1)), "y");
        for p in [-0.1, 1.5, f32::NAN] {
            assert_eq!(name(w.mix_lossy(&mut x, 1, 1, p, 0, 0)), "drop_prob");
        }
        assert_eq!(name(w.mix_lossy(&mut bad, 1, 1, 0.5, 0, 0)), "x");
        assert_eq!(x, x0);
    }

    #[test]
    fn lossy_extremes_are_mix_and_identity() {
        let w = Weights::metropolis(&Graph::erdos_renyi(200, 6.0, 2, true).unwrap());
        let x0 = random_values(400, 4);
        let (mut lossless, mut mixed, mut frozen) = (x0.clone(), x0.clone(), x0.clone());
        w.mix_lossy(&mut lossless, 2, 5, 0.0, 7, 0).unwrap();
        w.mix(&mut mixed, 2, 5).unwrap();
        assert_eq!(lossless, mixed);
        w.mix_lossy(&mut frozen, 2, 5, 1.0, 7, 0).unwrap();
        assert_eq!(frozen, x0);
    }

    #[test]
    fn lossy_matches_a_dense_reference_and_composes_over_rounds() {
        let g = Graph::erdos_renyi(40, 5.0, 3, true).unwrap();
        let w = Weights::metropolis(&g);
        let (n, drop_prob, seed, offset) = (40usize, 0.4f32, 11u64, 5u64);
        let x0 = random_values(n, 6);

        let mut want: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
        for r in 0..3u64 {
            let mut a = dense(&w);
            for i in 0..n {
                for j in i + 1..n {
                    let key = (i * n + j) as u64;
                    if a[i][j] > 0.0
                        && rng::uniform_f32(seed, STREAM_LINKS, key, offset + r) < drop_prob
                    {
                        let wij = a[i][j];
                        (a[i][j], a[j][i]) = (0.0, 0.0);
                        a[i][i] += wij;
                        a[j][j] += wij;
                    }
                }
            }
            want = a
                .iter()
                .map(|row| row.iter().zip(&want).map(|(a, x)| a * x).sum())
                .collect();
        }
        let mut x = x0.clone();
        w.mix_lossy(&mut x, 1, 3, drop_prob, seed, offset).unwrap();
        for (&got, want) in x.iter().zip(&want) {
            assert!((f64::from(got) - want).abs() < 1e-5);
        }

        let mut stepped = x0.clone();
        w.mix_lossy(&mut stepped, 1, 1, drop_prob, seed, offset)
            .unwrap();
        w.mix_lossy(&mut stepped, 1, 2, drop_prob, seed, offset + 1)
            .unwrap();
        assert_eq!(stepped, x);
    }

    #[test]
    fn relabelling_checks_the_permutation() {
        let name = |r: Result<Relabelling>| match r {
            Err(CoreError::InvalidValue { name, .. }) => name,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(name(Relabelling::new(&[0, 4, 1, 2])), "order");
        assert_eq!(name(Relabelling::new(&[0, -1, 1, 2])), "order");
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

    #[test]
    fn mix_relabelled_is_mix_on_the_relabelled_graph() {
        // Graphs of several blocks (the fast path, one sweep and several) and a small one.
        let small = Graph::random_geometric(3000, 0.03, 8).unwrap();
        let mut graphs = banded_graphs().to_vec();
        graphs.push(small);
        for g in graphs {
            let n = g.num_nodes();
            let order = g.rcm_order();
            let internal = Weights::metropolis(&g.permuted(&order).unwrap());
            let order64: Vec<i64> = order.iter().map(|&k| i64::from(k)).collect();
            let relabelling = Relabelling::new(&order64).unwrap();
            let x0 = random_values(2 * n, 31);
            for (cols, rounds) in [(1, 0), (1, 1), (1, 12), (2, 3)] {
                let x0 = &x0[..n * cols];
                let mut caller = x0.to_vec();
                internal
                    .mix_relabelled(&mut caller, cols, rounds, &relabelling)
                    .unwrap();
                let mut expected = relabelling.to_internal("x", x0, cols).unwrap();
                internal.mix(&mut expected, cols, rounds).unwrap();
                for (i, &k) in order.iter().enumerate() {
                    let k = k as usize;
                    assert_eq!(
                        caller[k * cols..(k + 1) * cols],
                        expected[i * cols..(i + 1) * cols],
                        "cols={cols} rounds={rounds}"
                    );
                }
            }
            let short = Relabelling::new(&[0]).unwrap();
            let mut x = x0[..n].to_vec();
            assert!(matches!(
                internal.mix_relabelled(&mut x, 1, 1, &short),
                Err(CoreError::Shape { name: "order", .. })
            ));
        }
    }

    #[test]
    fn sigma2_of_rings_matches_the_closed_form() {
        for n in [5usize, 8, 10, 17, 30] {
            let w = Weights::metropolis(&Graph::ring(n, 1).unwrap());
            let exact = (1..n)
                .map(|k| {
                    let angle = 2.0 * std::f64::consts::PI * k as f64 / n as f64;
                    ((1.0 + 2.0 * angle.cos()) / 3.0).abs()
                })
                .fold(0.0f64, f64::max);
            let estimate = w.sigma2(100_000, 1e-13, 1);
            assert!(
                (estimate - exact).abs() < 1e-6,
                "n={n}: {estimate} vs {exact}"
            );
            assert!(
                (dense_sigma2(&w) - exact).abs() < 1e-6,
                "jacobi oracle, n={n}"
            );
        }
    }

    #[test]
    fn sigma2_edge_cases() {
        for n in [2usize, 5, 30] {
            let w = Weights::metropolis(&Graph::complete(n).unwrap());
            assert!(w.sigma2(1000, 1e-12, 0) < 1e-6, "complete({n})");
        }
        assert_eq!(
            Weights::metropolis(&Graph::complete(1).unwrap()).sigma2(10, 1e-9, 0),
            0.0
        );
        let two_rings = Graph::from_edges(6, &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)]);
        let w = Weights::metropolis(&two_rings.unwrap());
        assert!((w.sigma2(1000, 1e-12, 0) - 1.0).abs() < 1e-6);
    }

    /// Banded graphs of several blocks: a grid and a random geometric graph in RCM order.
    fn banded_graphs() -> [Graph; 2] {
        let n = 3 * CHUNK;
        let rgg = Graph::random_geometric(n, (6.0 / (std::f64::consts::PI * n as f64)).sqrt(), 5);
        let rgg = rgg.unwrap();
        [
            Graph::grid_2d(200, 300).unwrap(),
            rgg.permuted(&rgg.rcm_order()).unwrap(),
        ]
    }

    #[test]
    fn the_banded_path_matches_the_plain_kernel_bitwise() {
        for g in banded_graphs() {
            let w = Weights::metropolis(&g);
            let band = w.banded.as_ref().expect("banded");
            assert!(g.num_nodes() > 8 * band.blocks.block, "several blocks");
            let x0 = random_values(g.num_nodes(), 12);
            for rounds in [1, 2, 7, 30] {
                let (mut fast, mut plain) = (x0.clone(), x0.clone());
                w.mix(&mut fast, 1, rounds).unwrap();
                w.iterate(&mut plain, 1, rounds, |_| all_links_up);
                assert!(
                    fast.iter()
                        .zip(&plain)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "rounds={rounds}"
                );
            }
        }
    }

    #[test]
    fn the_banded_path_reaches_the_edge_of_its_window() {
        // A path plus one long edge: the bandwidth is the long edge's length. 21,840 is the
        // widest block whose three-block window fits in u16 slot numbers; one more row is not.
        for (long, banded) in [(21_840, true), (21_841, false)] {
            let n = 3 * long + 5;
            let mut edges: Vec<(u32, u32)> = (1..n as u32).map(|i| (i - 1, i)).collect();
            edges.push((7, 7 + long as u32));
            let w = Weights::metropolis(&Graph::from_edges(n, &edges).unwrap());
            assert_eq!(w.banded.is_some(), banded, "bandwidth {long}");
            let Some(band) = &w.banded else { continue };
            let x0 = random_values(n, 4);
            for rounds in [1, 4] {
                let (mut fast, mut plain) = (x0.clone(), x0.clone());
                let serial = Plan {
                    part_blocks: band.blocks.count(),
                    sweep: usize::MAX,
                    parallel: false,
                };
                band.iterate(&mut fast, rounds, serial);
                w.iterate(&mut plain, 1, rounds, |_| all_links_up);
                assert!(
                    fast.iter()
                        .zip(&plain)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                );
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // set_num_threads is process-wide: every thread-count comparison lives in this one test.
        let n = 3 * CHUNK + 7_000;
        let g = Graph::erdos_renyi(n, 6.0, 21, true).unwrap();
        let w = Weights::metropolis(&g);
        let x0 = random_values(2 * n, 22);
        let run = |threads: usize| {
            pool::set_num_threads(threads);
            let mut single = x0[..n].to_vec();
            w.mix(&mut single, 1, 5).unwrap();
            let mut block = x0.clone();
            w.mix(&mut block, 2, 3).unwrap();
            let mut lossy = x0[..n].to_vec();
            w.mix_lossy(&mut lossy, 1, 4, 0.3, 5, 0).unwrap();
            let mut tracked = x0[..n].to_vec();
            w.track(&mut tracked, &x0[n..], &x0[..n], 1, 2).unwrap();
            // Banded fast path: one sweep, and several (30 rounds exceed the halo cap).
            let banded: Vec<Vec<u32>> = banded_graphs()
                .iter()
                .flat_map(|g| {
                    let w = Weights::metropolis(g);
                    [3, 30].map(|rounds| {
                        let mut x = x0[..g.num_nodes()].to_vec();
                        w.mix(&mut x, 1, rounds).unwrap();
                        x.iter().map(|v| v.to_bits()).collect()
                    })
                })
                .collect();
            (
                single,
                block,
                lossy,
                tracked,
                w.sigma2(30, 0.0, 3).to_bits(),
                banded,
            )
        };
        let serial = run(1);
        let parallel = run(2);
        pool::set_num_threads(0);
        assert!(serial == parallel, "results differ between 1 and 2 threads");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn metropolis_is_symmetric_stochastic_and_nonnegative(g in arb_graph(40)) {
            let w = Weights::metropolis(&g);
            prop_assert_eq!(w.indptr(), g.indptr());
            prop_assert_eq!(w.indices(), g.indices());
            for i in 0..w.num_nodes() {
                let (nbrs, ws) = w.row(i);
                let sum: f64 = f64::from(w.diag()[i]) + ws.iter().map(|&v| f64::from(v)).sum::<f64>();
                prop_assert!((sum - 1.0).abs() < 1e-6);
                prop_assert!(w.diag()[i] >= 0.0);
                for (&j, &wij) in nbrs.iter().zip(ws) {
                    prop_assert!(wij > 0.0);
                    let (back, back_ws) = w.row(j as usize);
                    let k = back.binary_search(&(i as u32)).unwrap();
                    prop_assert_eq!(back_ws[k], wij);
                }
            }
        }

        #[test]
        fn mixing_keeps_the_column_means(
            g in arb_graph(40),
            cols in 1usize..4,
            rounds in 0usize..10,
            drop_prob in 0.0f32..=1.0,
            seed: u64,
        ) {
            let w = Weights::metropolis(&g);
            let x0: Vec<f32> = random_values(g.num_nodes() * cols, seed).iter().map(|v| 100.0 * v).collect();
            let tol = 1e-5 * max_abs(&x0).max(1e-3);
            let before = column_means(&x0, cols);
            let mut x = x0.clone();
            w.mix(&mut x, cols, rounds).unwrap();
            for (a, b) in column_means(&x, cols).iter().zip(&before) {
                prop_assert!((a - b).abs() <= tol, "mix: {} vs {}", a, b);
            }
            let mut x = x0.clone();
            w.mix_lossy(&mut x, cols, rounds, drop_prob, seed, 3).unwrap();
            for (a, b) in column_means(&x, cols).iter().zip(&before) {
                prop_assert!((a - b).abs() <= tol, "mix_lossy: {} vs {}", a, b);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn sigma2_matches_dense_eigenvalues(n in 2usize..25, mean_degree in 0.0f64..6.0, seed: u64) {
            let g = Graph::erdos_renyi(n, mean_degree.min((n - 1) as f64), seed, true).unwrap();
            let w = Weights::metropolis(&g);
            let (estimate, exact) = (w.sigma2(200_000, 1e-14, seed), dense_sigma2(&w));
            prop_assert!((estimate - exact).abs() < 1e-5, "{} vs {}", estimate, exact);
        }
    }
}
