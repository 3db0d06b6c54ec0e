"""The peer most users would pick: an mne-lsl ``StreamLSL`` consumer.

It computes the same feature as the shipped alpha protocol (relative alpha
8-12 / 1-40 Hz over O1/Oz/O2, 1 s Hamming window every 0.25 s, after a causal
1 Hz high-pass and 50 Hz notch applied by mne-lsl on acquisition) and publishes
it as a neuroadapt control message, so ``latency.py`` measures both the same
way. Benchmark use only (needs the ``bench`` extra).

Usage: python tools/bench/peer_mnelsl.py SOURCE_ID
"""

from __future__ import annotations

import signal
import sys
import time

import numpy as np
from mne_lsl.stream import StreamLSL
from scipy.signal import welch

from neuroadapt import bus


def main(source_id: str) -> int:
    stream = StreamLSL(bufsize=4.0, source_id=source_id).connect(timeout=10)
    sfreq = stream.info["sfreq"]
    stream.filter(1.0, None)
    stream.notch_filter(50.0)
    picks = [ch for ch in ("O1", "Oz", "O2") if ch in stream.ch_names]
    n_win = int(round(sfreq))
    hop = int(round(0.25 * sfreq))
    pub = bus.Publisher("tcp://127.0.0.1:*")
    print(f"pub {pub.address}", flush=True)
    done = []
    signal.signal(signal.SIGTERM, lambda *_: done.append(1))
    signal.signal(signal.SIGINT, lambda *_: done.append(1))
    waited = 0
    while not done:
        if stream.n_new_samples < hop or waited < n_win:
            waited += stream.n_new_samples if stream.n_new_samples >= hop else 0
            time.sleep(0.004)
            continue
        data, ts = stream.get_data(winsize=1.0, picks=picks)
        f, pxx = welch(data, sfreq, window="hamming", nperseg=n_win, noverlap=0, axis=-1)
        alpha = pxx[:, (f >= 8) & (f < 12)].sum(-1)
        total = pxx[:, (f >= 1) & (f < 40)].sum(-1)
        value = float(np.mean(alpha / total))
        pub.publish("control", {"t_sample": float(ts[-1]), "features": {"alpha_rel": value}})
    pub.close()
    stream.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
