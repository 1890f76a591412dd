import numpy as np
import pytest

from laserjnd.data.labels.mtjnd import IMAGE_EXTENSIONS, list_frames, read_jnd_levels, read_split, write_jnd_levels
from laserjnd.data.labels.units import NonMonotoneLabelsWarning
from laserjnd.errors import BadInputError


def _touch(folder, *names):
    for n in names:
        (folder / n).write_bytes(b"")


def test_list_frames_sorted_by_plain_name(tmp_path):
    _touch(tmp_path, "img10.png", "img2.png", "B.JPG", "a.jpeg", "notes.txt", ".hidden.png", "JND-Levels.txt")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_frames(tmp_path)] == ["B.JPG", "a.jpeg", "img10.png", "img2.png"]


def test_image_extensions_match_media():
    media = pytest.importorskip("laserjnd.data.media")
    assert set(IMAGE_EXTENSIONS) == set(media.IMAGE_EXTENSIONS)


def test_list_frames_missing_folder(tmp_path):
    with pytest.raises(BadInputError, match="folder not found"):
        list_frames(tmp_path / "nope")


def test_read_and_write_roundtrip(tmp_path):
    labels = np.array([[20, 25, 30], [22.5, 27, 33]])
    p = tmp_path / "JND-Levels.txt"
    write_jnd_levels(p, labels)
    assert p.read_text() == "20 25 30\n22.5 27 33\n"
    np.testing.assert_array_equal(read_jnd_levels(p), labels)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temp file


def test_read_tolerates_tabs_crlf_bom_trailing_blank(tmp_path):
    p = tmp_path / "l.txt"
    p.write_bytes("\ufeff90\t80 70\r\n85 75  60\r\n\r\n".encode())
    np.testing.assert_array_equal(read_jnd_levels(p, "qf"), [[90, 80, 70], [85, 75, 60]])


@pytest.mark.parametrize(
    "text,msg",
    [
        ("", "empty file"),
        ("\n  \n", "empty file"),
        ("20 25 30\n21 26\n", "line 2: expected 3 columns .JND1 JND2 JND3., found 2"),
        ("20 25 30 35\n", "line 1: expected 3 columns"),
        ("20 abc 30\n", "line 1: column 2 'abc' is not a number"),
        ("20 25 30\n\n21 26 31\n", "line 2: blank line"),
        ("20 25 30\n21 26 60\n", "line 2: JND3 = 60 outside the qp range 0..51"),
        ("20 nan 30\n", "line 1: JND2 is nan"),
    ],
)
def test_read_errors(tmp_path, text, msg):
    p = tmp_path / "JND-Levels.txt"
    p.write_text(text)
    with pytest.raises(BadInputError, match=msg) as e:
        read_jnd_levels(p)
    assert str(e.value).startswith(str(p))


def test_missing_file(tmp_path):
    with pytest.raises(BadInputError, match="label file not found"):
        read_jnd_levels(tmp_path / "JND-Levels.txt")


def test_non_monotone_line_warns(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text("20 25 30\n30 25 35\n")
    with pytest.warns(NonMonotoneLabelsWarning, match="line 2"):
        read_jnd_levels(p)
    with pytest.raises(BadInputError, match="line 2"):
        read_jnd_levels(p, non_monotone="error")


def test_read_split_pairs_sorted(tmp_path):
    _touch(tmp_path, "b.png", "a.png", "c.png")
    (tmp_path / "JND-Levels.txt").write_text("10 20 30\n11 21 31\n12 22 32\n")
    frames, labels = read_split(tmp_path)
    assert [f.name for f in frames] == ["a.png", "b.png", "c.png"]
    np.testing.assert_array_equal(labels[:, 0], [10, 11, 12])


def test_read_split_count_mismatch(tmp_path):
    _touch(tmp_path, *[f"f{i:02d}.png" for i in range(12)])
    (tmp_path / "JND-Levels.txt").write_text("10 20 30\n" * 11)
    with pytest.raises(BadInputError, match="12 images .* but 11 label lines"):
        read_split(tmp_path)


def test_read_split_other_labels_file_and_unit(tmp_path):
    _touch(tmp_path, "a.png")
    lf = tmp_path.parent / "labels.txt"
    lf.write_text("80 60 40\n")
    _, labels = read_split(tmp_path, "qf", labels_file=lf)
    np.testing.assert_array_equal(labels, [[80, 60, 40]])


def test_write_qf_without_unit(tmp_path):
    write_jnd_levels(tmp_path / "l.txt", [[66, 49, 43]])
    np.testing.assert_array_equal(read_jnd_levels(tmp_path / "l.txt", "qf"), [[66, 49, 43]])


def test_write_rejects_bad_labels(tmp_path):
    with pytest.raises(BadInputError, match="expected 3 levels"):
        write_jnd_levels(tmp_path / "l.txt", [[1, 2]])
    with pytest.raises(BadInputError, match="outside"):
        write_jnd_levels(tmp_path / "l.txt", [[1, 2, 99]], "qp")
    with pytest.raises(BadInputError, match="within 0..100"):
        write_jnd_levels(tmp_path / "l.txt", [[1, 2, np.nan]])
    with pytest.raises(BadInputError, match="no label rows"):
        write_jnd_levels(tmp_path / "l.txt", np.zeros((0, 3)))
    assert not (tmp_path / "l.txt").exists()
