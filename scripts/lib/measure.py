"""Runs a command and prints its wall time and peak resident memory.

    python3 scripts/lib/measure.py LABEL COMMAND ARGS...

The peak is the kernel's ru_maxrss of the waited-for child (exact, not sampled);
stdout of the command goes to /dev/null, its stderr passes through.
"""
import resource
import subprocess
import sys
import time

label, command = sys.argv[1], sys.argv[2:]
started = time.monotonic()
result = subprocess.run(command, stdout=subprocess.DEVNULL)
seconds = time.monotonic() - started
peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{label}: {seconds:.2f} s, peak RSS {peak_mib:.0f} MiB, exit {result.returncode}")
print(f"{label.replace(' ', '_')}_secs={seconds:.3f}")
sys.exit(result.returncode)
