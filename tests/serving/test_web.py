"""The interactive page (tfredirect/serving/web.py, tools/serve.py): JSON endpoints with
Flask's test client on a tiny untrained model, bad uploads, a real photo, the TFLite
backend, and the page itself in headless Chromium."""

import io
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
from skimage import data

from tfredirect.serving import browser, web

MAX_UPLOAD_MB = 1.0
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def png_bytes(rgb):
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


@pytest.fixture(scope="module")
def client(tiny_redirector):
    app = web.create_app(tiny_redirector, "keras", model_name="tiny", max_upload_mb=MAX_UPLOAD_MB, persons=3)
    return app.test_client()


@pytest.fixture(scope="module")
def info(client):
    return client.get("/api/info").get_json()


def redirect(client, source, gaze, head):
    return client.post("/api/redirect", json={"source": source, "gaze_deg": gaze, "head_deg": head})


def test_page_and_info(client, info):
    page = client.get("/")
    assert page.status_code == 200 and b'id="redirected"' in page.data and b"<script>" in page.data
    assert b"http" not in page.data.split(b"<script>")[0].lower()  # nothing loaded from elsewhere
    assert info["model"] == "tiny" and info["backend"] == "keras" and info["image_size"] == 32
    assert info["ranges_deg"] == {"gaze": [40.0, 50.0], "head": [30.0, 45.0]} and info["max_upload_mb"] == 1.0
    assert len(info["persons"]) == 3
    person = info["persons"][0]
    assert person["source"] == f"synthgaze:{person['person']}"
    assert web.decode_data_url(person["input"]).shape == (32, 32, 3)


def test_synthgaze_redirect_matches_the_model_and_the_exact_render(client, info, tiny_redirector):
    from tfredirect.data.synthgaze import SynthGaze

    person = info["persons"][1]
    res = redirect(client, person["source"], [10, -20], [5, 15])
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert set(body) == {"redirected", "truth", "server_ms"} and body["server_ms"] > 0
    out, truth = web.decode_data_url(body["redirected"]), web.decode_data_url(body["truth"])
    source = web.decode_data_url(person["input"])
    synth = SynthGaze(size=32, seed=web.SYNTH_SEED, nuisance="person")
    image, gaze0, head0 = synth.render_samples([person["person"]], [web.SYNTH_SAMPLE])
    np.testing.assert_array_equal(source, image[0])
    target_gaze, target_head = np.radians([[10.0, -20.0]]), np.radians([[5.0, 15.0]])
    direct = np.asarray(tiny_redirector.redirect(image, target_gaze.astype("float32"), target_head.astype("float32"),
                                                 gaze0, head0))[0]
    assert np.abs(out.astype(int) - direct).max() <= 1  # compiled vs eager: at most a rounding step
    assert np.abs(out.astype(float) - source).mean() > 5  # the untrained model does change the face
    exact = synth.render_target([person["person"]], [web.SYNTH_SAMPLE], gaze=target_gaze, head=target_head)[0]
    np.testing.assert_array_equal(truth, exact)
    assert np.abs(exact.astype(float) - source).mean() > 1  # the target render differs from the input
    other = web.decode_data_url(redirect(client, person["source"], [-10, 20], [5, 15]).get_json()["redirected"])
    assert np.abs(other.astype(int) - out).max() > 0


@pytest.mark.parametrize("body, status, message", [
    ({"source": "synthgaze:999999", "gaze_deg": [0, 0], "head_deg": [0, 0]}, 404, "unknown source"),
    ({"source": "photo:abc", "gaze_deg": [0, 0], "head_deg": [0, 0]}, 404, "unknown photo 'abc'"),
    ({"source": "SRC", "gaze_deg": [41, 0], "head_deg": [0, 0]}, 400, "'gaze_deg' [41, 0] is outside pitch +/-40"),
    ({"source": "SRC", "gaze_deg": [0, 0], "head_deg": [0, 46]}, 400, "yaw +/-45 degrees"),
    ({"source": "SRC", "gaze_deg": [0], "head_deg": [0, 0]}, 400, "'gaze_deg' must be [pitch, yaw]"),
    ({"source": "SRC", "gaze_deg": [0, "a"], "head_deg": [0, 0]}, 400, "'gaze_deg' must be [pitch, yaw]"),
    ({"source": "SRC", "gaze_deg": [0, 0]}, 400, "'head_deg' must be [pitch, yaw]"),
    ([1, 2], 400, "expected a JSON object"),
])
def test_bad_redirect_requests(client, info, body, status, message):
    if isinstance(body, dict) and body["source"] == "SRC":
        body = {**body, "source": info["persons"][0]["source"]}
    res = client.post("/api/redirect", json=body)
    assert res.status_code == status and message in res.get_json()["error"]


