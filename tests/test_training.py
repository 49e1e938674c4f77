"""A tiny real training run: the loss falls, a checkpoint is written, and resuming
continues from its step with the model, optimiser and history it left."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import replace

import pytest
from commands import LIVE_NST

torch = pytest.importorskip("torch")

from live_nst.errors import ModelError  # noqa: E402
from live_nst.models.train import TrainConfig, load_checkpoint, train  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]



PHOTOS = ("pypi_samples/skimage_astronaut.jpg", "pypi_samples/skimage_chelsea.jpg",
          "pypi_samples/skimage_coffee.jpg", "pypi_samples/sklearn_flower.jpg",
          "people_deepface/deepface_img1.jpg", "people_deepface/deepface_img2.jpg")
FIRST_STEPS = 30
MORE_STEPS = 4


def weighted(record: dict, config: TrainConfig) -> float:
    return sum(getattr(config.weights, k) * record[k] for k in ("content", "style", "tv", "temporal"))


@pytest.fixture(scope="module")
def first_run(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    content = root / "content"
    content.mkdir()
    for name in PHOTOS:
        shutil.copy(shared_data / "content" / name, content / name.replace("/", "_"))
    config = TrainConfig(style_paths=(str(shared_data / "styles" / "starry_night.jpg"),),
                         content_dir=str(content), size=48, style_size=96, batch=2, steps=FIRST_STEPS,
                         lr=1e-2, checkpoint_every=1, out_dir=str(root / "run"))
    path = train(config, device="cpu")
    return config, path, load_checkpoint(path)


def test_training_lowers_the_loss_and_writes_a_checkpoint(first_run):
    config, path, ckpt = first_run
    assert path.is_file() and not list(path.parent.glob("*.part"))
    assert ckpt["step"] == FIRST_STEPS
    assert ckpt["arch"]["name"] == "painter" and ckpt["arch"]["num_styles"] == 1
    assert [s["name"] for s in ckpt["styles"]] == ["starry_night"]
    history = ckpt["history"]
    assert [r["step"] for r in history] == list(range(1, FIRST_STEPS + 1))
    # Single steps are noisy (random crops): compare the first and last five.
    start = sum(weighted(r, config) for r in history[:5]) / 5
    end = sum(weighted(r, config) for r in history[-5:]) / 5
    assert end < 0.85 * start, [round(weighted(r, config), 3) for r in history]


def test_resume_continues_from_the_checkpoint_step(first_run):
    config, path, before = first_run
    saved = path.with_name("first.ckpt")
    shutil.copy(path, saved)
    train(replace(config, steps=FIRST_STEPS + MORE_STEPS), resume=str(saved), device="cpu")
    after = load_checkpoint(path)
    assert after["step"] == FIRST_STEPS + MORE_STEPS
    assert [r["step"] for r in after["history"]] == list(range(1, FIRST_STEPS + MORE_STEPS + 1))
    assert after["history"][:FIRST_STEPS] == before["history"]
    # The optimiser state came along: Adam counts the steps of both runs.
    adam_steps = {float(state["step"]) for state in after["optimizer"]["state"].values()}
    assert adam_steps == {float(FIRST_STEPS + MORE_STEPS)}
    changed = [k for k in before["model"] if not torch.equal(before["model"][k], after["model"][k])]
    assert changed, "resuming did not train the model any further"


def test_a_resumed_run_grows_the_network_and_keeps_the_trained_moments(first_run, tmp_path):
    config, path, _ = first_run
    saved = tmp_path / "saved.ckpt"
    shutil.copy(path, saved)  # as the run left it (another test may have resumed it since)
    before = load_checkpoint(saved)
    blocks, step = before["arch"]["res_blocks"], before["step"]
    grown = load_checkpoint(train(replace(config, steps=step + 1, res_blocks=blocks + 2,
                                          out_dir=str(tmp_path / "grown")), resume=str(saved), device="cpu"))
    assert grown["arch"]["res_blocks"] == blocks + 2 and grown["config"]["res_blocks"] == blocks + 2
    new = [k for k in grown["model"] if k not in before["model"]]
    assert new and all(k.startswith((f"blocks.{blocks}.", f"blocks.{blocks + 1}.")) for k in new)
    # Adam counts every step for the trained parameters, one for the new ones.
    adam_steps = sorted({float(s["step"]) for s in grown["optimizer"]["state"].values()})
    assert adam_steps == [1.0, float(step + 1)]


def test_resume_at_the_final_step_changes_nothing(first_run, tmp_path):
    config, path, _ = first_run
    done = tmp_path / "done.ckpt"
    shutil.copy(path, done)
    other_out = tmp_path / "out"
    ckpt = load_checkpoint(done)
    final = train(replace(config, steps=ckpt["step"], out_dir=str(other_out)), resume=str(done), device="cpu")
    assert not final.exists(), "a finished run wrote a new checkpoint"
    assert load_checkpoint(done)["step"] == ckpt["step"]


def test_resume_from_a_file_that_is_not_a_checkpoint_names_it(first_run, tmp_path):
    config, _, _ = first_run
    bogus = tmp_path / "notes.ckpt"
    bogus.write_text("not a checkpoint")
    with pytest.raises(ModelError, match="notes.ckpt"):
        train(config, resume=str(bogus), device="cpu")


def test_fewer_photos_than_a_batch_still_give_full_batches(shared_data, tmp_path):
    """Drawn with replacement, epoch after epoch (a RandomSampler, which has no set_epoch)."""
    from live_nst.models.train import _batches

    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(shared_data / "content" / PHOTOS[0], content / "only.jpg")
    config = TrainConfig(style_paths=(str(shared_data / "styles" / "starry_night.jpg"),), content_dir=str(content),
                         size=32, batch=3, face_weight=0.0, out_dir=str(tmp_path / "run"))
    batches = _batches(config, rank=0, world=1)
    for _ in range(3):
        assert next(batches).shape[0] == 3


def test_sigterm_keeps_the_steps_since_the_last_checkpoint(shared_data, tmp_path):
    """Stopped between checkpoints (Ctrl-C, SIGTERM), a run writes one more where it stopped."""
    content = tmp_path / "content"
    content.mkdir()
    for name in PHOTOS[:2]:
        shutil.copy(shared_data / "content" / name, content / name.replace("/", "_"))
    out = tmp_path / "run"
    process = subprocess.Popen(
        [*LIVE_NST, "train", "--style-path", str(shared_data / "styles" / "starry_night.jpg"), "--content-dir",
         str(content), "--size", "48", "--style-size", "96", "--batch", "2", "--steps", "100000",
         "--checkpoint-every", "100000", "-o", str(out), "--device", "cpu"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = b""
    while not re.search(rb" ([3-9]|\d\d+)/100000", seen):  # the bar has counted a few steps
        chunk = os.read(process.stderr.fileno(), 4096)
        assert chunk, f"training ended early: {seen.decode()[-2000:]}"
        seen += chunk
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 130, rest.decode()[-2000:]
    reached = int(re.findall(rb" (\d+)/100000", seen + rest)[-1])
    assert load_checkpoint(out / "last.ckpt")["step"] in (reached, reached + 1)
    assert f"checkpoint written to {out / 'last.ckpt'}" in rest.decode()


def test_a_balanced_run_keeps_each_styles_running_means_across_a_resume(shared_data, first_run, tmp_path):
    config, _, before = first_run
    assert "balance" not in before  # off unless asked for
    artworks = tuple(str(shared_data / "styles" / f"{name}.jpg") for name in ("starry_night", "great_wave"))
    balanced = replace(config, style_paths=artworks, balance_styles=True, steps=6, out_dir=str(tmp_path / "run"))
    saved = load_checkpoint(train(balanced, device="cpu"))
    means = saved["balance"]
    assert set(means) == {"content", "style"}
    assert all(m.shape == (2,) and bool(torch.isfinite(m).all()) and bool((m > 0).all()) for m in means.values())
    kept = tmp_path / "six.ckpt"
    shutil.copy(tmp_path / "run" / "last.ckpt", kept)
    resumed = load_checkpoint(train(replace(balanced, steps=7), resume=str(kept), device="cpu"))
    # One more batch of two moves each mean by at most 2% of a sample each (momentum 0.98),
    # where starting over would have set it to one sample's value.
    for term, old in means.items():
        new = resumed["balance"][term]
        assert resumed["config"]["balance_styles"] is True
        assert not torch.equal(new, old)
        assert torch.allclose(new, old, rtol=0.1), (term, old, new)
