//! Undirected communication graphs in compressed sparse row (CSR) form.
//!
//! A [`Graph`] is always *canonical*: the adjacency is symmetric, each node's neighbours are sorted
//! ascending, and there are no self loops or duplicate edges. Every constructor establishes this
//! form, so the consensus kernels can rely on it without checking.
//!
//! Node indices are `u32` (half the memory traffic of `usize` in the gather loops); a graph has at
//! most `u32::MAX` nodes. Random generators use `Xoshiro256PlusPlus` seeded with `seed_from_u64`,
//! so a `(generator, arguments, seed)` triple always produces the same graph.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

use crate::error::{CoreError, Result, check_finite, check_len};
use crate::memory::{self, Request};

/// Largest `n` accepted by [`Graph::complete`]: its adjacency then holds about 4 * 10^8 entries.
pub const MAX_COMPLETE_NODES: usize = 20_000;

/// Most adjacency entries (twice the edges) a generator may produce, the size of
/// `complete(MAX_COMPLETE_NODES)`. Larger requests are refused rather than aborting on allocation.
pub const MAX_ADJACENCY_ENTRIES: usize = MAX_COMPLETE_NODES * (MAX_COMPLETE_NODES - 1);

/// Breadth-first sweeps spent looking for a pseudo-peripheral node in [`Graph::rcm_order`].
const MAX_PERIPHERAL_SWEEPS: usize = 8;

/// Marks an unvisited node in breadth-first searches.
const UNSEEN: u32 = u32::MAX;

/// An undirected simple graph: symmetric adjacency in CSR form, neighbours sorted ascending, no
/// self loops, no duplicate edges.
///
/// The neighbours of node `i` are `indices[indptr[i]..indptr[i + 1]]`; every edge `{i, j}` is
/// stored twice, once in each row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    n: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
}

impl Graph {
    /// Builds a graph on `n` nodes from a list of undirected edges `(u, v)`.
    ///
    /// Self loops and duplicate edges (in either orientation) are dropped. An endpoint `>= n` is an
    /// [`CoreError::InvalidGraph`]; `n == 0` is an [`CoreError::InvalidValue`] named `num_nodes`.
    pub fn from_edges(n: usize, edges: &[(u32, u32)]) -> Result<Self> {
        check_num_nodes(n)?;
        if let Some((k, &(u, v))) = edges
            .iter()
            .enumerate()
            .find(|&(_, &(u, v))| u as usize >= n || v as usize >= n)
        {
            return Err(CoreError::InvalidGraph(format!(
                "edge {k} = ({u}, {v}) has an endpoint >= num_nodes = {n}"
            )));
        }
        check_memory(n, edges.len(), 0)?;
        Self::from_pairs(n, edges)
    }

    /// Builds a graph from a CSR adjacency pattern (`SciPy` names; values are ignored).
    ///
    /// Rows may be unsorted and contain duplicates; diagonal entries are dropped. The pattern must
    /// be symmetric. A malformed `indptr` (wrong length, not starting at 0, decreasing, or not
    /// ending at `indices.len()`), a column index outside `0..n`, or an asymmetric pattern is a
    /// [`CoreError::InvalidGraph`].
    pub fn from_csr(n: usize, indptr: &[usize], indices: &[u32]) -> Result<Self> {
        check_num_nodes(n)?;
        let bad = |msg: String| Err(CoreError::InvalidGraph(msg));
        if indptr.len() != n + 1 {
            return bad(format!(
                "indptr has {} entries, expected num_nodes + 1 = {}",
                indptr.len(),
                n + 1
            ));
        }
        if indptr[0] != 0 {
            return bad(format!("indptr[0] must be 0, got {}", indptr[0]));
        }
        if let Some(i) = indptr.windows(2).position(|w| w[1] < w[0]) {
            return bad(format!(
                "indptr must be nondecreasing, but indptr[{}] = {} > indptr[{}] = {}",
                i,
                indptr[i],
                i + 1,
                indptr[i + 1]
            ));
        }
        if indptr[n] != indices.len() {
            return bad(format!(
                "indptr[num_nodes] = {} but indices has {} entries",
                indptr[n],
                indices.len()
            ));
        }
        if let Some(k) = indices.iter().position(|&j| j as usize >= n) {
            return bad(format!("indices[{k}] = {} is outside 0..{n}", indices[k]));
        }
        let request = nodes(n);
        let graph = Self::canonical(
            n,
            memory::copied(request, indptr)?,
            memory::copied(request, indices)?,
        );
        if let Some((i, j)) = graph.first_asymmetric_entry() {
            return bad(format!(
                "adjacency is not symmetric: entry ({i}, {j}) has no mirror ({j}, {i})"
            ));
        }
        Ok(graph)
    }

    /// The ring lattice: node `i` is linked to `i ± 1, ..., i ± k` (mod `n`).
    ///
    /// Needs `k >= 1`, `n >= 3` and `2k < n` (so no two offsets reach the same node).
    pub fn ring(n: usize, k: usize) -> Result<Self> {
        check_ring(n, k)?;
        check_memory(n, n * k, 0)?;
        let mut pairs = memory::with_capacity(nodes(n), n * k)?;
        pairs.extend((0..n).flat_map(|i| (1..=k).map(move |j| (i as u32, ((i + j) % n) as u32))));
        Self::from_pairs(n, &pairs)
    }

    /// The `rows x cols` 4-neighbour lattice; node `r * cols + c` sits at row `r`, column `c`.
    pub fn grid_2d(rows: usize, cols: usize) -> Result<Self> {
        if rows == 0 {
            return Err(CoreError::invalid("rows", "must be >= 1"));
        }
        if cols == 0 {
            return Err(CoreError::invalid("cols", "must be >= 1"));
        }
        let n = rows
            .checked_mul(cols)
            .ok_or_else(|| CoreError::invalid("num_nodes", "rows * cols overflows"))?;
        check_num_nodes(n)?;
        check_entries(n.saturating_mul(4))?;
        check_memory(n, 2 * n, 0)?;
        let node = |r: usize, c: usize| (r * cols + c) as u32;
        let mut pairs = memory::with_capacity(nodes(n), 2 * n)?;
        for r in 0..rows {
            for c in 0..cols {
                if c + 1 < cols {
                    pairs.push((node(r, c), node(r, c + 1)));
                }
                if r + 1 < rows {
                    pairs.push((node(r, c), node(r + 1, c)));
                }
            }
        }
        Self::from_pairs(n, &pairs)
    }

