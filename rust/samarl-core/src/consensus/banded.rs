//! The fast path of lossless single-column rounds on a banded graph (as after
//! [`Graph::rcm_order`]): a compact copy of `W` addressed through window slots, rows summed
//! [`LANES`] at a time, and temporal blocking over rounds.

use std::ops::{Range, RangeInclusive};

use rayon::prelude::*;

use super::spare::SpareBuffers;
use crate::error::Result;
use crate::graph::Graph;
use crate::interrupt::{Interrupt, Pacer};
use crate::pool;

/// Rows per wavefront block at least (blocks are at least the bandwidth wide).
const MIN_BLOCK: usize = 1024;
/// A parallel part recomputes up to `1 / HALO_FRACTION` of its rows as halo for its neighbours.
const HALO_FRACTION: usize = 8;
/// Row updates a parallel part does per sweep at most (tens of milliseconds): the calling thread
/// checks for interruption between sweeps. Below ten million nodes on two threads the halo
/// already keeps sweeps shorter.
const SWEEP_ROWS: usize = 1 << 25;
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
/// `Weights::gather_fixed` (`W_ii x_i + sum_j W_ij x_j` in `f32`, neighbours in CSR order),
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
pub(super) struct Banded {
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

    /// The schedule of a `rounds`-round sweep for the part that owns the blocks `owned`: round
    /// `r` visits every block `b` of [`Blocks::span`]`(owned, rounds, r)`, in order of
    /// `s = r + b`, lower rounds first within `s`. Yields each `s` with its rounds `r` (`b = s - r`).
    ///
    /// The rounds of each `s` are solved for, not searched: `b >= 0` gives `r <= s`, `b < count`
    /// gives `r > s - count`, and `b >= owned.start - (rounds - r)` gives
    /// `2 r <= s + rounds - owned.start` (the upper end of the span, `b < owned.end + rounds - r`,
    /// is `s < owned.end + rounds`). A sweep therefore costs one step per block round plus one per
    /// `s`; scanning `1..=rounds` for each `s` instead cost `rounds^2 / 2` steps, which at a
    /// thousand nodes swamped the arithmetic from a few thousand rounds on.
    fn wavefront(
        self,
        owned: &Range<usize>,
        rounds: usize,
    ) -> impl Iterator<Item = (usize, RangeInclusive<usize>)> {
        let (count, first) = (self.count(), owned.start);
        let start = self.span(owned, rounds, 0).start + 1;
        (start..owned.end + rounds).map(move |s| {
            let lowest = (s + 1).saturating_sub(count).max(1);
            let highest = rounds.min(s).min((s + rounds - first) / 2);
            (s, lowest..=highest)
        })
    }
}

/// How [`Banded::iterate`] splits a call: parallel parts of `part_blocks` blocks (or one serial
/// part), and sweeps of at most `sweep` rounds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    part_blocks: usize,
    sweep: usize,
    parallel: bool,
}

/// The work a call of [`Banded::iterate`] did, counted in the units of its cost: the scheduler's
/// steps and the rows it computed (halo included). Both must grow linearly with the rounds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Work {
    /// Wavefront positions visited plus `(round, block)` pairs considered.
    pub(super) steps: u64,
    /// Row updates computed, halo rows included.
    pub(super) rows: u64,
}

impl std::ops::AddAssign for Work {
    fn add_assign(&mut self, other: Self) {
        self.steps += other.steps;
        self.rows += other.rows;
    }
}

