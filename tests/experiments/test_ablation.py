import json
import os

import pytest

from tfredirect.experiments import ablation


def test_cells_change_only_their_arms_fields_and_scale_the_schedule(tmp_path):
    cfg = ablation.AblationConfig(out_dir=str(tmp_path), arms=("recipe", "no_keep", "rgb"), steps=1000)
    recipe = ablation.train_config(cfg, "recipe", 1, "est.keras")
    no_keep = ablation.train_config(cfg, "no_keep", 1, "est.keras")
    # the demo recipe's adversarial term starts at 1500 of 3000 steps, warms up over 1000
    assert (recipe.gan.start, recipe.gan.warmup) == (500, 333)
    assert recipe.steps == 1000 and recipe.checkpoint_every == 500 and recipe.seed == 1
    assert recipe.consistency_estimator == "est.keras" and recipe.loss.keep == 200.0
    assert no_keep.loss.keep == 0.0 and no_keep.out_dir == os.path.join(str(tmp_path), "no_keep-s1")
    differ = {k for k, v in no_keep.to_dict().items() if v != recipe.to_dict()[k]}
    assert differ == {"loss", "out_dir"}
    rgb = ablation.train_config(cfg, "rgb", 0, "est.keras")
    assert rgb.decoder == "rgb" and rgb.loss.flow_smooth == 0.0
    with pytest.raises(ValueError, match="unknown arm"):
        ablation.AblationConfig(out_dir=str(tmp_path), arms=("recipe", "bogus"))
    with pytest.raises(ValueError, match="distinct"):
        ablation.AblationConfig(out_dir=str(tmp_path), seeds=(0, 0))
    with pytest.raises(ValueError, match="not a file"):
        ablation.AblationConfig(out_dir=str(tmp_path), judge=str(tmp_path / "missing.keras"))


@pytest.mark.slow
def test_tiny_ablation_tabulates_seeds_and_reuses_finished_cells(tmp_path):
    from tfredirect.training.estimation import build_estimator

    judge = str(tmp_path / "judge.keras")
    build_estimator(32).save(judge)
    cfg = ablation.AblationConfig(out_dir=str(tmp_path / "abl"), arms=("recipe", "no_keep"), seeds=(0, 1), steps=4,
                                  recipe="tiny", judge=judge, persons=2, verbose=0)
    done = ablation.run(cfg, log=lambda m: None)
    cells = {(a, s): json.load(open(os.path.join(ablation.cell_dir(cfg, a, s), "eval.json")))
             for a in cfg.arms for s in cfg.seeds}
    for (arm, seed), cell in cells.items():
        assert cell["arm"] == arm and cell["seed"] == seed and cell["redirection"]["both"]["pairs"] == 8
    row = done["table"]["recipe"]["gaze err"]
    values = [cells[("recipe", s)]["redirection"]["gaze"]["gaze_error_deg"] for s in (0, 1)]
    assert row["seeds"] == 2 and row["mean"] == pytest.approx(sum(values) / 2)
    assert row["max"] - row["min"] == pytest.approx(abs(values[0] - values[1]))
    assert values[0] != values[1]  # the seeds train different models
    markdown = open(done["files"]["table"]).read()
    assert markdown == done["markdown"] and "| recipe | 2 |" in markdown and "| no_keep | 2 |" in markdown
    # a rerun trains nothing: every cell is reused, a lost evaluation is redone from the run
    os.remove(os.path.join(ablation.cell_dir(cfg, "no_keep", 1), "eval.json"))
    messages = []
    again = ablation.run(cfg, log=messages.append)
    assert sum("done before" in m for m in messages) == 3 and not any("training" in m for m in messages)
    assert again["table"] == done["table"]
