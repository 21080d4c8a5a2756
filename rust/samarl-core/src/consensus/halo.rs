//! A part's rows of the consensus rounds: `x <- W x` on some of the graph's nodes (a part of a
//! partitioned run), from their own values and their neighbours' (the halo), bit for bit as the
//! whole-graph kernels compute those rows (lossy links included).
//!
//! A [`HaloRows`] holds the part's rows of `W`, copied from the [`Mixer`]'s own weights through
//! [`Weights`]' accessors, with every row's entries in the order the whole-graph kernel sums them
//! (diagonal first, then the neighbours in the graph's CSR order) and the id of every link as the
//! lossy kernel draws its failures (`min(i, j) * n + max(i, j)` in the graph's own numbering, the
//! internal order when the mixer relabels). With a halo of `hops` hops, up to `hops` rounds run
//! on one exchange of halo values: round `r` of `k` recomputes the halo nodes within `k - 1 - r`
//! hops of the part, exactly as the whole graph computes them.

use super::{LinkFailures, Mixer, STREAM_LINKS, Weights, check_block_shape};
use crate::error::{CoreError, Result, check_finite, check_len};
use crate::memory::{self, Request};
use crate::pool::{self, CHUNK};
use crate::rng;

/// A part's rows of the consensus matrix `W` and of its rounds (see the module docs).
///
/// Local rows: the part's own nodes first (in the caller's order), then its halo, the nodes
/// within `hops` hops outside the part, ordered by distance to the part, then by node. Callers
/// pass the halo's values in their own order ([`HaloRows::halo`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HaloRows {
    /// Nodes of the whole graph.
    num_nodes: usize,
    /// The part's nodes, caller's numbering, in row order.
    rows: Vec<u32>,
    /// The halo's nodes, caller's numbering, in the order of the caller's halo values.
    halo: Vec<u32>,
    /// Local halo slot `k` (by distance, then node) holds caller halo value `halo_from[k]`.
    halo_from: Vec<u32>,
    /// `level_end[d]`: local rows within `d` hops of the part, for `d` in `0..hops`
    /// (`level_end[0]` is the number of own rows). These are the rows ever computed.
    level_end: Vec<usize>,
    /// Entries of the computed rows: `indptr`, local columns, `W_ij`, link ids.
    indptr: Vec<usize>,
    cols: Vec<u32>,
    data: Vec<f32>,
    keys: Vec<u64>,
    /// `W_ii` of the computed rows.
    diag: Vec<f32>,
}

/// The arrays of a [`HaloRows`], to rebuild it elsewhere (another process) without the graph.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HaloRowsParts {
    pub num_nodes: usize,
    pub rows: Vec<u32>,
    pub halo: Vec<u32>,
    pub halo_from: Vec<u32>,
    pub level_end: Vec<usize>,
    pub indptr: Vec<usize>,
    pub cols: Vec<u32>,
    pub data: Vec<f32>,
    pub keys: Vec<u64>,
    pub diag: Vec<f32>,
}

/// Marks a node that is not among the local rows.
const ABSENT: u32 = u32::MAX;

impl Mixer {
    /// The rows `rows` (node ids in the caller's order, distinct) of `W` and a halo of `hops`
    /// hops (`>= 1`): see [`HaloRows`]. `halo`, when given, is the caller's order of the halo
    /// values: a permutation of the nodes within `hops` hops outside `rows`
    /// (the default order's [`HaloRows::halo`] lists them); by default they come by distance,
    /// then by node.
    pub fn halo_rows(&self, rows: &[u32], halo: Option<&[u32]>, hops: usize) -> Result<HaloRows> {
        let w = self.weights();
        let n = w.num_nodes();
        let request = Request::new("rows", rows.len(), "rows");
        // caller's node -> graph node, and back.
        let (to_graph, to_caller) = match self.relabelling() {
            Some(r) => {
                let mut inverse = memory::filled(request, n, 0u32)?;
                for (i, &k) in r.order().iter().enumerate() {
                    inverse[k as usize] = i as u32;
                }
                (inverse, r.order().to_vec())
            }
            None => ((0..n as u32).collect(), (0..n as u32).collect()),
        };
        let map = |name: &'static str, ids: &[u32]| -> Result<Vec<u32>> {
            ids.iter()
                .map(|&k| {
                    to_graph.get(k as usize).copied().ok_or_else(|| {
                        CoreError::invalid(name, format!("nodes must be < {n}, found {k}"))
                    })
                })
                .collect()
        };
        let own = map("rows", rows)?;
        let halo = halo.map(|h| map("halo", h)).transpose()?;
        HaloRows::build(w, &own, halo.as_deref(), hops, &to_caller)
    }
}

