"""Benchmark: the ViT on scikit-learn's digits, trained with the course's recipe.

Trains ``VisionTransformer(**VIT_PRESETS["digits"])`` with
``mm.DIGITS_RECIPE`` (the recipe of lesson 6) and reports the training time
(evaluation excluded) to reach each test accuracy, the test accuracy after
60 s of training, the final accuracy and images/s.  Then, side by side and
interleaved in the same process, the throughput of three training steps:
the package's fast path (``mm.make_train_step``: gradient and optimizer in
one jitted graph), its plain path (jitted gradient, then the optimizer
eagerly: what ``mm.make_train_step`` runs when given a gradient reducer,
here the identity), and fully eager.

    python benchmarks/training.py [--quick] [--json PATH]
"""
import argparse
import os
import sys

os.environ.setdefault("GLOG_v", "4")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import mhsa_ms as mm  # noqa: E402
from _common import interleaved, table, write_json  # noqa: E402

THRESHOLDS = (0.90, 0.95, 0.97, 0.98)
BUDGET_S = 60.0
FAST_PATH = "mm.make_train_step (gradient + optimizer, one graph)"
PLAIN_PATH = "jitted gradient, eager optimizer (the plain path)"


def recipe_run(epochs=None):
    """Train with the recipe; per-epoch cumulative training seconds and test accuracy."""
    recipe = dict(mm.DIGITS_RECIPE)
    if epochs is not None:
        recipe["epochs"] = epochs
    mm.seed_everything(recipe["seed"])
    model = mm.VisionTransformer(**mm.VIT_PRESETS["digits"])
    timeline = []

    def record(epoch, history):
        timeline.append({"epoch": epoch + 1, "seconds": history["seconds"],
                         "test_accuracy": history["test_accuracy"][-1]})

    history = mm.train_classifier(model, mm.load_digits(), progress=False, on_epoch_end=record, **recipe)
    reached = {f"{t:.0%}": next((p["seconds"] for p in timeline if p["test_accuracy"] >= t), None)
               for t in THRESHOLDS}
    within = [p for p in timeline if p["seconds"] <= BUDGET_S]
    return {
        "recipe": recipe, "timeline": timeline, "seconds_to_accuracy": reached,
        "accuracy_after_60s": within[-1]["test_accuracy"] if within else None,
        "final_accuracy": history["test_accuracy_final"], "training_seconds": history["seconds"],
        "images_per_second": history["images_per_second"],
    }


def step_throughput(batch_size, budget_s):
    """Images/s of three training steps on the same model and batch, interleaved."""
    import mindspore

    data = mm.load_digits()
    x = mindspore.Tensor(data[0][:batch_size])
    y = mindspore.Tensor(data[1][:batch_size].astype(np.int32))
    steps = {}
    for name in (FAST_PATH, PLAIN_PATH, "eager"):
        mm.seed_everything(0)
        model = mm.VisionTransformer(**mm.VIT_PRESETS["digits"])
        optimizer = mm.make_optimizer(model, lr=1e-3, total_steps=10_000)
        if name == "eager":
            step = _eager_step(model, optimizer)
        else:
            reducer = None if name == FAST_PATH else (lambda grads: grads)
            step = mm.make_train_step(model, mm.cross_entropy, optimizer, grad_reducer=reducer)

        def run(step=step):
            step(x, y).asnumpy()
        steps[name] = run
    seconds, reps = interleaved(steps, 200, warmup=3, budget_s=budget_s)
    return {name: batch_size / s for name, s in seconds.items()}, reps


def _eager_step(model, optimizer):
    import mindspore

    model.set_train(True)

    def loss_fn(images, labels):
        return mm.cross_entropy(model(images), labels)

    grad_fn = mindspore.value_and_grad(loss_fn, None, optimizer.parameters)

    def step(images, labels):
        loss, grads = grad_fn(images, labels)
        optimizer(grads)
        return loss
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="train 3 epochs only (a smoke run, not the target)")
    parser.add_argument("--json", default=None, help="where to write the JSON result")
    args = parser.parse_args(argv)
    device = mm.use_device()
    model_train = recipe_run(3 if args.quick else None)
    throughput, reps = step_throughput(mm.DIGITS_RECIPE["batch_size"], 3.0 if args.quick else 15.0)
    base = throughput[FAST_PATH]

    print(f"ViT on digits ({device}), recipe {model_train['recipe']}")
    rows = [[t, f"{s:.1f} s" if s is not None else "not reached"]
            for t, s in model_train["seconds_to_accuracy"].items()]
    print(table(["test accuracy", "training time to reach it"], rows))
    after = model_train["accuracy_after_60s"]
    print(f"test accuracy after {BUDGET_S:.0f} s of training: "
          + (f"{after:.2%}" if after is not None else "n/a (the first epoch took longer)")
          + f"; final {model_train['final_accuracy']:.2%} after {model_train['training_seconds']:.1f} s; "
          f"{model_train['images_per_second']:.0f} images/s")
    print(table(["training step (batch %d)" % mm.DIGITS_RECIPE["batch_size"], "ratio to mm", "images/s"],
                [[name, f"{value / base:.2f}x", f"{value:.0f}"] for name, value in throughput.items()]))
    path = write_json("training", {"device": device, "training": model_train,
                                   "step_images_per_second": throughput, "step_repetitions": reps,
                                   "target": {"accuracy": 0.98, "within_s": BUDGET_S,
                                              "met": (model_train["seconds_to_accuracy"]["98%"] or 1e9)
                                              <= BUDGET_S}},
                      args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
