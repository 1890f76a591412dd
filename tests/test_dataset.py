import pytest
import torch
from torch.utils.data import DataLoader

from laserjnd.data.dataset import JNDDataset
from laserjnd.errors import BadInputError


def test_items_are_canonical_tensors(tiny_dataset):
    ds = JNDDataset(tiny_dataset, "train", input_size=(32, 48), jnd_frames=True, saliency=True)
    assert len(ds) == 4 and ds.unit == "qp" and ds.manifest["label_kind"] == "proxy"
    item = ds[0]
    assert item["frame"].shape == (3, 32, 48) and item["frame"].dtype == torch.float32
    assert 0.0 <= item["frame"].min() and item["frame"].max() <= 1.0
    assert item["jnd"].shape == (3,) and torch.all(item["jnd"][1:] >= item["jnd"][:-1])
    assert item["jnd_frames"].shape == (3, 3, 32, 48)
    assert item["saliency"].shape == (1, 32, 48)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["frame"].shape == (2, 3, 32, 48) and batch["jnd"].shape == (2, 3)


def test_labels_match_levels_file(tiny_dataset):
    ds = JNDDataset(tiny_dataset, "test", input_size=(16, 16))
    lines = (tiny_dataset / "test" / "JND-Levels.txt").read_text().split("\n")
    assert [float(x) for x in lines[0].split()] == ds.labels[0].tolist()


def test_missing_split_is_clear(tmp_path):
    with pytest.raises(BadInputError, match="split folder 'train' not found"):
        JNDDataset(tmp_path, "train")