impl std::iter::Sum for Work {
    fn sum<I: Iterator<Item = Self>>(works: I) -> Self {
        let mut total = Self::default();
        for w in works {
            total += w;
        }
        total
    }
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
    pub(super) fn new(g: &Graph, degree: &[u32], diag: &[f32]) -> Option<Self> {
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
    pub(super) fn plan(&self) -> Option<Plan> {
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
        let interruptible = (SWEEP_ROWS / (part_blocks * self.blocks.block)).max(1);
        (part_blocks >= HALO_FRACTION).then_some(Plan {
            part_blocks,
            sweep: (part_blocks / HALO_FRACTION).min(interruptible),
            parallel: true,
        })
    }

    /// `rounds` lossless rounds on one column `x`, in sweeps of at most `plan.sweep` rounds.
    /// Each sweep loads every part's input (owned rows and halo) from `x`, runs the parts, and
    /// writes their owned rows back into `x`.
    ///
    /// `interrupt` is asked (paced by the clock) between block rounds of a serial sweep, and
    /// between parallel sweeps, always on the calling thread. If it stops the call, its error is
    /// returned and `x` holds the result of the sweeps already done.
    pub(super) fn iterate(
        &self,
        x: &mut [f32],
        rounds: usize,
        plan: Plan,
        interrupt: &dyn Interrupt,
    ) -> Result<Work> {
        let mut pacer = Pacer::new(interrupt);
        let mut work = Work::default();
        let mut done = 0;
        while done < rounds {
            let k = plan.sweep.min(rounds - done);
            if plan.parallel {
                let swept = pool::run(self.blocks.n, |_| self.sweep(x, k, plan, &mut |_| Ok(())))?;
                pacer.tick(swept.rows as usize)?;
                work += swept;
            } else {
                work += self.sweep(x, k, plan, &mut |rows| pacer.tick(rows))?;
            }
            done += k;
        }
        Ok(work)
    }

    /// One sweep of `rounds` rounds over every part, in parallel if `plan` says so. In a serial
    /// sweep `tick` is called with the rows of each block round (parallel parts, on pool
    /// threads, never call it); its error abandons the sweep and leaves `x` as it was.
    fn sweep(
        &self,
        x: &mut [f32],
        rounds: usize,
        plan: Plan,
        tick: &mut (dyn FnMut(usize) -> Result<()> + Send),
    ) -> Result<Work> {
        let blocks = self.blocks.count();
        let parts = blocks.div_ceil(plan.part_blocks);
        let src: &[f32] = x;
        let load = |p: usize| {
            let owned = p * plan.part_blocks..((p + 1) * plan.part_blocks).min(blocks);
            self.load(src, owned, rounds)
        };
        let mut sweeps: Vec<Sweep>;
        let ran: Result<Vec<Work>>;
        if plan.parallel {
            sweeps = (0..parts).into_par_iter().map(load).collect();
            ran = sweeps
                .par_iter_mut()
                .map(|s| self.run(s, &mut |_| Ok(())))
                .collect();
        } else {
            sweeps = (0..parts).map(load).collect();
            ran = sweeps.iter_mut().map(|s| self.run(s, tick)).collect();
        }
        let work = ran.map(|parts| {
            self.store(&sweeps, plan, x);
            parts.into_iter().sum()
        });
        self.spare
            .keep(sweeps.into_iter().flat_map(|s| [s.even, s.odd]));
        work
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

    /// Runs a loaded sweep along the wavefront, calling `tick` with the rows of each block round.
    fn run(
        &self,
        sweep: &mut Sweep,
        tick: &mut (dyn FnMut(usize) -> Result<()> + Send),
    ) -> Result<Work> {
        let (rounds, base) = (sweep.rounds, sweep.base);
        let mut work = Work::default();
        for (s, steps) in self.blocks.wavefront(&sweep.owned, rounds) {
            work.steps += 1;
            for r in steps {
                work.steps += 1;
                let b = s - r;
                let rows = self.blocks.rows(b).len();
                work.rows += rows as u64;
                if r % 2 == 1 {
                    self.block_round(&sweep.even, &mut sweep.odd, base, b);
                } else {
                    self.block_round(&sweep.odd, &mut sweep.even, base, b);
                }
                tick(rows)?;
            }
        }
        Ok(work)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::Weights;
    use crate::consensus::gather::all_links_up;
    use crate::consensus::test_support::*;
    use crate::interrupt::Never;

    #[test]
    fn the_banded_path_matches_the_plain_kernel_bitwise() {
        for g in banded_graphs() {
            let w = Weights::metropolis(&g).unwrap();
            let band = w.banded.as_ref().expect("banded");
            assert!(g.num_nodes() > 8 * band.blocks.block, "several blocks");
            let x0 = random_values(g.num_nodes(), 12);
            for rounds in [1, 2, 7, 30] {
                let (mut fast, mut plain) = (x0.clone(), x0.clone());
                w.mix(&mut fast, 1, rounds, &Never).unwrap();
                w.iterate(&mut plain, 1, rounds, |_| all_links_up, &Never)
                    .unwrap();
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
    fn the_wavefront_visits_every_span_block_once_in_order() {
        // The schedule as first written: every round of every `s`, filtered by the span.
        let scanned = |blocks: Blocks, owned: &Range<usize>, rounds: usize| {
            let input = blocks.span(owned, rounds, 0);
            let mut steps = Vec::new();
            for s in input.start + 1..input.end + rounds {
                for r in 1..=rounds.min(s) {
                    if blocks.span(owned, rounds, r).contains(&(s - r)) {
                        steps.push((r, s - r));
                    }
                }
            }
            steps
        };
        for count in 1..7 {
            let blocks = Blocks {
                n: count * MIN_BLOCK - 5,
                block: MIN_BLOCK,
            };
            for start in 0..count {
                for end in start + 1..=count {
                    for rounds in 1..9 {
                        let owned = start..end;
                        let solved: Vec<(usize, usize)> = blocks
                            .wavefront(&owned, rounds)
                            .flat_map(|(s, rs)| rs.map(move |r| (r, s - r)))
                            .collect();
                        assert_eq!(
                            solved,
                            scanned(blocks, &owned, rounds),
                            "{owned:?} {rounds}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_cost_of_a_call_is_linear_in_the_rounds() {
        // The case measured from Python: one call on a ring of 1,000 nodes (one block) in RCM
        // order, serially. 32 times the rounds must be 32 times the work, to the step.
        let ring = Graph::ring(1000, 1).unwrap();
        let w = Weights::metropolis(&ring.permuted(&ring.rcm_order()).unwrap()).unwrap();
        let band = w.banded.as_ref().expect("banded");
        let serial = Plan {
            part_blocks: band.blocks.count(),
            sweep: usize::MAX,
            parallel: false,
        };
        let x0 = random_values(1000, 5);
        let work = |rounds: usize| {
            band.iterate(&mut x0.clone(), rounds, serial, &Never)
                .unwrap()
        };
        let (short, long) = (work(2_000), work(64_000));
        assert_eq!(short.rows, 2_000 * 1000);
        assert_eq!(long.rows, 32 * short.rows);
        assert_eq!(long.steps, 32 * short.steps);

        // Several blocks, one serial sweep: the schedule is one step per block round plus one per
        // wavefront position (`blocks + rounds - 1` of them), so within a few blocks of 32x.
        let blocks = Blocks {
            n: 40 * MIN_BLOCK,
            block: MIN_BLOCK,
        };
        let steps = |rounds: usize| -> usize {
            let owned = 0..blocks.count();
            blocks
                .wavefront(&owned, rounds)
                .map(|(_, rs)| 1 + rs.count())
                .sum()
        };
        let (short, long) = (steps(2_000), steps(64_000));
        assert_eq!(short, 40 * 2_000 + 40 + 2_000 - 1);
        assert!(
            long.abs_diff(32 * short) <= 32 * 40,
            "{long} vs 32 x {short}"
        );
    }

    #[test]
    fn the_banded_path_reaches_the_edge_of_its_window() {
        // A path plus one long edge: the bandwidth is the long edge's length. 21,840 is the
        // widest block whose three-block window fits in u16 slot numbers; one more row is not.
        for (long, banded) in [(21_840, true), (21_841, false)] {
            let n = 3 * long + 5;
            let mut edges: Vec<(u32, u32)> = (1..n as u32).map(|i| (i - 1, i)).collect();
            edges.push((7, 7 + long as u32));
            let w = Weights::metropolis(&Graph::from_edges(n, &edges).unwrap()).unwrap();
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
                band.iterate(&mut fast, rounds, serial, &Never).unwrap();
                w.iterate(&mut plain, 1, rounds, |_| all_links_up, &Never)
                    .unwrap();
                assert!(
                    fast.iter()
                        .zip(&plain)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                );
            }
        }
    }
}