    /// The complete graph `K_n`. Refuses `n > MAX_COMPLETE_NODES` (its adjacency is dense).
    pub fn complete(n: usize) -> Result<Self> {
        check_num_nodes(n)?;
        if n > MAX_COMPLETE_NODES {
            return Err(CoreError::invalid(
                "num_nodes",
                format!("complete graphs are limited to {MAX_COMPLETE_NODES} nodes, got {n}"),
            ));
        }
        let entries = n * (n - 1);
        memory::check(nodes(n), 8 * (n as u64 + 1) + 4 * entries as u64)?;
        let mut indptr = memory::with_capacity(nodes(n), n + 1)?;
        indptr.extend((0..=n).map(|i| i * (n - 1)));
        let mut indices = memory::with_capacity(nodes(n), entries)?;
        indices.extend((0..n as u32).flat_map(|i| (0..n as u32).filter(move |&j| j != i)));
        Ok(Self { n, indptr, indices })
    }

    /// An Erdős–Rényi graph `G(n, p)` with `p = mean_degree / (n - 1)`, sampled by geometric
    /// skipping (Batagelj & Brandes 2005) in `O(n + m)` time.
    ///
    /// With `connected = true` the graph is the union of a Hamiltonian cycle through a random
    /// permutation of the nodes and `G(n, p)` with `p = max(mean_degree - 2, 0) / (n - 1)`: it is
    /// connected and its mean degree is still about `mean_degree` (at least 2 for `n >= 3`).
    ///
    /// `mean_degree` must be finite and in `[0, n - 1]`; the expected size must stay below
    /// [`MAX_ADJACENCY_ENTRIES`].
    pub fn erdos_renyi(n: usize, mean_degree: f64, seed: u64, connected: bool) -> Result<Self> {
        check_num_nodes(n)?;
        let max_degree = (n - 1) as f64;
        if !(mean_degree.is_finite() && (0.0..=max_degree).contains(&mean_degree)) {
            return Err(CoreError::invalid(
                "mean_degree",
                format!(
                    "must be finite and in [0, num_nodes - 1 = {max_degree}], got {mean_degree}"
                ),
            ));
        }
        let expected_entries = (n as f64 * mean_degree) as usize;
        check_entries(expected_entries)?;

        let expected_pairs = expected_entries / 2 + n + 16;
        check_memory(n, expected_pairs, 4)?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut pairs = memory::with_capacity(nodes(n), expected_pairs)?;
        let random_degree = if connected {
            let perm = random_permutation(n, &mut rng)?;
            pairs.extend(
                perm.iter()
                    .zip(perm.iter().cycle().skip(1))
                    .map(|(&u, &v)| (u, v)),
            );
            (mean_degree - 2.0).max(0.0)
        } else {
            mean_degree
        };
        if n > 1 {
            push_gnp_pairs(n, random_degree / max_degree, &mut rng, &mut pairs)?;
        }
        Self::from_pairs(n, &pairs)
    }

