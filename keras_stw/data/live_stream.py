"""`LiveStream`: one running Grain iterator that serves every `iter()` of a dataset.

Keras iterates a Grain dataset several times before the first training step: two
batches to learn its shapes (`GrainDatasetAdapter`), one to build the model, then
the epoch, and `evaluate` iterates its data again every epoch. Every `iter()` of an
`mp_prefetch` dataset starts its worker processes anew, which costs seconds each
(a spawn, and an import of the whole pipeline, per worker). A `LiveStream` keeps one
iterator of its stream running and keeps the first batches it made, so that an
iteration from the start replays them and then continues the same workers.
"""

import threading
import weakref

import grain

# `GrainDatasetAdapter` reads this many batches to learn the shapes
# (`data_adapter_utils.NUM_BATCHES_FOR_TENSOR_SPEC`); the model build reads one.
KEPT_BATCHES = 2
# Every `LiveStream`, to stop their workers at exit.
_STREAMS = weakref.WeakSet()


class LiveStream(grain.IterDataset):
    """A `grain.IterDataset` whose iterations share one running stream.

    Every `iter()` yields the same elements as an iteration of its parent,
    `make_stream(0, False)`, would, in the same order. The first `KEPT_BATCHES` elements
    are kept, so an iteration that starts while the running stream has made no more
    than those replays them and continues the stream. A finite stream (one pass of
    `pass_length` elements) runs as the pass repeated without end: an iteration
    that starts at a pass boundary continues the stream into its next pass, and
    stops at the pass's end. An iteration that cannot be served so (another one
    went further, in between) reads a stream of its own from where it is, as a
    plain Grain dataset would.

    The elements must not be views of Grain's shared memory: kept elements outlive
    the next read.

    Args:
        make_stream: callable. `make_stream(start, cycle)` returns a
            `grain.IterDataset` of the elements from index `start` on, as one pass
            repeated without end when `cycle` is true.
        pass_length: int. Elements in one pass, or `None` for a stream without
            end.

    Attributes:
        starts: int. Streams started so far, each of which starts Grain's worker
            processes.

    Example:
    >>> ds = LiveStream(lambda start, cycle: make(start, cycle), pass_length=10)
    >>> model.fit(ds, epochs=3, validation_data=val)  # ds's stream starts once
    >>> ds.starts
    1
    """

    def __init__(self, make_stream, *, pass_length: int | None):
        # The parent is the plain stream that every iteration stands for.
        super().__init__(make_stream(0, False))
        self._make_stream = make_stream
        self._pass_length = pass_length
        self._lock = threading.Lock()
        self._live = None
        self._position = 0
        self._kept = []
        self.starts = 0
        _STREAMS.add(self)

    def __iter__(self) -> grain.DatasetIterator:
        return _Cursor(self)

    def __str__(self) -> str:
        return f"LiveStream(pass_length={self._pass_length})"

    def close(self):
        """Stops the running stream and its workers; the next iteration starts one."""
        with self._lock:
            self._stop()

    def _next(self, cursor):
        with self._lock:
            index = cursor.index
            if self._pass_length is not None and index >= self._pass_length:
                raise StopIteration
            if cursor.own is None:
                if index == 0 and not self._continues_at_start():
                    self._restart()
                if self._live is not None and index == self._live_index():
                    element = self._read_live()
                elif index < len(self._kept):
                    element = self._kept[index]
                else:
                    # Another iteration moved the running stream on: one of its own.
                    cursor.own = iter(self._make_stream(index, False))
                    self.starts += 1
            if cursor.own is not None:
                element = next(cursor.own)
            cursor.index += 1
            return element

    def _continues_at_start(self):
        """Whether a new iteration can replay the kept elements, then read on."""
        return self._live is not None and self._live_index() <= len(self._kept)

    def _restart(self):
        self._stop()
        self._live = iter(self._make_stream(0, self._pass_length is not None))
        self.starts += 1

    def _live_index(self):
        if self._pass_length is None:
            return self._position
        return self._position % self._pass_length

    def _read_live(self):
        index = self._live_index()
        try:
            element = next(self._live)
        except Exception:
            # A stream that raised (an unreadable video) is not continued.
            self._stop()
            raise
        self._position += 1
        if index == len(self._kept) < KEPT_BATCHES:
            self._kept.append(element)
        return element

    def _stop(self):
        if self._live is not None:
            self._live.close()
        self._live = None
        self._position = 0


def close_all():
    """Stops the running stream of every `LiveStream` (at exit: see `video_dataset`)."""
    for stream in list(_STREAMS):
        stream.close()


class _Cursor(grain.DatasetIterator):
    """One iteration of a `LiveStream`: its next index, or a stream of its own."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.index = 0
        self.own = None

    def __next__(self):
        return self.stream._next(self)

    def get_state(self) -> dict:
        return {"index": self.index}

    def set_state(self, state: dict):
        self.index = state["index"]
        self.own = None

    def close(self):
        # The running stream belongs to the dataset, not to one iteration.
        if self.own is not None:
            self.own.close()
        self._closed = True
