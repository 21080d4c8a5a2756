//! Dynamic average tracking: each agent follows the network average of a changing signal.

use super::Weights;
use crate::error::Result;
use crate::interrupt::Interrupt;

impl Weights {
    /// Dynamic average tracking: `y <- W^rounds y + (g_new - g_old)`, all row-major `[n, cols]`
    /// (validated by [`Weights::check_track`]).
    ///
    /// If `y` starts at `g` and the signals change from `g_old` to `g_new` between calls, the
    /// column means of `y` always equal those of the current signal. If `interrupt` stops the
    /// rounds, its error is returned and `y` is mixed part way, without the signal change.
    pub(super) fn track(
        &self,
        y: &mut [f32],
        g_new: &[f32],
        g_old: &[f32],
        cols: usize,
        rounds: usize,
        interrupt: &dyn Interrupt,
    ) -> Result<()> {
        self.mix(y, cols, rounds, interrupt)?;
        for ((y, &new), &old) in y.iter_mut().zip(g_new).zip(g_old) {
            *y += new - old;
        }
        Ok(())
    }

    /// Checks the blocks of [`Weights::track`] as [`Weights::check_block`] does, with the names
    /// `y`, `g_new` and `g_old`.
    pub(super) fn check_track(
        &self,
        y: &[f32],
        g_new: &[f32],
        g_old: &[f32],
        cols: usize,
    ) -> Result<()> {
        self.check_block("y", y, cols)?;
        self.check_block("g_new", g_new, cols)?;
        self.check_block("g_old", g_old, cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_support::*;
    use crate::graph::Graph;
    use crate::interrupt::Never;

    #[test]
    fn track_is_mix_plus_the_signal_change() {
        let w = Weights::metropolis(&Graph::erdos_renyi(100, 4.0, 1, true).unwrap()).unwrap();
        let (g_old, g_new) = (random_values(200, 1), random_values(200, 2));
        let mut y = random_values(200, 3);
        let mut expected = y.clone();
        w.mix(&mut expected, 2, 3, &Never).unwrap();
        for ((e, &new), &old) in expected.iter_mut().zip(&g_new).zip(&g_old) {
            *e += new - old;
        }
        w.track(&mut y, &g_new, &g_old, 2, 3, &Never).unwrap();
        assert_eq!(y, expected);
    }
}
