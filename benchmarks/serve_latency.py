"""Latency of the interactive page (tools/serve.py) in headless Chromium, per backend.

    python benchmarks/serve_latency.py [--model=synthgaze-64] [--backends=keras,tflite] [--moves=20]
        [--screenshot=docs/serve.png --overwrite]

For each backend: serves the page in this process on a free port, opens it in headless
Chromium, picks a SynthGaze test person and moves one slider --moves times (alternating
targets, each move waiting for its image), and reports the page's own timing of each move:
performance.now() from the slider's `input` event to the redirected, ground-truth images
loaded (request, model, render, PNG, transfer and decode), and the server's share. With
--screenshot, writes a screenshot of the page (first backend) with the sliders moved.
"""

import os
import sys
import threading
import time

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", "synthgaze-64", "Model to serve (a name, .keras, run directory or checkpoint).")
flags.DEFINE_list("backends", ["keras", "tflite"], "Backends to measure.")
flags.DEFINE_integer("moves", 20, "Timed slider moves per backend.", lower_bound=1)
flags.DEFINE_integer("warmup", 3, "Untimed moves first.", lower_bound=0)
flags.DEFINE_integer("person", 0, "Which of the page's SynthGaze persons to use.", lower_bound=0)
flags.DEFINE_string("screenshot", "", "Write a PNG screenshot of the page here.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --screenshot.")

POSE = {"gaze_pitch": -12, "gaze_yaw": 28, "head_pitch": 8, "head_yaw": -22}  # the screenshot's targets


def measure(model, backend, chromium_paths, screenshot=None):
    """(ms per move from the page, server ms per move) for one backend."""
    from tfredirect.serving import browser, web

    page_app = web.create_app(model, backend, model_name=F.model, persons=12)
    server = web.make_server(page_app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with browser.chromium(*chromium_paths) as page:
            browser.open_page(page, web.url_of(server))
            browser.choose_person(page, F.person)
            values = [-30, 30] * ((F.warmup + F.moves) // 2 + 1)
            for value in values[: F.warmup]:
                browser.move_slider(page, "gaze_yaw", value)
            browser.wait_idle(page)
            first = len(browser.timings(page))
            for value in values[F.warmup : F.warmup + F.moves]:
                browser.move_slider(page, "gaze_yaw", value)
                browser.wait_idle(page)
            times, server_ms = browser.timings(page)[first:], browser.timings(page, server=True)[first:]
            if screenshot:
                for slider, value in POSE.items():
                    browser.move_slider(page, slider, value)
                browser.wait_idle(page)
                browser.fit_window(page)
                time.sleep(0.3)
                from tfredirect.fileio import atomic_path

                with atomic_path(screenshot, overwrite=F.overwrite) as tmp:
                    if not page.save_screenshot(tmp):
                        raise OSError(f"{screenshot}: the browser could not take a screenshot")
                print(f"wrote {screenshot}")
    finally:
        server.shutdown()
    return np.asarray(times), np.asarray(server_ms)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import logging as std_logging

    std_logging.getLogger("werkzeug").setLevel(std_logging.WARNING)  # no line per request
    from tfredirect.fileio import refuse_existing
    from tfredirect.serving import browser
    from tfredirect.serving.checkpoints import load_generator

    paths = browser.find_chromium()
    if not paths[0]:
        print("serve_latency.py: error: needs chromium and chromedriver (apt-get install chromium chromium-driver)",
              file=sys.stderr)
        return 1
    if F.screenshot:
        refuse_existing(F.screenshot, F.overwrite)
    model = load_generator(F.model)
    print(f"{F.model}: {F.moves} moves of the gaze yaw slider per backend, load {os.getloadavg()[0]:.1f}", flush=True)
    print("| backend | slider event to image shown, mean | median | 90th pct | of which server (model, render, PNG) |")
    print("|---|---|---|---|---|")
    for i, backend in enumerate(F.backends):
        times, server = measure(model, backend, paths, F.screenshot if i == 0 and F.screenshot else None)
        print(f"| {backend} | {times.mean():.1f} ms | {np.median(times):.1f} ms | {np.percentile(times, 90):.1f} ms "
              f"| {server.mean():.1f} ms |", flush=True)
    return 0


if __name__ == "__main__":
    app.run(main)
