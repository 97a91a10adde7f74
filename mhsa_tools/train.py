"""Train the Vision Transformer on the digits: ``mhsa-ms train`` or ``python -m mhsa_tools.train``.

One device::

    mhsa-ms train --epochs 40 --batch-size 128 --output-dir runs/digits
    mhsa-ms train --resume runs/digits/last.ckpt          # continue where it stopped

Data parallel (数据并行) with MindSpore's launcher ``msrun``: the same command,
started once per worker (the ``python`` on PATH runs it, so put the venv first
on PATH)::

    msrun --worker_num=2 --local_worker_num=2 --master_addr=127.0.0.1 \\
          --master_port=8118 --join=True --log_dir=runs/msrun_logs \\
          python -m mhsa_tools.train --distributed --batch-size 128

Under ``msrun`` (detected from the ``MS_ROLE``/``MS_WORKER_NUM`` variables it
exports) each worker calls ``mindspore.communication.init()`` (backend mccl on
CPU, HCCL on Ascend, NCCL on GPU), reads its own shard of every global batch
(:func:`mhsa_ms.iterate_batches`) and averages gradients across workers with
``nn.DistributedGradReducer``, so every rank takes the step a single process
takes on the whole global batch.  Rank 0 shows the progress bar and writes the
checkpoint ``<output-dir>/last.ckpt`` after every epoch (MindSpore's format:
weights, AdamW moments and step count, the finished epoch and the
configuration), so ``--resume`` continues exactly where a run stopped.
"""
import argparse
import json
import os
import sys

from mhsa_ms import data, device as device_module, training
from mhsa_ms.model.vit import VIT_PRESETS, VisionTransformer

from .i18n import gettext as _
from .msrun import MSRUN_LINE, ConfigurationError, check_launch, launch_environment

# The defaults: the ViT-on-digits recipe of lesson 6.
DEFAULTS = dict(preset="digits", **{key: training.DIGITS_RECIPE[key] for key in (
    "epochs", "batch_size", "lr", "weight_decay", "warmup_epochs", "max_shift", "seed")})
# What a checkpoint must agree on to be resumed exactly (the schedule, data order and model).
CONFIG_KEYS = tuple(DEFAULTS)
CHECKPOINT_NAME = "last.ckpt"


def _resolve_config(options, checkpoint_config):
    """Recipe defaults, overridden by the checkpoint's configuration, overridden by explicit options."""
    config = dict(DEFAULTS)
    if checkpoint_config is not None:
        clashes = [f"--{key.replace('_', '-')} {options[key]} (checkpoint: {checkpoint_config[key]})"
                   for key in CONFIG_KEYS if options.get(key) is not None
                   and options[key] != checkpoint_config[key]]
        if clashes:
            raise ConfigurationError("cannot resume exactly with options that differ from the checkpoint's: "
                                     + ", ".join(clashes) + "; leave them out to use the checkpoint's values")
        config.update(checkpoint_config)
    config.update({key: options[key] for key in CONFIG_KEYS if options.get(key) is not None})
    if checkpoint_config is None and options.get("warmup_epochs") is None:
        # a short run keeps at least one epoch after the recipe's warmup
        config["warmup_epochs"] = max(0, min(config["warmup_epochs"], config["epochs"] - 1))
    return config


def _check_config(config):
    if config["preset"] not in VIT_PRESETS:
        raise ConfigurationError(f"preset must be one of {sorted(VIT_PRESETS)}, got {config['preset']!r}")
    preset = VIT_PRESETS[config["preset"]]
    shape = (preset["in_channels"], preset["image_size"], preset["image_size"], preset["num_classes"])
    if shape != (1, 8, 8, 10):
        raise ConfigurationError(f"preset {config['preset']!r} takes {shape[0]}x{shape[1]}x{shape[2]} images "
                                 f"in {shape[3]} classes, but the training data are the 1x8x8 digits in 10 "
                                 f"classes; use preset 'digits'")
    for key in ("epochs", "batch_size"):
        if isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] <= 0:
            raise ConfigurationError(f"{key} must be a positive int, got {config[key]!r}")
    for key in ("warmup_epochs", "max_shift", "seed"):
        if isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] < 0:
            raise ConfigurationError(f"{key} must be a non-negative int, got {config[key]!r}")
    if config["warmup_epochs"] >= config["epochs"]:
        raise ConfigurationError(f"warmup_epochs={config['warmup_epochs']} must be smaller than "
                                 f"epochs={config['epochs']}")
    if not config["weight_decay"] >= 0:
        raise ConfigurationError(f"weight_decay must be >= 0, got {config['weight_decay']!r}")
    if not config["lr"] > 0:
        raise ConfigurationError(f"lr must be > 0, got {config['lr']!r}")


