#!/usr/bin/env python3
"""Times shell commands: median, p10 and p90 of N runs, in milliseconds.

usage: timeit.py N PREP CMD   (PREP runs untimed before each run; '' for none)
Prints one line: "median p10 p90".
"""
import statistics
import subprocess
import sys
import time

n, prep, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3]
samples = []
for _ in range(n):
    if prep:
        subprocess.run(prep, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL)
    t1 = time.perf_counter()
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {cmd}")
    samples.append((t1 - t0) * 1000)
samples.sort()
# One run (a quick look, RUNS=1) has no spread: p10 and p90 are the run.
q = statistics.quantiles(samples, n=10) if n > 1 else samples
print(f"{statistics.median(samples):.2f} {q[0]:.2f} {q[-1]:.2f}")
