"""The LSL source against real outlets on loopback (machine scope, unique source ids)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pylsl
import pytest

from neuroadapt.errors import ConfigError, StreamError, StreamNotFoundError
from neuroadapt.lsl import make_stream_info
from neuroadapt.sources import (
    HeadsetSimulator,
    LSLSource,
    SourceState,
    StateChange,
    SyntheticHeadset,
    pull_wait,
    resolve_stream,
)
from neuroadapt.sources.lsl_inlet import not_found_message

pytestmark = pytest.mark.live

SFREQ = 250.0
CH8 = ["Fz", "C3", "Cz", "C4", "Pz", "O1", "Oz", "O2"]


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def make_outlet(
    uid: str,
    name: str = "test-eeg",
    stype: str = "EEG",
    ch_names: list[str] | None = None,
    sfreq: float = SFREQ,
    fmt: str = "float32",
) -> pylsl.StreamOutlet:
    info = make_stream_info(name, stype, ch_names or CH8, sfreq, fmt, uid, units="microvolts")
    return pylsl.StreamOutlet(info)


@pytest.fixture
def simulator(uid: str) -> Iterator[HeadsetSimulator]:
    sim = HeadsetSimulator(
        SyntheticHeadset(seed=11, counter=True), name=f"sim-{uid}", source_id=uid, quiet=True
    )
    with sim:
        sim.start()
        yield sim


# --------------------------------------------------------------------- integrity
def test_samples_arrive_complete_in_order_and_match_the_ring_buffer(
    simulator: HeadsetSimulator, uid: str
) -> None:
    source = LSLSource(resolve_stream(source_id=uid, timeout=5.0))
    with source:
        assert source.ch_names == [*CH8, "counter"]
        assert source.sfreq == SFREQ
        chunks, stamps = [], []
        rng = np.random.default_rng(0)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            data, ts = source.pull()
            assert data.dtype == np.float64 and data.shape == (len(ts), 9)
            chunks.append(data)
            stamps.append(ts)
            time.sleep(rng.uniform(0, 0.05))  # vary how much each pull finds
        data, ts = np.concatenate(chunks), np.concatenate(stamps)

        counter = data[:, -1]
        assert len(counter) > 500  # about 3 s at 250 Hz
        np.testing.assert_array_equal(np.diff(counter), 1.0)  # nothing lost or repeated
        # Every sample is exactly the one the headset generated for that index.
        first, last = int(counter[0]), int(counter[-1])
        expected = SyntheticHeadset(seed=11, counter=True).generate(last + 1)[first:]
        np.testing.assert_array_equal(data, expected.astype(np.float32).astype(np.float64))
        # Stamped with due times: exactly regular on the LSL clock.
        np.testing.assert_allclose(ts - ts[0], (counter - counter[0]) / SFREQ, atol=1e-4)
        # The ring buffer holds the same samples.
        assert source.buffer.n_written == len(ts)
        held, held_ts = source.buffer.since(0)
        np.testing.assert_array_equal(held, data)
        np.testing.assert_array_equal(held_ts, ts)
        assert source.state == "ok"
        assert source.last_timestamp == ts[-1]


def test_channel_units_and_types_in_the_stream_description(
    simulator: HeadsetSimulator, uid: str
) -> None:
    with LSLSource(resolve_stream(name=f"sim-{uid}", stype="EEG", timeout=5.0)) as source:
        channels = []
        ch = source.info.desc().child("channels").child("channel")
        while not ch.empty():
            channels.append(
                (ch.child_value("label"), ch.child_value("unit"), ch.child_value("type"))
            )
            ch = ch.next_sibling("channel")
    assert channels[0] == ("Fz", "microvolts", "EEG")
    assert channels[-1] == ("counter", "samples", "MISC")
    assert len(channels) == 9


def test_a_backlog_is_drained_over_pulls_without_loss(uid: str) -> None:
    outlet = make_outlet(uid, ch_names=["counter"])
    with LSLSource(
        resolve_stream(source_id=uid, timeout=5.0), buffer_seconds=1.0, max_chunk=64
    ) as source:
        assert source.buffer.capacity == 250
        assert wait_until(outlet.have_consumers, 5.0)
        outlet.push_chunk(np.arange(600, dtype=np.float32)[:, None])
        sizes, pulled = [], []
        deadline = time.monotonic() + 10.0
        while sum(sizes) < 600 and time.monotonic() < deadline:
            data, _ = source.pull()
            if len(data):
                sizes.append(len(data))
                pulled.append(data[:, 0])
            else:
                time.sleep(0.01)
        # No pull returns more than the ring holds, so since() could always serve it.
        assert max(sizes) <= 250
        np.testing.assert_array_equal(np.concatenate(pulled), np.arange(600))


def test_integer_streams_arrive_as_float64(uid: str) -> None:
    outlet = make_outlet(uid, ch_names=["a", "b"], fmt="int16")
    with LSLSource(resolve_stream(source_id=uid, timeout=5.0)) as source:
        assert wait_until(outlet.have_consumers, 5.0)
        outlet.push_chunk(np.array([[-32768, 32767], [1, -1]], dtype=np.int16))
        data, _ = pull_wait(source, 2, timeout=5.0)
    assert data.dtype == np.float64
    np.testing.assert_array_equal(data, [[-32768, 32767], [1, -1]])


# ------------------------------------------------------------------------ health
def test_stall_is_detected_and_cleared(uid: str) -> None:
    outlet = make_outlet(uid)
    seen: list[StateChange] = []
    with LSLSource(
        resolve_stream(source_id=uid, timeout=5.0), stall_timeout=0.3, on_state_change=seen.append
    ) as source:
        assert source.state == "waiting" and source.last_sample_time is None
        assert wait_until(outlet.have_consumers, 5.0)

        def push_and_pull_until(state: str) -> bool:
            def step() -> bool:
                outlet.push_chunk(np.zeros((5, 8), dtype=np.float32))
                source.pull()
                return source.state == state

            return wait_until(step, 5.0, interval=0.02)

        assert push_and_pull_until("ok")
        # Nothing pushed any more: the source must notice within a bounded wait.
        assert wait_until(lambda: (source.pull(), source.state)[1] == "stalled", 5.0)
        assert push_and_pull_until("ok")
        changes = source.state_changes()
    transitions = [(c.old, c.new) for c in changes]
    assert transitions == [
        (SourceState.WAITING, SourceState.OK),
        (SourceState.OK, SourceState.STALLED),
        (SourceState.STALLED, SourceState.OK),
    ]
    assert seen == changes
    stalled_at = changes[1].time
    assert stalled_at - changes[0].time > 0.3


def test_stream_recovers_when_its_outlet_comes_back(uid: str) -> None:
    outlet = make_outlet(uid, ch_names=["counter"])
    with LSLSource(resolve_stream(source_id=uid, timeout=5.0), stall_timeout=0.3) as source:
        assert wait_until(outlet.have_consumers, 5.0)
        outlet.push_chunk(np.arange(10, dtype=np.float32)[:, None])
        assert len(pull_wait(source, 10, timeout=5.0)[0]) == 10
        del outlet  # the amplifier app crashes...
        assert wait_until(lambda: (source.pull(), source.state)[1] == "stalled", 5.0)
        outlet = make_outlet(uid, ch_names=["counter"])  # ...and restarts, same source id

        def resumed() -> bool:
            if outlet.have_consumers():
                outlet.push_chunk(np.full((5, 1), 7.0, dtype=np.float32))
            source.pull()
            return source.state == "ok"

        # liblsl re-resolves a lost stream by its source id in the background.
        assert wait_until(resumed, 30.0, interval=0.05)


def test_pull_after_close_is_refused(uid: str) -> None:
    outlet = make_outlet(uid)
    source = LSLSource(resolve_stream(source_id=uid, timeout=5.0))
    source.close()
    source.close()
    with pytest.raises(StreamError, match="is closed"):
        source.pull()
    del outlet


# ----------------------------------------------------------------------- refusals
def test_irregular_streams_are_refused(uid: str) -> None:
    outlet = make_outlet(uid, name=f"markers-{uid}", stype="Markers", ch_names=["m"], sfreq=0)
    info = resolve_stream(source_id=uid, timeout=5.0)
    with pytest.raises(StreamError, match=f"stream markers-{uid} .*irregular sampling rate"):
        LSLSource(info)
    del outlet


def test_string_streams_are_refused(uid: str) -> None:
    outlet = make_outlet(uid, name=f"text-{uid}", ch_names=["t"], fmt="string")
    info = resolve_stream(source_id=uid, timeout=5.0)
    with pytest.raises(StreamError, match=f"stream text-{uid} .*carries string values"):
        LSLSource(info)
    del outlet


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="timeout: must be a positive number"):
        resolve_stream(name="x", timeout=0)


# ------------------------------------------------------------------------ resolve
def test_resolve_matches_every_given_property(uid: str) -> None:
    eeg = make_outlet(f"{uid}-a", name=f"dup-{uid}")
    other = make_outlet(f"{uid}-b", name=f"dup-{uid}", stype="ExG")
    assert resolve_stream(name=f"dup-{uid}", source_id=f"{uid}-b", timeout=5.0).type() == "ExG"
    found = resolve_stream(name=f"dup-{uid}", stype="EEG", timeout=5.0)
    assert found.source_id() == f"{uid}-a"
    with pytest.raises(StreamNotFoundError):
        resolve_stream(name=f"dup-{uid}", stype="EEG", source_id=f"{uid}-b", timeout=1.0)
    del eeg, other


def test_resolve_timeout_lists_the_streams_it_saw(uid: str) -> None:
    eeg = make_outlet(uid, name=f"seen-{uid}")
    markers = make_outlet(f"{uid}-m", name=f"mk-{uid}", stype="Markers", ch_names=["m"], sfreq=0)
    started = time.monotonic()
    with pytest.raises(StreamNotFoundError) as info:
        resolve_stream(name=f"missing-{uid}", timeout=1.5)
    assert time.monotonic() - started < 30  # bounded: it gave up
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        f"no LSL stream with name='missing-{uid}' within 1.5 s; streams seen: "
    )
    assert f"seen-{uid} (EEG, 8 ch @ 250 Hz)" in message
    assert f"mk-{uid} (Markers, 1 ch, irregular)" in message
    del eeg, markers


def test_not_found_message_when_nothing_is_visible() -> None:
    message = not_found_message({"name": "muse", "type": "EEG"}, 5.0, [])
    assert message == (
        "no LSL stream with name='muse', type='EEG' within 5 s; no streams seen on this machine"
    )


def test_a_finite_simulation_delivers_its_last_sample(uid: str) -> None:
    sim = HeadsetSimulator(
        SyntheticHeadset(counter=True), source_id=uid, duration=1.0, quiet=True
    ).start()
    with sim, LSLSource(resolve_stream(source_id=uid, timeout=5.0), stall_timeout=0.5) as source:
        received = []
        wait_until(
            lambda: (received.append(source.pull()[0][:, -1]), source.state)[1] == "stalled", 15.0
        )
        assert sim.join(timeout=10.0)
    counter = np.concatenate(received)
    np.testing.assert_array_equal(np.diff(counter), 1.0)
    assert counter[-1] == sim.n_pushed - 1 == 249


def test_simulator_runs_again_continuing_the_signal(uid: str) -> None:
    headset = SyntheticHeadset()
    sim = HeadsetSimulator(headset, source_id=uid, duration=0.2, quiet=True, linger=0.0)
    sim.run()
    sim.run()
    assert sim.n_pushed == headset.n_generated == 100
