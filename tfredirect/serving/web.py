"""The interactive redirection page (tools/serve.py): a Flask app around a generator.

    app = create_app(pretrained.load("synthgaze-64"), backend="tflite")
    serve(app, "127.0.0.1", 8765)

The page (`static/index.html`) picks a SynthGaze test person or takes an uploaded photo,
and four sliders send target angles to `POST /api/redirect`, which answers with PNG data
URLs: the redirected face, and the exact SynthGaze render at the target (the ground truth)
or the photo with the new face pasted back. Endpoints, all JSON:

    GET  /api/info       model, backend, image size, slider ranges, upload limit, persons
                         (each: id, input image, gaze/head labels in degrees)
    POST /api/photo      multipart field `photo` (JPEG/PNG) -> a photo id, its normalized
                         face and the model's gaze/head estimate (the sliders' start)
    POST /api/redirect   {"source": "synthgaze:<person>" | "photo:<id>",
                          "gaze_deg": [pitch, yaw], "head_deg": [pitch, yaw]}

Errors are `{"error": message}` with a 4xx status (400 bad request or image, 404 unknown
source, 413 too large, 422 no face); the server keeps running. The model runs behind one
lock: the page keeps at most one request in flight, and a TFLite interpreter is not
thread-safe.
"""

import base64
import collections
import io
import math
import os
import secrets
import tempfile
import threading
import time

import cv2
import numpy as np

from tfredirect.serving.runners import KerasRunner

BACKENDS = ("keras", "tflite")
SYNTH_SEED = 0  # the SynthGaze seed the shipped model and tools/train.py use: its test persons are unseen
SYNTH_SAMPLE = 0  # the sample of each test person shown as input
MAX_PHOTO_SIDE = 1024  # larger photos are scaled down on upload (paste-back and PNG cost grow with pixels)
MAX_PHOTO_PIXELS = 50_000_000  # decoded size limit of an upload, whatever its file size
KEPT_PHOTOS = 8  # uploads kept in memory (oldest dropped first)
HEAD_KEPT_DEG = 0.5  # a photo's head counts as kept within half the page's 1-degree slider step
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


class RequestError(ValueError):
    """A bad request: its message is shown on the page with `status`."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def tflite_runner(model, num_threads=2):
    """A LiteRedirector of `model`: a `.tflite` path as it is, or a Keras Redirector
    converted in memory (float32, the builtin-ops conversion of tools/export.py). The
    converted file lives in a temporary folder kept as long as the runner."""
    from tfredirect.lite import LiteRedirector

    if isinstance(model, (str, os.PathLike)):
        return LiteRedirector(os.fspath(model), num_threads=num_threads)
    from tfredirect.serving import export_lib

    folder = tempfile.TemporaryDirectory(prefix="tfredirect-serve-")
    saved = export_lib.write_saved_model(model, os.path.join(folder.name, "saved_model"))
    path = os.path.join(folder.name, export_lib.tflite_filename("none"))
    with open(path, "wb") as fh:
        fh.write(export_lib.convert_tflite(saved, "none"))
    runner = LiteRedirector(path, num_threads=num_threads, camera_distance_mm=model.camera_distance_mm)
    runner.folder = folder
    return runner


def make_runner(model, backend="keras", num_threads=2):
    """The object the app calls: `redirect` and `estimate` on uint8 batches, `image_size`."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "tflite":
        return tflite_runner(model, num_threads)
    if isinstance(model, (str, os.PathLike)):
        raise ValueError(f"{model}: a TFLite model needs the tflite backend (--backend=tflite)")
    return KerasRunner(model)