def _gif():
    buf = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (40, 40), (200, 10, 10)).save(buf, format="GIF")
    return buf.getvalue()


def _huge_canvas_png():
    """A tiny PNG file (a few kB) that decodes to 8000 x 8000 pixels."""
    buf = io.BytesIO()
    from PIL import Image

    Image.new("1", (8000, 8000)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("content, name, status, message", [
    (b"just some text, not a picture", "notes.txt", 400, "notes.txt: not an image; upload a JPEG or PNG photo"),
    (b"", "empty.png", 400, "empty.png: empty file"),
    ("gif", "red.gif", 400, "red.gif: a GIF image; upload a JPEG or PNG photo"),
    ("truncated", "cut.png", 400, "cut.png: a damaged PNG file that cannot be decoded"),
    ("canvas", "canvas.png", 413, "canvas.png: 8000x8000 pixels is too large (at most 50 megapixels)"),
    ("big", "big.png", 413, "upload too large: at most 1 MB (--max_upload_mb)"),
    ("gray", "gray.png", 422, "gray.png: no face found"),
])
def test_bad_uploads_get_a_message_and_the_server_keeps_serving(client, info, content, name, status, message):
    made = {
        "gif": _gif,
        "truncated": lambda: png_bytes(data.astronaut())[:20000],
        "canvas": _huge_canvas_png,
        "big": lambda: png_bytes(np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)),
        "gray": lambda: png_bytes(np.full((200, 200, 3), 128, np.uint8)),
    }
    payload = made[content]() if isinstance(content, str) else content
    if content == "big":
        assert len(payload) > MAX_UPLOAD_MB * 2**20
    res = client.post("/api/photo", data={"photo": (io.BytesIO(payload), name)}, content_type="multipart/form-data")
    assert res.status_code == status and res.get_json()["error"].startswith(message), res.get_json()
    ok = redirect(client, info["persons"][0]["source"], [0, 0], [0, 0])
    assert ok.status_code == 200


def test_upload_without_a_file(client):
    res = client.post("/api/photo", data={}, content_type="multipart/form-data")
    assert res.status_code == 400 and "form field 'photo'" in res.get_json()["error"]


@pytest.mark.slow
def test_photo_upload_finds_the_face_and_pastes_back(client):
    photo = data.astronaut()
    res = client.post("/api/photo", data={"photo": (io.BytesIO(png_bytes(photo)), "astronaut.png")},
                      content_type="multipart/form-data")
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert re.fullmatch(r"photo:[0-9a-f]{16}", body["source"]) and body["photo_size"] == [512, 512]
    assert web.decode_data_url(body["input"]).shape == (32, 32, 3)
    assert len(body["gaze_deg"]) == 2 and abs(body["landmark_head_deg"][1]) < 45
    out = redirect(client, body["source"], [0, -20], [0, 15])
    assert out.status_code == 200, out.get_json()
    result = out.get_json()
    assert set(result) == {"redirected", "pasted", "server_ms"}
    pasted = web.decode_data_url(result["pasted"])
    assert pasted.shape == photo.shape
    ys, xs = np.nonzero(np.any(pasted != photo, axis=-1))
    # a head turn redraws the face (box about x 182..265, y 64..171) and nothing else
    assert len(xs) > 500 and xs.min() > 150 and xs.max() < 300 and ys.min() > 30 and ys.max() < 210
    # the head kept (the estimate sent back rounded to the sliders' whole degrees, as the page
    # does): only the eye regions change, the same as for the exact estimate
    rounded = [float(round(v)) for v in body["head_deg"]]
    gaze_only = web.decode_data_url(redirect(client, body["source"], [0, -20], rounded).get_json()["pasted"])
    ys, xs = np.nonzero(np.any(gaze_only != photo, axis=-1))
    assert len(xs) > 20 and xs.min() > 170 and xs.max() < 280 and ys.min() > 70 and ys.max() < 130
    exact = web.decode_data_url(redirect(client, body["source"], [0, -20], body["head_deg"]).get_json()["pasted"])
    np.testing.assert_array_equal(gaze_only, exact)


def test_head_kept_within_half_a_slider_step():
    est = np.radians([[3.27, -11.6]])
    assert web.head_kept(np.radians([[3.0, -12.0]]), est)
    assert web.head_kept(est, est)
    assert not web.head_kept(np.radians([[3.27, -12.2]]), est)
    assert not web.head_kept(np.radians([[4.0, -11.6]]), est)


