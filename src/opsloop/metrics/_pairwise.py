"""``pairwise_agreement()``: the rater × rater agreement matrix of a label table."""

from __future__ import annotations

from typing import Any

from opsloop.metrics._raters import PairwiseAgreement, pairwise_matrix
from opsloop.stats._encode import encode_labels


def pairwise_agreement(table: Any) -> PairwiseAgreement:
    """Percent agreement of every two raters on the items both rated.

    ``table`` is a pyarrow or Ibis long table (item_id, rater_id, label).

    >>> import pyarrow as pa
    >>> t = pa.table({"item_id": ["a", "a", "b", "b"], "rater_id": ["x", "y", "x", "y"],
    ...               "label": ["1", "1", "0", "1"]})
    >>> pairwise_agreement(t).agreement[0, 1]
    np.float64(0.5)
    """
    from opsloop.metrics._agreement import _as_arrow

    coded = encode_labels(_as_arrow(table, ["item_id", "rater_id", "label"]))
    return pairwise_matrix(coded.items, coded.raters, coded.labels, coded.rater_names)
