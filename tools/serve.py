"""Serve the interactive redirection page on this machine.

    python tools/serve.py                                   # the shipped synthgaze-64, Keras
    python tools/serve.py --backend=tflite                  # converted to TFLite at start
    python tools/serve.py --backend=tflite --model=export/redirector_float32.tflite
    python tools/serve.py --model=runs/demo/redirector.keras --port=0

Open the printed address: pick a SynthGaze test person or upload a photo, move the four
sliders (gaze and head pitch/yaw, degrees) and the face is redirected as they move, beside
the exact render it should match (SynthGaze) or the photo with the face pasted back. The
page and the server are tfredirect/serving/web.py; Ctrl-C stops it. It listens on
127.0.0.1 only unless --host says otherwise (the page has no authentication).
"""

import os
import sys

from tfredirect.tflog import quiet_start  # noqa: E402

quiet_start()  # TensorFlow without its C++ start-up lines (all of them with --verbose=2)

from absl import app, flags, logging  # noqa: E402
from tfredirect import cli  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", "synthgaze-64", "A shipped model's name, a redirector .keras file, a tools/train.py "
                    "run directory or checkpoint prefix, or (with --backend=tflite) an exported .tflite file.")
flags.DEFINE_enum("backend", "keras", ["keras", "tflite"], "Run the model with Keras or with the TFLite interpreter "
                  "(a .keras/run/name model is converted to float32 TFLite at start).")
flags.DEFINE_string("host", "127.0.0.1", "Interface to listen on (127.0.0.1: this machine only).")
flags.DEFINE_integer("port", 8765, "Port (0: any free port).", lower_bound=0, upper_bound=65535)
flags.DEFINE_float("max_upload_mb", 10.0, "Largest photo upload accepted, MB.", lower_bound=0.01)
flags.DEFINE_integer("persons", 12, "SynthGaze test persons offered on the page.", lower_bound=1, upper_bound=64)
flags.DEFINE_integer("num_threads", 2, "TFLite interpreter threads.", lower_bound=1)
flags.DEFINE_integer("verbose", 1, "0: print the address only; 1: also the start-up steps; 2: also every request.",
                     lower_bound=0, upper_bound=2)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import logging as std_logging

    from tfredirect.serving import web

    say = print if F.verbose >= 1 else (lambda *a, **k: None)
    std_logging.getLogger("werkzeug").setLevel(std_logging.INFO if F.verbose >= 2 else std_logging.WARNING)
    try:
        web.check_port(F.host, F.port)
        if F.model.endswith(".tflite"):
            if F.backend != "tflite":
                raise ValueError(f"--model {F.model}: a TFLite model needs --backend=tflite")
            if not os.path.isfile(F.model):
                raise ValueError(f"--model {F.model}: no such file")
            model = F.model
        else:
            from tfredirect.serving.checkpoints import load_generator

            say(f"loading {F.model}", flush=True)
            model = load_generator(F.model)
        if F.backend == "tflite" and not isinstance(model, str):
            say("converting it to TFLite (float32)", flush=True)
        say(f"rendering {F.persons} SynthGaze test persons and warming up the {F.backend} backend", flush=True)
        page = web.create_app(model, F.backend, model_name=F.model, max_upload_mb=F.max_upload_mb,
                              persons=F.persons, num_threads=F.num_threads)
        server = web.make_server(page, F.host, F.port)
    except Exception as err:  # noqa: BLE001 - expected errors get one line, the rest their traceback
        return cli.error_exit("serve.py", err, (ValueError, OSError, KeyError))
    if F.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"serve.py: warning: listening on {F.host}: anyone who can reach it can use the page", file=sys.stderr)
    print(f"serving {F.model} ({F.backend}) at {web.url_of(server)}  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()  # returns on Ctrl-C: werkzeug catches it and closes the socket
    except KeyboardInterrupt:
        server.server_close()
    say("stopped")
    return 0


if __name__ == "__main__":
    app.run(main)
