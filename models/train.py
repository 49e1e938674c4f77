"""Train a multi-style network against VGG-19 Gram losses (the distillation of Gatys et al.).

Resumable: checkpoints hold the model, the optimiser, the step and the whole recipe, so
``--resume`` continues exactly where a run (or a session) stopped. Runs on CUDA (bf16
autocast), MPS or CPU (bf16 autocast where the CPU has bf16 units, float32 elsewhere), and on
several GPUs when started with torchrun (DistributedDataParallel).
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import cast

import torch
from tqdm import tqdm

from live_nst.assets import sha256_of
from live_nst.errors import InputError, ModelError, OutputError
from live_nst.models import losses
from live_nst.models.balance import StyleBalance
from live_nst.models.data import RandomCrops, find_faces, list_images, load_image
from live_nst.models.networks import (
    DEFAULT_ARCH,
    ArchConfig,
    build_network,
    network_from_config,
    one_hot_weights,
    with_res_blocks,
)
from live_nst.models.vgg import VGGFeatures

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """The default recipe (CPU-friendly; raise size and steps on a GPU)."""

    style_paths: tuple[str, ...]
    content_dir: str
    arch: str = DEFAULT_ARCH
    size: int = 192  # content crop, px
    # Long side of the artwork when its Grams are taken: near the live 640x360 frame's,
    # so that strokes are as large against the frame as they are in the painting.
    style_size: int = 512
    batch: int = 4
    steps: int = 4000
    lr: float = 2e-3
    # More style than the Gatys default: the face term below keeps the person.
    weights: losses.LossWeights = field(default_factory=lambda: losses.LossWeights(style=4.0, lattice=3e4, region=2e3))
    face_weight: float = 4.0  # extra content weight inside face boxes (0: none)
    # Weigh each style's content and style terms against that style's own running mean
    # (see models/balance.py), so that small-Gram artworks are not neglected.
    balance_styles: bool = False
    # Residual blocks at the deepest level (None: the architecture's). A resumed network
    # with fewer grows to this many, the new blocks starting as the identity.
    res_blocks: int | None = None
    checkpoint_every: int = 100
    out_dir: str = "runs/train"
    seed: int = 0

    @property
    def style_names(self) -> tuple[str, ...]:
        return tuple(Path(p).stem for p in self.style_paths)


def pick_device(requested: str = "auto") -> torch.device:
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def bf16_is_fast(device: torch.device) -> bool:
    """bf16 autocast pays on CUDA and on CPUs with bf16 units (AVX512-BF16, AMX); on
    others (an AVX2-only CPU) it is emulated and about 50x slower than float32 (measured)."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def style_targets(vgg: VGGFeatures, config: TrainConfig, device: torch.device) -> dict[str, torch.Tensor]:
    """Per-layer Gram targets stacked over styles: layer -> (S, C, C)."""
    grams: dict[str, list[torch.Tensor]] = {name: [] for name in losses.STYLE_LAYERS}
    with torch.no_grad():
        for path in config.style_paths:
            feats = vgg(load_image(path, config.style_size).to(device))
            for name in losses.STYLE_LAYERS:
                grams[name].append(losses.gram(feats[name].float())[0])
    return {name: torch.stack(values) for name, values in grams.items()}


def save_checkpoint(path: Path, model, optimizer, step: int, config: TrainConfig, history: list,
                    balance: StyleBalance | None = None) -> None:
    """Write atomically, so a full disk or a kill never leaves a half checkpoint behind."""
    payload = {
        **({"balance": balance.state_dict()} if balance is not None else {}),
        "model": _unwrap(model).state_dict(),
        "arch": _unwrap(model).config.to_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "config": {**asdict(config), "weights": asdict(config.weights)},
        "styles": [{"name": name, "artwork": Path(p).name, "sha256": sha256_of(Path(p))}
                   for name, p in zip(config.style_names, config.style_paths)],
        "history": history,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    try:
        torch.save(payload, partial)
        descriptor = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(descriptor)  # a full disk the file system notices late fails here, not after the rename
        finally:
            os.close(descriptor)
        partial.replace(path)
    except (OSError, RuntimeError) as exc:  # torch reports a failed write as RuntimeError ("enforce fail")
        partial.unlink(missing_ok=True)
        # torch's own text ("[enforce fail at inline_container.cc:672] ...") tells a user nothing.
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "the write stopped part way"
        raise OutputError(f"could not write the checkpoint {path} ({why}); is the disk full? Free some "
                          f"space or write to another folder with -o. Any earlier {path.name} is unchanged") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise InputError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ModelError(f"{path} is not a live-nst checkpoint ({_load_problem(exc)}); give a .ckpt written by "
                         f"'live-nst train'") from exc


def _load_problem(exc: Exception) -> str:
    """Why torch could not load a file, without torch's advice to load it unsafely."""
    text = str(exc).strip()
    if "weights_only" in text or "Unsupported global" in text:
        return "it holds Python objects other than tensors and plain data, which live-nst never loads"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:200]