    /// `n` points uniform in the unit square, row-major `[n, 2]` (`x0, y0, x1, y1, ...`).
    ///
    /// Each coordinate is the top 24 bits of one `Xoshiro256PlusPlus` output scaled to `[0, 1)`,
    /// so it is exactly representable in `f32`.
    pub fn random_points(n: usize, seed: u64) -> Result<Vec<f32>> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut points = memory::with_capacity(nodes(n), n.saturating_mul(2))?;
        points.extend((0..2 * n).map(|_| (rng.next_u64() >> 40) as f32 * (1.0 / 16_777_216.0)));
        Ok(points)
    }

    /// The geometric graph on `points` (`[n, 2]`, row-major): an edge joins two points whose
    /// euclidean distance is `<= radius`, compared as squared distances in `f64`.
    ///
    /// Uses a cell list, so the cost is `O(n + m)` for points spread over their bounding box.
    /// `points` must hold an even number of finite values (at least one point); `radius` must be
    /// finite and `>= 0`.
    pub fn geometric_from_points(points: &[f32], radius: f64) -> Result<Self> {
        if !points.len().is_multiple_of(2) {
            return Err(CoreError::shape(
                "points",
                "[n, 2] (an even number of values)",
                format!("{} values", points.len()),
            ));
        }
        let n = points.len() / 2;
        check_num_nodes(n)?;
        check_finite("points", points)?;
        if !(radius.is_finite() && radius >= 0.0) {
            return Err(CoreError::invalid(
                "radius",
                format!("must be finite and >= 0, got {radius}"),
            ));
        }
        // The points in f64 and their cell list (about 52 bytes a node), then the edges.
        check_memory(n, 0, 36)?;
        let request = nodes(n);
        let mut xy = memory::with_capacity(request, n)?;
        xy.extend(
            points
                .chunks_exact(2)
                .map(|p| [f64::from(p[0]), f64::from(p[1])]),
        );
        let cells = CellList::new(&xy, radius)?;
        let r2 = radius * radius;
        let close = |a: u32, b: u32| {
            let (p, q) = (xy[a as usize], xy[b as usize]);
            let (dx, dy) = (p[0] - q[0], p[1] - q[1]);
            dx * dx + dy * dy <= r2
        };

        let mut pairs = Vec::new();
        for cy in 0..cells.ny {
            for cx in 0..cells.nx {
                let here = cells.members(cx, cy);
                for (k, &a) in here.iter().enumerate() {
                    for &b in here[k + 1..].iter().filter(|&&b| close(a, b)) {
                        memory::push(request, &mut pairs, (a, b))?;
                    }
                }
                // Half of the 3x3 stencil, so each pair of cells is visited once.
                for (dx, dy) in [(1, 0), (-1, 1), (0, 1), (1, 1)] {
                    let Some(there) = cells.neighbour(cx, cy, dx, dy) else {
                        continue;
                    };
                    for &a in here {
                        for &b in there.iter().filter(|&&b| close(a, b)) {
                            memory::push(request, &mut pairs, (a, b))?;
                        }
                    }
                }
                check_entries(2 * pairs.len())?;
            }
        }
        check_memory(n, pairs.len(), 0)?;
        Self::from_pairs(n, &pairs)
    }

    /// A random geometric graph: [`Graph::geometric_from_points`] on
    /// [`Graph::random_points`]`(n, seed)`.
    pub fn random_geometric(n: usize, radius: f64, seed: u64) -> Result<Self> {
        check_num_nodes(n)?;
        check_memory(n, 0, 44)?;
        Self::geometric_from_points(&Self::random_points(n, seed)?, radius)
    }

    /// A Watts–Strogatz small world: [`Graph::ring`]`(n, k)`, then each lattice edge `(i, i + j)`
    /// (for `j = 1..=k`, then `i = 0..n`) is rewired with probability `beta` to `(i, w)`, `w`
    /// uniform among the nodes that are neither `i` nor already its neighbours.
    ///
    /// The number of edges stays `n * k`; `beta` must be in `[0, 1]`.
    pub fn watts_strogatz(n: usize, k: usize, beta: f64, seed: u64) -> Result<Self> {
        check_ring(n, k)?;
        if !(0.0..=1.0).contains(&beta) {
            return Err(CoreError::invalid(
                "beta",
                format!("must be in [0, 1], got {beta}"),
            ));
        }
        // The lattice, a list of neighbours per node (about 40 bytes of headers a node) and the
        // rewired pairs.
        check_memory(n, 3 * n * k, 48)?;
        let lattice = Self::ring(n, k)?;
        let request = nodes(n);
        let mut adj: Vec<Vec<u32>> = memory::with_capacity(request, n)?;
        for i in 0..n {
            adj.push(memory::copied(request, lattice.row(i))?);
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        for j in 1..=k {
            for u in 0..n {
                if unit_f64(&mut rng) >= beta || adj[u].len() >= n - 1 {
                    continue;
                }
                let v = ((u + j) % n) as u32;
                // A non-neighbour exists because deg(u) < n - 1.
                let w = loop {
                    let w = below(&mut rng, n as u64) as u32;
                    if w as usize != u && !adj[u].contains(&w) {
                        break w;
                    }
                };
                remove_value(&mut adj[u], v);
                remove_value(&mut adj[v as usize], u as u32);
                adj[u].push(w);
                adj[w as usize].push(u as u32);
            }
        }
        drop(lattice);
        let mut pairs = memory::with_capacity(request, n * k)?;
        pairs.extend(adj.iter().enumerate().flat_map(|(u, row)| {
            row.iter()
                .filter(move |&&v| v as usize > u)
                .map(move |&v| (u as u32, v))
        }));
        drop(adj);
        Self::from_pairs(n, &pairs)
    }

    /// Number of nodes.
    #[must_use]
    pub fn num_nodes(&self) -> usize {
        self.n
    }

    /// Number of undirected edges (half the stored adjacency entries).
    #[must_use]
    pub fn num_edges(&self) -> usize {
        self.indices.len() / 2
    }

    /// Row pointers, `n + 1` entries: node `i`'s neighbours are `indices[indptr[i]..indptr[i + 1]]`.
    #[must_use]
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column indices of the symmetric adjacency, sorted ascending within each row.
    #[must_use]
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// The degree of every node.
    #[must_use]
    pub fn degrees(&self) -> Vec<u32> {
        self.indptr
            .windows(2)
            .map(|w| (w[1] - w[0]) as u32)
            .collect()
    }

    /// The largest degree (0 for a graph without edges).
    #[must_use]
    pub fn max_degree(&self) -> u32 {
        self.indptr
            .windows(2)
            .map(|w| (w[1] - w[0]) as u32)
            .max()
            .unwrap_or(0)
    }

    /// Connected components: `(count, label of each node)`. Labels are `0..count`, numbered in
    /// order of each component's smallest node.
    #[must_use]
    pub fn component_labels(&self) -> (usize, Vec<u32>) {
        let mut labels = vec![UNSEEN; self.n];
        let mut queue = Vec::new();
        let mut count = 0;
        for root in 0..self.n {
            if labels[root] != UNSEEN {
                continue;
            }
            let label = count as u32;
            count += 1;
            labels[root] = label;
            queue.clear();
            queue.push(root as u32);
            let mut head = 0;
            while let Some(&u) = queue.get(head) {
                head += 1;
                for &v in self.row(u as usize) {
                    if labels[v as usize] == UNSEEN {
                        labels[v as usize] = label;
                        queue.push(v);
                    }
                }
            }
        }
        (count, labels)
    }

    /// Whether the graph has exactly one connected component.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.component_labels().0 == 1
    }

    /// The reverse Cuthill–McKee ordering, as `order[new] = old`.
    ///
    /// Each component (in order of its smallest node) is traversed breadth first from a
    /// pseudo-peripheral node (George–Liu sweeps), visiting unplaced neighbours by ascending degree
    /// (ties by index); the concatenated order is then reversed. Relabelling with
    /// [`Graph::permuted`] gives a small bandwidth, so the consensus gathers touch nearby memory.
    #[must_use]
    pub fn rcm_order(&self) -> Vec<u32> {
        let degree = self.degrees();
        let mut order: Vec<u32> = Vec::with_capacity(self.n);
        let mut placed = vec![false; self.n];
        let mut level = vec![UNSEEN; self.n];
        let mut queue = Vec::new();
        let mut fresh = Vec::new();
        for root in 0..self.n {
            if placed[root] {
                continue;
            }
            let start = self.pseudo_peripheral(root, &degree, &mut level, &mut queue);
            placed[start] = true;
            order.push(start as u32);
            let mut head = order.len() - 1;
            while let Some(&u) = order.get(head) {
                head += 1;
                fresh.clear();
                fresh.extend(
                    self.row(u as usize)
                        .iter()
                        .filter(|&&v| !placed[v as usize]),
                );
                fresh.sort_unstable_by_key(|&v| (degree[v as usize], v));
                for &v in &fresh {
                    placed[v as usize] = true;
                }
                order.extend_from_slice(&fresh);
            }
        }
        order.reverse();
        order
    }

    /// The same graph with nodes relabelled: new node `i` is old node `order[i]`.
    ///
    /// `order` must be a permutation of `0..n` (wrong length: [`CoreError::Shape`]; repeated or
    /// out-of-range entries: [`CoreError::InvalidValue`] named `order`).
    pub fn permuted(&self, order: &[u32]) -> Result<Self> {
        let n = self.n;
        check_len("order", order, n)?;
        let request = nodes(n);
        let mut new_label = memory::filled(request, n, UNSEEN)?;
        for (new, &old) in order.iter().enumerate() {
            let slot = new_label.get_mut(old as usize).ok_or_else(|| {
                CoreError::invalid("order", format!("order[{new}] = {old} is outside 0..{n}"))
            })?;
            if *slot != UNSEEN {
                return Err(CoreError::invalid(
                    "order",
                    format!("{old} appears twice; order must be a permutation of 0..{n}"),
                ));
            }
            *slot = new as u32;
        }
        let mut indptr = memory::with_capacity(request, n + 1)?;
        let mut indices = memory::with_capacity(request, self.indices.len())?;
        indptr.push(0);
        for &old in order {
            let start = indices.len();
            indices.extend(
                self.row(old as usize)
                    .iter()
                    .map(|&j| new_label[j as usize]),
            );
            indices[start..].sort_unstable();
            indptr.push(indices.len());
        }
        Ok(Self { n, indptr, indices })
    }

    /// The bandwidth `max |i - j|` over all edges `{i, j}` (0 without edges).
    #[must_use]
    pub fn bandwidth(&self) -> usize {
        (0..self.n)
            .filter_map(|i| {
                let row = self.row(i);
                let (&lo, &hi) = (row.first()?, row.last()?);
                Some(i.abs_diff(lo as usize).max(i.abs_diff(hi as usize)))
            })
            .max()
            .unwrap_or(0)
    }

    /// The neighbours of node `i`.
    fn row(&self, i: usize) -> &[u32] {
        &self.indices[self.indptr[i]..self.indptr[i + 1]]
    }

    /// The canonical graph with the undirected edges `pairs` (endpoints `< n`; self loops and
    /// duplicates allowed). Counting sort into rows, then [`Graph::canonical`]: `O(n + m log d)`.
    fn from_pairs(n: usize, pairs: &[(u32, u32)]) -> Result<Self> {
        let request = nodes(n);
        let mut indptr = memory::filled(request, n + 1, 0usize)?;
        for &(u, v) in pairs {
            indptr[u as usize + 1] += 1;
            indptr[v as usize + 1] += 1;
        }
        for i in 0..n {
            indptr[i + 1] += indptr[i];
        }
        let mut next = memory::copied(request, &indptr[..n])?;
        let mut indices = memory::filled(request, indptr[n], 0u32)?;
        for &(u, v) in pairs {
            indices[next[u as usize]] = v;
            next[u as usize] += 1;
            indices[next[v as usize]] = u;
            next[v as usize] += 1;
        }
        Ok(Self::canonical(n, indptr, indices))
    }

    /// Sorts every row and drops self loops and duplicates, compacting `indices` in place.
    /// Symmetry is the caller's business.
    fn canonical(n: usize, mut indptr: Vec<usize>, mut indices: Vec<u32>) -> Self {
        let mut write = 0;
        let mut start = 0;
        for i in 0..n {
            let end = indptr[i + 1];
            indices[start..end].sort_unstable();
            let row_start = write;
            // `write <= read` throughout, so the compaction never clobbers unread entries.
            for read in start..end {
                let v = indices[read];
                if v as usize != i && (write == row_start || indices[write - 1] != v) {
                    indices[write] = v;
                    write += 1;
                }
            }
            indptr[i + 1] = write;
            start = end;
        }
        indices.truncate(write);
        Self { n, indptr, indices }
    }

    /// The first stored entry `(i, j)` whose mirror `(j, i)` is missing, if any (rows sorted).
    fn first_asymmetric_entry(&self) -> Option<(usize, u32)> {
        (0..self.n).find_map(|i| {
            self.row(i)
                .iter()
                .find(|&&j| self.row(j as usize).binary_search(&(i as u32)).is_err())
                .map(|&j| (i, j))
        })
    }

    /// Breadth-first search from `root`: returns the eccentricity of `root` and the node of
    /// smallest degree (ties by index) in the last level. `level` must be all `UNSEEN` on entry
    /// and is restored before returning; `queue` is scratch.
    fn farthest_level(
        &self,
        root: usize,
        degree: &[u32],
        level: &mut [u32],
        queue: &mut Vec<u32>,
    ) -> (u32, usize) {
        queue.clear();
        queue.push(root as u32);
        level[root] = 0;
        let mut head = 0;
        while let Some(&u) = queue.get(head) {
            head += 1;
            let next = level[u as usize] + 1;
            for &v in self.row(u as usize) {
                if level[v as usize] == UNSEEN {
                    level[v as usize] = next;
                    queue.push(v);
                }
            }
        }
        let last = queue.last().map_or(root as u32, |&u| u);
        let eccentricity = level[last as usize];
        let far = queue
            .iter()
            .rev()
            .take_while(|&&u| level[u as usize] == eccentricity)
            .min_by_key(|&&u| (degree[u as usize], u))
            .map_or(root, |&u| u as usize);
        for &u in queue.iter() {
            level[u as usize] = UNSEEN;
        }
        (eccentricity, far)
    }

    /// A pseudo-peripheral node of `root`'s component (George & Liu 1979): jump to a
    /// minimum-degree node of the last BFS level while that increases the eccentricity.
    fn pseudo_peripheral(
        &self,
        root: usize,
        degree: &[u32],
        level: &mut [u32],
        queue: &mut Vec<u32>,
    ) -> usize {
        let mut best = root;
        let (mut eccentricity, mut far) = self.farthest_level(root, degree, level, queue);
        for _ in 0..MAX_PERIPHERAL_SWEEPS {
            let (e, next_far) = self.farthest_level(far, degree, level, queue);
            if e <= eccentricity {
                break;
            }
            (best, eccentricity, far) = (far, e, next_far);
        }
        best
    }
}

