#!/usr/bin/env python3
"""Reads bagel-train's TensorBoard run with the real TensorBoard (PyPI) and checks it against the
trainer's progress lines (docs/METRICS.md, "TensorBoard").

    tensorboard_train_read.py LOGDIR SCRATCH ATTEMPT.jsonl...

The attempts' progress lines, in order, say what the run must show: per tag and step the value
of the last attempt that logged that step (a resumed attempt recomputes the steps after its
checkpoint and TensorBoard purges the earlier attempt's ones), each step once; train/loss is
0.5 * ce + 2.0 * mse (the spec's weights); each eval's images are the PNG files it names,
tagged "samples/<index> <prompt>"; job/spec and model/config are text. Then a copy of the last
event file with its last record cut in half still loads up to the record before it.
"""
import io
import json
import os
import sys

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.util import tensor_util

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensorboard_read import check_truncated_copy, fail  # noqa: E402

KEEP_ALL = {ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0}
STEP_TAGS = {
    "train/ce": "ce", "train/mse": "mse", "train/lr": "lr", "train/grad_norm": "grad_norm",
    "perf/tokens_per_s": "tokens_per_s", "perf/step_time_s": "step_time_s", "perf/mfu": "mfu",
    "perf/mem_bytes": "mem_bytes", "perf/host_mem_bytes": "host_mem_bytes",
}
PROMPTS = ["a red square", "two cats one sofa"]


def expected_from(attempts):
    """(scalars: tag -> step -> float32, images: step -> [png path]) the run must show."""
    scalars, images = {}, {}

    def put(tag, step, value):
        scalars.setdefault(tag, {})[step] = np.float32(value)

    for path in attempts:
        lines = [json.loads(l) for l in open(path) if l.startswith("{")]
        started = [l for l in lines if l["event"] == "started"]
        first = started[0]["step"] + 1
        # What this attempt recomputes replaces what earlier ones wrote at those steps.
        for series in scalars.values():
            for step in [s for s in series if s >= first]:
                del series[step]
        for step in [s for s in images if s >= first]:
            del images[step]
        for l in lines:
            step = l.get("step")
            if l["event"] == "step":
                for tag, field in STEP_TAGS.items():
                    put(tag, step, l[field])
                put("train/loss", step, 0.5 * l["ce"] + 2.0 * l["mse"])
            elif l["event"] == "eval":
                for field in ("val_ce", "val_mse", "sample_seconds"):
                    if field in l:
                        put({"sample_seconds": "eval/sample_seconds"}.get(field, "val/" + field[4:]),
                            step, l[field])
                images[step] = l["images"]
            elif l["event"] == "checkpoint":
                put("checkpoint/seconds", step, l["seconds"])
                put("checkpoint/blocking_s", step, l["blocking_s"])
                put("checkpoint/bytes", step, l["bytes"])
    return scalars, images


def main():
    logdir, scratch, *attempts = sys.argv[1:]
    scalars, images = expected_from(attempts)
    acc = ea.EventAccumulator(logdir, size_guidance=KEEP_ALL)
    acc.Reload()
    shown = set(acc.Tags()["scalars"])
    if shown != set(scalars):
        fail(f"scalar tags {sorted(shown)}, expected {sorted(scalars)}")
    points = 0
    for tag, values in scalars.items():
        got = [(s.step, np.float32(s.value)) for s in acc.Scalars(tag)]
        if [step for step, _ in got] != sorted(values):
            fail(f"{tag}: steps {[step for step, _ in got]}, expected each of {sorted(values)} once")
        for step, value in got:
            if value != values[step]:
                fail(f"{tag} step {step}: {value!r}, the trainer logged {values[step]!r}")
        points += len(got)
    if sorted(scalars["train/ce"]) != list(range(1, 9)):
        fail(f"train/ce steps {sorted(scalars['train/ce'])}, expected 1..8")

    image_tags = [f"samples/{i:02d} {p}" for i, p in enumerate(PROMPTS)]
    if sorted(acc.Tags()["images"]) != image_tags:
        fail(f"image tags {acc.Tags()['images']}, expected {image_tags}")
    for i, tag in enumerate(image_tags):
        got = acc.Images(tag)
        if [e.step for e in got] != sorted(images):
            fail(f"{tag}: steps {[e.step for e in got]}, expected {sorted(images)} once each")
        for e in got:
            png = open(images[e.step][i], "rb").read()
            if e.encoded_image_string != png:
                fail(f"{tag} step {e.step}: not the bytes of {images[e.step][i]}")
            decoded = Image.open(io.BytesIO(e.encoded_image_string))
            decoded.load()
            if decoded.size != (e.width, e.height):
                fail(f"{tag}: recorded {e.width}x{e.height}, the PNG is {decoded.size}")

    texts = acc.PluginTagToContent("text")
    for tag, needle in (("job/spec", "ce_weight: 0.5"), ("model/config", "llm_config.json")):
        if tag not in texts:
            fail(f"no text {tag}: {sorted(texts)}")
        text = tensor_util.make_ndarray(acc.Tensors(tag)[-1].tensor_proto).item().decode()
        if needle not in text:
            fail(f"{tag} does not mention {needle!r}: {text[:200]!r}")

    files = sorted(os.path.join(logdir, f) for f in os.listdir(logdir) if "tfevents" in f)
    kept = check_truncated_copy(files[-1], scratch)
    print(f"tensorboard_train_read: ok ({points} scalar points over {len(scalars)} tags, "
          f"{sum(len(v) for v in images.values())} images, {len(files)} event files; "
          f"cut copy kept {kept} events)")


if __name__ == "__main__":
    main()
