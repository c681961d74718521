#!/usr/bin/env python3
"""Writes the data pipeline's reference data (tests/data/reference/) with the libraries the
official BAGEL code uses: Pillow for decoding and the bicubic-antialias resize, CPython's random
for shuffles, pyarrow for Parquet files in the official layouts, and the official
MaxLongEdgeMinShortEdgeResize size rule (data/transforms.py, copied below) for a sweep of sizes.

Test-only: the C++ tests read the checked-in outputs; nothing here is part of the product.
Run with Pillow 12.3.0, pyarrow and numpy installed (e.g. a venv under build/):

    python3 -m venv build/pyref && build/pyref/bin/pip install pillow==12.3.0 pyarrow numpy
    build/pyref/bin/python tests/data/make_data_references.py tests/data/reference
"""
import io
import json
import os
import random
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


# ---- the official size rule (BAGEL data/transforms.py) -----------------------------------------
def make_divisible(value, stride):
    return max(stride, int(round(value / stride) * stride))


def apply_scale(width, height, scale, stride):
    new_width = round(width * scale)
    new_height = round(height * scale)
    return make_divisible(new_width, stride), make_divisible(new_height, stride)


def official_size(width, height, max_size, min_size, stride, max_pixels, img_num=1):
    scale = min(max_size / max(width, height), 1.0)
    scale = max(scale, min_size / min(width, height))
    new_width, new_height = apply_scale(width, height, scale, stride)
    if new_width * new_height > max_pixels / img_num:
        scale = max_pixels / img_num / (new_width * new_height)
        new_width, new_height = apply_scale(new_width, new_height, scale, stride)
    if max(new_width, new_height) > max_size:
        scale = max_size / max(new_width, new_height)
        new_width, new_height = apply_scale(new_width, new_height, scale, stride)
    return new_height, new_width


rules = [(1024, 512, 16, 14 * 14 * 9 * 1024), (980, 224, 14, 14 * 14 * 9 * 1024),
         (518, 224, 14, 14 * 14 * 9 * 1024), (980, 378, 14, 2007040)]
rng = random.Random(7)
sizes = [(h, w) for h in (1, 7, 13, 14, 15, 16, 17, 100, 223, 224, 225, 378, 512, 700, 1000, 1023,
                          1024, 1025, 4000) for w in (1, 14, 16, 99, 500, 1000, 2048)]
sizes += [(rng.randint(1, 5000), rng.randint(1, 5000)) for _ in range(400)]
sweep = []
for rule in rules:
    for (h, w) in sizes:
        for img_num in (1, 2, 4):
            oh, ow = official_size(w, h, *rule, img_num=img_num)
            sweep.append([*rule, img_num, h, w, oh, ow])
with open(os.path.join(out, "resize_sizes.json"), "w") as f:
    json.dump(sweep, f, separators=(",", ":"))


