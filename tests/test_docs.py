"""The commands in README.md and docs/ run as written: every script they name exists and
takes every flag they pass (checked against the script's own --helpfull), and nothing a user
reads points outside the repository."""

import functools
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))
                               if f.endswith(".md"))
SCRIPT = re.compile(r"python (?:-m )?((?:tools|benchmarks|export)/[a-z_0-9]+\.py)")


def commands(text):
    """(script, [flag names]) for every `python <script> ...` command in a page, with its
    backslash-continued lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        for piece in re.split(r"&&|;|\|", line):
            m = SCRIPT.search(piece)
            if m:
                rest = piece[m.end():].split("#")[0]
                found.append((m.group(1), re.findall(r"(?<![\w-])--([a-z][a-z_0-9]*)", rest)))
    return found


def test_commands_are_found_with_their_flags():
    text = "see\n    pip install -e . && python tools/train.py --flagfile=x.flags \\\n        --steps=3  # note --not_a_flag\n"
    assert commands(text) == [("tools/train.py", ["flagfile", "steps"])]


@functools.lru_cache(maxsize=None)
def known_flags(script):
    """Flag names a script accepts, read from its --helpfull (absl) or --help (argparse)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, script, "--helpfull"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    text = out.stdout + out.stderr
    if "unrecognized arguments" in text or "--helpfull" not in text and out.returncode:
        out = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
        text = out.stdout + out.stderr
    names = set(re.findall(r"--([a-z][a-z_0-9]*)", text)) | set(re.findall(r"--\[no\]([a-z][a-z_0-9]*)", text))
    names |= {"no" + n for n in re.findall(r"--\[no\]([a-z][a-z_0-9]*)", text)}
    assert names, f"{script} printed no flags:\n{text[-2000:]}"
    return frozenset(names)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_command_in_the_docs_takes_its_flags(page):
    with open(os.path.join(ROOT, page)) as fh:
        found = commands(fh.read())
    for script, flags in found:
        assert os.path.exists(os.path.join(ROOT, script)), f"{page}: {script} does not exist"
        unknown = sorted(set(flags) - known_flags(script))
        assert not unknown, f"{page}: {script} does not take --{', --'.join(unknown)}"


@pytest.mark.parametrize("page", PAGES)
def test_pages_point_to_nothing_a_clone_lacks(page):
    with open(os.path.join(ROOT, page)) as fh:
        text = fh.read()
    assert "../shared" not in text and "QUALITY_NOTES" not in text
    assert not re.search(r"\bissue #?\d+|#\d{2,}\b", text, re.IGNORECASE), f"{page} refers to an issue number"
    for link in re.findall(r"\]\(([^)#]+)", text):
        if not re.match(r"[a-z]+://", link):
            target = os.path.normpath(os.path.join(ROOT, os.path.dirname(page), link))
            assert os.path.exists(target), f"{page}: link {link} points to nothing"
