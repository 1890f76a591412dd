"""CI runs the shortened demo end to end: prepare -> train -> evaluate -> predict -> report."""

import re

from laserjnd.cli.main import main


def test_quick_demo_writes_a_report(tmp_path, cache_dir, monkeypatch, capsys):
    monkeypatch.setenv("LASERJND_CACHE_DIR", str(cache_dir))
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 0
    report = tmp_path / "demo" / "report.md"
    assert str(report.resolve()) in capsys.readouterr().out
    text = report.read_text()
    assert "proxy labels" in text and "not subjective JND" in text
    assert re.search(r"\| JND1 \| \d+\.\d\d \| \d+\.\d\d \|", text)  # the test-split table has numbers
    # The bundled model as shipped, then fine-tuned, beside the median: all three MAEs are numbers.
    assert "bundled, zero-shot MAE" in text
    assert re.search(r"\| JND1 \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \|", text)
    from laserjnd.checkpoint import read_checkpoint

    (ckpt,) = (tmp_path / "demo").glob("*.pt")
    assert read_checkpoint(ckpt)["meta"]["start"]["rule"] == "init weights"  # fine-tuned, not trained afresh
    for img in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (tmp_path / "demo" / img).stat().st_size > 1000  # every embedded plot exists
    assert (tmp_path / "demo" / "predictions.csv").read_text().count("video-median") == 1
    assert list((tmp_path / "demo" / "encoded").glob("*.264"))
