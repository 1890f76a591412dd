import json
from pathlib import Path

import numpy as np
import pytest

from laserjnd.cli.main import main
from laserjnd.data import sources
from laserjnd.data.default_content import default_content
from laserjnd.data.labels.mtjnd import read_split, write_jnd_levels
from laserjnd.data.media import read_image, write_png
from laserjnd.data.prepare import SPLITS, PrepareConfig, prepare_dataset, split_by_content
from laserjnd.errors import BadInputError, JNDError

from conftest import make_video


def _cfg(cache_dir, **kw):
    return PrepareConfig(cache_dir=cache_dir, progress=False, workers=2, **kw)


def test_split_is_content_disjoint_seeded_and_complete():
    ids = [f"c{i // 3}" for i in range(30)]  # 10 contents, 3 frames each
    a = split_by_content(ids, seed=1)
    assert set(a) == set(ids) and set(a.values()) == set(SPLITS)
    assert a == split_by_content(ids, seed=1) and a != split_by_content(ids, seed=2)
    with pytest.raises(JNDError, match="fractions"):
        split_by_content(ids, (0.5, 0.5, 0.5))


def test_default_content_layout(tiny_dataset):
    m = json.loads((tiny_dataset / "manifest.json").read_text())
    assert m["label_kind"] == "proxy" and m["label_rule"]["metric"] == "vmaf" and m["codec"]["codec"] == "h264"
    assert m["split"]["counts"] == {"train": 4, "valid": 1, "test": 1}
    by_split = {}
    for rec in m["frames"]:
        by_split.setdefault(rec["content_id"], set()).add(rec["split"])
    assert all(len(s) == 1 for s in by_split.values())  # no content in two splits
    for split in SPLITS:
        paths, labels = read_split(tiny_dataset / split, unit="qp")
        assert len(paths) == m["split"]["counts"][split]
        assert np.all(np.diff(labels, axis=1) >= 0)  # JND1 <= JND2 <= JND3 in QP
        for p in paths:
            frame = read_image(p)
            for k in (1, 2, 3):
                jf = read_image(tiny_dataset / f"jnd{k}{split}" / p.name)
                assert jf.shape == frame.shape
            assert (tiny_dataset / "ladders" / split / f"{p.stem}.json").is_file()
            assert (tiny_dataset / f"saliency{split}" / p.name).is_file()
    # JND-quality frames get worse with the level.
    p = read_split(tiny_dataset / "train", unit="qp")[0][0]
    f = read_image(p).astype(float)
    errs = [np.mean((read_image(tiny_dataset / f"jnd{k}train" / p.name) - f) ** 2) for k in (1, 2, 3)]
    assert errs[0] <= errs[1] <= errs[2] and errs[2] > 0


def test_labelled_images_keep_their_labels(tmp_path, photo, cache_dir):
    folder = tmp_path / "imgs"
    labels = np.array([[20, 25, 30], [22, 27, 33], [24, 30, 36], [26, 31, 38]], float)
    for i in range(4):
        write_png(folder / f"img{i}.png", np.roll(photo, 10 * i, axis=0)[:, : 64 + 8 * i])
    write_jnd_levels(folder / "JND-Levels.txt", labels)
    out = prepare_dataset(tmp_path / "ds", sources.labelled_images(folder), _cfg(cache_dir))
    m = json.loads((out / "manifest.json").read_text())
    assert m["label_kind"] == "subjective"
    got = {r["name"]: r["labels"] for r in m["frames"]}
    assert got == {f"img{i}": labels[i].tolist() for i in range(4)}


def test_count_mismatch_leaves_no_dataset(tmp_path, photo, cache_dir):
    folder = tmp_path / "imgs"
    for i in range(3):
        write_png(folder / f"img{i}.png", photo)
    write_jnd_levels(folder / "JND-Levels.txt", np.array([[20, 25, 30]] * 2, float))
    with pytest.raises(BadInputError, match="3 .*2|2 .*3"):
        prepare_dataset(tmp_path / "ds", sources.labelled_images(folder), _cfg(cache_dir))
    assert not (tmp_path / "ds").exists()


def test_failed_frame_keeps_finished_ladders_and_no_dataset(tmp_path, photo, cache_dir):
    folder = tmp_path / "media"
    for i in range(3):
        write_png(folder / f"ok{i}.png", np.roll(photo, 7 * i + 1, axis=1))
    (folder / "zz_broken.png").write_bytes(b"garbage")
    src = sources.proxy_media([folder])
    cdir = tmp_path / "cache"
    with pytest.raises(JNDError, match="zz_broken"):
        prepare_dataset(tmp_path / "ds", src, _cfg(cdir))
    assert not (tmp_path / "ds").exists()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
    assert len(list((cdir / "ladders").rglob("*.json"))) == 3  # resumable: finished ladders kept
    (folder / "zz_broken.png").unlink()
    stamps = {p: p.stat().st_mtime_ns for p in (cdir / "ladders").rglob("*.json")}
    prepare_dataset(tmp_path / "ds", sources.proxy_media([folder]), _cfg(cdir))
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # reused, not recomputed


