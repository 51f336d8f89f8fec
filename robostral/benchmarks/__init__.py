"""What the scripts under bench/ share: publishing a result into BENCHMARKS.md, and child processes."""