def learning_rate(lr: float, progress: float) -> float:
    """Cosine decay from ``lr`` to a tenth of it as ``progress`` goes from 0 to 1."""
    progress = min(1.0, max(0.0, progress))
    return lr * (0.1 + 0.45 * (1.0 + math.cos(math.pi * progress)))


class Schedule:
    """How far a run is: by steps, or by the wall clock when it has a time budget.

    With a budget the run ends when the budget is spent (or at ``config.steps``, whichever
    comes first) and the learning rate decays over the budget, so a run of N minutes is a
    whole run whatever the machine's speed.
    """

    def __init__(self, config: TrainConfig, budget_s: float | None) -> None:
        if budget_s is not None and budget_s <= 0:
            raise InputError(f"the time budget must be positive, got {budget_s:g} s")
        self.config, self.budget_s = config, budget_s
        self.started = time.monotonic()

    def progress(self, step: int) -> float:
        by_steps = step / max(1, self.config.steps)
        if self.budget_s is None:
            return by_steps
        return max(by_steps, (time.monotonic() - self.started) / self.budget_s)

    def done(self, step: int) -> bool:
        return step >= self.config.steps or (self.budget_s is not None and self.progress(step) >= 1.0)


def _optimizer_state_for(saved: dict, saved_names: list[str], names: list[str]) -> dict:
    """A saved Adam state laid out for the parameters ``names``: each keeps its moments
    by name, and a grown network's new parameters start without any."""
    index = {name: i for i, name in enumerate(saved_names)}
    state = {j: saved["state"][index[name]] for j, name in enumerate(names)
             if name in index and index[name] in saved["state"]}
    return {"state": state, "param_groups": [{**saved["param_groups"][0], "params": list(range(len(names)))}]}


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def _batches(config: TrainConfig, rank: int, world: int, workers: int = 0):
    paths = list_images(config.content_dir)
    faces = (find_faces(paths, Path(config.out_dir) / "faces.json", root=Path(config.content_dir))
             if config.face_weight else None)
    dataset = RandomCrops(paths, config.size, faces)
    sampler: torch.utils.data.Sampler | None
    if world > 1:
        sampler = torch.utils.data.DistributedSampler(dataset)
    elif len(dataset) < config.batch:
        # Fewer photos than a batch: draw with replacement rather than yield no batch at all.
        sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=config.batch)
    else:
        sampler = None
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch, shuffle=sampler is None,
                                         sampler=sampler, drop_last=True, num_workers=workers,
                                         persistent_workers=workers > 0)
    epoch = 0
    while True:
        if isinstance(sampler, torch.utils.data.DistributedSampler):  # RandomSampler has no epochs
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def train(config: TrainConfig, resume: str | None = None, device: str = "auto",
          budget_s: float | None = None, workers: int = 0) -> Path:
    """Run (or continue) training; returns the path of the final checkpoint.

    ``budget_s``: stop after this many seconds of training, with the learning-rate decay
    spread over them; the final checkpoint then records the steps reached as its recipe's
    ``steps``. ``workers``: data-loading processes (0: in the training process).
    """
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    if world > 1 and budget_s is not None:  # ranks would stop at different steps and hang
        raise InputError("a time budget needs a single training process; give --steps under torchrun")
    if world > 1:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    dev = pick_device(device)
    torch.manual_seed(config.seed + rank)
    random.seed(config.seed + rank)

    ckpt = load_checkpoint(resume) if resume else None
    model = (network_from_config(ckpt["arch"]) if ckpt else
             build_network(config.arch, len(config.style_paths), config.res_blocks))
    saved_names = [name for name, _ in model.named_parameters()]
    if ckpt:
        model.load_state_dict(ckpt["model"])
        blocks = cast(ArchConfig, model.config).res_blocks
        if config.res_blocks is not None and config.res_blocks != blocks:
            log.info("growing the network from %d to %d residual blocks", blocks, config.res_blocks)
            model = with_res_blocks(model, config.res_blocks)
    model.to(dev).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if ckpt:
        names = [name for name, _ in model.named_parameters()]
        optimizer.load_state_dict(_optimizer_state_for(ckpt["optimizer"], saved_names, names))
    start, history = (ckpt["step"], ckpt["history"]) if ckpt else (0, [])
    # A resumed run must not replay the crops and style draws of step 0.
    torch.manual_seed(config.seed + rank + 1_000_003 * start)
    random.seed(config.seed + rank + 1_000_003 * start)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    # channels_last: about 25% faster VGG passes on a CPU with bf16 matrix units (measured).
    vgg = VGGFeatures((*losses.STYLE_LAYERS, *losses.TRAIN_CONTENT_LAYERS))
    vgg = vgg.to(dev, memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stub lacks it
    targets = style_targets(vgg, config, dev)
    balance = _balance(config, ckpt)
    autocast = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=bf16_is_fast(dev))
    out_dir = Path(config.out_dir)
    final = out_dir / "last.ckpt"
    batches = _batches(config, rank, world, workers)
    schedule = Schedule(config, budget_s)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its fastest kernels
    # With a budget the run ends at whichever comes first, the steps or the time: say so,
    # since the bar's estimate only knows the steps.
    desc = f"train (stops after {budget_s / 60:g} min)" if budget_s is not None else "train"
    bar = tqdm(total=config.steps, initial=start, disable=rank != 0, desc=desc, dynamic_ncols=True)
    step = start
    try:
        while not schedule.done(step):
            for group in optimizer.param_groups:  # from the step, so a resumed run keeps the schedule
                group["lr"] = learning_rate(config.lr, schedule.progress(step))
            batch = next(batches).to(dev, non_blocking=True)
            terms = _step(model, vgg, targets, batch[:, :3], batch[:, 3:], config, autocast, balance)
            loss = sum(getattr(config.weights, k) * v for k, v in terms.items())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            bar.update(1)
            last = schedule.done(step)
            if rank == 0 and (step % config.checkpoint_every == 0 or last):
                record = {k: round(float(v.detach()), 5) for k, v in terms.items()}
                bar.set_postfix(record)
                history.append({"step": step, **record})
                # A budgeted run is complete where it stopped: its recipe says so.
                done_config = replace(config, steps=step) if last and budget_s is not None else config
                save_checkpoint(final, model, optimizer, step, done_config, history, balance)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the steps since the last checkpoint are kept too
        if rank == 0 and step > start and step % config.checkpoint_every:
            save_checkpoint(final, model, optimizer, step, config, history, balance)
            log.warning("interrupted at step %d: checkpoint written to %s (--resume it to go on)", step, final)
        raise
    bar.close()
    if rank == 0 and start >= config.steps:
        log.info("checkpoint already at step %d of %d; nothing to do", start, config.steps)
    if world > 1:
        torch.distributed.destroy_process_group()
    return final


