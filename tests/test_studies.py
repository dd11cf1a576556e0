"""Tests of `metalearn_edu.studies`: the tables, paired intervals and summaries the chapters and README quote."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from metalearn_edu import studies
from metalearn_edu.analysis import mean_ci, paired_ci


def _curve(values, first=0):
    """An evaluation record as the benchmarks store it: one row of per-step values per episode."""
    return {"per_episode": [[v, v] for v in values], "first_episode": first, "mean": [0, 0], "ci": [0, 0]}


def _few_shot_study():
    size, seeds = 4, [0, 1, 2]
    cells = studies.CELLS
    mlm = [0.5, 0.6, 0.7, 0.8] * 3  # 12 episodes: 3 blocks of 4
    study = {"settings": {"episodes": size, "seeds": seeds, "test_steps": 1},
             "models": {"mlm": {"eval": {c: _curve(mlm) for c in cells}},
                        "bow": {"eval": {c: _curve([v - 0.1 for v in mlm]) for c in cells}},
                        "fomaml": {"seeds": {}}}}
    gains = {0: 0.02, 1: 0.04, 2: 0.03}
    for s in seeds:
        block = mlm[s * size:(s + 1) * size]
        study["models"]["fomaml"]["seeds"][str(s)] = {
            "eval": {c: _curve([v + gains[s] for v in block], s * size) for c in cells},
            "train": {"outer_steps": 100 + s}}
    return study, gains


def test_few_shot_table_pairs_each_seed_with_the_start_on_its_own_episodes():
    study, gains = _few_shot_study()
    table = studies.few_shot_table(study)
    row = table["fomaml"]["bbc_k5"]
    want_mean, want_half = mean_ci(list(gains.values()))
    assert row["diff"] == pytest.approx(want_mean) and row["diff_half"] == pytest.approx(want_half)
    assert row["diff_per_seed"] == pytest.approx([0.02, 0.04, 0.03])
    assert table["fomaml"]["steps"]["per_seed"] == [100, 101, 102]
    assert table["bow"]["bbc_k5"]["diff"] == pytest.approx(-0.1) and table["bow"]["bbc_k5"]["diff_half"] < 1e-9
    assert "diff" not in table["mlm"]["bbc_k5"]
    md = studies.few_shot_markdown(study)
    assert "| MLM + first-order MAML | 100, 101, 102 |" in md and "(Δ +0.030 ± " in md


def test_a_method_with_one_finished_seed_is_left_out():
    study, _ = _few_shot_study()
    del study["models"]["fomaml"]["seeds"]["1"], study["models"]["fomaml"]["seeds"]["2"]
    assert "fomaml" not in studies.few_shot_table(study)


def test_difference_curves_per_step():
    study, gains = _few_shot_study()
    curves = studies.difference_curves(study, "smlmt_k1")
    assert curves["fomaml"]["steps"] == [0, 1]
    assert curves["fomaml"]["mean"] == pytest.approx([0.03, 0.03])


def test_paired_between_two_trained_models():
    study, _ = _few_shot_study()
    seeds = study["models"]["fomaml"]["seeds"]
    study["models"]["other"] = {"seeds": {
        s: {"eval": {c: _curve([r[0] - 0.01 for r in e["eval"][c]["per_episode"]]) for c in studies.CELLS}}
        for s, e in seeds.items()}}
    out = studies.paired_between(study, "fomaml", "other", cells=studies.CELLS)
    assert out["bbc_k1"]["diff"] == pytest.approx(0.01) and out["bbc_k1"]["seeds"] == [0, 1, 2]
    with pytest.raises(ValueError, match="at least 2"):
        studies.paired_between({**study, "models": {**study["models"], "other": {"seeds": {}}}}, "fomaml", "other",
                               cells=studies.CELLS)


def test_paired_fixed_uses_every_shared_episode():
    a, b = [0.2, 0.4, 0.6, 0.9], [0.1, 0.4, 0.4, 0.8]
    study = {"models": {"x": {"eval": {"ner_k1": _curve(a)}}, "y": {"eval": {"ner_k1": _curve(b), "sent_k1": _curve(b)}}}}
    out = studies.paired_fixed(study, "x", "y")
    assert list(out) == ["ner_k1"] and out["ner_k1"]["n"] == 4
    assert (out["ner_k1"]["diff"], out["ner_k1"]["diff_half"]) == pytest.approx(paired_ci(a, b))


def test_kshot_table_and_crossing_points():
    study = {"kshot": {"1": {"ft": [0.5, 0.5], "proto": [0.6, 0.62], "done": True, "seconds": 3.0},
                       "2": {"ft": [0.55, 0.57], "proto": [0.58, 0.6], "done": True},
                       "4": {"ft": [0.7, 0.72], "proto": [0.6, 0.6], "done": True},
                       "8": {"ft": [0.8], "proto": [0.7], "done": False}}}
    table = studies.kshot_table(study, reference="ft")
    assert table["proto"]["k"] == [1, 2, 4]  # the unfinished K is left out, and so is the "seconds" entry
    assert table["proto"]["diff"] == pytest.approx([0.11, 0.03, -0.11])
    k = studies.crossing_point(table["proto"]["k"], table["proto"]["diff"])
    assert k == pytest.approx(2 ** (1 + 0.03 / 0.14))
    assert studies.crossing_point([1, 2, 4], [0.0, 0.0, 0.0]) is None
    assert studies.crossing_point([1, 2, 4, 8], [0.0, -0.01, 0.0, 0.02]) == pytest.approx(2 ** (1 + 2 * 0.01 / 0.03))


def test_verdict_and_describe():
    assert studies.verdict(0.02, 0.01) == "higher" and studies.verdict(-0.02, 0.01) == "lower"
    assert studies.verdict(0.005, 0.01) == "no measurable difference"
    assert studies.describe(-0.004, 0.02) == "-0.004 ± 0.020 (no measurable difference)"


def _equal_compute_study():
    size, seeds = 2, [0, 1]
    start = {"mlm": {"loss": 4.45}, **{c: _curve([0.5, 0.6, 0.7, 0.8]) for c in studies.CELLS}}
    runs = {}
    for w in (0.0, 1.0):
        for s in seeds:
            block = [0.5, 0.6, 0.7, 0.8][s * size:(s + 1) * size]
            point = lambda final, t: {"seconds": t, "steps": int(t), "tokens": 10 * int(t), "final": final,  # noqa: E731
                                      "eval": {"mlm": {"loss": 4.45 + w * 0.3 - 0.01 * s},
                                               **{c: _curve([v + 0.02 * w for v in block]) for c in studies.CELLS}}}
            runs[f"lambda={w:g}/seed={s}"] = {"points": [point(False, 60.0), point(True, 120.0)]}
    return {"settings": {"episodes": size, "seeds": seeds, "weights": [0.0, 1.0], "budget": 120, "test_steps": 1},
            "start": start, "runs": runs}


def test_equal_compute_table_pairs_runs_with_the_start():
    table = studies.equal_compute_table(_equal_compute_study())
    assert set(table) == {"0", "1"}
    assert table["1"]["mlm_loss"]["diff"] == pytest.approx(0.295)
    assert table["1"]["bbc_k5"]["diff"] == pytest.approx(0.02) and table["0"]["bbc_k5"]["diff"] == pytest.approx(0.0)
    assert table["1"]["curve"]["seconds"] == [[0.0, 60.0, 120.0]] * 2
    assert "| 1 | 120, 120 |" in studies.equal_compute_markdown(_equal_compute_study())


def test_readme_sections_are_rewritten_between_markers(tmp_path: Path):
    import json

    folder = tmp_path / "results"
    folder.mkdir()
    study, _ = _few_shot_study()
    (folder / "few_shot_text.json").write_text(json.dumps(study))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:few_shot_text -->\nold table\n<!-- /results:few_shot_text -->\nend\n")
    assert studies.update_readme(readme, folder, check=True) == ["few_shot_text"]
    assert "old table" in readme.read_text()  # check=True changes nothing
    assert studies.update_readme(readme, folder) == ["few_shot_text"]
    text = readme.read_text()
    assert "old table" not in text and "MLM + first-order MAML" in text and text.endswith("end\n")
    assert studies.update_readme(readme, folder, check=True) == []


def test_missing_study_names_the_command(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"python benchmarks/nothing.py"):
        studies.load_study("nothing", tmp_path)
    assert math.isfinite(1.0)


def test_difference_findings_and_verdicts_skip_the_reference_and_cells_without_a_difference():
    table = {"mlm": {"a": {"mean": 0.5}, "b": {"mean": 0.6}},
             "x": {"a": {"mean": 0.6, "diff": 0.1, "diff_half": 0.05}, "b": {"mean": 0.59, "diff": -0.01, "diff_half": 0.02}},
             "bow": {"b": {"mean": 0.4, "diff": -0.2, "diff_half": 0.05}}}
    titles, names = {"a": "A 1-shot", "b": "B 5-shot"}, {"x": "model X"}
    assert studies.verdicts(table, ("a", "b")) == {"x": {"a": "higher", "b": "no measurable difference"},
                                                   "bow": {"b": "lower"}}
    assert studies.difference_findings(table, ("a", "b"), titles, names) == [
        "* **model X** vs the MLM start: A 1-shot +0.100 ± 0.050 (higher); B 5-shot -0.010 ± 0.020 (no measurable difference).",
        "* **bow** vs the MLM start: B 5-shot -0.200 ± 0.050 (lower)."]


# ---------------------------------------------------------------------------------------
# The sinusoid study over seeds
# ---------------------------------------------------------------------------------------
def _sinusoid_study():
    """Two methods × three seeds on the same 4 tasks, MSE at steps 0 and 1; one task diverged once."""
    base = {0: [1.0, 2.0, 3.0, 4.0], 1: [1.5, 2.5, 3.5, 4.5], 2: [0.5, 1.0, 2.0, 3.0]}
    shift = {0: -0.2, 1: -0.5, 2: -0.1}  # the other method's per-task advantage, per seed
    runs = {}
    for seed in (0, 1, 2):
        runs[f"maml/seed={seed}"] = {"method": "maml", "seed": seed, "train_steps": 70_000, "train_cpu_seconds": 10.0,
                                     "curve": {"per_task": [[v, v / 2] for v in base[seed]]}}
        rows = [[v + shift[seed], (v + shift[seed]) / 2] for v in base[seed]]
        if seed == 1:
            rows[3][1] = None  # this task diverged after its first step
        runs[f"reptile/seed={seed}"] = {"method": "reptile", "seed": seed, "train_steps": 70_000,
                                        "train_cpu_seconds": 5.0, "curve": {"per_task": rows}}
    return {"settings": {"eval_tasks": 4, "meta_batch": 25}, "paper": {"maml": [0.67, 0.38, 0.35]}, "runs": runs}, base, shift


def test_sinusoid_table_averages_seeds_and_pairs_on_the_tasks_where_neither_diverged():
    study, base, shift = _sinusoid_study()
    table = studies.sinusoid_table(study)
    # the mean over seeds of each seed's mean over tasks, with the t-interval over seeds
    maml = [sum(v) / 4 for v in base.values()]
    assert table["maml"][0]["mean"] == pytest.approx(sum(maml) / 3)
    assert table["maml"][0]["half"] == pytest.approx(mean_ci(maml)[1])
    # step 1: seed 1 of reptile lost task 3, so its mean and its paired difference use tasks 0-2 only
    assert table["reptile"][1]["diverged"] == [0, 1, 0]
    seed1 = [(v + shift[1]) / 2 for v in base[1][:3]]
    assert table["reptile"][1]["per_seed"][1] == pytest.approx(sum(seed1) / 3)
    diffs = [shift[0] / 2, shift[1] / 2, shift[2] / 2]  # per task (v + s)/2 − v/2 = s/2, on every kept task
    assert table["reptile"][1]["per_seed_diff"] == pytest.approx(diffs)
    assert (table["reptile"][1]["diff"], table["reptile"][1]["diff_half"]) == pytest.approx(mean_ci(diffs))
    mean, half, per_seed = studies.sinusoid_difference(study, "maml", "reptile", 0)
    assert per_seed == pytest.approx([-s for s in shift.values()]) and half == pytest.approx(mean_ci(per_seed)[1])
    with pytest.raises(KeyError, match="method='fomaml' has no runs"):
        studies.sinusoid_runs(study, "fomaml")


def test_sinusoid_markdown_states_the_seeds_and_the_differences():
    study, _, _ = _sinusoid_study()
    study["runs"] = {k: {**r, "curve": {"per_task": [row * 6 for row in r["curve"]["per_task"]]}}
                     for k, r in study["runs"].items()}  # steps 0..11, so that 1 / 5 / 10 exist
    text = studies.sinusoid_markdown(study)
    assert "| MAML | 70,000 | 10 |" in text and "0.67 / 0.38 / 0.35" in text
    assert "(Δ " in text.splitlines()[3] and "mean over the 3 training seeds" in text
    # a method whose training diverged on a seed says which seeds its row averages
    study["runs"].pop("reptile/seed=0")
    study["failed"] = {"reptile/seed=0": {"method": "reptile", "seed": 0, "error": "blew up"}}
    row = next(line for line in studies.sinusoid_markdown(study).splitlines() if line.startswith("| Reptile"))
    assert "seeds 1, 2 only: training diverged on seed 0" in row


def test_like_for_like_pairs_two_trained_models_and_the_main_table_leaves_the_controls_out():
    study, gains = _few_shot_study()
    seeds = study["models"]["fomaml"]["seeds"]
    offsets = {"0": 0.01, "1": 0.03, "2": 0.02}  # unequal per seed: the interval is not zero
    study["models"]["fomaml_all"] = {"seeds": {
        s: {"eval": {c: _curve([r[0] + offsets[s] for r in e["eval"][c]["per_episode"]], int(s) * 4)
                     for c in studies.CELLS}, "train": {"outer_steps": 50}} for s, e in seeds.items()}}
    rows = studies.like_for_like_table(study)
    assert [r["name"] for r in rows] == ["first-order MAML: every parameter − top block"]
    want = mean_ci(list(offsets.values()))
    assert (rows[0]["bbc_k5"]["diff"], rows[0]["bbc_k5"]["diff_half"]) == pytest.approx(want)
    assert rows[0]["steps"] == {"fomaml_all": [50, 50, 50], "fomaml": [100, 101, 102]}
    assert "fomaml_all" not in studies.few_shot_table(study) and "fomaml_all" in studies.few_shot_table(study, controls=True)
    assert "every parameter" not in studies.few_shot_markdown(study)
    assert "| first-order MAML: every parameter − top block (CPU time) | 50, 50, 50 / 100, 101, 102 |" in \
        studies.like_for_like_markdown(study)


def test_equal_steps_table_compares_each_run_with_lambda_zero_after_the_same_steps():
    study = _equal_compute_study()
    study["equal_steps"] = {"0": {"120": {"mlm": {"loss": 4.70}}}, "1": {"120": {"mlm": {"loss": 4.72}}}}
    row = studies.equal_steps_table(study)["lambda=1"]
    assert row["steps"] == [120, 120]
    # the λ = 1 runs end at 4.75 and 4.74; the start is 4.45; λ = 0 at 120 steps is 4.70 and 4.72
    assert row["mlm_vs_start"]["per_seed"] == pytest.approx([0.30, 0.29])
    assert row["mlm_vs_equal_steps"]["per_seed"] == pytest.approx([0.05, 0.02])
    assert (row["mlm_vs_equal_steps"]["diff"], row["mlm_vs_equal_steps"]["diff_half"]) == pytest.approx(mean_ci([0.05, 0.02]))
    assert "lambda=0" not in studies.equal_steps_table(study)  # λ = 0 is the control, not a row
    assert "| λ = 1 | 120, 120 | +0.2950 ± " in studies.equal_steps_markdown(study)
    assert studies.equal_steps_name("protonet/lambda=0.5") == "λ = 0.5, ProtoNet term"


def test_memorisation_curves_average_each_seed_then_take_the_interval_over_seeds():
    def run(train, swapped):
        return {"points": [{"step": 0, "train": [0.5, 0.5], "held_out": [0.5, 0.5], "new_order": [0.5, 0.5],
                            "swapped": [0.2, 0.2]},
                           {"step": 10, "train": train, "held_out": [0.9, 0.9], "new_order": [0.6, 0.8],
                            "swapped": swapped}]}
    study = {"runs": {"fixed/seed=0": run([1.0, 0.8], [0.8, 0.6]), "fixed/seed=1": run([1.0, 1.0], [0.9, 0.9]),
                      "shuffled/seed=0": run([0.9, 0.9], [0.0, 0.2]), "shuffled/seed=1": run([0.9, 0.7], [0.1, 0.1])}}
    curves = studies.memorisation_curves(study)
    assert curves["fixed"]["steps"] == [0, 10] and curves["fixed"]["seeds"] == 2
    assert [v for row in curves["fixed"]["train"]["per_seed"] for v in row] == pytest.approx([0.5, 0.9, 0.5, 1.0])
    assert curves["fixed"]["swapped"]["mean"][1] == pytest.approx(0.8)
    diff = studies.memorisation_difference(study, "swapped")
    assert diff["per_seed"] == pytest.approx([0.6, 0.8])
    assert (diff["diff"], diff["diff_half"]) == pytest.approx(mean_ci([0.6, 0.8]))


def test_feature_reuse_table_pairs_each_set_with_the_top_block_on_the_same_episodes():
    def cell(top, head, cka):
        rows = lambda vals: [[0.4, v] for v in vals]  # noqa: E731
        return {"head": rows(head), "top1": rows(top), "all": rows([0.2, 0.2]), "all@0.1α": rows(top),
                "cka": [cka, cka]}
    study = {"starts": {"mlm": {"0": {"bbc_k5": cell([0.8, 0.9], [0.7, 0.9], [1.0, 0.9]),
                                      "smlmt_k5": cell([0.5, 0.5], [0.5, 0.5], [1.0, 0.8])},
                                "1": {"bbc_k5": cell([0.6, 0.8], [0.6, 0.6], [1.0, 0.7]),
                                      "smlmt_k5": cell([0.5, 0.5], [0.5, 0.5], [1.0, 0.8])}}}}
    row = studies.feature_reuse_table(study)["mlm"]
    assert row["bbc_k5"]["head"]["diff"] == pytest.approx(mean_ci([-0.05, -0.1])[0])
    assert row["bbc_k5"]["all@0.1α"]["diff"] == pytest.approx(0.0)
    assert row["bbc_k5"]["step0"] == pytest.approx(0.4)
    assert [v for r in row["cka"]["bbc_k5"]["per_seed"] for v in r] == pytest.approx([1.0, 0.9, 1.0, 0.7])
    assert row["cka"]["bbc_k5"]["mean"] == pytest.approx([1.0, 0.8])


def minilm_study() -> dict:
    """Two episodes per seed and cell, three seeds; accuracies over steps 0 … 2 chosen by hand."""
    def curve(rows, first=0):
        return {"per_episode": rows, "first_episode": first, "n_episodes": len(rows)}

    start_rows = [[0.4, 0.5, 0.6], [0.5, 0.5, 0.5], [0.6, 0.6, 0.7], [0.3, 0.4, 0.4], [0.5, 0.6, 0.6], [0.4, 0.4, 0.5]]
    start = {"eval": {c: curve(start_rows) for c in studies.MINILM_CELLS},
             "kcurve": {"1": curve([[0.5, 0.5, 0.6], [0.4, 0.5, 0.5]]), "64": curve([[0.7, 0.7, 0.8], [0.6, 0.7, 0.7]])},
             "fp32_eval": {"movies_k5": curve([[0.4, 0.5, 0.5], [0.5, 0.5, 0.5]])}}
    bumps = {"fomaml": (0.1, 0.0, 0.2), "protonet": (0.0, 0.0, 0.0)}
    models = {"minilm": start}
    for recipe, bump in bumps.items():
        seeds = {}
        for s, b in enumerate(bump):
            block = [[v + b for v in row] for row in start_rows[2 * s:2 * s + 2]]
            seeds[str(s)] = {"eval": {c: curve(block, 2 * s) for c in studies.MINILM_CELLS},
                             "kcurve": {k: curve([[v + b for v in row] for row in c["per_episode"]])
                                        for k, c in start["kcurve"].items()},
                             "train": {"outer_steps": 10 + s, "train_seconds": 60.0, "relative_change": 0.01}}
        models[recipe] = {"seeds": seeds}
    models["hybrid_smlmt"] = {"seeds": {"0": models["protonet"]["seeds"]["0"]}}  # one seed: left out
    return {"settings": {"episodes": 2, "seeds": [0, 1, 2], "test_steps": 2, "inner_lr": 0.05, "kshot_episodes": 2,
                         "budget": 60, "precision": "bf16"}, "models": models}


def test_minilm_meta_table_pairs_each_seed_with_the_start_on_its_block():
    from scipy.stats import t

    table = studies.minilm_meta_table(minilm_study())
    assert set(table) == {"fomaml", "protonet"}  # Hybrid-SMLMT has one seed
    row = table["fomaml"]["bbc_k5"]
    assert row["diff_per_seed"] == pytest.approx([0.1, 0.0, 0.2])
    sd = math.sqrt(((0.1 - 0.1) ** 2 + (0.0 - 0.1) ** 2 + (0.2 - 0.1) ** 2) / 2)
    assert row["diff"] == pytest.approx(0.1) and row["diff_half"] == pytest.approx(t.ppf(0.975, 2) * sd / math.sqrt(3))
    seed_means = [(0.6 + 0.5) / 2 + 0.1, (0.7 + 0.4) / 2, (0.6 + 0.5) / 2 + 0.2]
    assert row["mean"] == pytest.approx(sum(seed_means) / 3) and row["start"] == pytest.approx((0.55 + 0.55 + 0.55) / 3)
    assert table["protonet"]["movies_k1"]["diff"] == pytest.approx(0.0, abs=1e-12)
    step0 = studies.minilm_meta_table(minilm_study(), step=0)["fomaml"]["bbc_k5"]
    assert step0["start"] == pytest.approx((0.45 + 0.45 + 0.45) / 3)  # the prototype head's accuracies
    assert table["fomaml"]["movies_K64"]["diff_per_seed"] == pytest.approx([0.1, 0.0, 0.2])


def test_minilm_kcurve_table_has_the_low_resource_shape():
    curves = studies.minilm_kcurve_table(minilm_study())
    assert curves["minilm"]["k"] == [1, 64] and curves["minilm"]["mean"] == pytest.approx([0.55, 0.75])
    assert curves["fomaml"]["diff"] == pytest.approx([0.1, 0.1]) and curves["fomaml"]["diff_half"][0] > 0


def test_minilm_precision_check_and_markdown():
    study = minilm_study()
    check = studies.minilm_precision_check(study)
    assert check["movies_k5"]["diff"] == pytest.approx((0.6 + 0.5) / 2 - 0.5)  # block 0 of the bf16 start − fp32
    assert check["movies_k5"]["step0_diff"] == pytest.approx(0.0)
    text = studies.minilm_meta_markdown(study)
    assert "first-order MAML 10, 11, 12" in text and "(Δ +0.100 ±" in text and "Hybrid-SMLMT has seen" in text
    assert studies.minilm_training(study)["protonet"]["outer_steps"] == [10, 11, 12]


def test_ner_ceiling_table_reads_the_probes_and_names_a_missing_part():
    with pytest.raises(ValueError, match="--ner"):
        studies.ner_ceiling_table({"suites": {}})
    row = {"f1": 0.2, "f1_ci": 0.01, "c": 1.0, "precision": 0.3, "recall": 0.15,
           "episodes": {"ner_k1": [0.2, 0.4], "ner_k5": [0.3, 0.3, 0.3]}}
    study = {"ner": {"settings": {"train_sentences": 100, "val_sentences": 10, "test_sentences": 20,
                                  "train_split_sentences": 400},
                     "encoders": {"mlm": row}, "window": {**row, "f1": 0.7}, "learning": {"mlm": {"25": row}}}}
    table = studies.ner_ceiling_table(study)
    assert table["rows"]["window"]["f1"] == 0.7 and table["rows"]["mlm"]["half"] == 0.01
    assert table["learning"][25]["f1"] == 0.2 and table["train_split_sentences"] == 400
    assert table["rows"]["mlm"]["episodes"]["ner_k1"][0] == pytest.approx(0.3)
    assert table["rows"]["mlm"]["episodes"]["ner_k5"] == pytest.approx((0.3, 0.0))
    text = studies.ner_ceiling_markdown(study)
    assert "0.300 ± 0.000" in text and "With 25 training sentences the MLM probe reaches 0.200." in text


def test_detectable_view_gives_each_pooled_model_its_groups_mdd():
    power_rows = {"trained": {"c": {"models": ["a"], "mdd": 0.05}}, "fixed": {"c": {"models": ["b"], "mdd": 0.1}}}
    table = {"a": {"c": {"diff": 0.01, "diff_half": 0.02}, "d": {"diff": 0.3, "diff_half": 0.1}},
             "b": {"c": {"diff": -0.02, "diff_half": 0.03}}, "mlm": {"c": {"mean": 0.5}}}
    view = studies.detectable_view(table, power_rows, ("c", "d"))
    assert view == {"a": {"c": {"mdd": 0.05, "diff": 0.01, "diff_half": 0.02}},
                    "b": {"c": {"mdd": 0.1, "diff": -0.02, "diff_half": 0.03}}}