/// Points bucketed into square cells of side `>= radius`, so every pair within `radius` lies in
/// the same or adjacent cells. At most about `n` cells, whatever the radius.
struct CellList {
    nx: usize,
    ny: usize,
    /// `members[start[c]..start[c + 1]]` are the points in cell `c = cx + nx * cy`, ascending.
    start: Vec<usize>,
    members: Vec<u32>,
}

impl CellList {
    fn new(xy: &[[f64; 2]], radius: f64) -> Result<Self> {
        let (lo, hi) = xy.iter().fold(
            ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]),
            |(lo, hi), p| {
                (
                    [lo[0].min(p[0]), lo[1].min(p[1])],
                    [hi[0].max(p[0]), hi[1].max(p[1])],
                )
            },
        );
        let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]);
        let per_axis = (xy.len() as f64).sqrt().ceil().max(1.0);
        let mut side = radius.max(extent / per_axis);
        if side <= 0.0 {
            side = 1.0; // all points coincide and radius == 0: one cell
        }
        let nx = ((hi[0] - lo[0]) / side) as usize + 1;
        let ny = ((hi[1] - lo[1]) / side) as usize + 1;
        let cell_of = |p: &[f64; 2]| {
            let cx = (((p[0] - lo[0]) / side) as usize).min(nx - 1);
            let cy = (((p[1] - lo[1]) / side) as usize).min(ny - 1);
            cx + nx * cy
        };
        let request = nodes(xy.len());
        let mut start = memory::filled(request, nx * ny + 1, 0usize)?;
        for p in xy {
            start[cell_of(p) + 1] += 1;
        }
        for c in 0..nx * ny {
            start[c + 1] += start[c];
        }
        let mut next = memory::copied(request, &start)?;
        let mut members = memory::filled(request, xy.len(), 0u32)?;
        for (i, p) in xy.iter().enumerate() {
            let c = cell_of(p);
            members[next[c]] = i as u32;
            next[c] += 1;
        }
        Ok(Self {
            nx,
            ny,
            start,
            members,
        })
    }

    fn members(&self, cx: usize, cy: usize) -> &[u32] {
        let c = cx + self.nx * cy;
        &self.members[self.start[c]..self.start[c + 1]]
    }

    /// The cell at offset `(dx, dy)` from `(cx, cy)`, if it exists.
    fn neighbour(&self, cx: usize, cy: usize, dx: isize, dy: isize) -> Option<&[u32]> {
        let x = cx.checked_add_signed(dx).filter(|&x| x < self.nx)?;
        let y = cy.checked_add_signed(dy).filter(|&y| y < self.ny)?;
        Some(self.members(x, y))
    }
}

