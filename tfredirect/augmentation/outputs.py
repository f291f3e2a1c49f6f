"""Output writing: the staged chunks assembled in a dataset layout by the data modules' own
writers (tfredirect.data.sted.write, xgaze.write, folder.write).

Every layout carries the provenance columns (`PROVENANCE`) and, with a judge, the judged
errors (`gate.JUDGED`); copies the quality gate drops are left out and counted. The ST-ED
layout has no per-eye labels for generated copies: its eye columns (labels 4:8) are NaN and
the file says `eye_labels: "not available"` (the readers use columns 0:4 only).
"""

import json
import os
import re
import shutil

import numpy as np

from tfredirect import fileio
from tfredirect.augmentation import gate, staging
from tfredirect.augmentation.targets import KINDS

LAYOUTS = ("sted", "xgaze", "folder")
PROVENANCE = ("source_index", "copy", "kind", "source_gaze", "source_head")
MARKER = "augmentation.json"  # beside the files of the folder layouts: this is an augmentation output


def safe_names(persons):
    """File/group-safe person names (no '/' or NUL, not '.' or '..'), unique."""
    names, seen = [], set()
    for i, p in enumerate(persons):
        name = re.sub(r"[/\\\x00]", "_", str(p)) or f"person{i}"
        if name in (".", ".."):
            name = f"person{i}"
        base, n = name, 1
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name)
        names.append(name)
    return names


def attributes(meta, max_judged_error_deg, dropped):
    """What the output says about how it was made (h5 attributes / augmentation.json)."""
    p = meta["parameters"]
    attrs = {"augmented_by": "tfredirect.augmentation", "per_image": p["per_image"],
             "sampler": json.dumps(p["sampler"]), "checkpoint": meta.get("checkpoint_path") or p["checkpoint"],
             "checkpoint_identity": p["checkpoint"], "source_data": meta.get("data_description", ""),
             "kind_names": ",".join(KINDS), "shard": "{}/{}".format(*p["shard"]),
             "sources_range": ",".join(map(str, p["sources_range"]))}
    if p.get("judge"):
        attrs.update(judge=meta.get("judge_path") or p["judge"], judge_identity=p["judge"],
                     judged_columns=",".join(gate.JUDGED), gate_rule="max(gaze, head) judged error",
                     dropped_by_gate=int(dropped))
        if max_judged_error_deg is not None:
            attrs["max_judged_error_deg"] = float(max_judged_error_deg)
    return attrs


def _rows(chunks, keep):
    """The kept rows of every chunk, chunk by chunk."""
    for (_, _, path), k in zip(chunks, keep):
        d = staging.load_chunk(path)
        yield {key: v[k] for key, v in d.items()}


def finalize(staging_dir, chunks, out, layout, persons, meta, overwrite=False, max_judged_error_deg=None):
    """Assemble the output from the chunks in `layout`, leaving out the copies the gate drops;
    returns (persons written, samples written, copies dropped). An existing `out` is replaced
    only with `overwrite`; otherwise the staging folder is kept."""
    from tfredirect.data import folder, sted

    names = safe_names(persons)
    judged = bool(meta["parameters"].get("judge"))
    extra = PROVENANCE + (gate.JUDGED if judged else ())
    keep = [gate.passes(staging.load_chunk(c[2], gate.JUDGED), max_judged_error_deg) if judged else
            slice(None) for c in chunks]
    dropped = sum(int((~k).sum()) for k in keep if not isinstance(k, slice))
    attrs = attributes(meta, max_judged_error_deg, dropped)
    final = os.path.join(staging_dir, "final.h5" if layout == "sted" else "final")
    used = set()
    if layout == "sted":
        samples = sted.write(final, _sted_blocks(_rows(chunks, keep), names, extra, used),
                             attrs={**attrs, "eye_labels": sted.EYES_NOT_AVAILABLE})[1]
    elif layout == "xgaze":
        samples = _write_xgaze(final, chunks, keep, names, extra, attrs, used)
    else:
        samples = folder.write(final, _folder_blocks(_rows(chunks, keep), names, extra, used))
    if layout != "sted":
        fileio.write_json_atomic(os.path.join(final, MARKER), attrs)
        fileio.fsync_path(final)  # the folder's entries survive a power cut
    if overwrite and os.path.lexists(out):
        shutil.rmtree(out) if os.path.isdir(out) and not os.path.islink(out) else os.remove(out)
    try:
        staging.rename_noreplace(final, out)
    except FileExistsError:
        shutil.rmtree(final) if os.path.isdir(final) else os.remove(final)
        raise ValueError(f"{out} appeared while this run was writing it (another run?); kept it and the finished "
                         f"work in {staging_dir}: pass --overwrite to replace {out} with it") from None
    shutil.rmtree(staging_dir)
    return len(used), samples, dropped


def _sted_blocks(rows, names, extra, used):
    from tfredirect.data import sted

    for d in rows:
        for p in dict.fromkeys(d["person"].tolist()):
            sel = d["person"] == p
            used.add(p)
            yield names[p], {"pixels": d["pixels"][sel], "labels": sted.labels(d["gaze"][sel], d["head"][sel]),
                             **{k: d[k][sel] for k in extra}}


def _write_xgaze(final, chunks, keep, names, extra, attrs, used):
    """One ETH-XGaze file per person (its kept copies, chunk by chunk); returns samples."""
    from tfredirect.data import xgaze

    where = {}  # person -> chunk positions holding its kept copies
    for c, (_, _, path) in enumerate(chunks):
        for p in np.unique(staging.load_chunk(path, ["person"])["person"][keep[c]]):
            where.setdefault(int(p), []).append(c)
    os.makedirs(final)
    cache, samples = {}, 0

    def blocks(p, positions):
        for c in positions:
            if c not in cache:
                cache.clear()
                cache[c] = next(_rows([chunks[c]], [keep[c]]))
            d = cache[c]
            sel = d["person"] == p
            yield {"image": d["pixels"][sel], "gaze": d["gaze"][sel], "head": d["head"][sel],
                   **{k: d[k][sel] for k in extra}}

    for p, positions in where.items():
        used.add(p)
        samples += xgaze.write(os.path.join(final, f"{names[p]}.h5"), blocks(p, positions), attrs=attrs)
    return samples


def _folder_blocks(rows, names, extra, used):
    for d in rows:
        used.update(d["person"].tolist())
        columns = {k: d[k] for k in extra}
        columns["kind"] = np.array(KINDS)[d["kind"].astype(int)]
        yield {"name": [f"{s:07d}_{k:02d}.png" for s, k in zip(d["source_index"].tolist(), d["copy"].tolist())],
               "image": d["pixels"], "person": np.array(names)[d["person"]], "gaze": d["gaze"], "head": d["head"],
               **columns}
