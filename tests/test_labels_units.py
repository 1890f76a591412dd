import warnings

import numpy as np
import pytest

from laserjnd.data.labels.units import (
    QF,
    QP,
    NonMonotoneLabelsWarning,
    get_unit,
    is_monotone,
    unit_for_codec,
    validate_labels,
)
from laserjnd.errors import BadInputError, JNDError


def test_get_unit_and_codec():
    assert get_unit("QP") is QP and get_unit(" qf ") is QF and get_unit(QP) is QP
    assert unit_for_codec("h264") is QP and unit_for_codec("H.265") is QP and unit_for_codec("jpeg") is QF
    with pytest.raises(JNDError, match="unknown label unit"):
        get_unit("crf")
    with pytest.raises(JNDError, match="unknown codec"):
        unit_for_codec("av1")


def test_reference_and_severity():
    assert (QP.reference, QP.most_compressed) == (0, 51)
    assert (QF.reference, QF.most_compressed) == (100, 1)
    np.testing.assert_array_equal(QP.severity([0, 30]), [0, 30])
    np.testing.assert_array_equal(QF.severity([100, 1, 40]), [1, 100, 61])
    np.testing.assert_array_equal(QF.from_severity(QF.severity([7, 93])), [7, 93])


def test_monotone_per_direction():
    np.testing.assert_array_equal(is_monotone([[20, 25, 30], [30, 25, 20]], "qp"), [True, False])
    np.testing.assert_array_equal(is_monotone([[20, 25, 30], [30, 25, 20]], "qf"), [False, True])
    assert is_monotone([[25, 25, 30]], "qp")[0]  # ties allowed


def test_validate_ok_returns_float():
    a = validate_labels([[20, 25, 30]], "qp", "x.txt")
    assert a.dtype == np.float64 and a.shape == (1, 3)


@pytest.mark.parametrize(
    "labels,unit,msg",
    [
        ([[20, 25, 52]], "qp", r"x.txt: line 7: JND3 = 52 outside the qp range 0..51"),
        ([[-1, 25, 30]], "qp", r"line 7: JND1 = -1 outside"),
        ([[0, 0, 0]], "qf", r"JND1 = 0 outside the qf range 1..100"),
        ([[20, np.nan, 30]], "qp", r"line 7: JND2 is nan"),
    ],
)
def test_validate_errors_name_file_and_line(labels, unit, msg):
    with pytest.raises(BadInputError, match=msg):
        validate_labels(labels, unit, "x.txt", lines=[7])


def test_validate_row_number_without_lines():
    with pytest.raises(BadInputError, match="row 2: JND1"):
        validate_labels([[1, 2, 3], [99, 2, 3]], "qp", "f")


def test_non_monotone_warns_by_default_and_can_error():
    with pytest.warns(NonMonotoneLabelsWarning, match=r"f.txt: line 3: levels 30 25 35 are not ordered"):
        validate_labels([[30, 25, 35]], "qp", "f.txt", lines=[3])
    with pytest.raises(BadInputError, match="JND1 >= JND2 >= JND3"):
        validate_labels([[30, 40, 20]], "qf", "f.txt", non_monotone="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_labels([[30, 25, 35]], "qp", "f.txt", non_monotone="ignore")
        validate_labels([[50, 40, 30]], "qf", "f.txt")  # ordered for QF


def test_shape_error():
    with pytest.raises(BadInputError, match="shape"):
        validate_labels(np.zeros((2, 3, 1)), "qp", "f")
