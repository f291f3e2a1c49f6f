"""One model loader for every tool (serving.checkpoints.load_generator): run directories of
runs trained with the consistency loss load without their estimator (issue 11, item 1), and
damaged .keras files get messages that name the file and say what is wrong (item 15)."""

import json
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from tfredirect.config import LossConfig, preset
from tfredirect.serving.checkpoints import load_generator


def _weights(model):
    return [np.asarray(w) for w in model.weights]


@pytest.fixture(scope="module")
def consistency_run(tmp_path_factory):
    """A tools/train.py run directory of a run trained with --w_consistency > 0: config.json,
    a CheckpointManager checkpoint of gan + optimizers, and the generator's weights."""
    import keras

    from tfredirect.training import RedirectionGAN
    from tfredirect.training.loop import TrainConfig

    run = tmp_path_factory.mktemp("run") / "demo"
    run.mkdir()
    keras.utils.set_random_seed(3)
    gan = RedirectionGAN(preset("tiny"), LossConfig(), seed=3)
    gan.compile()
    for i, w in enumerate(gan.generator.weights):  # weights no fresh model has
        w.assign(w + 0.01 * (i + 1))
    ckpt = tf.train.Checkpoint(gan=gan, g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer)
    tf.train.CheckpointManager(ckpt, str(run / "checkpoints"), max_to_keep=3).save()
    cfg = TrainConfig(out_dir=str(run), preset="tiny", loss=LossConfig(consistency=0.5),
                      consistency_estimator="auto", steps=500, checkpoint_every=500)
    (run / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    return str(run), _weights(gan.generator)


def test_a_consistency_run_loads_from_its_folder_and_its_checkpoint_prefix(consistency_run):
    run, expected = consistency_run
    for path in (run, os.path.join(run, "checkpoints", "ckpt-1")):
        model = load_generator(path)
        assert model.image_size == 32
        got = _weights(model)
        assert len(got) == len(expected)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_run_directory_errors_name_the_path(consistency_run, tmp_path):
    run, _ = consistency_run
    with pytest.raises(ValueError, match=r"nowhere: no such model file, run directory or checkpoint"):
        load_generator(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: not a training run \(no .*config.json\)"):
        load_generator(str(tmp_path / "empty"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"preset": "huge"}')
    with pytest.raises(ValueError, match="no checkpoint"):
        load_generator(str(broken))
    bad_preset = tmp_path / "other"
    bad_preset.mkdir()
    os.symlink(os.path.join(run, "checkpoints"), bad_preset / "checkpoints")
    (bad_preset / "config.json").write_text('{"preset": "demo"}')
    with pytest.raises(ValueError, match=r"ckpt-1: checkpoint does not match preset .demo. of .*: it holds 56 generator variables, the preset has 68"):
        load_generator(str(bad_preset))


def _damaged(tmp_path, source, name, edit):
    """A copy of the .keras `source` with its members passed through `edit(name, bytes)`."""
    path = tmp_path / f"{name}.keras"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w") as zout:
        for member in zin.namelist():
            data = edit(member, zin.read(member))
            if data is not None:
                zout.writestr(member, data)
    return str(path)


@pytest.fixture(scope="module")
def damaged_models(tiny_redirector_file, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("damaged")
    data = open(tiny_redirector_file, "rb").read()
    truncated = tmp / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    return {
        "truncated": (str(truncated), r"truncated\.keras: not a \.keras archive \(\d+ bytes; truncated"),
        "config": (_damaged(tmp, tiny_redirector_file, "badconfig",
                            lambda n, b: b"{not json" if n == "config.json" else b),
                   r"badconfig\.keras: damaged model config \(config\.json: "),
        "weights": (_damaged(tmp, tiny_redirector_file, "badweights",
                             lambda n, b: b[: len(b) // 3] if n.endswith(".h5") else b),
                    r"badweights\.keras: damaged weights \(model\.weights\.h5: "),
        "missing": (_damaged(tmp, tiny_redirector_file, "noweights",
                             lambda n, b: None if n.endswith(".h5") else b),
                    r"noweights\.keras: damaged \.keras archive \(no model\.weights\.h5\)"),
    }


@pytest.mark.parametrize("kind", ["truncated", "config", "weights", "missing"])
def test_damaged_keras_files_say_what_is_wrong_and_name_the_file(damaged_models, kind):
    path, message = damaged_models[kind]
    with pytest.raises(ValueError, match=message) as err:
        load_generator(path)
    assert "File not found" not in str(err.value) and "\n" not in str(err.value)


def _one_error_line(result, tool_name):
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(f"{tool_name}.py: error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


@pytest.mark.slow
@pytest.mark.parametrize("tool_name, args", [
    ("export", ["--model={model}", "--out_dir={tmp}/exp", "--formats=saved_model", "--check_images=0"]),
    ("evaluate", ["--model={model}", "--persons=2", "--pairs_per_person=1"]),
    ("augment", ["--data=sted", "--data_path={tmp}/none.h5", "--model={model}", "--out={tmp}/aug.h5"]),
    ("downstream", ["--model={model}", "--out_dir={tmp}/ds", "--steps=1"]),
])
def test_every_tool_reports_a_truncated_model_in_one_line(tool, damaged_models, tmp_path, tool_name, args):
    path = damaged_models["truncated"][0]
    if tool_name == "augment":
        import sys

        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "data"))
        from h5_builders import coded_images, sted_labels, write_sted

        write_sted(str(tmp_path / "none.h5"), {"p0": (coded_images(0, 2, 32), sted_labels([[0, 0]] * 2, [[0, 0]] * 2))})
    result = tool(tool_name, *[a.format(model=path, tmp=tmp_path) for a in args])
    line = _one_error_line(result, tool_name)
    assert "truncated.keras: not a .keras archive" in line
    assert not (tmp_path / "exp").exists() and not (tmp_path / "aug.h5").exists()


@pytest.mark.slow
def test_export_and_evaluate_take_the_run_directory_of_a_consistency_run(tool, consistency_run, tmp_path):
    run, _ = consistency_run
    exported = tool("export", f"--model={run}", f"--out_dir={tmp_path / 'exp'}", "--formats=saved_model",
                    "--check_images=2")
    assert exported.returncode == 0, exported.stderr
    meta = json.loads((tmp_path / "exp" / "export.json").read_text())
    assert meta["source"] == os.path.abspath(run) and meta["image_size"] == 32
    evaluated = tool("evaluate", f"--model={run}", "--persons=2", "--pairs_per_person=1", "--examples=0",
                     f"--out={tmp_path / 'eval.json'}")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["model"] == os.path.abspath(run) and result["pairs"] == 2
