"""Unreadable pixel data gives one line naming the file, the group (or CSV line) and the row:
from the readers, through tf.data, and from every tool that reads data (issue 11, item 14)."""

import os
import subprocess
import sys

import cv2
import h5py
import numpy as np
import pytest

from h5_builders import coded_images, sted_labels, write_sted, write_xgaze
from tfredirect.data import pairs, sources
from tfredirect.data.index import DataReadError, read_error_message

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H5_ERROR = "cannot read pixel data (OSError: Can't synchronously read data (filter returned failure during read))"


def _corrupt_chunk(path, dataset, row):
    """Overwrite the stored (compressed) chunk of `row` with garbage, as a bad disk block would."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(row)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\xff" * info.size)


def corrupt_sted(path, n=8, bad=("p1", 3), labels_too=False):
    rng = np.random.default_rng(0)
    write_sted(path, {f"p{p}": (coded_images(p, n, 32), sted_labels(rng.uniform(-0.5, 0.5, (n, 2)),
                                                                    rng.uniform(-0.4, 0.4, (n, 2))))
                      for p in range(2)}, compression="gzip")
    _corrupt_chunk(path, f"{bad[0]}/pixels", bad[1])
    if labels_too:
        _corrupt_chunk(path, "p0/labels", 0)
    return str(path)


def corrupt_xgaze(path, n=6, bad=2):
    rng = np.random.default_rng(1)
    write_xgaze(path, coded_images(0, n, 32)[..., ::-1], rng.uniform(-0.5, 0.5, (n, 2)),
                rng.uniform(-0.4, 0.4, (n, 2)), compression="gzip")
    _corrupt_chunk(path, "face_patch", bad)
    return str(path)


def folder_with_a_non_square_image(root, n=16):
    """labels.csv of n PNGs of two persons, all square but image 5 (CSV line 7): 40x32."""
    rng = np.random.default_rng(2)
    os.makedirs(root / "imgs")
    lines = ["path,person,gaze_pitch,gaze_yaw,head_pitch,head_yaw"]
    for i in range(n):
        shape = (32, 40, 3) if i == 5 else (32, 32, 3)
        cv2.imwrite(str(root / "imgs" / f"{i}.png"), np.full(shape, 10 * i, np.uint8))
        angles = ",".join(f"{v:.4f}" for v in rng.uniform(-0.4, 0.4, 4))
        lines.append(f"imgs/{i}.png,person{i % 2},{angles}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return str(root / "labels.csv")


def test_a_corrupted_sted_chunk_names_file_group_and_row(tmp_path):
    path = corrupt_sted(tmp_path / "bad.h5")
    index = sources.build_index("sted", path)
    assert index.read(np.arange(8), 32).shape == (8, 32, 32, 3)  # p0 is intact
    with pytest.raises(DataReadError) as err:
        index.read(np.arange(16), 32)
    assert str(err.value) == f"{path}: '/p1/pixels' row 3: {H5_ERROR}"


def test_a_corrupted_xgaze_chunk_names_file_dataset_and_row(tmp_path):
    path = corrupt_xgaze(tmp_path / "subject0007.h5")
    index = sources.build_index("xgaze", path)
    with pytest.raises(DataReadError, match=rf"^{path}: '/face_patch' row 2: cannot read pixel data \(OSError: "):
        index.read(np.arange(6), 32)


def test_a_non_square_png_names_the_csv_line_and_the_image(tmp_path):
    csv = folder_with_a_non_square_image(tmp_path)
    index = sources.build_index("folder", csv)
    image = os.path.join(str(tmp_path), "imgs", "5.png")
    with pytest.raises(DataReadError) as err:
        index.read(np.arange(8), 32)
    assert str(err.value) == f"{csv}: line 7: {image}: image is 40x32, expected a square face patch"


def test_corrupted_labels_name_the_file_and_dataset_when_indexing(tmp_path):
    path = corrupt_sted(tmp_path / "bad.h5", labels_too=True)
    with pytest.raises(ValueError, match=rf"^{path}: '/p0/labels': cannot read \(Can't synchronously read data"):
        sources.build_index("sted", path)


@pytest.mark.parametrize("stream", ["samples", "pairs"])
def test_tf_data_delivers_the_readers_message_whole(tmp_path, stream):
    path = corrupt_sted(tmp_path / "bad.h5")
    index = sources.build_index("sted", path)
    ds = pairs.sample_dataset(index, 32) if stream == "samples" else \
        pairs.pair_dataset(index, 32, 16, seed=0, infinite=False)
    with pytest.raises(Exception) as err:
        list(ds.as_numpy_iterator())
    assert not isinstance(err.value, DataReadError)  # wrapped by tf.data
    assert read_error_message(err.value) == f"{path}: '/p1/pixels' row 3: {H5_ERROR}"
    assert read_error_message(ValueError("something else")) is None


@pytest.mark.parametrize("chunk, done", [(64, None), (4, 8)])
def test_an_augmentation_failing_on_its_input_keeps_staging_only_with_work_to_resume(tiny_redirector, tmp_path,
                                                                                     chunk, done):
    from tfredirect import augmentation

    path = corrupt_sted(tmp_path / "bad.h5")  # global source 11 (p1 row 3) is unreadable
    out = tmp_path / "aug.h5"
    with pytest.raises(DataReadError, match=r"'/p1/pixels' row 3"):
        augmentation.augment(sources.build_index("sted", path), augmentation.KerasBackend(tiny_redirector), str(out),
                             1, augmentation.TargetSampler(seed=0), chunk=chunk)
    staged = tmp_path / "aug.h5.partial"
    if done is None:  # failed in its first chunk: nothing to resume, nothing left
        assert sorted(os.listdir(tmp_path)) == ["bad.h5"]
    else:  # sources 0-7 done: kept for a resume (once the input is mended)
        assert sorted(os.listdir(staged)) == [".lock", "chunk_0000000000_0000000004.h5",
                                              "chunk_0000000004_0000000008.h5", "run.json"]
        assert augmentation.staging_progress(out) == done and not out.exists()


def _run(tool, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", f"{tool}.py"), *args], capture_output=True,
                          text=True, timeout=600, env=env, cwd=ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["train", "evaluate", "train_estimator", "augment", "export"])
@pytest.mark.parametrize("data", ["sted", "folder"])
def test_every_tool_reports_unreadable_pixels_in_one_line(tiny_redirector_file, tmp_path, tool, data):
    if data == "sted":
        path = corrupt_sted(tmp_path / "bad.h5")
        expected = f"{path}: '/p1/pixels' row 3: {H5_ERROR}"
    else:
        path = folder_with_a_non_square_image(tmp_path / "faces")
        expected = f"{path}: line 7: {os.path.join(str(tmp_path / 'faces'), 'imgs', '5.png')}: image is 40x32"
    args = {
        "evaluate": [f"--model={tiny_redirector_file}", f"--data={data}", f"--data_path={path}", "--pairs=16"],
        "train": ["--preset=tiny", f"--data={data}", f"--data_path={path}", "--steps=2", "--checkpoint_every=1",
                  "--batch_size=4", f"--out_dir={tmp_path / 'run'}", "--verbose=0"],
        "train_estimator": [f"--data={data}", f"--data_path={path}", "--size=32", "--steps=2", "--batch_size=16",
                            f"--out_dir={tmp_path / 'est'}", "--verbose=0"],
        "augment": [f"--data={data}", f"--data_path={path}", f"--model={tiny_redirector_file}",
                    f"--out={tmp_path / 'aug'}", "--per_image=1", "--layout=sted"],
        "export": [f"--checkpoint={tiny_redirector_file}", f"--out_dir={tmp_path / 'exp'}", "--formats=tflite",
                   "--quantize=int8", f"--representative={path}", f"--representative_source={data}",
                   "--representative_count=16", "--check_images=0"],
    }[tool]
    result = _run(tool, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith(f"{tool}.py: error: ")]
    assert errors and errors[0].startswith(f"{tool}.py: error: {expected}"), result.stderr
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    if tool == "augment":  # failed before its first chunk: no staging left for a resume that cannot start
        assert not os.path.exists(tmp_path / "aug.partial") and not os.path.exists(tmp_path / "aug")
