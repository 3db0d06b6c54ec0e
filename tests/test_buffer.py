"""Tests of the preallocated ring buffer.

As in mne-lsl's stream tests, the data carry a sample counter, so any lost,
repeated or reordered sample shows up as a break in the counter.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroadapt.buffer import BufferOverrunError, RingBuffer
from neuroadapt.errors import NeuroadaptError

SFREQ = 250.0


def counter_chunk(start: int, n: int, n_channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``start .. start + n - 1``: channel c holds ``counter * (c + 1)``."""
    counter = np.arange(start, start + n, dtype=np.float64)
    data = counter[:, np.newaxis] * np.arange(1, n_channels + 1)
    return data, counter / SFREQ


def assert_counter(data: np.ndarray, times: np.ndarray, start: int, n: int) -> None:
    """Check that ``data, times`` are exactly samples ``start .. start + n - 1``."""
    expected, expected_times = counter_chunk(start, n, data.shape[1])
    np.testing.assert_array_equal(data, expected)
    np.testing.assert_array_equal(times, expected_times)


def test_empty_buffer() -> None:
    buf = RingBuffer(8, 2)
    assert (buf.capacity, buf.n_channels, buf.n_written, buf.available) == (8, 2, 0, 0)
    data, times = buf.latest(0)
    assert data.shape == (0, 2) and times.shape == (0,)
    data, times = buf.since(0)
    assert data.shape == (0, 2) and times.shape == (0,)
    with pytest.raises(ValueError, match="holds 0"):
        buf.latest(1)


def test_write_and_latest_in_time_order() -> None:
    buf = RingBuffer(10, 3)
    buf.write(*counter_chunk(0, 4))
    buf.write(*counter_chunk(4, 3))
    assert (buf.n_written, buf.available) == (7, 7)
    assert_counter(*buf.latest(7), start=0, n=7)
    assert_counter(*buf.latest(2), start=5, n=2)
    assert buf.latest(3)[0].dtype == np.float64


def test_wraparound_keeps_newest_samples_in_order() -> None:
    buf = RingBuffer(10, 3)
    buf.write(*counter_chunk(0, 7))
    buf.write(*counter_chunk(7, 7))  # wraps: 3 samples at the end, 4 at the start
    assert (buf.n_written, buf.available, buf.oldest_index) == (14, 10, 4)
    assert_counter(*buf.latest(10), start=4, n=10)
    assert_counter(*buf.latest(5), start=9, n=5)
    # Many more wraps, with chunk sizes that do not divide the capacity.
    start = 14
    for n in (3, 9, 1, 10, 6, 4):
        buf.write(*counter_chunk(start, n))
        start += n
        assert_counter(*buf.latest(10), start=start - 10, n=10)


def test_chunk_longer_than_capacity_keeps_its_tail() -> None:
    buf = RingBuffer(10, 3)
    buf.write(*counter_chunk(0, 3))
    buf.write(*counter_chunk(3, 25))
    assert (buf.n_written, buf.available) == (28, 10)
    assert_counter(*buf.latest(10), start=18, n=10)
    assert_counter(*buf.since(18), start=18, n=10)
    with pytest.raises(BufferOverrunError):
        buf.since(17)


def test_latest_returns_a_copy() -> None:
    buf = RingBuffer(5, 3)
    buf.write(*counter_chunk(0, 5))
    data, times = buf.latest(5)
    data[:] = -1.0
    times[:] = -1.0
    assert_counter(*buf.latest(5), start=0, n=5)


def test_latest_more_than_available_raises() -> None:
    buf = RingBuffer(10, 3)
    buf.write(*counter_chunk(0, 4))
    with pytest.raises(ValueError, match="cannot read 5 samples: the buffer holds 4"):
        buf.latest(5)
    with pytest.raises(ValueError):
        buf.latest(-1)


def test_since_overrun_raises_with_where_to_resume() -> None:
    buf = RingBuffer(10, 3)
    buf.write(*counter_chunk(0, 8))
    assert_counter(*buf.since(3), start=3, n=5)
    buf.write(*counter_chunk(8, 8))  # samples 0..5 are now overwritten
    with pytest.raises(BufferOverrunError) as info:
        buf.since(3)
    err = info.value
    assert isinstance(err, NeuroadaptError)
    assert (err.requested, err.oldest) == (3, 6)
    assert "3 samples were overwritten" in str(err)
    assert_counter(*buf.since(err.oldest), start=6, n=10)


def test_since_beyond_written_raises() -> None:
    buf = RingBuffer(10, 3)
    buf.write(*counter_chunk(0, 4))
    assert buf.since(4)[0].shape == (0, 3)
    with pytest.raises(ValueError, match="between 0 and n_written=4"):
        buf.since(5)
    with pytest.raises(ValueError):
        buf.since(-1)


