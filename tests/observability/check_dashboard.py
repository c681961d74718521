#!/usr/bin/env python3
"""Checks deploy/grafana/bagel-dashboard.json: it parses, has what Grafana's import needs (title,
uid, schemaVersion, panels with unique ids and grid positions, a Prometheus datasource variable),
every panel has at least one query, and every metric a query names is one the code exports (the
`--metric-catalogue` of bagel-coordinator and bagel-worker; histogram queries may add _bucket,
_sum or _count). The rule files' expressions are checked the same way.

  check_dashboard.py CATALOGUE DASHBOARD_JSON [RULES_YAML...]

Standard library only (test-only helper)."""
import json
import re
import sys

NAME = re.compile(r"\bbagel_[a-z0-9_]+\b")


def known_names(catalogue_path):
    names = set()
    for line in open(catalogue_path, encoding="utf-8"):
        if not line.strip():
            continue
        name, typ = line.split("\t")[:2]
        names.add(name)
        if typ == "histogram":
            names.update(name + s for s in ("_bucket", "_sum", "_count"))
    return names


def main():
    known = known_names(sys.argv[1])
    problems = []
    d = json.load(open(sys.argv[2], encoding="utf-8"))
    for key in ("title", "uid", "schemaVersion", "panels", "templating"):
        if key not in d:
            problems.append(f"dashboard: no {key}")
    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("query") != "prometheus":
        problems.append("dashboard: no Prometheus datasource variable named datasource")
    ids, queries = set(), []
    for p in d.get("panels", []):
        if p.get("id") in ids:
            problems.append(f"panel id {p.get('id')} twice")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(k in g for k in ("h", "w", "x", "y")) or g.get("x", 0) + g.get("w", 0) > 24:
            problems.append(f"panel {p.get('title')}: bad gridPos {g}")
        if p.get("type") == "row":
            continue
        targets = p.get("targets", [])
        if not targets or not all(t.get("expr") for t in targets):
            problems.append(f"panel {p.get('title')}: a panel without a query")
        for t in targets:
            queries.append((p.get("title"), t.get("expr", "")))
    for v in variables.values():
        q = v.get("query")
        if isinstance(q, dict):
            queries.append(("variable " + v["name"], q.get("query", "")))
    for path in sys.argv[3:]:
        for line in open(path, encoding="utf-8"):
            if re.match(r"\s*(expr|-\s*series):", line):
                queries.append((path, line))
    used = set()
    for where, q in queries:
        names = NAME.findall(q)
        if not names and not where.endswith((".yaml", ".yml")):
            problems.append(f"{where}: query names no bagel_ metric: {q}")
        for n in names:
            used.add(n)
            if n not in known:
                problems.append(f"{where}: {n} is not a metric the code exports")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"dashboard and rules: {len(queries)} queries, {len(used)} metrics, all exported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