# ---- pictures -----------------------------------------------------------------------------
def picture(h, w, seed):
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255) // max(w - 1, 1), (y * 255) // max(h - 1, 1),
                     ((x + y) * 4) % 256], axis=-1)
    noise = g.integers(-40, 41, size=(h, w, 3))
    img = np.clip(base + noise, 0, 255).astype(np.uint8)
    img[h // 3:h // 2, w // 4:w // 2] = [250, 10, 30]  # a sharp edge for the filter
    return img


def pil_img2rgb(image):  # BAGEL data/data_utils.py
    if image.mode == "RGBA" or image.info.get("transparency", None) is not None:
        image = image.convert("RGBA")
        white = Image.new(mode="RGB", size=image.size, color=(255, 255, 255))
        white.paste(image, mask=image.split()[3])
        image = white
    else:
        image = image.convert("RGB")
    return image


def save_decoded(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    img = pil_img2rgb(Image.open(io.BytesIO(data)))
    arr = np.asarray(img, dtype=np.uint8)
    with open(os.path.join(out, name + ".rgb"), "wb") as f:
        f.write(arr.tobytes())
    return arr.shape


src = picture(45, 61, 1)
decoded = {}
buf = io.BytesIO(); Image.fromarray(src).save(buf, "PNG"); decoded["rgb.png"] = save_decoded("rgb.png", buf.getvalue())
buf = io.BytesIO(); Image.fromarray(src).save(buf, "JPEG", quality=90); decoded["rgb.jpg"] = save_decoded("rgb.jpg", buf.getvalue())
buf = io.BytesIO(); Image.fromarray(src).convert("L").save(buf, "JPEG", quality=85); decoded["grey.jpg"] = save_decoded("grey.jpg", buf.getvalue())
alpha = ((np.arange(45 * 61).reshape(45, 61) * 7) % 256).astype(np.uint8)
rgba = np.concatenate([src, alpha[..., None]], axis=-1)
buf = io.BytesIO(); Image.fromarray(rgba, "RGBA").save(buf, "PNG"); decoded["rgba.png"] = save_decoded("rgba.png", buf.getvalue())
pal = Image.fromarray(src).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
buf = io.BytesIO(); pal.save(buf, "PNG", transparency=3); decoded["palette_trns.png"] = save_decoded("palette_trns.png", buf.getvalue())
buf = io.BytesIO(); Image.fromarray(src).convert("LA").save(buf, "PNG"); decoded["grey_alpha.png"] = save_decoded("grey_alpha.png", buf.getvalue())

# ---- resizes (torchvision's F.resize(pil, size, BICUBIC, antialias=True) is this call) --------
resizes = []
big = picture(97, 130, 2)
Image.fromarray(big).save(os.path.join(out, "resize_src.png"))
for (h, w) in [(48, 64), (28, 42), (14, 14), (96, 128), (160, 224), (224, 294), (97, 16), (33, 130)]:
    r = np.asarray(Image.fromarray(big).resize((w, h), Image.BICUBIC), dtype=np.uint8)
    name = f"resize_{h}x{w}.rgb"
    with open(os.path.join(out, name), "wb") as f:
        f.write(r.tobytes())
    resizes.append([h, w, name])

# ---- CPython's random -----------------------------------------------------------------------
rand = []
for seed in (0, 1, 42, 4396, 2**32 + 5, 2**40 + 7):
    r = random.Random(seed)
    bits = [r.getrandbits(32) for _ in range(4)] + [r.getrandbits(64)]
    shuffles = {}
    for n in (1, 2, 5, 17, 100, 1000):
        r = random.Random(seed)
        items = list(range(n))
        r.shuffle(items)
        shuffles[str(n)] = items
    r = random.Random(seed)
    below = [r._randbelow(n) for n in (1, 3, 10, 1000, 2**31, 2**33)]
    rand.append({"seed": seed, "getrandbits": bits, "shuffle": shuffles, "randbelow": below})
with open(os.path.join(out, "python_random.json"), "w") as f:
    json.dump(rand, f, separators=(",", ":"))

# ---- Parquet in the official layouts --------------------------------------------------------
def png_bytes(seed, h=20, w=24):
    b = io.BytesIO(); Image.fromarray(picture(h, w, seed)).save(b, "PNG"); return b.getvalue()


t2i = pa.table({
    "image": pa.array([png_bytes(i) for i in range(5)] + [None], pa.binary()),
    "captions": pa.array([json.dumps({"short": f"picture {i}", "long": f"a picture number {i}"})
                          for i in range(5)] + ["{}"], pa.string()),
    "extra": pa.array(list(range(6)), pa.int64()),
})
pq.write_table(t2i, os.path.join(out, "t2i_snappy.parquet"), row_group_size=4, compression="snappy")
pq.write_table(t2i, os.path.join(out, "t2i_zstd.parquet"), row_group_size=4, compression="zstd")
pq.write_table(t2i, os.path.join(out, "t2i_gzip_v2.parquet"), row_group_size=3, compression="gzip",
               data_page_version="2.0", use_dictionary=False)
edit = pa.table({
    "image_list": pa.array([[png_bytes(10 * i + k) for k in range(2 + i % 2)] for i in range(4)],
                           pa.list_(pa.binary())),
    "instruction_list": pa.array([[[f"step {k} of {i}", f"alt {k}"] for k in range(1 + i % 2)]
                                  for i in range(4)], pa.list_(pa.list_(pa.string()))),
})
pq.write_table(edit, os.path.join(out, "edit.parquet"), row_group_size=2, compression="snappy")
manifest = {"decoded": {k: list(v) for k, v in decoded.items()}, "resizes": resizes,
            "t2i_rows": 6, "edit_rows": 4}
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
print("wrote", out)