def test_proxy_media_with_video(tmp_path, photo, cache_dir):
    folder = tmp_path / "media"
    for i in range(3):
        write_png(folder / f"still{i}.png", np.roll(photo, 9 * i, axis=1))
    make_video(folder / "clip.mp4", [np.roll(photo, 3 * i, axis=0) for i in range(8)])
    src = sources.proxy_media([folder], frames_per_clip=2)
    assert sum(it.content_id == "clip" for it in src.items) == 2
    out = prepare_dataset(tmp_path / "ds", src, _cfg(cache_dir))
    m = json.loads((out / "manifest.json").read_text())
    clip_splits = {r["split"] for r in m["frames"] if r["content_id"] == "clip"}
    assert len(clip_splits) == 1


def _write_videoset_csvs(folder: Path, rows: dict[int, list[list[int]]]) -> list[Path]:
    from laserjnd.data.labels.videoset import jnd_from_samples

    paths = []
    anchors = {seq: 0 for seq in rows}
    for level, name in enumerate(["1st", "2nd", "3rd"]):
        lines = ["anchor,jnd,mean,normality,samples,samples_no,sequence_index,standard_deviation"]
        for seq, per_level in rows.items():
            s = per_level[level]
            jnd = int(jnd_from_samples(np.array(s)))
            lines.append(f'{anchors[seq]},{jnd},{np.mean(s)},1,"{s}",{len(s)},{seq},{np.std(s, ddof=1)}')
            anchors[seq] = jnd
        p = folder / f"720p_{name}.csv"
        p.write_text("\n".join(lines) + "\n")
        paths.append(p)
    return paths


def test_videoset_clips(tmp_path, photo, cache_dir):
    clips = tmp_path / "clips"
    clips.mkdir()
    rng = np.random.default_rng(0)
    rows = {}
    for seq in (1, 2, 3):
        make_video(clips / f"video_{seq:03d}.mp4", [np.roll(photo, 5 * seq + i, axis=1) for i in range(6)])
        base = 20 + 3 * seq
        rows[seq] = [sorted(rng.integers(base + 6 * k, base + 6 * k + 8, 20).tolist()) for k in range(3)]
    csvs = _write_videoset_csvs(tmp_path, rows)
    src = sources.videoset_clips(clips, csvs, frames_per_clip=2)
    assert len(src.items) == 6 and src.subjective
    out = prepare_dataset(tmp_path / "ds", src, _cfg(cache_dir))
    m = json.loads((out / "manifest.json").read_text())
    assert m["label_kind"] == "subjective" and m["source"]["kind"] == "videoset"
    # Both frames of a clip carry the clip's labels and share its split.
    for seq in (1, 2, 3):
        recs = [r for r in m["frames"] if r["content_id"] == f"video_{seq:03d}"]
        assert len(recs) == 2 and recs[0]["labels"] == recs[1]["labels"] and recs[0]["split"] == recs[1]["split"]


def test_videoset_clip_without_label_row(tmp_path, photo):
    clips = tmp_path / "clips"
    clips.mkdir()
    make_video(clips / "video_099.mp4", [photo] * 3)
    csvs = _write_videoset_csvs(tmp_path, {1: [[20] * 5, [25] * 5, [30] * 5]})
    with pytest.raises(BadInputError, match="video_099.mp4: no VideoSet label row"):
        sources.videoset_clips(clips, csvs)


def test_cli_prepare_default(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("LASERJND_CACHE_DIR", str(cache_dir))
    out = tmp_path / "cli_ds"
    assert main(["prepare", str(out), "--kind", "default", "--max-side", "48", "--limit", "4", "--workers", "2"]) == 0
    assert (out / "manifest.json").is_file() and len(list((out / "train").glob("*.png"))) >= 1


def test_cli_prepare_bad_kind(tmp_path, capsys):
    assert main(["prepare", str(tmp_path / "x"), "--kind", "nope"]) == 2
    err = capsys.readouterr().err
    assert "'--kind'" in err and "'nope' is not one of 'default', 'images'" in err and err.count("\n") == 1


def test_cli_prepare_missing_folder(tmp_path, capsys):
    assert main(["prepare", str(tmp_path / "x"), "--kind", "proxy", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "missing: file or folder not found" in err and "Traceback" not in err


def test_too_few_sources_for_a_split():
    with pytest.raises(JNDError, match="at least 3 distinct sources"):
        split_by_content(["a", "a", "b"])


def test_mcljci_images_get_quality_factor_labels(tmp_path, photo, shared, cache_dir):
    folder = tmp_path / "jci"
    for i in (1, 2, 3):
        write_png(folder / f"SRC{i:02d}.png", np.roll(photo, 11 * i, axis=1))
    src = sources.mcljci_images(folder, shared / "data" / "mcl-jci-labels")
    assert src.unit == "qf" and src.subjective
    out = prepare_dataset(tmp_path / "ds", src, _cfg(cache_dir))
    m = json.loads((out / "manifest.json").read_text())
    assert m["codec"]["codec"] == "jpeg" and m["label_unit"] == "qf"
    for r in m["frames"]:
        j1, j2, j3 = r["labels"]
        assert 1 <= j3 <= j2 <= j1 <= 100  # quality factors fall as the JND level rises