/// Checks `1 <= n <= u32::MAX` (node indices are `u32`).
fn check_num_nodes(n: usize) -> Result<()> {
    if n == 0 {
        return Err(CoreError::invalid("num_nodes", "must be >= 1"));
    }
    if u32::try_from(n).is_err() {
        return Err(CoreError::invalid(
            "num_nodes",
            format!("must be <= {} (node indices are u32), got {n}", u32::MAX),
        ));
    }
    Ok(())
}

/// What a graph's buffers are for, in a [`CoreError::Memory`]: its `n` nodes.
fn nodes(n: usize) -> Request {
    Request::new("num_nodes", n, "nodes")
}

/// Refuses to build a graph on `n` nodes from `pairs` undirected pairs when its peak memory would
/// exceed what the machine has: the pairs (8 bytes each), the CSR rows being filled (16 bytes a
/// node, 8 bytes a pair) and `per_node` bytes of the generator's own per node.
fn check_memory(n: usize, pairs: usize, per_node: u64) -> Result<()> {
    let (n, pairs) = (n as u64, pairs as u64);
    let bytes = n
        .saturating_mul(16 + per_node)
        .saturating_add(pairs.saturating_mul(16));
    memory::check(nodes(n as usize), bytes)
}

/// Refuses generators whose adjacency would exceed [`MAX_ADJACENCY_ENTRIES`].
fn check_entries(entries: usize) -> Result<()> {
    if entries > MAX_ADJACENCY_ENTRIES {
        return Err(CoreError::invalid(
            "num_edges",
            format!(
                "the graph would hold {entries} adjacency entries, more than the limit of \
                 {MAX_ADJACENCY_ENTRIES}"
            ),
        ));
    }
    Ok(())
}

/// Validates the ring-lattice parameters shared by [`Graph::ring`] and [`Graph::watts_strogatz`].
fn check_ring(n: usize, k: usize) -> Result<()> {
    check_num_nodes(n)?;
    if n < 3 {
        return Err(CoreError::invalid(
            "num_nodes",
            format!("a ring needs >= 3 nodes, got {n}"),
        ));
    }
    if k == 0 || 2 * k >= n {
        return Err(CoreError::invalid(
            "k",
            format!("must satisfy 1 <= k and 2k < num_nodes = {n}, got {k}"),
        ));
    }
    check_entries(n.saturating_mul(2 * k))
}

