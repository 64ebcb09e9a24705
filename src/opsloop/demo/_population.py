"""The rater population: who labels, where, since when and how well.

Raters belong to one site (and so one vendor) and work one locale. Each has a
base skill, a per-policy skill, a shift length (long shifts bring fatigue), a
speed factor and a hire date. Raters hired during the period ramp up: their
accuracy starts lower and recovers with tenure. The planted vendor wave is a
cohort of new hires at one vendor whose ramp-up is deeper and slower.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.demo import _taxonomy as tx
from opsloop.demo._taxonomy import Arr


@dataclass(frozen=True)
class Raters:
    """Rater attributes as parallel numpy arrays (index = rater number)."""

    locale: Arr
    site: Arr
    vendor: Arr
    team: Arr
    hired_day: Arr  # day relative to the start of the period (negative: before)
    base: Arr  # base logit of a correct label
    label_skill: Arr  # (n, n_labels) logit offsets
    shift_hours: Arr
    speed: Arr  # multiplier of handling time
    ramp_penalty: Arr  # logit penalty on the first day
    ramp_days: Arr  # e-folding time of the ramp-up
    is_wave: Arr

    @property
    def n(self) -> int:
        """Number of raters."""
        return int(self.locale.shape[0])


def _site_table() -> tuple[Arr, Arr, Arr]:
    """Rows (site, locale, share-within-locale) of the staffing plan."""
    sites, locales, shares = [], [], []
    for s, site in enumerate(tx.SITES):
        for loc, share in site.locales:
            sites.append(s)
            locales.append(tx.LOCALES.index(loc))
            shares.append(share)
    return np.array(sites), np.array(locales), np.array(shares, dtype=np.float64)


def _draw(rng: np.random.Generator, locale: Arr, site: Arr, hired_day: Arr, wave: bool) -> Raters:
    n = locale.shape[0]
    vendor = np.array([tx.SITES[s].vendor for s in range(len(tx.SITES))])[site]
    shift = rng.choice(np.array([8.0, 10.0, 12.0]), size=n, p=[0.70, 0.20, 0.10])
    return Raters(
        locale=locale,
        site=site,
        vendor=vendor,
        team=np.asarray(rng.integers(0, len(tx.TEAMS), size=n)),
        hired_day=hired_day,
        base=np.asarray(rng.normal(2.45, 0.30, size=n)),
        label_skill=rng.normal(0.0, 0.25, size=(n, tx.N_LABELS)),
        shift_hours=shift,
        speed=np.exp(rng.normal(0.0, 0.25, size=n)),
        ramp_penalty=np.full(n, tx.WAVE_PENALTY if wave else tx.HIRE_PENALTY),
        ramp_days=np.full(n, tx.WAVE_RAMP_DAYS if wave else tx.HIRE_RAMP_DAYS),
        is_wave=np.full(n, wave),
    )


def _concat(parts: list[Raters]) -> Raters:
    fields = Raters.__dataclass_fields__
    return Raters(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in fields})


def make_raters(rng: np.random.Generator, n_initial: int) -> Raters:
    """Draw the initial staff, the planted vendor wave and weekly backfill hires."""
    row_site, row_locale, row_share = _site_table()
    locale_parts, site_parts = [], []
    for li in range(len(tx.LOCALES)):
        n_loc = max(10, round(n_initial * float(tx.LOCALE_WEIGHTS[li])))
        rows = np.flatnonzero(row_locale == li)
        p = row_share[rows] / row_share[rows].sum()
        site_parts.append(row_site[rows][rng.choice(rows.shape[0], size=n_loc, p=p)])
        locale_parts.append(np.full(n_loc, li))
    locale = np.concatenate(locale_parts)
    site = np.concatenate(site_parts)
    hired: Arr = -np.asarray(rng.integers(30, 900, size=locale.shape[0]))
    initial = _draw(rng, locale, site, hired, wave=False)

    # planted: a wave of new hires at one vendor, spread over its sites pro rata
    at_vendor = np.flatnonzero(initial.vendor == tx.WAVE_VENDOR)
    n_wave = round(tx.WAVE_SHARE * at_vendor.shape[0])
    template = np.sort(rng.choice(at_vendor, size=n_wave, replace=False))
    wave_day = 7 * (tx.WAVE_WEEK - 1)
    wave = _draw(rng, locale[template], site[template], np.full(n_wave, wave_day), wave=True)

    # ordinary backfill: a trickle of hires every Monday at every vendor
    n_back = max(1, round(tx.BACKFILL_PER_WEEK * locale.shape[0]))
    weeks = np.repeat(np.arange(1, tx.N_WEEKS), n_back)
    template = rng.integers(0, locale.shape[0], size=weeks.shape[0])
    backfill = _draw(rng, locale[template], site[template], 7 * weeks, wave=False)
    return _concat([initial, wave, backfill])


def rater_ids(n: int) -> pa.Array:
    """Rater ids ``r00001`` … for rater numbers 0..n-1."""
    return string_ids("r", np.arange(n), 5)


def string_ids(prefix: str, numbers: Arr, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers + 1`` as an Arrow string array."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers + 1, type=pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def take_strings(values: tuple[str, ...], codes: Arr) -> pa.Array:
    """Map integer ``codes`` to an Arrow string array of ``values``."""
    return pc.take(pa.array(values, type=pa.string()), pa.array(codes, type=pa.int64()))


def timestamps(us: Arr) -> pa.Array:
    """Microseconds since the epoch as an Arrow ``timestamp[us]`` array."""
    return pa.array(us.astype(np.int64), type=pa.timestamp("us"))


def raters_table(r: Raters) -> pa.Table:
    """The canonical ``raters`` table."""
    site_names = tuple(s.name for s in tx.SITES)
    hired_us = tx.START_US + r.hired_day.astype(np.int64) * tx.US_PER_DAY
    return pa.table(
        {
            "rater_id": rater_ids(r.n),
            "team": take_strings(tx.TEAMS, r.team),
            "vendor": take_strings(tx.VENDORS, r.vendor),
            "site": take_strings(site_names, r.site),
            "locale": take_strings(tx.LOCALES, r.locale),
            "hired_at": timestamps(hired_us),
        }
    )


@dataclass(frozen=True)
class Pool:
    """Raters active on a day, grouped by locale for vectorised assignment."""

    members: Arr  # rater numbers sorted by locale
    start: Arr  # first position of each locale in ``members``
    count: Arr  # number of active raters per locale


def active_pool(r: Raters, day: int) -> Pool:
    """The raters hired on or before ``day``, grouped by locale."""
    active = np.flatnonzero(r.hired_day <= day)
    order = np.argsort(r.locale[active], kind="stable")
    members = active[order]
    count = np.bincount(r.locale[members], minlength=len(tx.LOCALES))
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    return Pool(members=members, start=start, count=count)
