#!/usr/bin/env python3
"""Reads what bagel-tensorboard-write wrote with the real TensorBoard (PyPI) and checks it.

    tensorboard_read.py LOGDIR WRITTEN PNG TEXT SCRATCH

WRITTEN is the tool's stdout: "scalar<TAB>tag<TAB>step<TAB>value" per scalar written, in order, and
"file<TAB>path" per event file. Checks, with EventAccumulator and with the server's Python loader
(plugin_event_accumulator): every scalar at every step once, with the last value written for it
(the restart's SessionLog START purged the earlier ones; without purging they would appear
twice), in float32; the image's encoded bytes are the PNG file's; the text reads back as the
text plugin's. Then a copy of the last file with its last record cut in half still loads, up to
the record before it.
"""
import io
import os
import struct
import sys

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.util import tensor_util

KEEP_ALL = {ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0}


def fail(message):
    print("tensorboard_read: FAIL: " + message)
    sys.exit(1)


def read_written(path):
    """The last value written per (tag, step), in float32, and the event files in order."""
    expected, files, writes = {}, [], 0
    with open(path) as f:
        for line in f:
            kind, *fields = line.rstrip("\n").split("\t")
            if kind == "scalar":
                tag, step, value = fields
                expected.setdefault(tag, {})[int(step)] = np.float32(float(value))
                writes += 1
            elif kind == "file":
                files.append(fields[0])
    return expected, files, writes


def check_series(loader_name, tag, points, expected):
    """points: (step, float32 value) in the order the loader keeps them."""
    steps = [step for step, _ in points]
    if steps != sorted(expected):
        fail(f"{loader_name} {tag}: steps {steps}, expected each of {sorted(expected)} once")
    for step, value in points:
        if np.float32(value) != expected[step]:
            fail(f"{loader_name} {tag} step {step}: {value!r}, expected {expected[step]!r}")


def check_accumulator(logdir, expected, png, text):
    acc = ea.EventAccumulator(logdir, size_guidance=KEEP_ALL)
    acc.Reload()
    for tag, values in expected.items():
        check_series("EventAccumulator", tag, [(s.step, s.value) for s in acc.Scalars(tag)], values)
    images = acc.Images("samples/image")
    if len(images) != 1 or images[0].encoded_image_string != png:
        fail("EventAccumulator samples/image: not the PNG bytes written")
    decoded = Image.open(io.BytesIO(images[0].encoded_image_string))
    if (images[0].width, images[0].height) != decoded.size:
        fail(f"image size {images[0].width}x{images[0].height}, PNG is {decoded.size}")
    if "notes/config" not in acc.PluginTagToContent("text"):
        fail("notes/config is not a text plugin tag")
    texts = acc.Tensors("notes/config")
    if len(texts) != 1 or tensor_util.make_ndarray(texts[0].tensor_proto).item() != text.encode():
        fail("EventAccumulator notes/config: not the text written")


def check_unpurged_has_duplicates(logdir, expected, writes):
    """Without purging every rewritten step is there twice: the purge above did the work."""
    acc = ea.EventAccumulator(logdir, size_guidance=KEEP_ALL, purge_orphaned_data=False)
    acc.Reload()
    kept = sum(len(acc.Scalars(tag)) for tag in expected)
    if kept != writes or writes == sum(len(v) for v in expected.values()):
        fail(f"without purging {kept} points of {writes} written; the restart rewrote none?")


def check_server_loader(logdir, expected):
    acc = pea.EventAccumulator(logdir, tensor_size_guidance={"scalars": 0, "text": 0})
    acc.Reload()
    for tag, values in expected.items():
        tensors = acc.Tensors(tag)
        points = [(t.step, tensor_util.make_ndarray(t.tensor_proto).item()) for t in tensors]
        check_series("plugin_event_accumulator", tag, points, values)


def record_spans(data):
    """(start, end) of every TFRecord in data: 8-byte length, 4-byte CRC, data, 4-byte CRC."""
    spans, at = [], 0
    while at < len(data):
        (length,) = struct.unpack("<Q", data[at : at + 8])
        spans.append((at, at + 12 + length + 4))
        at += 12 + length + 4
    return spans


def check_truncated_copy(path, scratch):
    with open(path, "rb") as f:
        data = f.read()
    spans = record_spans(data)
    start, end = spans[-1]
    cut = os.path.join(scratch, "cut", os.path.basename(path))
    os.makedirs(os.path.dirname(cut), exist_ok=True)
    with open(cut, "wb") as f:
        f.write(data[: start + (end - start) // 2])
    whole = [e.SerializeToString() for e in event_file_loader.EventFileLoader(path).Load()]
    kept = [e.SerializeToString() for e in event_file_loader.EventFileLoader(cut).Load()]
    if len(whole) != len(spans) or kept != whole[:-1]:
        fail(f"cut copy: {len(kept)} events of {len(whole)}, expected all but the last")
    acc = ea.EventAccumulator(os.path.dirname(cut), size_guidance=KEEP_ALL)
    acc.Reload()  # must not raise
    return len(kept)


def main():
    logdir, written, png_path, text, scratch = sys.argv[1:6]
    expected, files, writes = read_written(written)
    if len(files) < 2:
        fail(f"expected a file per session, the tool wrote {files}")
    with open(png_path, "rb") as f:
        png = f.read()
    check_accumulator(logdir, expected, png, text)
    check_unpurged_has_duplicates(logdir, expected, writes)
    check_server_loader(logdir, expected)
    kept = check_truncated_copy(files[-1], scratch)
    points = sum(len(v) for v in expected.values())
    print(f"tensorboard_read: ok ({points} scalar points from {writes} written over "
          f"{len(files)} files, image, text; cut copy kept {kept} events)")


if __name__ == "__main__":
    main()
