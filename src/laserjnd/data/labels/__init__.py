"""JND labels: units and direction, readers for subjective label sets (MTJND ``JND-Levels.txt``,
VideoSet, MCL-JCI), the satisfied-user-ratio rule, and objective *proxy labels* from ladders.
"""

from .mcljci import MCLJCISur, load_mcljci_labels, mcljci_jnd, read_mcljci_samples, read_mcljci_sur_csv
from .mtjnd import IMAGE_EXTENSIONS, list_frames, read_jnd_levels, read_split, write_jnd_levels
from .proxy import ProxyRule, proxy_labels, proxy_labels_from_ladder
from .units import QF, QP, LabelUnit, NonMonotoneLabelsWarning, get_unit, unit_for_codec, validate_labels
from .videoset import (
    VideoSetRecord,
    jnd_from_samples,
    jnd_from_sur_curve,
    load_videoset_labels,
    read_videoset_csv,
    sur_curve,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "LabelUnit",
    "MCLJCISur",
    "NonMonotoneLabelsWarning",
    "ProxyRule",
    "QF",
    "QP",
    "VideoSetRecord",
    "get_unit",
    "jnd_from_samples",
    "jnd_from_sur_curve",
    "list_frames",
    "load_mcljci_labels",
    "load_videoset_labels",
    "mcljci_jnd",
    "proxy_labels",
    "proxy_labels_from_ladder",
    "read_jnd_levels",
    "read_mcljci_samples",
    "read_mcljci_sur_csv",
    "read_split",
    "read_videoset_csv",
    "sur_curve",
    "unit_for_codec",
    "validate_labels",
    "write_jnd_levels",
]
