import json

import numpy as np
import pytest

from laserjnd.data.labels.mcljci import (
    MAT_FILES,
    SUR_CSV,
    XLSX_FILE,
    image_name,
    load_mcljci_labels,
    mcljci_jnd,
    read_mcljci_samples,
    read_mcljci_sur_csv,
)
from laserjnd.errors import BadInputError

scipy_io = pytest.importorskip("scipy.io")


# -- the samples workbook: not a label source (see mcljci.py), read here to check it against the .mat files

def read_mcljci_xlsx(path) -> dict[int, list[list[int]]]:
    """``image number -> per-viewer JND sequences`` from the workbook's first sheet; a viewer's
    sequence ends where the value stops falling (ambiguous for a few images, see mcljci.py)."""
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = [r for r in wb.worksheets[0].iter_rows(values_only=True) if r and r[0] is not None]
    finally:
        wb.close()
    out: dict[int, list[list[int]]] = {}
    for number, text in (r[:2] for r in rows):
        seq = json.loads(str(text))
        viewers = [[seq[0]]]
        for a, b in zip(seq, seq[1:]):
            if b < a:
                viewers[-1].append(b)
            else:
                viewers.append([b])
        out[int(number)] = viewers
    return out


def xlsx_mismatches(xlsx: dict[int, list[list[int]]], samples: np.ndarray) -> list[int]:
    """Image numbers whose workbook viewers' first three points differ from the ``.mat`` samples."""
    bad = []
    for i in range(samples.shape[0]):
        viewers = xlsx.get(i + 1)
        triples = [tuple((v + [0, 0, 0])[:3]) for v in viewers] if viewers is not None else None
        if triples != [tuple(int(x) for x in t) for t in samples[i]]:
            bad.append(i + 1)
    return bad


def _write_mats(folder, samples):
    for k, (f, key) in enumerate(MAT_FILES):
        scipy_io.savemat(folder / f, {key: samples[..., k].astype(np.uint8)})


def _synthetic(rng, n_img=3, n_view=8):
    first = rng.integers(30, 60, size=(n_img, n_view))
    second = first - rng.integers(3, 10, size=first.shape)
    third = second - rng.integers(3, 10, size=first.shape)
    third[0, 0] = 0  # a viewer who found only two JNDs
    return np.stack([first, second, third], -1)


def test_samples_and_labels_synthetic(tmp_path):
    s = _synthetic(np.random.default_rng(1))
    _write_mats(tmp_path, s)
    got = read_mcljci_samples(tmp_path)
    np.testing.assert_array_equal(got, s)
    jnd = mcljci_jnd(got)
    for i in range(3):
        for k in range(3):
            assert jnd[i, k] == np.ceil(np.quantile(s[i, :, k], 0.75) - 0.5)
    labels = load_mcljci_labels(tmp_path)
    assert list(labels) == ["SRC01", "SRC02", "SRC03"]
    assert labels["SRC02"] == tuple(jnd[1])


def test_missing_counts_as_satisfied_or_dropped():
    s = np.zeros((1, 4, 3), dtype=int)
    s[0, :, 0], s[0, :, 1] = [50, 50, 50, 50], [40, 40, 40, 40]
    s[0, :, 2] = [30, 0, 0, 0]  # three viewers never saw a 3rd difference
    assert mcljci_jnd(s)[0, 2] == 7  # 75 % quantile of [0, 0, 0, 30] is 7.5; halves round down in QF
    assert mcljci_jnd(s, drop_missing=True)[0, 2] == 30


def test_mat_v73_via_h5py(tmp_path):
    h5py = pytest.importorskip("h5py")
    s = _synthetic(np.random.default_rng(2))
    for k, (f, key) in enumerate(MAT_FILES):
        header = b"MATLAB 7.3 MAT-file, test".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM"
        with h5py.File(tmp_path / f, "w", userblock_size=512) as h:
            h[key] = s[..., k].T.astype(np.uint8)  # MATLAB stores column-major
        with open(tmp_path / f, "r+b") as fh:
            fh.write(header.ljust(512, b"\0"))
    np.testing.assert_array_equal(read_mcljci_samples(tmp_path), s)


def test_mat_errors(tmp_path):
    with pytest.raises(BadInputError, match="JND_first.mat: MCL-JCI .mat file not found"):
        read_mcljci_samples(tmp_path)
    s = _synthetic(np.random.default_rng(3))
    s[1, 2, 0] = 0
    _write_mats(tmp_path, s)
    with pytest.raises(BadInputError, match="image 2, viewer 3: no 1st JND"):
        read_mcljci_samples(tmp_path)
    scipy_io.savemat(tmp_path / MAT_FILES[1][0], {MAT_FILES[1][1]: np.ones((2, 2), np.uint8)})
    with pytest.raises(BadInputError, match="shape"):
        read_mcljci_samples(tmp_path)


