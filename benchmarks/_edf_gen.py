"""Write a large plain EDF quickly for benchmarks (16 channels, 1-s records, int16)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = ["F4-M1", "C4-M1", "O2-M1", "F3-M2", "C3-M2", "O1-M2", "E1-M2", "E2-M2", "Chin1-Chin2",
          "LLeg", "RLeg", "ECG", "Airflow", "Thor", "Abdo", "Snore"]


def write_benchmark_edf(path: str | Path, hours: float = 8.0, rate: int = 256, n_channels: int = 16,
                        seed: int = 0, labels: list[str] | None = None) -> Path:
    """An ``hours``-long EDF with ``n_channels`` at ``rate`` Hz of band-limited noise, named
    ``labels`` (default: the PSG :data:`LABELS`, repeated)."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    n_rec = int(hours * 3600)
    labels = labels or LABELS
    labels = (labels * (n_channels // len(labels) + 1))[:n_channels]
    ns = n_channels

    def f(v, w):
        return str(v).encode()[:w].ljust(w)

    head = f("0", 8) + f("X X X X", 80) + f("Startdate 01-JAN-2024 X X X", 80) + f("01.01.24", 8)
    head += f("22.00.00", 8) + f(256 * (ns + 1), 8) + f("", 44) + f(n_rec, 8) + f(1, 8) + f(ns, 4)
    head += b"".join(f(l, 16) for l in labels) + b"".join(f("", 80) for _ in range(ns))
    head += b"".join(f("uV", 8) for _ in range(ns))
    head += b"".join(f(-500, 8) for _ in range(ns)) + b"".join(f(500, 8) for _ in range(ns))
    head += b"".join(f(-32768, 8) for _ in range(ns)) + b"".join(f(32767, 8) for _ in range(ns))
    head += b"".join(f("", 80) for _ in range(ns)) + b"".join(f(rate, 8) for _ in range(ns))
    head += b"".join(f("", 32) for _ in range(ns))
    with open(path, "wb") as fh:
        fh.write(head)
        block = 600  # records per write
        for r0 in range(0, n_rec, block):
            nb = min(block, n_rec - r0)
            walk = np.cumsum(rng.normal(0, 300, (nb, ns, rate)), axis=-1)
            walk -= walk.mean(axis=-1, keepdims=True)
            x = np.clip(walk + rng.normal(0, 800, (nb, ns, rate)), -32768, 32767).astype("<i2")
            fh.write(x.tobytes())
    return path