/// Appends the edges of `G(n, p)` as pairs `(v, w)` with `w < v`: Batagelj–Brandes geometric
/// skipping over the pairs in the order `(1, 0), (2, 0), (2, 1), (3, 0), ...`.
fn push_gnp_pairs(
    n: usize,
    p: f64,
    rng: &mut Xoshiro256PlusPlus,
    pairs: &mut Vec<(u32, u32)>,
) -> Result<()> {
    if p <= 0.0 {
        return Ok(());
    }
    let request = nodes(n);
    // ln(1 - p) is -inf for p = 1, which makes every skip 0: all pairs, as it should.
    let log_q = (-p).ln_1p();
    let n = n as u64;
    let (mut v, mut w_next) = (1u64, 0u64);
    loop {
        // Number of pairs skipped before the next edge: floor(ln(1 - r) / ln(1 - p)), r in [0, 1).
        // The float-to-int cast saturates, and a saturated skip ends the loop below.
        let skip = ((-unit_f64(rng)).ln_1p() / log_q).floor() as u64;
        let mut w = w_next.saturating_add(skip);
        while v < n && w >= v {
            w -= v;
            v += 1;
        }
        if v >= n {
            return Ok(());
        }
        memory::push(request, pairs, (v as u32, w as u32))?;
        w_next = w + 1;
    }
}

/// A uniformly random permutation of `0..n` (Fisher–Yates).
fn random_permutation(n: usize, rng: &mut Xoshiro256PlusPlus) -> Result<Vec<u32>> {
    let mut perm = memory::with_capacity(nodes(n), n)?;
    perm.extend(0..n as u32);
    for i in (1..n).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        perm.swap(i, j);
    }
    Ok(perm)
}

/// A uniform `f64` in `[0, 1)` with 53 random bits.
pub(crate) fn unit_f64(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `0..bound` by Lemire's multiply-shift (bias below `bound / 2^64`).
fn below(rng: &mut Xoshiro256PlusPlus, bound: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(bound)) >> 64) as u64
}