def png_data_url(rgb):
    """A PNG data URL of a uint8 RGB image (fast compression: it is re-sent on every move)."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def decode_data_url(url):
    """uint8 RGB image of a PNG data URL (`png_data_url`'s inverse; for tests and clients)."""
    data = base64.b64decode(url.split(",", 1)[1])
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def decode_upload(data, name):
    """uint8 RGB array of an uploaded JPEG/PNG (EXIF orientation applied, scaled down to
    MAX_PHOTO_SIDE); RequestError naming the file when it is not one or is too big."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise RequestError(f"{name}: empty file")
    too_many = f"at most {MAX_PHOTO_PIXELS // 1_000_000} megapixels"
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise RequestError(f"{name}: too many pixels ({too_many})", 413) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise RequestError(f"{name}: not an image; upload a JPEG or PNG photo") from None
    if image.format not in ("JPEG", "PNG"):
        raise RequestError(f"{name}: a {image.format} image; upload a JPEG or PNG photo")
    if image.width * image.height > MAX_PHOTO_PIXELS:
        raise RequestError(f"{name}: {image.width}x{image.height} pixels is too large ({too_many})", 413)
    try:
        rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, SyntaxError, ValueError):
        raise RequestError(f"{name}: a damaged {image.format} file that cannot be decoded") from None
    scale = MAX_PHOTO_SIDE / max(rgb.shape[:2])
    if scale < 1:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def _angles_deg(body, key, limits):
    """(1, 2) float32 radians from a JSON [pitch, yaw] in degrees within +/-limits."""
    value = body.get(key)
    if not isinstance(value, list) or len(value) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise RequestError(f"'{key}' must be [pitch, yaw] in degrees")
    if abs(value[0]) > limits[0] + 1e-6 or abs(value[1]) > limits[1] + 1e-6:
        raise RequestError(f"'{key}' {value} is outside pitch +/-{limits[0]:g}, yaw +/-{limits[1]:g} degrees")
    return np.radians(np.asarray([value], np.float32)).astype(np.float32)


def head_kept(requested, estimated):
    """Whether a requested head pose (radians) is the photo's estimated one to within half the
    page's 1-degree slider step: the page shows the estimate rounded, so a request that leaves
    the head sliders alone arrives rounded too."""
    diff = np.degrees(np.abs(np.asarray(requested, np.float64) - np.asarray(estimated, np.float64)))
    return bool(np.all(diff <= HEAD_KEPT_DEG))


def _deg(angles):
    return [round(float(v), 2) for v in np.degrees(np.asarray(angles, np.float64).reshape(-1)[:2])]


class Session:
    """What the page works on: SynthGaze test persons, uploaded photos, and the runner."""

    def __init__(self, runner, persons=12):
        from tfredirect.data import synthgaze

        self.runner = runner
        self.lock = threading.Lock()
        self.synth = synthgaze.SynthGaze(size=runner.image_size, seed=SYNTH_SEED, nuisance="person")
        self.ranges = {"gaze": [round(math.degrees(a), 3) for a in synthgaze.GAZE_RANGE],
                       "head": [round(math.degrees(a), 3) for a in synthgaze.HEAD_RANGE]}
        ids = self.synth.persons("test")[:persons]
        images, gaze, head = self.synth.render_samples(ids, np.full(len(ids), SYNTH_SAMPLE))
        self.persons = {int(p): (images[i : i + 1], gaze[i : i + 1], head[i : i + 1]) for i, p in enumerate(ids)}
        self.photos = collections.OrderedDict()
        if ids.size:  # compile the one-image render and redirection now, not on the first move
            self.redirect({"source": f"synthgaze:{int(ids[0])}", "gaze_deg": _deg(gaze[0]), "head_deg": _deg(head[0])})

    def person_list(self):
        return [{"source": f"synthgaze:{p}", "person": p, "input": png_data_url(image[0]), "gaze_deg": _deg(gaze),
                 "head_deg": _deg(head)} for p, (image, gaze, head) in self.persons.items()]

    def add_photo(self, data, name):
        from tfredirect import face, photo

        rgb = decode_upload(data, name)
        with self.lock:
            try:
                found = photo.find_faces(rgb, self.runner.image_size, source=name,
                                         distance=self.runner.camera_distance_mm)[0]
                normalized = found.normalized
            except face.NoFaceError as err:
                raise RequestError(f"{err}; upload a photo with a clearly visible face", 422) from None
            except ValueError as err:
                raise RequestError(f"{name}: the face could not be normalized ({err})", 422) from None
            gaze, head = self.runner.estimate(normalized.patch[None])
            token = secrets.token_hex(8)
            self.photos[token] = (rgb, found, np.asarray(head, np.float32).reshape(1, 2))
            while len(self.photos) > KEPT_PHOTOS:
                self.photos.popitem(last=False)
        return {"source": f"photo:{token}", "input": png_data_url(normalized.patch), "gaze_deg": _deg(gaze),
                "head_deg": _deg(head), "landmark_head_deg": _deg(normalized.head),
                "photo_size": [int(rgb.shape[1]), int(rgb.shape[0])]}

    def redirect(self, body):
        if not isinstance(body, dict):
            raise RequestError("expected a JSON object with source, gaze_deg and head_deg")
        gaze = _angles_deg(body, "gaze_deg", self.ranges["gaze"])
        head = _angles_deg(body, "head_deg", self.ranges["head"])
        kind, _, key = str(body.get("source", "")).partition(":")
        start = time.perf_counter()
        with self.lock:
            if kind == "synthgaze" and key.isdigit() and int(key) in self.persons:
                image, gaze0, head0 = self.persons[int(key)]
                out = self.runner.redirect(image, gaze, head, gaze0, head0)[0]
                truth = self.synth.render_target([int(key)], [SYNTH_SAMPLE], gaze=gaze, head=head)[0]
                result = {"redirected": png_data_url(out), "truth": png_data_url(truth)}
            elif kind == "photo" and key in self.photos:
                from tfredirect import appearance, normalization

                rgb, found, estimated_head = self.photos[key]
                normalized = found.normalized
                kept = head_kept(head, estimated_head)
                if kept:
                    head = estimated_head
                out = self.runner.redirect(normalized.patch[None], gaze, head)[0]
                if kept:  # only the eyes change
                    region = found.eye_region()
                    out = appearance.keep_outside(normalized.patch, out, region)
                    pasted = normalization.paste_back(rgb, normalized, out, mask=region)
                else:
                    pasted = normalization.paste_back(rgb, normalized, out)
                result = {"redirected": png_data_url(out), "pasted": png_data_url(pasted)}
            elif kind == "photo":
                raise RequestError(f"unknown photo '{key}' (the last {KEPT_PHOTOS} uploads are kept); upload it again",
                                   404)
            else:
                raise RequestError(f"unknown source {body.get('source')!r}; expected synthgaze:<test person> "
                                   f"or photo:<id>", 404)
        return {**result, "server_ms": round(1000 * (time.perf_counter() - start), 1)}


def create_app(model, backend="keras", *, model_name="model", max_upload_mb=10.0, persons=12, num_threads=2):
    """The Flask app of the page. `model`: a Keras Redirector (run by Keras, or converted to
    TFLite with backend="tflite") or a `.tflite` path (backend="tflite")."""
    from flask import Flask, jsonify, request
    from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

    if not max_upload_mb > 0:
        raise ValueError(f"max_upload_mb must be positive, got {max_upload_mb}")
    session = Session(make_runner(model, backend, num_threads), persons)
    app = Flask(__name__, static_folder=STATIC, static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb * 2**20)
    app.config["TFREDIRECT_SESSION"] = session
    info = {"model": str(model_name), "backend": backend, "image_size": int(session.runner.image_size),
            "ranges_deg": session.ranges, "max_upload_mb": max_upload_mb, "persons": session.person_list()}

    @app.get("/")
    def page():
        return app.send_static_file("index.html")

    @app.get("/favicon.ico")
    def no_icon():
        return "", 204

    @app.get("/api/info")
    def api_info():
        return jsonify(info)

    @app.post("/api/photo")
    def api_photo():
        upload = request.files.get("photo")
        if upload is None:
            raise RequestError("no file: send a JPEG or PNG photo in the form field 'photo'")
        return jsonify(session.add_photo(upload.read(), upload.filename or "upload"))

    @app.post("/api/redirect")
    def api_redirect():
        return jsonify(session.redirect(request.get_json(silent=True)))

    @app.errorhandler(RequestError)
    def request_error(err):
        return jsonify(error=str(err)), err.status

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(err):
        return jsonify(error=f"upload too large: at most {max_upload_mb:g} MB (--max_upload_mb)"), 413

    @app.errorhandler(HTTPException)
    def http_error(err):
        return jsonify(error=f"{err.code} {err.name}: {err.description}"), err.code

    @app.errorhandler(Exception)
    def internal_error(err):
        app.logger.exception("request failed")
        return jsonify(error=f"server error: {type(err).__name__}: {err}"), 500

    return app


def check_port(host, port):
    """OSError naming host:port when it cannot be listened on now (checked before the slow
    model loading; the server binds it again when it starts)."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as err:
        raise OSError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def make_server(app, host="127.0.0.1", port=0):
    """A threaded WSGI server of `app` bound now (port 0: any free port; `.server_port` says
    which); `.serve_forever()` runs it, `.shutdown()` stops it from another thread."""
    from werkzeug.serving import make_server as werkzeug_server

    try:
        return werkzeug_server(host, port, app, threaded=True)
    except OSError as err:
        raise OSError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def url_of(server):
    host = server.host if ":" not in server.host else f"[{server.host}]"
    return f"http://{host}:{server.server_port}/"