impl HaloRows {
    /// Builds the rows on `w` (graph numbering); `to_caller` maps graph nodes to the caller's.
    fn build(
        w: &Weights,
        own: &[u32],
        halo: Option<&[u32]>,
        hops: usize,
        to_caller: &[u32],
    ) -> Result<Self> {
        let n = w.num_nodes();
        if hops == 0 {
            return Err(CoreError::invalid("hops", "must be >= 1"));
        }
        let request = Request::new("rows", own.len(), "rows");
        memory::check(request, 8 * n as u64)?;
        // local[node]: the node's local row; BFS from the part, level by level.
        let mut local = memory::filled(request, n, ABSENT)?;
        let mut nodes: Vec<u32> = Vec::with_capacity(own.len());
        for (i, &k) in own.iter().enumerate() {
            if local[k as usize] != ABSENT {
                return Err(CoreError::invalid(
                    "rows",
                    format!("node {} appears twice", to_caller[k as usize]),
                ));
            }
            local[k as usize] = i as u32;
            nodes.push(k);
        }
        let mut level_end = vec![own.len()];
        let mut start = 0;
        for _ in 0..hops {
            let end = nodes.len();
            let mut next: Vec<u32> = Vec::new();
            for &i in &nodes[start..end] {
                let i = i as usize;
                for &j in &w.indices()[w.indptr()[i]..w.indptr()[i + 1]] {
                    if local[j as usize] == ABSENT {
                        local[j as usize] = 0; // seen; numbered below
                        next.push(j);
                    }
                }
            }
            next.sort_unstable_by_key(|&j| to_caller[j as usize]);
            for (k, &j) in next.iter().enumerate() {
                local[j as usize] = (end + k) as u32;
            }
            nodes.extend_from_slice(&next);
            level_end.push(nodes.len());
            start = end;
        }
        let total = level_end.pop().unwrap_or(own.len()); // the outermost level is never computed
        let halo_nodes = &nodes[own.len()..total];
        let halo_from = match halo {
            None => (0..halo_nodes.len() as u32).collect(),
            Some(h) => halo_order(h, halo_nodes, &local, own.len(), to_caller)?,
        };
        let computed = level_end[hops - 1];
        let entries: usize = nodes[..computed]
            .iter()
            .map(|&i| w.indptr()[i as usize + 1] - w.indptr()[i as usize])
            .sum();
        memory::check(request, 16 * entries as u64 + 8 * computed as u64)?;
        let mut indptr = Vec::with_capacity(computed + 1);
        let (mut cols, mut data, mut keys) = (
            Vec::with_capacity(entries),
            Vec::with_capacity(entries),
            Vec::with_capacity(entries),
        );
        indptr.push(0);
        for &i in &nodes[..computed] {
            let range = w.indptr()[i as usize]..w.indptr()[i as usize + 1];
            for (&j, &wij) in w.indices()[range.clone()].iter().zip(&w.data()[range]) {
                let (lo, hi) = (u64::from(i.min(j)), u64::from(i.max(j)));
                cols.push(local[j as usize]);
                data.push(wij);
                keys.push(lo * n as u64 + hi);
            }
            indptr.push(cols.len());
        }
        let diag = nodes[..computed]
            .iter()
            .map(|&i| w.diag()[i as usize])
            .collect();
        let caller = |ids: &[u32]| ids.iter().map(|&k| to_caller[k as usize]).collect();
        let rows = caller(own);
        let halo = match halo {
            Some(h) => caller(h),
            None => caller(halo_nodes),
        };
        Ok(Self {
            num_nodes: n,
            rows,
            halo,
            halo_from,
            level_end,
            indptr,
            cols,
            data,
            keys,
            diag,
        })
    }

