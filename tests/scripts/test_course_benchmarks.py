"""The course-recipe benchmarks run end to end and print their side-by-side tables (short runs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmark import main
from benchmarks import names

from tests.conftest import shared_data, write_pedestrians, write_portraits


@pytest.mark.slow
def test_rmb_benchmark_prints_both_sides(capsys) -> None:
    main(["rmb", "--data-dir", str(shared_data("rmb")), "--seeds", "0", "--epochs", "1"])
    lines = capsys.readouterr().out.split("RMB LeNet recipe")[1].splitlines()
    (seed_row,) = [line for line in lines if line.strip().startswith("0 |")]
    course, project = seed_row.split("|")[1].split(), seed_row.split("|")[2].split()
    assert float(course[0]) > 0 and float(project[1]) > 0  # course loop s, project fit s
    assert 0 <= float(course[1]) <= 1 and 0 <= float(project[2]) <= 1  # test accuracies
    (mean_row,) = [line for line in lines if line.startswith("mean |")]
    ratio = float(seed_row.split("|")[-1])  # fit s / loop s, to more places than the printed seconds
    fit_s, loop_s, half = float(project[1]), float(course[0]), 0.05  # seconds are printed rounded to 0.1
    assert (fit_s - half) / (loop_s + half) <= ratio <= (fit_s + half) / max(loop_s - half, 1e-9)
    assert mean_row.split("|")[-1] == seed_row.split("|")[-1]  # one seed: its mean is itself
    (tally,) = [line for line in lines if line.startswith("course loop:")]
    assert tally.split(" wrong of ")[1].startswith("20 test predictions"), tally  # 20 test photos, 1 seed


def test_names_benchmark_prints_recipe_baselines_and_majority(names_folder: Path, capsys) -> None:
    main(["names", "--data-dir", str(names_folder), "--seeds", "0", "--epochs", "1"])
    out = capsys.readouterr().out
    majority = [line for line in out.splitlines() if line.startswith("always '")]
    assert majority and 0 < float(majority[0].rsplit(" ", 1)[1]) < 1, out
    variants = (
        "recipe (configs/names_rnn.yaml)",
        "recipe, no logit adjustment",
        "recipe, no n-gram bag member",
        "recipe, no n-gram convolutions",
        "recipe, Adam not fused",
        "recipe, letters with case",
        "recipe, grad norm clipped at 1",
        "course-style one-hot GRU",
        "course-style GRU, clipped at 1",
        "plain RNN, SGD, clipped at 1",
        "plain RNN, SGD, not clipped",
    )
    for variant in variants:
        rows = [line for line in out.splitlines() if line.startswith(variant)]
        assert len(rows) == 2 and all(0 <= float(r.split("|")[2]) <= 1 for r in rows), out


def test_names_benchmark_runs_only_the_variants_asked_for(names_folder: Path, capsys) -> None:
    main(["names", "--data-dir", str(names_folder), "--seeds", "0", "--epochs", "1", "--variants", "cased"])
    out = capsys.readouterr().out
    assert out.count("recipe, letters with case") == 2 and "recipe (configs" not in out, out


def test_names_benchmark_adds_flags_to_every_row_after_its_own(
    names_folder: Path, capsys, monkeypatch
) -> None:
    fits = []
    monkeypatch.setattr(
        names, "fit_and_test", lambda data_dir, seed, extra: fits.append(extra) or (1.0, 0.5, 0.5)
    )
    main(["names", "--data-dir", str(names_folder), "--seeds", "0", "--variants", "clipped", "cased",
          "--flags", "--trainer.gradient_clip_val 5 --data.lowercase true"])  # fmt: skip
    assert fits == [
        [
            "--trainer.gradient_clip_val",
            "1.0",
            "--trainer.gradient_clip_val",
            "5",
            "--data.lowercase",
            "true",
        ],
        ["--data.lowercase", "false", "--trainer.gradient_clip_val", "5", "--data.lowercase", "true"],
    ]
    assert "every row with: --trainer.gradient_clip_val 5 --data.lowercase true" in capsys.readouterr().out


def test_names_benchmark_scores_one_fit_at_each_adjustment_strength(names_folder: Path, capsys) -> None:
    main(["names", "--data-dir", str(names_folder), "--seeds", "0", "--epochs", "1", "--variants", "recipe",
          "--adjustments", "0", "1"])  # fmt: skip
    out = capsys.readouterr().out.split("logit adjustment of one fit per seed")[1]
    rows = [line.split("|") for line in out.splitlines() if line.count("|") == 2]
    assert [float(row[0]) for row in rows] == [0.0, 1.0], out
    assert all(0 <= float(value) <= 1 for row in rows for value in row[1:]), out
    assert "best on val: " in out


def test_segmentation_benchmark_prints_both_sides_at_equal_settings(tmp_path: Path, capsys) -> None:
    write_portraits(tmp_path / "portraits" / "train", 8)
    write_portraits(tmp_path / "portraits" / "valid", 4)
    main(["segmentation", "--data-dir", str(tmp_path / "portraits"), "--size", "32", "--features", "4",
          "--epochs", "1", "--precisions", "32-true", "--recipe-seeds"])  # fmt: skip
    out = capsys.readouterr().out.split("Equal settings: 32x32, 4 features, 1 epochs")[1]
    (row,) = [line.split("|") for line in out.splitlines() if line.strip().startswith("0 |")]
    course, project, ratio = row[1].split(), row[2].split(), float(row[3])
    assert float(course[0]) > 0 and 0 <= float(course[1]) <= 1
    assert project[0] == "32-true" and float(project[1]) > 0 and 0 <= float(project[2]) <= 1 and ratio > 0
    assert "Recipe" not in out and "target" not in out


@pytest.mark.slow
def test_whole_process_benchmark_times_each_process(capsys) -> None:
    main(["whole_process", "--data-dir", str(shared_data("rmb")), "--repeats", "1", "--epochs", "1"])
    lines = capsys.readouterr().out.split("whole processes")[1].splitlines()
    (row,) = [line for line in lines if line.strip().startswith("0 |")]
    course, one, acc, two, ratio = (float(x) for x in row.replace("|", " ").split()[1:])
    assert min(course, one, two) > 0 and 0 <= acc <= 1
    assert ratio == pytest.approx(one / course, rel=0.1, abs=0.01)


@pytest.mark.slow
def test_cats_dogs_benchmark_prints_both_recipes(capsys) -> None:
    main(["cats_dogs", "--data-dir", str(shared_data("cats_dogs")), "--seeds", "0", "--epochs", "1"])
    out = capsys.readouterr().out.split("cats vs dogs, data")[1]
    for recipe in ("small CNN (cats_dogs.yaml)", "LeNet-32 (course homework)"):
        (row,) = [line.split("|") for line in out.splitlines() if line.startswith(recipe) and "mean" in line]
        first_loss, val, test = (float(row[i]) for i in (2, 3, 4))
        assert 0.3 < first_loss < 1.5 and 0 <= val <= 1 and 0 <= test <= 1  # starts near ln 2 = 0.69


@pytest.mark.slow
def test_tta_benchmark_prints_the_three_views(capsys) -> None:
    main(["tta", "--data-dir", str(shared_data("rmb")), "--seeds", "0", "--epochs", "1"])
    out = capsys.readouterr().out.split("RMB test set")[1]
    (mean,) = [line for line in out.splitlines() if line.startswith("mean |")]
    assert len(mean.split("|")) == 4 and all(0 <= float(cell.split()[0]) <= 1 for cell in mean.split("|")[1:])


def test_detection_benchmark_prints_every_side_with_the_same_held_out_photos(tmp_path: Path, capsys) -> None:
    data = write_pedestrians(tmp_path / "peds", 10)
    main(["detection", "--data-dir", str(data), "--held-out", "2", "--epochs", "1", "--min-size", "48",
          "--threads", "1"])  # fmt: skip
    out = capsys.readouterr().out.split("Penn-Fudan detection")[1]
    assert "1 epochs, seed 0, 2 held-out photos" in out
    rows = {
        line.split("|")[0].strip(): line.split("|")[1:] for line in out.splitlines() if line.count("|") == 4
    }
    assert set(rows) == {"side", "course loop", "project, equal settings", "project, pennfudan_scratch"}
    for name in ("course loop", "project, equal settings", "project, pennfudan_scratch"):
        _, seconds, ap50, ratio = rows[name]
        assert float(seconds) > 0 and 0 <= float(ap50) <= 1 and float(ratio) > 0
    assert float(rows["course loop"][0]) == 0 and float(rows["course loop"][3]) == 1