def test_xlsx_split_and_compare(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([1, json.dumps([29, 18, 13, 11, 8, 23, 12, 10, 7])])
    ws.append([2, json.dumps([30, 20, 40, 20, 10])])
    wb.save(tmp_path / "s.xlsx")
    x = read_mcljci_xlsx(tmp_path / "s.xlsx")
    assert x == {1: [[29, 18, 13, 11, 8], [23, 12, 10, 7]], 2: [[30, 20], [40, 20, 10]]}
    s = np.array([[[29, 18, 13], [23, 12, 10]], [[30, 20, 0], [40, 20, 9]]])
    assert xlsx_mismatches(x, s) == [2]


def _sur_csv(path, rows):
    path.write_text("ref_img,ref_patch,dist_patch,first_SUR,second_SUR,third_SUR,set\n" + "".join(rows))


def test_sur_csv_synthetic(tmp_path):
    rows = []
    for img, fold in (("SRC01", 1), ("SRC02", 2)):
        for qf in range(1, 101):
            v = [min(1.0, qf / 40), min(1.0, qf / 30), min(1.0, qf / 20)]
            for patch in (1, 2):
                rows.append(f"{img},{img}_{patch},{img}_{qf:03d}_{patch},{v[0]},{v[1]},{v[2]},{fold}\n")
    _sur_csv(tmp_path / SUR_CSV, rows)
    t = read_mcljci_sur_csv(tmp_path / SUR_CSV)
    assert t.images == ["SRC01", "SRC02"] and t.sur.shape == (2, 100, 3) and t.qf[0] == 1
    assert t.split(1) == (["SRC02"], ["SRC01"]) and t.patches["SRC01"] == ["SRC01_1", "SRC01_2"]
    np.testing.assert_allclose(t.jnd()["SRC01"], [30, 22.5, 15])
    assert load_mcljci_labels(tmp_path, source="sur_csv")["SRC02"] == pytest.approx((30, 22.5, 15))


@pytest.mark.parametrize(
    "row,msg",
    [
        ("SRC01,SRC01_1,SRC02_001_1,0.1,0.2,0.3,1\n", "line 2: dist_patch 'SRC02_001_1' is not SRC01_<QF>_<patch>"),
        ("SRC01,SRC01_1,SRC01_101_1,0.1,0.2,0.3,1\n", "line 2: QF 101 outside"),
        ("SRC01,SRC01_1,SRC01_001_1,0.1,x,0.3,1\n", "line 2: SUR values and set must be numbers"),
        ("SRC01,SRC01_1,SRC01_001_1,0.1,1.5,0.3,1\n", "line 2: SUR values must lie in 0..1"),
        ("SRC01,SRC01_1,SRC01_001_1,0.1,0.2,0.3,1\nSRC01,SRC01_2,SRC01_001_2,0.1,0.2,0.4,1\n", "line 3: SUR of SRC01 at QF 1 differs"),
        ("SRC01,SRC01_1,SRC01_001_1,0.1,0.2,0.3,1\nSRC01,SRC01_2,SRC01_002_2,0.1,0.2,0.4,2\n", "line 3: image SRC01 is in set 2"),
    ],
)
def test_sur_csv_errors(tmp_path, row, msg):
    _sur_csv(tmp_path / "s.csv", [row])
    with pytest.raises(BadInputError, match=msg):
        read_mcljci_sur_csv(tmp_path / "s.csv")


# --- the real MCL-JCI files ------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(shared):
    folder = shared / "data" / "mcl-jci-labels"
    if not (folder / MAT_FILES[0][0]).is_file():
        pytest.skip("MCL-JCI label files not present")
    return folder


def test_real_samples(real):
    s = read_mcljci_samples(real)
    assert s.shape == (50, 30, 3)
    assert s[..., 0].min() >= 1 and s.max() <= 100
    assert (s == 0).sum(axis=(0, 1)).tolist() == [0, 7, 153]  # missing 2nd / 3rd JNDs
    present = s[..., 1:] > 0
    assert np.all(np.diff(s, axis=-1)[present] < 0)  # each viewer's own levels fall in QF


def test_real_xlsx_agrees_with_mat(real):
    mism = xlsx_mismatches(read_mcljci_xlsx(real / XLSX_FILE), read_mcljci_samples(real))
    assert mism == [4, 27, 41, 46]  # ambiguous viewer boundaries / a truncated first value


def test_real_labels(real):
    labels = load_mcljci_labels(real)
    assert list(labels) == [image_name(i) for i in range(50)]
    j = np.array(list(labels.values()))
    assert j.min() >= 1 and j.max() <= 100 and np.all(j == np.round(j))
    assert np.mean(np.all(np.diff(j, axis=1) <= 0, axis=1)) >= 0.95  # JND1 >= JND2 >= JND3 (all, in fact)
    np.testing.assert_array_equal(j.min(axis=0), [21, 14, 10])
    np.testing.assert_array_equal(j.max(axis=0), [66, 49, 43])


def test_real_sur_csv_and_agreement(real):
    t = read_mcljci_sur_csv(real / SUR_CSV)
    assert len(t.images) == 50 and t.qf.tolist() == list(range(1, 101))
    assert t.folds() == list(range(1, 11)) and all(len(t.split(k)[1]) == 5 for k in t.folds())
    assert all(len(p) == 5 for p in t.patches.values())
    assert np.all(np.diff(t.sur, axis=1) >= -1e-12)  # SUR grows with QF
    fitted = np.array([t.jnd()[n] for n in t.images])
    from_samples = mcljci_jnd(read_mcljci_samples(real))
    err = np.abs(fitted - from_samples)
    assert err.mean() < 1.5 and np.mean(err <= 2) >= 0.75 and err.max() < 7.5
