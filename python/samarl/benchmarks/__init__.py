"""Benchmarks of the engine against NumPy/SciPy, as measured ratios (``samarl bench kernels``).

- :mod:`~samarl.benchmarks.kernels`: env step and consensus rounds, Rust vs reference, on the same
  data in one process; medians of repeats;
- :mod:`~samarl.benchmarks.fused_env`: the fastest NumPy form of the env step, the baseline.
"""
