"""The model every policy trains: item content → features once, then a seeded classifier.

**Features** (:func:`text_features`), computed once per experiment (they do not depend
on the labels) and shared by every fit:

* word 1–2-grams and ``char_wb`` 3-grams of the lower-cased text, each hashed into
  2²⁰ columns (scikit-learn's ``HashingVectorizer``, signed hashing off; Weinberger
  et al., 2009, "Feature hashing for large scale multitask learning");
* term counts damped to ``log(1 + tf)`` and each row scaled to unit L2 norm;
  (character 3–4-grams gained 0.3 points of accuracy on the demo at 1.6 times the fit
  time, so the default stops at 3);
* columns no item uses are dropped. A column of zeros gets a zero weight under the
  L2 penalty, so the fit is the same; the solver then works on the vocabulary the
  items use (tens of thousands of columns) instead of two million.

A numeric content column (an embedding, or several numeric columns) is used as it is
(:func:`numeric_features`), standardised to zero mean and unit variance.

**Classifier** (:func:`default_model`): multinomial logistic regression
(``LogisticRegression``, solver ``saga`` — Defazio, Bach & Lacoste-Julien, 2014 —
``C = 10``, ``max_iter = 5``, ``tol = 1e-3``, ``random_state = 0``). Five passes
over the data reach the accuracy of thirty within 0.003 (``bench/impact.py``'s data and
the demo, majority vote and gold labels) at a third of the time; three passes do not
(on the demo they lose the gain of a relabel budget). The solver's own sample order is
fixed, so a policy whose labels do not depend on the experiment's seed trains the same
model under every seed.

Any other model plugs in through :class:`Classifier` (``fit(X, y, sample_weight)``,
``predict_proba(X)``, ``classes_``) and a factory taking no argument; it should be
deterministic given its training data (identical training sets are fitted once).

>>> X = text_features(["free cash click", "nice sunset", "click free link", "sunset walk"])
>>> model = default_model().fit(X, [1, 0, 1, 0])
>>> [int(c) for c in model.predict_proba(X).argmax(axis=1)]
[1, 0, 1, 0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from opsloop.errors import UsageError

if TYPE_CHECKING:
    import scipy.sparse as sp

HASH_COLUMNS = 2**20
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (3, 3)
MODEL_C = 10.0
MODEL_MAX_ITER = 5
MODEL_TOL = 1e-3
MODEL_SEED = 0

MODEL_DESCRIPTION = (
    f"hashed word {WORD_NGRAMS[0]}-{WORD_NGRAMS[1]}-grams + char_wb "
    f"{CHAR_NGRAMS[0]}-{CHAR_NGRAMS[1]}-grams (log tf, L2 rows) -> multinomial logistic "
    f"regression (saga, C={MODEL_C:g}, max_iter={MODEL_MAX_ITER}, tol={MODEL_TOL:g}, "
    f"random_state={MODEL_SEED})"
)
NUMERIC_DESCRIPTION = (
    f"numeric features (standardised) -> multinomial logistic regression (saga, "
    f"C={MODEL_C:g}, max_iter={MODEL_MAX_ITER}, tol={MODEL_TOL:g}, random_state={MODEL_SEED})"
)


@runtime_checkable
class Classifier(Protocol):
    """What a model needs to take part in an experiment (scikit-learn's classifier shape)."""

    classes_: Any

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any: ...

    def predict_proba(self, X: Any) -> Any: ...


ModelFactory = Callable[[], Classifier]


def default_model() -> Classifier:
    """The documented default classifier (module docstring), unfitted."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    warnings.filterwarnings("ignore", category=ConvergenceWarning, module="sklearn")
    model: Classifier = LogisticRegression(
        C=MODEL_C, solver="saga", max_iter=MODEL_MAX_ITER, tol=MODEL_TOL, random_state=MODEL_SEED
    )
    return model


def text_features(texts: Sequence[str | None]) -> sp.csr_matrix:
    """Hashed word and character n-grams of each text (module docstring); nulls are empty.

    The ``char_wb`` n-grams of a text are the sum of its whitespace-separated words'
    n-grams (each word padded with one space on either side), so they are hashed once
    per distinct word and summed per text by a sparse product: the same counts as
    ``HashingVectorizer(analyzer="char_wb")`` on the texts, in a fraction of the time.
    """
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer
    from sklearn.preprocessing import normalize

    docs = ["" if t is None else t.lower() for t in texts]
    common: dict[str, Any] = {
        "n_features": HASH_COLUMNS,
        "alternate_sign": False,
        "norm": None,
        "dtype": np.float32,
        "lowercase": False,
    }
    words = HashingVectorizer(ngram_range=WORD_NGRAMS, **common).transform(docs)
    tokens = CountVectorizer(analyzer=str.split, lowercase=False, dtype=np.float32)
    try:
        counts = tokens.fit_transform(docs)
    except ValueError:  # every text is empty: no word, no n-gram
        counts = sp.csr_matrix((len(docs), 0), dtype=np.float32)
    vocabulary = tokens.get_feature_names_out() if counts.shape[1] else []
    grams = HashingVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, **common)
    chars = (
        (counts @ grams.transform(vocabulary)).tocsr()
        if counts.shape[1]
        else sp.csr_matrix((len(docs), HASH_COLUMNS), dtype=np.float32)
    )
    matrix = sp.hstack([words, chars], format="csr")
    np.log1p(matrix.data, out=matrix.data)
    matrix = normalize(matrix, copy=False)
    used = np.bincount(matrix.indices, minlength=matrix.shape[1]) > 0
    column = (np.cumsum(used) - 1).astype(np.int32)
    out = sp.csr_matrix(
        (matrix.data, column[matrix.indices], matrix.indptr),
        shape=(matrix.shape[0], int(used.sum())),
    )
    out.sort_indices()
    return out


def numeric_features(values: np.ndarray, what: str) -> np.ndarray:
    """A numeric feature matrix, standardised per column (constant columns left at zero)."""
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if not np.isfinite(matrix).all():
        raise UsageError(f"{what}: holds missing or non-finite values")
    sd = matrix.std(axis=0)
    out: np.ndarray = (matrix - matrix.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return out


def class_probabilities(model: Classifier, X: Any, n_classes: int) -> np.ndarray:
    """``predict_proba`` as an ``n × n_classes`` array in category-code order.

    The model saw category codes; a class absent from its training labels gets
    probability 0.
    """
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    classes = np.asarray(model.classes_, dtype=np.int64)
    out = np.zeros((proba.shape[0], n_classes))
    out[:, classes] = proba
    return out