    /// Nodes of the whole graph.
    #[must_use]
    pub fn num_nodes(&self) -> usize {
        self.num_nodes
    }

    /// The part's nodes (caller's numbering), in row order.
    #[must_use]
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }

    /// The halo's nodes (caller's numbering), in the order the kernels take their values.
    #[must_use]
    pub fn halo(&self) -> &[u32] {
        &self.halo
    }

    /// Hops of the halo: the most rounds one call runs.
    #[must_use]
    pub fn hops(&self) -> usize {
        self.level_end.len()
    }

    /// `rounds` rounds (`<= hops`) of `x <- W x` on the part's rows: `own` (`[rows, cols]`) and
    /// `halo` (`[halo, cols]`, the halo's values at the start) give the values, `out`
    /// (`[rows, cols]`) receives the part's rows after the rounds, equal bit for bit to those rows
    /// of [`Mixer::mix`] on the whole graph.
    pub fn mix(
        &self,
        own: &[f32],
        halo: &[f32],
        cols: usize,
        rounds: usize,
        out: &mut [f32],
    ) -> Result<()> {
        self.run(own, halo, cols, rounds, out, None)
    }

    /// Like [`HaloRows::mix`] over links that fail as `links` says, equal bit for bit to the
    /// part's rows of [`Mixer::mix_lossy`] with the same `links` (the round offset counts the
    /// rounds of the whole run, as there).
    pub fn mix_lossy(
        &self,
        own: &[f32],
        halo: &[f32],
        cols: usize,
        rounds: usize,
        links: LinkFailures,
        out: &mut [f32],
    ) -> Result<()> {
        links.check()?;
        self.run(own, halo, cols, rounds, out, Some(links))
    }

    /// The part's rows of `W` as CSR `(indptr, indices, data)`, `[rows, rows + halo]`: each row
    /// diagonal first, then its neighbours in the order the kernel sums them; columns are the
    /// part's rows, then the halo in [`HaloRows::halo`]'s order.
    #[must_use]
    pub fn to_csr(&self) -> (Vec<usize>, Vec<u32>, Vec<f32>) {
        let own = self.rows.len();
        let column = |c: u32| -> u32 {
            let c = c as usize;
            if c < own {
                c as u32
            } else {
                (own as u32) + self.halo_from[c - own]
            }
        };
        let (mut indptr, mut indices, mut data) = (vec![0], Vec::new(), Vec::new());
        for i in 0..own {
            indices.push(i as u32);
            data.push(self.diag[i]);
            for e in self.indptr[i]..self.indptr[i + 1] {
                indices.push(column(self.cols[e]));
                data.push(self.data[e]);
            }
            indptr.push(indices.len());
        }
        (indptr, indices, data)
    }

    /// The arrays that [`HaloRows::from_parts`] rebuilds it from.
    #[must_use]
    pub fn to_parts(&self) -> HaloRowsParts {
        HaloRowsParts {
            num_nodes: self.num_nodes,
            rows: self.rows.clone(),
            halo: self.halo.clone(),
            halo_from: self.halo_from.clone(),
            level_end: self.level_end.clone(),
            indptr: self.indptr.clone(),
            cols: self.cols.clone(),
            data: self.data.clone(),
            keys: self.keys.clone(),
            diag: self.diag.clone(),
        }
    }

    /// Rebuilds the rows from [`HaloRows::to_parts`]' arrays, after checking that they fit
    /// together (lengths, ranges, the levels' structure: a row only reads rows one hop further
    /// out at most); anything else is a [`CoreError::InvalidValue`] named `parts`.
    pub fn from_parts(p: HaloRowsParts) -> Result<Self> {
        let bad = |what: &str| Err(CoreError::invalid("parts", what.to_string()));
        let (own, halo) = (p.rows.len(), p.halo.len());
        let local = own + halo;
        let levels = &p.level_end;
        if levels.is_empty() || levels[0] != own || levels.windows(2).any(|l| l[0] > l[1]) {
            return bad("level_end must start at the number of rows and not decrease");
        }
        let computed = levels[levels.len() - 1];
        if computed > local || p.diag.len() != computed || p.indptr.len() != computed + 1 {
            return bad("the computed rows do not fit the rows, halo, diag and indptr");
        }
        let entries = p.cols.len();
        if p.indptr[0] != 0
            || p.indptr[computed] != entries
            || p.indptr.windows(2).any(|r| r[0] > r[1])
            || p.data.len() != entries
            || p.keys.len() != entries
        {
            return bad("indptr, cols, data and keys do not fit together");
        }
        let mut seen = vec![false; halo];
        for &k in &p.halo_from {
            match seen.get_mut(k as usize) {
                Some(s) if !*s => *s = true,
                _ => return bad("halo_from must be a permutation of the halo"),
            }
        }
        if p.halo_from.len() != halo {
            return bad("halo_from must be a permutation of the halo");
        }
        // A row within d hops reads rows within d + 1 hops only (what the previous round made).
        for (d, &end) in levels.iter().enumerate() {
            let reach = levels.get(d + 1).copied().unwrap_or(local);
            let first = if d == 0 { 0 } else { levels[d - 1] };
            if p.cols[p.indptr[first]..p.indptr[end]]
                .iter()
                .any(|&c| c as usize >= reach)
            {
                return bad("a row reads a node more than one hop further out");
            }
        }
        if !p.data.iter().chain(&p.diag).all(|v| v.is_finite()) {
            return bad("weights must be finite");
        }
        Ok(Self {
            num_nodes: p.num_nodes,
            rows: p.rows,
            halo: p.halo,
            halo_from: p.halo_from,
            level_end: p.level_end,
            indptr: p.indptr,
            cols: p.cols,
            data: p.data,
            keys: p.keys,
            diag: p.diag,
        })
    }

    /// The rounds: checks, local values, `rounds` rounds over shrinking sets of rows, `out`.
    fn run(
        &self,
        own: &[f32],
        halo: &[f32],
        cols: usize,
        rounds: usize,
        out: &mut [f32],
        links: Option<LinkFailures>,
    ) -> Result<()> {
        let n_own = self.rows.len();
        check_block_shape("x", own, n_own, cols)?;
        check_block_shape("halo", halo, self.halo.len(), cols)?;
        check_len("out", out, own.len())?;
        check_finite("x", own)?;
        check_finite("halo", halo)?;
        if rounds > self.hops() {
            return Err(CoreError::invalid(
                "rounds",
                format!(
                    "at most hops = {} rounds per exchange of halo values, got {rounds}",
                    self.hops()
                ),
            ));
        }
        let links = links.filter(|l| l.drop_prob > 0.0);
        if rounds == 0 || links.is_some_and(|l| l.drop_prob >= 1.0) {
            // As the whole-graph kernel: nothing to do (every link down leaves x unchanged).
            out.copy_from_slice(own);
            return Ok(());
        }
        let local = n_own + self.halo.len();
        let request = Request::new("x", local, "rows");
        let mut x = memory::with_capacity(request, local * cols)?;
        x.extend_from_slice(own);
        for &k in &self.halo_from {
            let k = k as usize;
            x.extend_from_slice(&halo[k * cols..(k + 1) * cols]);
        }
        let mut y = memory::filled(request, local * cols, 0.0)?;
        for r in 0..rounds {
            // Round r of k computes the rows within k - 1 - r hops of the part.
            let end = self.level_end[rounds - 1 - r];
            let step = links.map(|l| (l, l.round_offset.wrapping_add(r as u64)));
            self.round(&x, &mut y[..end * cols], cols, step);
            std::mem::swap(&mut x, &mut y);
        }
        out.copy_from_slice(&x[..n_own * cols]);
        Ok(())
    }

    /// One round into `y` (the first `y.len() / cols` local rows) from `x`, in parallel over
    /// fixed chunks of rows. Row `i` is `W_ii x_i + sum_j W_ij (up ? x_j : x_i)`, accumulated in
    /// `f32` in the stored order, as the whole-graph kernel does.
    fn round(&self, x: &[f32], y: &mut [f32], cols: usize, links: Option<(LinkFailures, u64)>) {
        let up = |e: usize| match links {
            None => true,
            Some((l, step)) => {
                rng::uniform_f32(l.seed, STREAM_LINKS, self.keys[e], step) >= l.drop_prob
            }
        };
        pool::for_each_chunk(y, cols, |chunk, out| {
            let first = chunk * CHUNK;
            for (i, yi) in (first..).zip(out.chunks_exact_mut(cols)) {
                let xi = &x[i * cols..(i + 1) * cols];
                let d = self.diag[i];
                for (a, &v) in yi.iter_mut().zip(xi) {
                    *a = d * v;
                }
                for e in self.indptr[i]..self.indptr[i + 1] {
                    let j = self.cols[e] as usize;
                    let xj = if up(e) {
                        &x[j * cols..(j + 1) * cols]
                    } else {
                        xi
                    };
                    let w = self.data[e];
                    for (a, &v) in yi.iter_mut().zip(xj) {
                        *a += w * v;
                    }
                }
            }
        });
    }
}

