"""tools/serve.py: a .tflite export served as it is, and its one-line errors (the page itself
is tested in tests/serving/test_web.py)."""

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request

import pytest

from tfredirect.serving import web

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def last_line(res):
    return res.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_serves_a_tflite_export(tiny_redirector):
    lite = web.tflite_runner(tiny_redirector)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "serve.py"), "--backend=tflite",
                             f"--model={lite.path}", "--port=0", "--persons=2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("rendering 2 SynthGaze test persons and warming up the tflite backend")
        url = re.search(r"at (http://127\.0\.0\.1:\d+/)", lines[1]).group(1)
        with urllib.request.urlopen(url + "api/info", timeout=30) as res:
            info = json.load(res)
        assert info["backend"] == "tflite" and info["image_size"] == 32 and len(info["persons"]) == 2
        body = json.dumps({"source": info["persons"][0]["source"], "gaze_deg": [5, 5], "head_deg": [0, 10]}).encode()
        request = urllib.request.Request(url + "api/redirect", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as res:
            assert web.decode_data_url(json.load(res)["redirected"]).shape == (32, 32, 3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_errors_are_one_line(tool, tiny_redirector_file, tmp_path):
    res = tool("serve", "--model=export/redirector_float32.tflite")
    assert res.returncode == 1
    assert last_line(res) == "serve.py: error: --model export/redirector_float32.tflite: a TFLite model needs " \
                                 "--backend=tflite"
    missing = tmp_path / "missing.keras"
    res = tool("serve", f"--model={missing}", "--port=0")
    assert res.returncode == 1 and last_line(res) == f"serve.py: error: {missing}: no such model file"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = tool("serve", f"--model={tiny_redirector_file}", f"--port={port}")
    assert res.returncode == 1
    assert last_line(res) == f"serve.py: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert res.stdout == ""