def test_large_photos_are_scaled_down():
    big = cv2.resize(data.astronaut(), (2048, 1024))
    rgb = web.decode_upload(png_bytes(big), "big.png")
    assert rgb.shape == (web.MAX_PHOTO_SIDE // 2, web.MAX_PHOTO_SIDE, 3) and rgb.dtype == np.uint8


def test_bad_backend_and_model_pairs(tiny_redirector):
    with pytest.raises(ValueError, match="backend must be one of"):
        web.make_runner(tiny_redirector, "onnx")
    with pytest.raises(ValueError, match="needs the tflite backend"):
        web.make_runner("export/redirector_float32.tflite", "keras")


@pytest.mark.slow
def test_tflite_backend_matches_keras(tiny_redirector, info):
    app = web.create_app(tiny_redirector, "tflite", max_upload_mb=MAX_UPLOAD_MB, persons=1)
    tflite = app.test_client()
    assert tflite.get("/api/info").get_json()["backend"] == "tflite"
    source = tflite.get("/api/info").get_json()["persons"][0]["source"]
    assert source == info["persons"][0]["source"]
    body = redirect(tflite, source, [10, -20], [5, 15]).get_json()
    keras_app = web.create_app(tiny_redirector, "keras", persons=1).test_client()
    reference = redirect(keras_app, source, [10, -20], [5, 15]).get_json()
    a, b = (web.decode_data_url(x["redirected"]).astype(int) for x in (body, reference))
    assert np.abs(a - b).max() <= 2  # float32 TFLite vs Keras, after uint8 rounding
    assert body["truth"] == reference["truth"]


# ---------------------------------------------------------------------------- the real browser

@pytest.fixture(scope="session")
def chromium_paths():
    """(chromium, chromedriver), or a skip with the reason: the suite installs nothing (CI's
    .ci/run installs Debian's chromium and chromium-driver before the tests)."""
    found = browser.find_chromium()
    if not found[0]:
        pytest.skip("needs chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver)")
    return found


@pytest.fixture(scope="module")
def served(tiny_redirector_file):
    """tools/serve.py on a free port with the tiny model, in a subprocess; its address."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "serve.py"), f"--model={tiny_redirector_file}",
                             "--port=0", "--persons=3", "--verbose=0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert found, f"no address printed: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode in (0, -15)


@pytest.mark.slow
def test_page_in_headless_chromium(chromium_paths, served, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with browser.chromium(*chromium_paths) as page:
        assert browser.open_page(page, served) >= 1
        assert page.find_element(By.ID, "about").text.endswith("keras backend, 32x32 faces")
        count = browser.choose_person(page, 2)
        assert page.find_elements(By.CSS_SELECTOR, "#persons button")[2].get_attribute("class") == "chosen"
        before, truth_before = browser.image_src(page, "redirected"), browser.image_src(page, "truth")
        assert before.startswith("data:image/png;base64,")
        # the keyboard moves a range input as a drag does: one `input` event per step
        page.find_element(By.ID, "gaze_yaw").send_keys(Keys.ARROW_RIGHT * 15)
        count = browser.wait_idle(page)
        moved = browser.move_slider(page, "head_yaw", -30)
        assert moved > count
        after = browser.image_src(page, "redirected")
        assert after != before and browser.image_src(page, "truth") != truth_before
        assert page.find_element(By.ID, "head_yaw_out").text == "-30"
        assert page.find_element(By.ID, "download").get_attribute("href") == after
        times = browser.timings(page)
        assert len(times) == moved and all(0 < t < 60_000 for t in times)
        # 41 moves at once: coalesced into far fewer requests, the last value wins
        page.execute_script("const s = document.getElementById('gaze_yaw');"
                            "for (let v = -40; v <= 40; v += 2) { s.value = v; s.dispatchEvent(new Event('input')); }")
        final = browser.wait_idle(page)
        assert 0 < final - moved <= 2 and page.find_element(By.ID, "gaze_yaw_out").text == "40"
        assert browser.image_src(page, "redirected") != after
        assert browser.error_message(page) == ""
        # a bad upload is reported on the page, and the page keeps working
        page.find_element(By.ID, "upload").send_keys(os.path.abspath(__file__))
        assert "test_web.py: not an image" in browser.wait_error(page)
        final = browser.move_slider(page, "gaze_pitch", 12)
        assert final > moved
        # a photo: its normalized face, the redirected face and the photo pasted back
        photo = tmp_path / "astronaut.png"
        photo.write_bytes(png_bytes(data.astronaut()))
        page.find_element(By.ID, "upload").send_keys(str(photo))
        final = browser.wait_shown(page, final, timeout=120)
        assert page.find_element(By.ID, "pasted_fig").is_displayed()
        assert not page.find_element(By.ID, "truth_fig").is_displayed()
        assert page.find_element(By.ID, "download").get_attribute("download") == "redirected_photo.png"
        pasted = browser.image_src(page, "pasted")
        assert web.decode_data_url(pasted).shape == (512, 512, 3)
        browser.move_slider(page, "head_yaw", 20)
        assert browser.image_src(page, "pasted") != pasted
        assert page.find_element(By.ID, "download").get_attribute("href") == browser.image_src(page, "pasted")