@pytest.mark.parametrize(
    ("data_shape", "times_shape", "match"),
    [
        ((5,), (5,), r"\(n_samples, 3\), got shape \(5,\)"),
        ((5, 2), (5,), r"got shape \(5, 2\)"),
        ((5, 3, 1), (5,), r"got shape \(5, 3, 1\)"),
        ((5, 3), (4,), r"timestamps must have shape \(5,\).*got shape \(4,\)"),
        ((5, 3), (5, 1), r"got shape \(5, 1\)"),
    ],
)
def test_write_wrong_shapes_raise(
    data_shape: tuple[int, ...], times_shape: tuple[int, ...], match: str
) -> None:
    buf = RingBuffer(10, 3)
    with pytest.raises(ValueError, match=match):
        buf.write(np.zeros(data_shape), np.zeros(times_shape))
    assert buf.n_written == 0


def test_write_empty_chunk_is_a_no_op() -> None:
    buf = RingBuffer(4, 3)
    buf.write(*counter_chunk(0, 3))
    buf.write(np.zeros((0, 3)), np.zeros(0))
    assert buf.n_written == 3
    assert_counter(*buf.latest(3), start=0, n=3)


def test_clear_restarts_indices() -> None:
    buf = RingBuffer(4, 3)
    buf.write(*counter_chunk(0, 6))
    buf.clear()
    assert (buf.n_written, buf.available) == (0, 0)
    with pytest.raises(ValueError):
        buf.since(6)
    buf.write(*counter_chunk(0, 2))
    assert_counter(*buf.since(0), start=0, n=2)


@pytest.mark.parametrize(
    ("capacity", "n_channels", "error"),
    [(0, 2, ValueError), (4, 0, ValueError), (4.0, 2, TypeError), (True, 2, TypeError)],
)
def test_constructor_checks_arguments(capacity: object, n_channels: object, error: type) -> None:
    with pytest.raises(error):
        RingBuffer(capacity, n_channels)  # type: ignore[arg-type]


def test_other_dtype_is_kept() -> None:
    buf = RingBuffer(4, 2, dtype=np.float32)
    buf.write(np.ones((3, 2)), np.arange(3.0))
    data, times = buf.latest(3)
    assert data.dtype == np.float32 and times.dtype == np.float64


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 40),
    steps=st.lists(st.tuples(st.integers(0, 40), st.booleans()), max_size=60),
)
def test_reader_that_keeps_up_sees_every_sample_once(
    capacity: int, steps: list[tuple[int, bool]]
) -> None:
    """Random chunk sizes, reads at random moments, never more than capacity behind."""
    buf = RingBuffer(capacity, 3)
    position = 0  # next absolute index the reader wants
    seen: list[np.ndarray] = []

    def read() -> None:
        nonlocal position
        data, times = buf.since(position)
        assert_counter(data, times, start=position, n=buf.n_written - position)
        seen.append(data[:, 0])
        position = buf.n_written

    for size, read_now in steps:
        size = min(size, capacity)
        if buf.n_written + size - position > capacity:
            read()  # keeping up: read before the writer would overwrite unread samples
        buf.write(*counter_chunk(buf.n_written, size))
        if read_now:
            read()
    read()
    everything = np.concatenate([np.zeros(0), *seen])
    np.testing.assert_array_equal(everything, np.arange(buf.n_written, dtype=np.float64))


@settings(max_examples=100, deadline=None)
@given(
    capacity=st.integers(1, 30),
    sizes=st.lists(st.integers(0, 70), min_size=1, max_size=20),
    start=st.integers(0, 100),
)
def test_since_raises_exactly_when_samples_were_overwritten(
    capacity: int, sizes: list[int], start: int
) -> None:
    buf = RingBuffer(capacity, 3)
    for size in sizes:
        buf.write(*counter_chunk(buf.n_written, size))
    index = min(start, buf.n_written)
    if index < buf.n_written - capacity:
        with pytest.raises(BufferOverrunError) as info:
            buf.since(index)
        assert info.value.oldest == buf.n_written - capacity
    else:
        assert_counter(*buf.since(index), start=index, n=buf.n_written - index)


def test_concurrent_writer_and_reader_see_the_same_sequence() -> None:
    """A writer thread and a reader thread; capacity covers everything, so no overrun."""
    total, chunk = 10_000, 7
    buf = RingBuffer(total, 3)
    seen: list[np.ndarray] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        for start in range(0, total, chunk):
            buf.write(*counter_chunk(start, min(chunk, total - start)))
        done.set()

    def reader() -> None:
        position = 0
        try:
            while True:
                finished = done.is_set()
                data, times = buf.since(position)
                assert_counter(data, times, start=position, n=len(data))
                seen.append(data[:, 0])
                position += len(data)
                if finished and position == buf.n_written:
                    return
                if len(data) == 0:
                    time.sleep(0.0002)  # let the writer run instead of spinning on the GIL
        except BaseException as exc:  # re-raised in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]
    np.testing.assert_array_equal(np.concatenate(seen), np.arange(total, dtype=np.float64))
