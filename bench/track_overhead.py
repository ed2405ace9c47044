"""Fixed cost of %%track on a trivial cell, measured in a real kernel (run on demand, not a test).

Alternates an untracked and a tracked trivial cell 50 times inside one ipykernel (each cell
goes through the kernel's real run_cell, history and display machinery) and reports the
median of each and of their difference.

    python bench/track_overhead.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from jupyter_client.manager import start_new_kernel

MEASURE = """
import json, statistics, time
_ip = get_ipython()
def _time(source):
    start = time.perf_counter()
    _ip.run_cell(source, store_history=True)
    return time.perf_counter() - start
for _ in range(5):  # warm caches: environment probe, store connection, git state
    _time("%%track trivial\\nx = 1")
_plain, _tracked = [], []
for _ in range({repeat}):
    _plain.append(_time("x = 1"))
    _tracked.append(_time("%%track trivial\\nx = 1"))
_result = {{"plain_ms": statistics.median(_plain) * 1e3, "tracked_ms": statistics.median(_tracked) * 1e3,
           "added_ms": statistics.median(t - p for t, p in zip(_tracked, _plain)) * 1e3}}
print("RESULT" + json.dumps(_result))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "JUPYTER_TRACKER_DB": os.path.join(folder, "tracker.db")}
        manager, client = start_new_kernel(kernel_name="python3", cwd=folder, env=env)
        try:
            lines = []

            def collect(message):
                if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
                    lines.append(message["content"]["text"])

            client.execute_interactive("%load_ext jupyter_tracker", timeout=60)
            client.execute_interactive(MEASURE.format(repeat=args.repeat), timeout=600, output_hook=collect)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    result = json.loads("".join(lines).split("RESULT", 1)[1].splitlines()[0])
    print(f"untracked trivial cell: {result['plain_ms']:.2f} ms (median of {args.repeat})")
    print(f"tracked trivial cell:   {result['tracked_ms']:.2f} ms")
    print(f"added by %%track:       {result['added_ms']:.2f} ms (median of paired differences)")


if __name__ == "__main__":
    main()