def _balance(config: TrainConfig, ckpt: dict | None) -> StyleBalance | None:
    """The run's style balance (None when off), resumed from the checkpoint's when it has one."""
    if not config.balance_styles:
        return None
    balance = StyleBalance(len(config.style_paths))
    if ckpt and "balance" in ckpt:
        balance.load_state_dict(ckpt["balance"])
    return balance


def _step(model, vgg, targets, content, face_mask, config: TrainConfig, autocast: dict,
          balance: StyleBalance | None = None) -> dict[str, torch.Tensor]:
    n, _, h, w = content.shape
    num_styles = targets[losses.STYLE_LAYERS[0]].shape[0]
    index = torch.randint(0, num_styles, (n,), device=content.device)
    weights = one_hot_weights(index, num_styles, h, w)
    styled = model(content, weights)
    with torch.autocast(**autocast):
        out_feats = vgg(styled)
        with torch.no_grad():
            content_feats = vgg(content)
    out_feats = {k: v.float() for k, v in out_feats.items()}
    per_sample = {name: t[index] for name, t in targets.items()}
    content_targets = {name: content_feats[name].float() for name in losses.TRAIN_CONTENT_LAYERS}
    per_image = {
        "content": losses.training_content_loss(out_feats, content_targets, 1.0 + config.face_weight * face_mask,
                                                config.weights.content_layers),
        "style": losses.style_loss_per_sample(out_feats, per_sample,
                                              dict(zip(losses.STYLE_LAYERS, config.weights.style_layers))),
    }
    return {
        **{term: balance.balanced(term, index, values) if balance else values.mean()
           for term, values in per_image.items()},
        "tv": losses.total_variation(styled),
        "temporal": losses.temporal_loss(model, content, styled, weights),
        "lattice": losses.lattice_loss(styled),
        # A second pair of passes: paid for only when it counts.
        "region": (losses.region_loss(model, content, index, num_styles) if config.weights.region > 0
                   else content.new_zeros(())),
    }
