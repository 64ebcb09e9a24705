"""Truth inference, rater reliability and label-error ranking."""

from opsloop.inference._dawid_skene import DawidSkene, OneCoinDawidSkene
from opsloop.inference._glad import GLAD
from opsloop.inference._mace import MACE
from opsloop.inference._majority import MajorityVote, WeightedMajorityVote

__all__ = [
    "GLAD",
    "MACE",
    "DawidSkene",
    "MajorityVote",
    "OneCoinDawidSkene",
    "WeightedMajorityVote",
]
