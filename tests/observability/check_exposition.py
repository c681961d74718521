#!/usr/bin/env python3
"""Checks scrapes of bagel-coordinator's and bagel-worker's /metrics (Prometheus text format 0.0.4)
against the families the code declares (`--metric-catalogue`: name, type, labels, help), and
reports the samples as JSON for the end-to-end test's assertions.

  check_exposition.py CATALOGUE SCRAPE...   -> exit 1 with every problem, else prints
                                              {"scrape file": {"name{k=v,...}": value}}

Checked for every family whose name starts with bagel_: it is in the catalogue, with the same
TYPE and HELP; every sample's label names are the catalogue's; counters end in _total; only
base units (_seconds, _bytes, _ratio; never _milliseconds, _kilobytes, _percent). Standard
library only (test-only helper; no Python is part of the product)."""
import json
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
BAD_UNITS = ("_milliseconds", "_ms", "_kilobytes", "_megabytes", "_percent", "_minutes", "_hours")


def read_catalogue(path):
    cat = {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line:
            continue
        name, typ, labels, help_ = line.split("\t", 3)
        cat[name] = (typ, [l for l in labels.split(",") if l], help_)
    return cat


def unescape_help(s):
    return s.replace("\\n", "\n").replace("\\\\", "\\")


def check(cat, path, problems):
    helps, types, samples = {}, {}, {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("# HELP "):
            name, _, text = line[7:].partition(" ")
            helps[name] = unescape_help(text)
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            types[name] = typ
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            if not m:
                problems.append(f"{path}: not a sample line: {line}")
                continue
            labels = dict(LABEL.findall(m.group(3) or ""))
            key = m.group(1) + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"
            samples[key] = float(m.group(4))
            family = m.group(1)
            for suffix in ("_bucket", "_sum", "_count"):
                base = family[: -len(suffix)]
                if family.endswith(suffix) and types.get(base) == "histogram":
                    family = base
                    labels.pop("le", None)
            if family.startswith("bagel_") and family in cat:
                want = cat[family][1]
                if sorted(labels) != sorted(want):
                    problems.append(f"{path}: {family} has labels {sorted(labels)}, "
                                    f"the catalogue says {sorted(want)}")
    for name, typ in types.items():
        if not name.startswith("bagel_"):
            continue
        if name not in cat:
            problems.append(f"{path}: {name} is exported but not in the catalogue")
            continue
        if cat[name][0] != typ:
            problems.append(f"{path}: {name} is a {typ}, the catalogue says {cat[name][0]}")
        if helps.get(name) != cat[name][2]:
            problems.append(f"{path}: {name}: HELP differs from the catalogue")
        if not helps.get(name):
            problems.append(f"{path}: {name} has no HELP")
        if (typ == "counter") != name.endswith("_total"):
            problems.append(f"{path}: {name}: counters, and only counters, end in _total")
        if any(name.endswith(u) or (u + "_") in name for u in BAD_UNITS):
            problems.append(f"{path}: {name} is not in base units")
    return samples


def main():
    cat = read_catalogue(sys.argv[1])
    problems, out = [], {}
    for path in sys.argv[2:]:
        out[path] = check(cat, path, problems)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
