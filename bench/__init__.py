"""Side-by-side benchmarks (service vs raw baseline) following performance.md section 8."""
