"""Range-read load on a gateway: CLIENTS threads GET random 4 KiB ranges of one blob
for SECONDS, and print requests/s and latency percentiles.

    python3 scripts/lib/range_load.py URL BLOB_SIZE CLIENTS SECONDS
"""
import http.client
import random
import sys
import threading
import time
import urllib.parse

url, size, clients, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
parts = urllib.parse.urlsplit(url)
latencies, errors, lock = [], [0], threading.Lock()
stop_at = time.monotonic() + seconds


def worker(seed):
    rng = random.Random(seed)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    while time.monotonic() < stop_at:
        start = rng.randrange(0, max(1, size - 4096))
        began = time.monotonic()
        try:
            conn.request("GET", parts.path, headers={"Range": f"bytes={start}-{start + 4095}"})
            response = conn.getresponse()
            body = response.read()
            ok = response.status == 206 and len(body) == min(4096, size - start)
        except OSError:
            ok = False
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        with lock:
            if ok:
                latencies.append(time.monotonic() - began)
            else:
                errors[0] += 1


threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0
print(f"range reads: {len(latencies) / seconds:.0f} req/s with {clients} clients, "
      f"p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, {errors[0]} errors")
print(f"range_reads_per_sec={len(latencies) / seconds:.1f}")