/// For a caller's `halo` order (graph numbering), the caller position of each local halo slot;
/// `halo` must be a permutation of `halo_nodes` ([`CoreError::InvalidValue`] named `halo`).
fn halo_order(
    halo: &[u32],
    halo_nodes: &[u32],
    local: &[u32],
    own: usize,
    to_caller: &[u32],
) -> Result<Vec<u32>> {
    let invalid = |msg: String| CoreError::invalid("halo", msg);
    if halo.len() != halo_nodes.len() {
        return Err(invalid(format!(
            "expected the {} nodes within reach of the rows, got {} nodes",
            halo_nodes.len(),
            halo.len()
        )));
    }
    let mut from = vec![u32::MAX; halo.len()];
    for (pos, &k) in halo.iter().enumerate() {
        let slot = (local[k as usize] as usize).wrapping_sub(own);
        match from.get_mut(slot) {
            Some(f) if *f == u32::MAX => *f = pos as u32,
            _ => {
                return Err(invalid(format!(
                    "node {} is not in the halo, or appears twice",
                    to_caller[k as usize]
                )));
            }
        }
    }
    Ok(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_support::*;
    use crate::graph::Graph;
    use crate::interrupt::Never;
    use proptest::prelude::*;

    /// A partitioned run: `0..n` (caller's order) split into `parts` parts by a hash of the node
    /// (scattered ids), each mixing its rows through its [`HaloRows`] in calls of at most `hops`
    /// rounds, with every part's halo values taken from the other parts' results in between.
    fn mix_by_parts(
        mixer: &Mixer,
        x: &[f32],
        cols: usize,
        rounds: usize,
        parts: usize,
        hops: usize,
        links: Option<LinkFailures>,
    ) -> Vec<f32> {
        let n = mixer.num_nodes() as u32;
        let plans: Vec<HaloRows> = (0..parts as u64)
            .map(|p| {
                let rows: Vec<u32> = (0..n)
                    .filter(|&i| rng::bits(5, 9, u64::from(i), 0) % parts as u64 == p)
                    .collect();
                mixer.halo_rows(&rows, None, hops).unwrap()
            })
            .collect();
        let (mut now, mut done) = (x.to_vec(), 0);
        while done < rounds {
            let k = hops.min(rounds - done);
            let mut next = now.clone();
            for part in &plans {
                let own = gather_from(&now, part.rows(), cols);
                let halo = gather_from(&now, part.halo(), cols);
                let mut mixed = vec![0.0; own.len()];
                match links {
                    Some(l) => {
                        let l = LinkFailures {
                            round_offset: l.round_offset + done as u64,
                            ..l
                        };
                        part.mix_lossy(&own, &halo, cols, k, l, &mut mixed)
                    }
                    None => part.mix(&own, &halo, cols, k, &mut mixed),
                }
                .unwrap();
                for (r, &i) in part.rows().iter().enumerate() {
                    let i = i as usize;
                    next[i * cols..(i + 1) * cols]
                        .copy_from_slice(&mixed[r * cols..(r + 1) * cols]);
                }
            }
            (now, done) = (next, done + k);
        }
        now
    }

    fn gather_from(x: &[f32], ids: &[u32], cols: usize) -> Vec<f32> {
        ids.iter()
            .flat_map(|&k| x[k as usize * cols..(k as usize + 1) * cols].to_vec())
            .collect()
    }

    fn whole_rounds(
        mixer: &Mixer,
        x: &[f32],
        cols: usize,
        rounds: usize,
        links: Option<LinkFailures>,
    ) -> Vec<f32> {
        let mut y = x.to_vec();
        match links {
            Some(l) => mixer.mix_lossy(&mut y, cols, rounds, l, &Never).unwrap(),
            None => mixer.mix(&mut y, cols, rounds, &Never).unwrap(),
        }
        y
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    /// Mixers on `g`: in its own order, and relabelled in locality order (as `Consensus` builds).
    fn mixers(g: &Graph) -> [Mixer; 2] {
        let order = g.rcm_order();
        [
            Mixer::new(g, None).unwrap(),
            Mixer::new(&g.permuted(&order).unwrap(), Some(&order)).unwrap(),
        ]
    }

    #[test]
    fn parts_equal_the_whole_graph_bit_for_bit() {
        let graphs = [
            Graph::random_geometric(2000, 0.04, 3).unwrap(),
            Graph::erdos_renyi(500, 6.0, 4, true).unwrap(),
            Graph::ring(3 * CHUNK, 2).unwrap(),
        ];
        for g in &graphs {
            for mixer in mixers(g) {
                let n = g.num_nodes();
                for (cols, rounds, parts, hops) in [(1, 1, 3, 1), (2, 5, 4, 2), (1, 6, 2, 3)] {
                    let x = random_values(n * cols, 8);
                    for links in [None, Some(links(0.3, 7, 11)), Some(links(1.0, 7, 0))] {
                        let want = whole_rounds(&mixer, &x, cols, rounds, links);
                        let got = mix_by_parts(&mixer, &x, cols, rounds, parts, hops, links);
                        assert!(
                            bits(&got) == bits(&want),
                            "n={n} cols={cols} rounds={rounds}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_halo_order_is_the_callers() {
        let g = Graph::erdos_renyi(200, 5.0, 2, true).unwrap();
        let [_, mixer] = mixers(&g);
        let rows: Vec<u32> = (0..60).map(|i| 3 * i + 1).collect();
        let default = mixer.halo_rows(&rows, None, 2).unwrap();
        let mut order = default.halo().to_vec();
        order.reverse();
        let custom = mixer.halo_rows(&rows, Some(&order), 2).unwrap();
        assert_eq!(custom.halo(), order);
        let x = random_values(200, 3);
        let own = gather_from(&x, &rows, 1);
        let (mut a, mut b) = (vec![0.0; rows.len()], vec![0.0; rows.len()]);
        let lossy = links(0.2, 1, 4);
        default
            .mix_lossy(
                &own,
                &gather_from(&x, default.halo(), 1),
                1,
                2,
                lossy,
                &mut a,
            )
            .unwrap();
        custom
            .mix_lossy(&own, &gather_from(&x, &order, 1), 1, 2, lossy, &mut b)
            .unwrap();
        assert_eq!(bits(&a), bits(&b));
        // The CSR rows: diagonal first, columns in the caller's halo order, rows summing to 1.
        let (indptr, indices, data) = custom.to_csr();
        assert_eq!(indptr.len(), rows.len() + 1);
        for i in 0..rows.len() {
            assert_eq!(indices[indptr[i]] as usize, i);
            let sum: f64 = data[indptr[i]..indptr[i + 1]]
                .iter()
                .map(|&v| f64::from(v))
                .sum();
            assert!((sum - 1.0).abs() < 1e-6);
        }
        let wrong = [order[1], order[0], order[0]];
        assert!(matches!(
            mixer.halo_rows(&rows, Some(&wrong), 2),
            Err(CoreError::InvalidValue { name: "halo", .. })
        ));
    }

    #[test]
    fn bad_arguments_are_named() {
        let mixer = Mixer::new(&Graph::ring(10, 1).unwrap(), None).unwrap();
        let name = |r: Result<HaloRows>| match r {
            Err(CoreError::InvalidValue { name, .. }) => name,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(name(mixer.halo_rows(&[1, 1], None, 1)), "rows");
        assert_eq!(name(mixer.halo_rows(&[10], None, 1)), "rows");
        assert_eq!(name(mixer.halo_rows(&[1], None, 0)), "hops");
        assert_eq!(name(mixer.halo_rows(&[1], Some(&[0]), 1)), "halo");
        let part = mixer.halo_rows(&[4, 5], None, 1).unwrap();
        assert_eq!(part.halo(), [3, 6]);
        let mut out = vec![0.0; 2];
        let err = |r: Result<()>| match r {
            Err(CoreError::InvalidValue { name, .. } | CoreError::Shape { name, .. }) => name,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(
            err(part.mix(&[0.0; 2], &[0.0; 2], 1, 2, &mut out)),
            "rounds"
        );
        assert_eq!(err(part.mix(&[0.0; 3], &[0.0; 2], 1, 1, &mut out)), "x");
        assert_eq!(err(part.mix(&[0.0; 2], &[0.0; 1], 1, 1, &mut out)), "halo");
        assert_eq!(
            err(part.mix(&[0.0; 2], &[f32::NAN; 2], 1, 1, &mut out)),
            "halo"
        );
        assert_eq!(
            err(part.mix(&[0.0; 2], &[0.0; 2], 1, 1, &mut out[..1])),
            "out"
        );
        let lossy = links(1.5, 0, 0);
        assert_eq!(
            err(part.mix_lossy(&[0.0; 2], &[0.0; 2], 1, 1, lossy, &mut out)),
            "drop_prob"
        );
    }

    #[test]
    fn parts_round_trip_and_refuse_what_does_not_fit() {
        let g = Graph::random_geometric(300, 0.1, 1).unwrap();
        let [_, mixer] = mixers(&g);
        let rows: Vec<u32> = (0..300).filter(|i| i % 3 == 0).collect();
        let part = mixer.halo_rows(&rows, None, 2).unwrap();
        assert_eq!(HaloRows::from_parts(part.to_parts()).unwrap(), part);
        let broken: [fn(&mut HaloRowsParts); 6] = [
            |p| p.level_end[0] += 1,
            |p| p.cols[0] = u32::MAX,
            |p| p.indptr[1] = usize::MAX,
            |p| p.halo_from[0] = p.halo_from[1],
            |p| p.diag[0] = f32::NAN,
            |p| {
                // A row of the part reading a node two hops out.
                let far = p.level_end[1] as u32;
                p.cols[0] = far;
            },
        ];
        for f in broken {
            let mut p = part.to_parts();
            f(&mut p);
            assert!(matches!(
                HaloRows::from_parts(p),
                Err(CoreError::InvalidValue { name: "parts", .. })
            ));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_parts_and_rounds_equal_the_whole_graph(
            g in arb_graph(40),
            parts in 1usize..5,
            hops in 1usize..4,
            rounds in 0usize..7,
            cols in 1usize..3,
            drop_prob in prop::sample::select(vec![0.0f32, 0.25, 0.6, 1.0]),
            seed: u64,
        ) {
            for mixer in mixers(&g) {
                let x = random_values(g.num_nodes() * cols, seed);
                let lossy = (drop_prob > 0.0).then(|| links(drop_prob, seed, seed % 1000));
                let want = whole_rounds(&mixer, &x, cols, rounds, lossy);
                let got = mix_by_parts(&mixer, &x, cols, rounds, parts, hops, lossy);
                prop_assert_eq!(bits(&got), bits(&want));
            }
        }
    }
}
