"""Code maps as Arrow lookups: a source code → its index in the map (`index_in`), the unified value by `take`."""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.columns.text import ints_or, present


@dataclass(frozen=True)
class CodeMap:
    keys: pa.Array
    values: np.ndarray  # object: the unified values, in the order of `keys`

    def lookup(self, codes: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(index into the map, -1 where the code is NULL or unknown; mask of the codes the map does not know)."""
        index = ints_or(pc.index_in(codes, value_set=self.keys), -1)
        unknown = present(codes) & (index < 0)
        return index, unknown

    def unified(self, index: np.ndarray) -> np.ndarray:
        """The unified value per row (object), None where the index is -1."""
        out = np.empty(len(index), dtype=object)
        hit = index >= 0
        out[hit] = self.values[index[hit]]
        return out


_MAPS: OrderedDict[int, tuple[dict, CodeMap]] = OrderedDict()
_KEPT = 512  # far more than every spec's maps together


def code_map(table: dict) -> CodeMap:
    """The lookup for one spec's code table, built once per table (an API page of 100 rows must not rebuild it).

    Keyed by identity: a spec's tables live as long as the spec; the table is kept with its map, so its
    id cannot be reused by another while cached.
    """
    hit = _MAPS.get(id(table))
    if hit is not None and hit[0] is table:
        _MAPS.move_to_end(id(table))
        return hit[1]
    values = np.empty(len(table), dtype=object)
    values[:] = list(table.values())
    built = CodeMap(pa.array(list(table), pa.string()), values)
    _MAPS[id(table)] = (table, built)
    while len(_MAPS) > _KEPT:
        _MAPS.popitem(last=False)
    return built
