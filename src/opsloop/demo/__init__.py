"""A synthetic content-moderation operation with planted, documented effects.

:func:`generate_demo` writes a seeded, realistic operation (items, raters,
annotations, gold, QA audits, model predictions, preference judgements and
model evals) as Parquet, plus ``manifest.json`` listing every planted effect
with where and when it happens and which KPI it moves.

>>> from pathlib import Path
>>> data = generate_demo(Path("demo"))  # doctest: +SKIP
>>> data.n_annotations  # doctest: +SKIP
50122
"""

from opsloop.demo._generate import DemoData, generate_demo

__all__ = ["DemoData", "generate_demo"]