def _read_checkpoint(path):
    """(parameters, configuration dict, finished epochs) of a checkpoint written by :func:`train`."""
    import mindspore

    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise ConfigurationError(f"resume checkpoint {path!r} does not exist")
    params = mindspore.load_checkpoint(os.fspath(path))
    if "config" not in params or "epoch" not in params:
        raise ConfigurationError(f"{path!r} is not a checkpoint written by mhsa-ms train "
                                 f"(no 'config' and 'epoch' entries)")
    config = json.loads(params.pop("config"))
    epoch = int(params.pop("epoch").asnumpy())
    return params, config, epoch


def _save_checkpoint(optimizer, path, epoch, config):
    """Write weights + optimizer state + epoch + configuration atomically (no half-written file)."""
    import mindspore

    partial = path[:-len(".ckpt")] + ".partial.ckpt"  # save_checkpoint wants the .ckpt suffix
    mindspore.save_checkpoint(optimizer, partial, append_dict={"epoch": epoch, "config": json.dumps(config)})
    os.replace(partial, path)


def train(preset=None, epochs=None, batch_size=None, lr=None, weight_decay=None, warmup_epochs=None,
          max_shift=None, seed=None, output_dir=None, resume=None, stop_after=None, distributed=False,
          device="auto", progress=True, save_rank_weights=False, shards=1, log=print):
    """Train ``VisionTransformer`` on the digits, on one device or data-parallel under msrun.

    Options left at None take the checkpoint's value when resuming, else the
    digits recipe (:data:`DEFAULTS`).  ``batch_size`` is the global batch.

    Args:
        output_dir: where rank 0 writes ``last.ckpt`` after every epoch and
            ``history.json`` at the end (default ``runs/<preset>``, or the
            resumed checkpoint's directory).
        resume: path of a checkpoint to continue from (weights, optimizer state
            and epoch are restored, so the result equals an uninterrupted run).
        stop_after: stop after this many epochs in total (as if interrupted);
            continue later with ``resume``.
        distributed: require an msrun launch (it is used whenever present).
        save_rank_weights: every rank also writes its final weights to
            ``rank_<r>.ckpt`` (to compare the replicas).
        shards: in one process, compute each global batch's gradient as that
            many data-parallel workers do: the mean of the gradients of equal
            shards (:func:`mhsa_ms.make_train_step`), to compare with an
            msrun run of that many workers.
        log: where rank 0's messages go (None: silent).

    Returns:
        dict with ``rank``, ``world_size``, ``config``, ``start_epoch``,
        ``epoch`` (epochs finished), ``test_accuracy``, ``correct``, ``total``,
        ``seconds``, ``images_per_second``, ``checkpoint`` (path) and ``history``.
    """
    options = dict(preset=preset, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                   warmup_epochs=warmup_epochs, max_shift=max_shift, seed=seed)
    import mindspore
    from mindspore import nn

    device_name = device_module.use_device(device)  # before any other MindSpore work
    checkpoint, checkpoint_config, start_epoch = None, None, 0
    if resume is not None:
        checkpoint, checkpoint_config, start_epoch = _read_checkpoint(resume)
    config = _resolve_config(options, checkpoint_config)
    _check_config(config)
    # Every check up to init() runs before it, so a bad launch fails at once in every
    # process msrun started (its scheduler included) instead of after the cluster timeout.
    world_size = check_launch(distributed, config["batch_size"])
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ConfigurationError(f"shards must be a positive int, got {shards!r}")
    if shards > 1 and world_size > 1:
        raise ConfigurationError(f"shards={shards} imitates workers in one process; under msrun the "
                                 f"{world_size} workers are the shards: leave --shards out")
    if config["batch_size"] % shards:
        raise ConfigurationError(f"the global batch size {config['batch_size']} does not divide into "
                                 f"{shards} shards")
    if start_epoch >= config["epochs"]:
        raise ConfigurationError(f"checkpoint {resume!r} already finished all {config['epochs']} epochs; "
                                 f"there is nothing to resume")
    stop = config["epochs"] if stop_after is None else stop_after
    if isinstance(stop, bool) or not isinstance(stop, int) or not start_epoch < stop <= config["epochs"]:
        raise ConfigurationError(f"stop_after must be an int in ({start_epoch}, {config['epochs']}] "
                                 f"(epochs already finished: {start_epoch}), got {stop_after!r}")
    digits = data.load_digits(seed=config["seed"])
    steps_per_epoch = len(digits.x_train) // config["batch_size"]
    if steps_per_epoch == 0:
        raise ConfigurationError(f"batch_size={config['batch_size']} is larger than the {len(digits.x_train)} "
                                 f"training images")
    rank, backend = 0, None
    if launch_environment() is not None:
        from mindspore.communication import GlobalComm, get_group_size, get_rank, init
        from mindspore.context import ParallelMode

        # the backend follows the device: mccl on CPU, hccl on Ascend, nccl on GPU.  msrun's
        # scheduler process never returns from init(); the workers form the group.
        init()
        rank, world_size, backend = get_rank(), get_group_size(), GlobalComm.BACKEND
        mindspore.set_auto_parallel_context(parallel_mode=ParallelMode.DATA_PARALLEL, gradients_mean=True)

    if output_dir is None:
        output_dir = os.path.dirname(os.path.abspath(resume)) if resume else os.path.join("runs", config["preset"])
    say = log if (log is not None and rank == 0) else (lambda *args, **kwargs: None)

    device_module.seed_everything(config["seed"])
    model = VisionTransformer.from_preset(config["preset"])
    optimizer = training.make_optimizer(model, config["lr"], config["epochs"] * steps_per_epoch,
                                        config["warmup_epochs"] * steps_per_epoch, config["weight_decay"])
    if checkpoint is not None:
        missing, _unexpected = mindspore.load_param_into_net(optimizer, checkpoint, strict_load=True)
        if missing:
            raise ConfigurationError(f"checkpoint {resume!r} lacks {len(missing)} parameters of preset "
                                     f"{config['preset']!r}, e.g. {missing[:3]}")
    grad_reducer = nn.DistributedGradReducer(optimizer.parameters) if world_size > 1 else None

    os.makedirs(output_dir, exist_ok=True)
    checkpoint_path = os.path.join(output_dir, CHECKPOINT_NAME)
    per_rank = config["batch_size"] // world_size
    layout = _("{ranks} ranks x {per_rank}, backend {backend}").format(
        ranks=world_size, per_rank=per_rank, backend=backend) if backend else _("1 process")
    if shards > 1:
        layout = _("1 process, gradient = mean of {shards} shards x {per_shard}").format(
            shards=shards, per_shard=config["batch_size"] // shards)
    say(_("training {preset} ViT on {device}: epochs {first}-{last} of {epochs}, global batch {batch} "
          "({layout}), lr {lr}, seed {seed}").format(
        preset=config["preset"], device=device_name, first=start_epoch + 1, last=stop, epochs=config["epochs"],
        batch=config["batch_size"], layout=layout, lr=config["lr"], seed=config["seed"]))

    def on_epoch_end(epoch, history):
        if rank == 0:
            _save_checkpoint(optimizer, checkpoint_path, epoch + 1, config)

    history = training.train_classifier(
        model, digits, epochs=stop, batch_size=config["batch_size"], lr=config["lr"],
        max_shift=config["max_shift"], seed=config["seed"], progress=progress, rank=rank,
        world_size=world_size, grad_reducer=grad_reducer, optimizer=optimizer, start_epoch=start_epoch,
        on_epoch_end=on_epoch_end, shards=shards)
    if save_rank_weights:
        mindspore.save_checkpoint(model, os.path.join(output_dir, f"rank_{rank}.ckpt"))
    correct = int((history["predictions"] == digits.y_test).sum())
    total = len(digits.y_test)
    if rank == 0:
        with open(os.path.join(output_dir, "history.json"), "w", encoding="utf-8") as file:
            json.dump({key: value for key, value in history.items() if key != "predictions"}
                      | {"config": config, "world_size": world_size, "start_epoch": start_epoch}, file, indent=1)
    say(_("checkpoint: {path} (epoch {epoch})").format(path=checkpoint_path, epoch=stop))
    say(_("trained {epochs} epochs in {seconds:.1f} s ({rate:.0f} images/s over {workers} worker(s))").format(
        epochs=stop - start_epoch, seconds=history["seconds"], rate=history["images_per_second"],
        workers=world_size))
    if stop < config["epochs"]:
        say(_("stopped after epoch {epoch} of {epochs}; continue with --resume {path}").format(
            epoch=stop, epochs=config["epochs"], path=checkpoint_path))
    say(_("test accuracy: {accuracy:.2%} ({correct}/{total})").format(
        accuracy=history["test_accuracy_final"], correct=correct, total=total))
    return {"rank": rank, "world_size": world_size, "config": config, "start_epoch": start_epoch,
            "epoch": stop, "test_accuracy": history["test_accuracy_final"], "correct": correct,
            "total": total, "seconds": history["seconds"], "images_per_second": history["images_per_second"],
            "checkpoint": checkpoint_path, "history": history}


def add_arguments(parser):
    """Add the training options to an ``argparse`` parser (shared by ``mhsa-ms train``)."""
    recipe = ", ".join(f"{key} {value}" for key, value in DEFAULTS.items())
    parser.description = _("Train the Vision Transformer on the handwritten digits, on one device or "
                           "data-parallel under msrun ({msrun}). Options left out take the resumed "
                           "checkpoint's value, else the recipe: {recipe}.").format(msrun=MSRUN_LINE, recipe=recipe)
    parser.add_argument("--preset", choices=sorted(VIT_PRESETS), help=_("model size (VIT_PRESETS; digits fits the data)"))
    parser.add_argument("--epochs", type=int, help=_("epochs in the whole run"))
    parser.add_argument("--batch-size", type=int, help=_("global batch size, split evenly over the workers"))
    parser.add_argument("--lr", type=float, help=_("peak learning rate of the warmup + cosine schedule"))
    parser.add_argument("--weight-decay", type=float, help=_("AdamW weight decay of the weight matrices"))
    parser.add_argument("--warmup-epochs", type=int, help=_("epochs of linear learning-rate warmup"))
    parser.add_argument("--max-shift", type=int,
                        help=_("largest random shift of the images in pixels (augmentation)"))
    parser.add_argument("--seed", type=int, help=_("seed of initialisation, data split, order and augmentation"))
    parser.add_argument("--output-dir", help=_("where rank 0 writes last.ckpt every epoch and history.json "
                                               "(default runs/<preset>, or the resumed checkpoint's folder)"))
    parser.add_argument("--resume", metavar="CKPT", help=_("continue exactly from a checkpoint of this command"))
    parser.add_argument("--stop-after", type=int, metavar="EPOCH",
                        help=_("stop after this epoch, as if interrupted (resume later with --resume)"))
    parser.add_argument("--distributed", action="store_true",
                        help=_("require a data-parallel msrun launch (used automatically under msrun)"))
    parser.add_argument("--device", default="auto", help=_("auto (default), Ascend, GPU or CPU"))
    parser.add_argument("--save-rank-weights", action="store_true",
                        help=_("every rank also writes its final weights to <output-dir>/rank_<r>.ckpt"))
    parser.add_argument("--shards", type=int, default=1, metavar="W",
                        help=_("one process computing each gradient as W data-parallel workers do "
                               "(the mean of W shard gradients), to compare with an msrun run"))
    parser.add_argument("--no-progress", action="store_true", help=_("no progress bar"))
    return parser


def run(args, parser):
    """Run :func:`train` from parsed arguments; configuration errors end in ``parser.error`` (exit 2)."""
    try:
        train(preset=args.preset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
              weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs, max_shift=args.max_shift,
              seed=args.seed, output_dir=args.output_dir, resume=args.resume, stop_after=args.stop_after,
              distributed=args.distributed, device=args.device, progress=not args.no_progress,
              save_rank_weights=args.save_rank_weights, shards=args.shards, log=_log)
    except ConfigurationError as error:
        parser.error(str(error))
    return 0


def _log(message):
    print(message, flush=True)


def main(argv=None, prog="python -m mhsa_tools.train"):
    """``python -m mhsa_tools.train [options]`` (``mhsa-ms train`` runs it as ``prog="mhsa-ms train"``)."""
    parser = add_arguments(argparse.ArgumentParser(prog=prog))
    return run(parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