/// Removes one occurrence of `value` from an unordered list.
fn remove_value(list: &mut Vec<u32>, value: u32) {
    if let Some(k) = list.iter().position(|&x| x == value) {
        list.swap_remove(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Asserts the canonical form every constructor promises.
    fn assert_canonical(g: &Graph) {
        let n = g.num_nodes();
        assert_eq!(g.indptr().len(), n + 1);
        assert_eq!(g.indptr()[0], 0);
        assert_eq!(g.indptr()[n], g.indices().len());
        for i in 0..n {
            let row = g.row(i);
            assert!(
                row.windows(2).all(|w| w[0] < w[1]),
                "row {i} not strictly sorted"
            );
            for &j in row {
                assert!((j as usize) < n, "index out of range");
                assert_ne!(j as usize, i, "self loop at {i}");
                assert!(
                    g.row(j as usize).binary_search(&(i as u32)).is_ok(),
                    "asymmetric"
                );
            }
        }
        assert_eq!(g.indices().len() % 2, 0);
    }

    fn edge_set(g: &Graph) -> std::collections::BTreeSet<(u32, u32)> {
        (0..g.num_nodes())
            .flat_map(|i| g.row(i).iter().map(move |&j| (i as u32, j)))
            .collect()
    }

    /// A graph on `1..max_n` nodes with arbitrary (possibly looped, duplicated) edge lists.
    fn arb_edges(max_n: usize) -> impl Strategy<Value = (usize, Vec<(u32, u32)>)> {
        (1..max_n).prop_flat_map(|n| {
            let node = 0..n as u32;
            (Just(n), vec((node.clone(), node), 0..4 * n))
        })
    }

    #[test]
    fn from_edges_drops_loops_and_duplicates() {
        let g = Graph::from_edges(4, &[(0, 1), (1, 0), (2, 2), (3, 1), (0, 1)]).unwrap();
        assert_canonical(&g);
        assert_eq!(g.indptr(), &[0, 1, 3, 3, 4]);
        assert_eq!(g.indices(), &[1, 0, 3, 1]);
        assert_eq!(g.num_edges(), 2);
        assert_eq!(g.degrees(), vec![1, 2, 0, 1]);
        assert_eq!(g.max_degree(), 2);
    }

    #[test]
    fn from_edges_rejects_bad_input() {
        assert!(matches!(
            Graph::from_edges(3, &[(0, 3)]),
            Err(CoreError::InvalidGraph(_))
        ));
        assert!(matches!(
            Graph::from_edges(0, &[]),
            Err(CoreError::InvalidValue {
                name: "num_nodes",
                ..
            })
        ));
    }

    #[test]
    fn from_csr_accepts_unsorted_symmetric_patterns() {
        // Row 0: [2, 1, 0, 1] (diagonal and duplicate), row 1: [0], row 2: [0].
        let g = Graph::from_csr(3, &[0, 4, 5, 6], &[2, 1, 0, 1, 0, 0]).unwrap();
        assert_canonical(&g);
        assert_eq!(g, Graph::from_edges(3, &[(0, 1), (0, 2)]).unwrap());
    }

    #[test]
    fn from_csr_rejects_malformed_input() {
        let graph_err = |indptr: &[usize], indices: &[u32]| {
            matches!(
                Graph::from_csr(3, indptr, indices),
                Err(CoreError::InvalidGraph(_))
            )
        };
        assert!(graph_err(&[0, 1, 2], &[1, 0])); // too short
        assert!(graph_err(&[1, 1, 2, 2], &[1, 0])); // does not start at 0
        assert!(graph_err(&[0, 2, 1, 2], &[1, 0])); // decreasing
        assert!(graph_err(&[0, 1, 2, 3], &[1, 0])); // last != len(indices)
        assert!(graph_err(&[0, 1, 2, 2], &[1, 3])); // column out of range
        assert!(graph_err(&[0, 1, 2, 2], &[1, u32::MAX])); // column far out of range
        assert!(graph_err(&[0, 1, 1, 1], &[1])); // asymmetric
        assert!(matches!(
            Graph::from_csr(0, &[0], &[]),
            Err(CoreError::InvalidValue {
                name: "num_nodes",
                ..
            })
        ));
    }

    #[test]
    fn ring_grid_and_complete_have_the_expected_degrees() {
        let ring = Graph::ring(10, 3).unwrap();
        assert_canonical(&ring);
        assert!(ring.degrees().iter().all(|&d| d == 6));
        assert_eq!(ring.num_edges(), 30);
        assert_eq!(ring.row(0), &[1, 2, 3, 7, 8, 9]);

        let grid = Graph::grid_2d(4, 5).unwrap();
        assert_canonical(&grid);
        assert_eq!(grid.num_edges(), 4 * 4 + 5 * 3);
        let d = grid.degrees();
        assert_eq!((d[0], d[4], d[15], d[19]), (2, 2, 2, 2)); // corners
        assert_eq!((d[1], d[5]), (3, 3)); // borders
        assert_eq!(d[6], 4); // interior
        assert_eq!(Graph::grid_2d(1, 1).unwrap().num_edges(), 0);

        let complete = Graph::complete(7).unwrap();
        assert_canonical(&complete);
        assert!(complete.degrees().iter().all(|&d| d == 6));
        assert_eq!(complete.num_edges(), 21);
        assert_eq!(Graph::complete(1).unwrap().num_edges(), 0);
    }

    #[test]
    fn generators_reject_bad_parameters() {
        let name = |r: Result<Graph>| match r {
            Err(CoreError::InvalidValue { name, .. }) => name,
            other => panic!("expected InvalidValue, got {other:?}"),
        };
        assert_eq!(name(Graph::ring(2, 1)), "num_nodes");
        assert_eq!(name(Graph::ring(6, 0)), "k");
        assert_eq!(name(Graph::ring(6, 3)), "k");
        assert_eq!(name(Graph::grid_2d(0, 3)), "rows");
        assert_eq!(name(Graph::grid_2d(3, 0)), "cols");
        assert_eq!(name(Graph::complete(0)), "num_nodes");
        assert_eq!(name(Graph::complete(MAX_COMPLETE_NODES + 1)), "num_nodes");
        assert_eq!(name(Graph::erdos_renyi(0, 1.0, 0, false)), "num_nodes");
        assert_eq!(name(Graph::erdos_renyi(10, -1.0, 0, false)), "mean_degree");
        assert_eq!(name(Graph::erdos_renyi(10, 9.5, 0, false)), "mean_degree");
        assert_eq!(
            name(Graph::erdos_renyi(10, f64::NAN, 0, true)),
            "mean_degree"
        );
        assert_eq!(
            name(Graph::erdos_renyi(4_000_000_000, 300.0, 0, true)),
            "num_edges"
        );
        assert_eq!(name(Graph::random_geometric(0, 0.1, 0)), "num_nodes");
        assert_eq!(
            name(Graph::geometric_from_points(&[0.0, 0.0], -1.0)),
            "radius"
        );
        assert_eq!(
            name(Graph::geometric_from_points(&[f32::NAN, 0.0], 1.0)),
            "points"
        );
        assert_eq!(name(Graph::watts_strogatz(10, 2, 1.5, 0)), "beta");
        assert_eq!(name(Graph::watts_strogatz(10, 5, 0.5, 0)), "k");
        assert!(matches!(
            Graph::geometric_from_points(&[0.0, 0.0, 1.0], 1.0),
            Err(CoreError::Shape { name: "points", .. })
        ));
    }

    #[test]
    fn erdos_renyi_has_the_requested_mean_degree() {
        let n = 20_000;
        for connected in [false, true] {
            let g = Graph::erdos_renyi(n, 6.0, 3, connected).unwrap();
            assert_canonical(&g);
            let mean = 2.0 * g.num_edges() as f64 / n as f64;
            assert!(
                (mean - 6.0).abs() < 0.15,
                "connected={connected}: mean degree {mean}"
            );
        }
        assert!(Graph::erdos_renyi(n, 6.0, 3, true).unwrap().is_connected());
    }

    #[test]
    fn erdos_renyi_edge_cases() {
        assert_eq!(Graph::erdos_renyi(1, 0.0, 0, true).unwrap().num_edges(), 0);
        assert_eq!(Graph::erdos_renyi(2, 1.0, 0, false).unwrap().num_edges(), 1);
        assert_eq!(Graph::erdos_renyi(2, 0.0, 0, true).unwrap().num_edges(), 1);
        assert_eq!(
            Graph::erdos_renyi(50, 0.0, 0, false).unwrap().num_edges(),
            0
        );
        assert_eq!(
            Graph::erdos_renyi(30, 29.0, 0, false).unwrap(),
            Graph::complete(30).unwrap()
        );
        let cycle = Graph::erdos_renyi(40, 2.0, 9, true).unwrap();
        assert!(cycle.is_connected() && cycle.degrees().iter().all(|&d| d == 2));
    }

    #[test]
    fn erdos_renyi_is_reproducible() {
        let a = Graph::erdos_renyi(500, 4.0, 11, false).unwrap();
        assert_eq!(a, Graph::erdos_renyi(500, 4.0, 11, false).unwrap());
        assert_ne!(a, Graph::erdos_renyi(500, 4.0, 12, false).unwrap());
    }

    #[test]
    fn a_graph_beyond_the_machines_memory_is_an_error_before_allocating() {
        let n = u32::MAX as usize;
        let need = 16 * n as u64;
        if crate::memory::available()
            .unwrap()
            .is_some_and(|have| have < need)
        {
            for result in [
                Graph::from_edges(n, &[(0, 1)]),
                Graph::random_geometric(n, 0.0, 0),
                Graph::erdos_renyi(n, 0.0, 0, false),
            ] {
                let e = result.unwrap_err();
                assert!(
                    e.to_string()
                        .starts_with("num_nodes: 4,294,967,295 nodes need ~"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn random_points_are_in_the_unit_square() {
        let p = Graph::random_points(1000, 5).unwrap();
        assert_eq!(p.len(), 2000);
        assert!(p.iter().all(|&x| (0.0..1.0).contains(&x)));
        assert_eq!(p, Graph::random_points(1000, 5).unwrap());
        let g = Graph::random_geometric(1000, 0.05, 5).unwrap();
        assert_eq!(g, Graph::geometric_from_points(&p, 0.05).unwrap());
    }

    #[test]
    fn geometric_handles_coincident_points_and_zero_radius() {
        let g = Graph::geometric_from_points(&[0.5, 0.5, 0.5, 0.5, 0.7, 0.5], 0.0).unwrap();
        assert_eq!(g, Graph::from_edges(3, &[(0, 1)]).unwrap());
        let g = Graph::geometric_from_points(&[0.0, 0.0, 0.0, 0.25], 0.25).unwrap();
        assert_eq!(g.num_edges(), 1, "distance == radius is an edge");
    }

    #[test]
    fn watts_strogatz_without_rewiring_is_the_ring() {
        assert_eq!(
            Graph::watts_strogatz(12, 2, 0.0, 1).unwrap(),
            Graph::ring(12, 2).unwrap()
        );
    }

    #[test]
    fn components_are_labelled_by_smallest_node() {
        // {0, 3}, {1}, {2, 4, 5}
        let g = Graph::from_edges(6, &[(3, 0), (2, 5), (4, 5)]).unwrap();
        assert_eq!(g.component_labels(), (3, vec![0, 1, 2, 0, 2, 2]));
        assert!(!g.is_connected());
        assert!(Graph::ring(5, 1).unwrap().is_connected());
        assert!(Graph::from_edges(1, &[]).unwrap().is_connected());
    }

    #[test]
    fn bandwidth_of_small_graphs() {
        assert_eq!(Graph::ring(8, 1).unwrap().bandwidth(), 7);
        assert_eq!(Graph::grid_2d(5, 3).unwrap().bandwidth(), 3);
        assert_eq!(Graph::from_edges(3, &[]).unwrap().bandwidth(), 0);
    }

    #[test]
    fn rcm_restores_a_small_bandwidth_on_a_shuffled_grid() {
        let (rows, cols) = (60, 12);
        let grid = Graph::grid_2d(rows, cols).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let shuffled = grid
            .permuted(&random_permutation(rows * cols, &mut rng).unwrap())
            .unwrap();
        assert!(shuffled.bandwidth() > 10 * cols);
        let order = shuffled.rcm_order();
        let rcm = shuffled.permuted(&order).unwrap();
        assert!(
            rcm.bandwidth() <= 2 * cols,
            "rcm bandwidth {}",
            rcm.bandwidth()
        );
    }

    #[test]
    fn permuted_rejects_non_permutations() {
        let g = Graph::ring(4, 1).unwrap();
        assert!(matches!(
            g.permuted(&[0, 1, 2]),
            Err(CoreError::Shape { name: "order", .. })
        ));
        assert!(matches!(
            g.permuted(&[0, 1, 1, 2]),
            Err(CoreError::InvalidValue { name: "order", .. })
        ));
        assert!(matches!(
            g.permuted(&[0, 1, 2, 4]),
            Err(CoreError::InvalidValue { name: "order", .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn from_edges_is_canonical_and_round_trips_through_csr((n, edges) in arb_edges(40)) {
            let g = Graph::from_edges(n, &edges).unwrap();
            assert_canonical(&g);
            let expected: std::collections::BTreeSet<(u32, u32)> = edges
                .iter()
                .filter(|(u, v)| u != v)
                .flat_map(|&(u, v)| [(u, v), (v, u)])
                .collect();
            prop_assert_eq!(edge_set(&g), expected);
            prop_assert_eq!(Graph::from_csr(n, g.indptr(), g.indices()).unwrap(), g);
        }

        #[test]
        fn random_generators_are_canonical(n in 3usize..80, seed: u64, beta in 0.0f64..=1.0) {
            let mean = (seed % 7) as f64 % (n - 1) as f64;
            let er = Graph::erdos_renyi(n, mean, seed, false).unwrap();
            assert_canonical(&er);
            let connected = Graph::erdos_renyi(n, mean.min(2.5), seed, true).unwrap();
            assert_canonical(&connected);
            prop_assert!(connected.is_connected());
            assert_canonical(&Graph::random_geometric(n, 0.3, seed).unwrap());
            let k = 1 + (seed as usize % ((n - 1) / 2));
            let ws = Graph::watts_strogatz(n, k, beta, seed).unwrap();
            assert_canonical(&ws);
            prop_assert_eq!(ws.num_edges(), n * k);
            assert_canonical(&Graph::ring(n, k).unwrap());
        }

        #[test]
        fn geometric_matches_brute_force(
            points in vec(-2.0f32..2.0, 2..120).prop_map(|mut p| { p.truncate(p.len() / 2 * 2); p }),
            radius in 0.0f64..1.5,
        ) {
            let n = points.len() / 2;
            let mut edges = Vec::new();
            for a in 0..n {
                for b in a + 1..n {
                    let dx = f64::from(points[2 * a]) - f64::from(points[2 * b]);
                    let dy = f64::from(points[2 * a + 1]) - f64::from(points[2 * b + 1]);
                    if dx * dx + dy * dy <= radius * radius {
                        edges.push((a as u32, b as u32));
                    }
                }
            }
            let g = Graph::geometric_from_points(&points, radius).unwrap();
            assert_canonical(&g);
            prop_assert_eq!(g, Graph::from_edges(n, &edges).unwrap());
        }

        #[test]
        fn rcm_is_a_permutation_and_permuted_an_isomorphism((n, edges) in arb_edges(50)) {
            let g = Graph::from_edges(n, &edges).unwrap();
            let order = g.rcm_order();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..n as u32).collect::<Vec<_>>());
            let h = g.permuted(&order).unwrap();
            assert_canonical(&h);
            prop_assert_eq!(h.num_edges(), g.num_edges());
            let mapped: std::collections::BTreeSet<(u32, u32)> = edge_set(&h)
                .into_iter()
                .map(|(i, j)| (order[i as usize], order[j as usize]))
                .collect();
            prop_assert_eq!(mapped, edge_set(&g));
            prop_assert_eq!(h.component_labels().0, g.component_labels().0);
        }
    }
}
