"""What the file fuzz tests share: byte mutations of a valid delivery, and the checks after each run."""

import itertools
import json

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from pipeline.runner import RunFailed
from tests.hostile.files_common import ledger_balances, rows, run

# Each property stays within a few seconds; the store is shared by the examples of one test.
FAST = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
THROUGH_RUNS = settings(FAST, max_examples=15)
MARKUP = b'<>&;"\'/=![]?-# \r\n\x00\xef\xbb\xbf\x80\xff0123456789'


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """The valid bytes with a few flips, insertions (markup-heavy), deletions, duplications or a cut."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "cut"]))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(max_size=8) | st.lists(st.sampled_from(list(MARKUP)), max_size=8).map(bytes))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif kind == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 60))]
        elif kind == "cut":
            del data[at:]
    return bytes(data)


_numbers = itertools.count(1)


def fresh_number() -> int:
    return next(_numbers)


def checked_run(source: str, store_url: str, folder) -> dict | None:
    """One run; the result's files, or None for a failed run, whose reason must be one sentence."""
    try:
        result = run(source, store_url, folder)
    except RunFailed as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"{source} run "), message
        assert rows(store_url, "SELECT status FROM etl_run WHERE run_id = :r", r=message.split()[2]) != []
        return None
    json.dumps(result.as_dict())  # notes and files are plain data
    ledger_balances(store_url)
    checked = {r["stream"] for r in rows(store_url, "SELECT DISTINCT stream FROM dq_result WHERE run_id = :r",
                                         r=result.run_id)}
    staged = {stream for stream, s in result.streams.items() if s.extracted > s.quarantined}
    assert checked == staged, "every stream that staged rows records its expectation results"
    return result
