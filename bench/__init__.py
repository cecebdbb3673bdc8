"""On-demand benchmarks: run with `make bench`; they print figures and never run in the test suite."""
