#!/usr/bin/env python3
"""Writes the official BAGEL T2I and edit datasets with every Parquet writer users have.

Test-only (the test virtualenv of scripts/setup.sh): pyarrow (every codec, every encoding, data
pages v1 and v2, string/large_string/binary/large_binary, extra columns, Hugging Face image
structs), polars, DuckDB, fastparquet and Hugging Face `datasets`. The same records go into every
file, so a reader must give back the same values from each:

  OUT/t2i/<writer>-<variant>.parquet    columns image (bytes), captions (JSON text), extras
  OUT/edit/<writer>-<variant>.parquet   columns image_list (list of bytes),
                                        instruction_list (list of lists of text)
  OUT/edit/parquet_info.json            {path: {"num_row_groups": n}} as the official loader wants
  OUT/manifest.json                     per file: its writer, variant and the expected rows
                                        (sha256 of each image, the captions / instructions)

Usage: write_parquet_variants.py OUT
"""
import hashlib
import io
import json
import os
import random
import sys

import duckdb
import fastparquet
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

ROWS = 5
ROW_GROUP = 2


def picture(rng, fmt):
    w, h = rng.choice([(48, 64), (64, 48), (64, 64), (40, 56)])
    img = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
    d = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = rng.randrange(w // 2), rng.randrange(h // 2)
        d.rectangle([x0, y0, x0 + rng.randrange(8, w // 2), y0 + rng.randrange(8, h // 2)],
                    fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def t2i_records(rng):
    rows = []
    for i in range(ROWS):
        captions = {"short": f"picture {i} of boxes", "long": f"a picture of coloured boxes, number {i}"}
        rows.append({"image": picture(rng, "PNG" if i % 2 else "JPEG"),
                     "captions": json.dumps(captions)})
    return rows


def edit_records(rng):
    rows = []
    for i in range(ROWS):
        n = 2 + i % 2
        rows.append({"image_list": [picture(rng, "PNG") for _ in range(n)],
                     "instruction_list": [[f"step {k} of edit {i}", f"alternative {k}"]
                                          for k in range(n - 1)]})
    return rows


def sha(b):
    return hashlib.sha256(b).hexdigest()


def t2i_table(rows, image_type=pa.binary(), caption_type=pa.string(), extras=True, hf=False):
    cols = {}
    if hf:
        cols["image"] = pa.array([{"bytes": r["image"], "path": f"img{i}.png"} for i, r in enumerate(rows)],
                                 pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    else:
        cols["image"] = pa.array([r["image"] for r in rows], image_type)
    cols["captions"] = pa.array([r["captions"] for r in rows], caption_type)
    if extras:  # columns the loader never reads, of the types BYTE_STREAM_SPLIT and DELTA need
        cols["score"] = pa.array([0.5 * i for i in range(len(rows))], pa.float32())
        cols["index"] = pa.array(list(range(len(rows))), pa.int64())
        cols["source"] = pa.array([f"gen-{i}" for i in range(len(rows))], pa.string())
    return pa.table(cols)


def edit_table(rows, large=False, hf=False):
    list_type = pa.large_list if large else pa.list_
    if hf:
        image_type = list_type(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
        images = [[{"bytes": b, "path": None} for b in r["image_list"]] for r in rows]
    else:
        image_type = list_type(pa.large_binary() if large else pa.binary())
        images = [r["image_list"] for r in rows]
    text = pa.large_string() if large else pa.string()
    return pa.table({
        "image_list": pa.array(images, image_type),
        "instruction_list": pa.array([r["instruction_list"] for r in rows], list_type(list_type(text))),
        "source": pa.array([f"edit-{i}" for i in range(len(rows))], pa.string()),
    })


def fastparquet_write(path, df, codec, page_version):
    # fastparquet picks the data page version from a module setting (1 unless changed).
    import fastparquet.writer
    saved = fastparquet.writer.DATAPAGE_VERSION
    fastparquet.writer.DATAPAGE_VERSION = page_version
    try:
        fastparquet.write(path, df, compression=codec, row_group_offsets=ROW_GROUP, stats=True,
                          object_encoding={"image": "bytes", "captions": "utf8"})
    finally:
        fastparquet.writer.DATAPAGE_VERSION = saved


def main():
    out = sys.argv[1]
    rng = random.Random(1234)
    t2i_rows, edit_rows = t2i_records(rng), edit_records(rng)
    os.makedirs(f"{out}/t2i", exist_ok=True)
    os.makedirs(f"{out}/edit", exist_ok=True)
    manifest = {"t2i": {}, "edit": {}, "unsupported": []}

    def t2i(name, write):
        path = f"{out}/t2i/{name}.parquet"
        try:
            write(path)
        except Exception as e:  # an option this writer's version lacks: reported, not hidden
            manifest["unsupported"].append(f"t2i {name}: {type(e).__name__}: {e}")
            if os.path.exists(path):
                os.remove(path)
            return
        manifest["t2i"][path] = [{"image_sha256": sha(r["image"]), "captions": r["captions"]}
                                 for r in t2i_rows]

    def edit(name, write):
        path = f"{out}/edit/{name}.parquet"
        try:
            write(path)
        except Exception as e:
            manifest["unsupported"].append(f"edit {name}: {type(e).__name__}: {e}")
            if os.path.exists(path):
                os.remove(path)
            return
        manifest["edit"][path] = [{"images_sha256": [sha(b) for b in r["image_list"]],
                                   "instructions": r["instruction_list"]} for r in edit_rows]

    # --- pyarrow: every codec, every encoding, both data page versions, every byte type ------
    for codec in ["none", "snappy", "gzip", "zstd", "lz4", "lz4_raw", "brotli"]:
        t2i(f"pyarrow-{codec}", lambda p, c=codec: pq.write_table(
            t2i_table(t2i_rows), p, compression=c, row_group_size=ROW_GROUP))
    for version in ["1.0", "2.0"]:
        t2i(f"pyarrow-page-v{version[0]}", lambda p, v=version: pq.write_table(
            t2i_table(t2i_rows), p, data_page_version=v, row_group_size=ROW_GROUP))
    t2i("pyarrow-plain", lambda p: pq.write_table(
        t2i_table(t2i_rows), p, use_dictionary=False, row_group_size=ROW_GROUP))
    t2i("pyarrow-dictionary", lambda p: pq.write_table(
        t2i_table(t2i_rows), p, use_dictionary=True, row_group_size=ROW_GROUP))
    for enc in ["DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY"]:
        t2i(f"pyarrow-{enc.lower()}", lambda p, e=enc: pq.write_table(
            t2i_table(t2i_rows), p, use_dictionary=False, row_group_size=ROW_GROUP,
            column_encoding={"image": e, "captions": e, "source": e, "index": "DELTA_BINARY_PACKED",
                             "score": "BYTE_STREAM_SPLIT"}))
    t2i("pyarrow-byte_stream_split-v2", lambda p: pq.write_table(
        t2i_table(t2i_rows), p, use_dictionary=["image", "captions"], data_page_version="2.0",
        column_encoding={"score": "BYTE_STREAM_SPLIT", "index": "BYTE_STREAM_SPLIT"},
        row_group_size=ROW_GROUP))
    t2i("pyarrow-large-types", lambda p: pq.write_table(
        t2i_table(t2i_rows, pa.large_binary(), pa.large_string()), p, row_group_size=ROW_GROUP))
    t2i("pyarrow-string-image", lambda p: pq.write_table(  # image bytes in a binary "string"
        t2i_table(t2i_rows, pa.binary(), pa.binary()), p, row_group_size=ROW_GROUP))
    t2i("pyarrow-view-types", lambda p: pq.write_table(
        t2i_table(t2i_rows, pa.binary_view(), pa.string_view()), p, row_group_size=ROW_GROUP))
    t2i("pyarrow-hf-image-struct", lambda p: pq.write_table(
        t2i_table(t2i_rows, hf=True), p, row_group_size=ROW_GROUP))
    t2i("pyarrow-one-row-group", lambda p: pq.write_table(t2i_table(t2i_rows, extras=False), p))
    edit("pyarrow-snappy", lambda p: pq.write_table(edit_table(edit_rows), p, row_group_size=ROW_GROUP))
    edit("pyarrow-zstd-v2-large", lambda p: pq.write_table(
        edit_table(edit_rows, large=True), p, compression="zstd", data_page_version="2.0",
        row_group_size=ROW_GROUP))
    edit("pyarrow-delta", lambda p: pq.write_table(
        edit_table(edit_rows), p, use_dictionary=False, compression="lz4",
        column_encoding={"image_list.list.element": "DELTA_LENGTH_BYTE_ARRAY",
                         "instruction_list.list.element.list.element": "DELTA_BYTE_ARRAY",
                         "source": "DELTA_BYTE_ARRAY"},
        row_group_size=ROW_GROUP))
    edit("pyarrow-hf-image-struct", lambda p: pq.write_table(
        edit_table(edit_rows, hf=True), p, compression="brotli", row_group_size=ROW_GROUP))

    # --- polars ------------------------------------------------------------------------------
    t2i_df = pl.DataFrame({"image": [r["image"] for r in t2i_rows],
                           "captions": [r["captions"] for r in t2i_rows],
                           "score": [0.25 * i for i in range(ROWS)]})
    for codec in ["uncompressed", "snappy", "gzip", "lz4", "zstd", "brotli"]:
        t2i(f"polars-{codec}", lambda p, c=codec: t2i_df.write_parquet(
            p, compression=c, row_group_size=ROW_GROUP))
    t2i("polars-via-pyarrow", lambda p: t2i_df.write_parquet(p, use_pyarrow=True))
    edit_df = pl.DataFrame({"image_list": [r["image_list"] for r in edit_rows],
                            "instruction_list": [r["instruction_list"] for r in edit_rows]},
                           schema={"image_list": pl.List(pl.Binary),
                                   "instruction_list": pl.List(pl.List(pl.String))})
    edit("polars-zstd", lambda p: edit_df.write_parquet(p, row_group_size=ROW_GROUP))
    edit("polars-lz4", lambda p: edit_df.write_parquet(p, compression="lz4", row_group_size=ROW_GROUP))

    # --- DuckDB: every codec, Parquet format v1 and v2 ---------------------------------------
    con = duckdb.connect()
    con.register("t2i_src", pa.table({"image": pa.array([r["image"] for r in t2i_rows], pa.binary()),
                                      "captions": [r["captions"] for r in t2i_rows],
                                      "n": list(range(ROWS))}))
    for codec in ["uncompressed", "snappy", "gzip", "zstd", "lz4", "lz4_raw", "brotli"]:
        for version in ["V1", "V2"]:
            t2i(f"duckdb-{codec}-{version.lower()}", lambda p, c=codec, v=version: con.execute(
                f"COPY t2i_src TO '{p}' (FORMAT PARQUET, COMPRESSION {c}, PARQUET_VERSION {v}, "
                f"ROW_GROUP_SIZE {ROW_GROUP})"))
    con.register("edit_src", edit_table(edit_rows))
    for version in ["V1", "V2"]:
        edit(f"duckdb-{version.lower()}", lambda p, v=version: con.execute(
            f"COPY (SELECT image_list, instruction_list FROM edit_src) TO '{p}' "
            f"(FORMAT PARQUET, COMPRESSION zstd, PARQUET_VERSION {v}, ROW_GROUP_SIZE {ROW_GROUP})"))

    # --- fastparquet (T2I: it writes no nested lists of bytes) --------------------------------
    pdf = pd.DataFrame({"image": [r["image"] for r in t2i_rows],
                        "captions": [r["captions"] for r in t2i_rows],
                        "score": np.arange(ROWS, dtype=np.float64)})
    for codec in [None, "SNAPPY", "GZIP", "ZSTD", "LZ4", "BROTLI"]:
        for page_version in [1, 2]:
            name = f"fastparquet-{(codec or 'none').lower()}-v{page_version}"
            t2i(name, lambda p, c=codec, v=page_version: fastparquet_write(p, pdf, c, v))

    # --- Hugging Face datasets: Image() columns are {bytes, path} structs ----------------------
    import datasets
    features = datasets.Features({"image": datasets.Image(), "captions": datasets.Value("string")})
    ds = datasets.Dataset.from_dict(
        {"image": [{"bytes": r["image"], "path": None} for r in t2i_rows],
         "captions": [r["captions"] for r in t2i_rows]}, features=features)
    t2i("hf-datasets", lambda p: ds.to_parquet(p, batch_size=ROW_GROUP))
    edit_features = datasets.Features({"image_list": datasets.Sequence(datasets.Image()),
                                       "instruction_list": datasets.Sequence(
                                           datasets.Sequence(datasets.Value("string")))})
    eds = datasets.Dataset.from_dict(
        {"image_list": [[{"bytes": b, "path": None} for b in r["image_list"]] for r in edit_rows],
         "instruction_list": [r["instruction_list"] for r in edit_rows]}, features=edit_features)
    edit("hf-datasets", lambda p: eds.to_parquet(p, batch_size=ROW_GROUP))

    info = {p: {"num_row_groups": pq.ParquetFile(p).num_row_groups} for p in manifest["edit"]}
    with open(f"{out}/edit/parquet_info.json", "w") as f:
        json.dump(info, f, indent=1)
    with open(f"{out}/manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)
    codecs = {pq.ParquetFile(p).metadata.row_group(0).column(0).compression
              for p in list(manifest["t2i"]) + list(manifest["edit"])}
    print(f"wrote {len(manifest['t2i'])} T2I and {len(manifest['edit'])} edit files "
          f"(codecs: {', '.join(sorted(codecs))}); unsupported options: {len(manifest['unsupported'])}")
    for u in manifest["unsupported"]:
        print("  unsupported:", u)


if __name__ == "__main__":
    main()
