"""Drive the interactive page (web.py) in headless Chromium with selenium: the steps the
browser test and benchmarks/serve_latency.py share.

    browser, driver = find_chromium()           # paths, or None when not installed
    with chromium(browser, driver) as page:
        open_page(page, url)                    # waits for the first redirected image
        move_slider(page, "gaze_yaw", 20)       # sets it, fires `input`, waits for the new image
        timings(page)                           # ms from each slider event to its image shown
"""

import contextlib
import os
import shutil

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver", "/usr/lib/chromium/chromedriver")
SLIDERS = ("gaze_pitch", "gaze_yaw", "head_pitch", "head_yaw")


def find_chromium():
    """(browser, chromedriver) executable paths, or (None, None) when either is missing."""
    found = [next((p for p in map(shutil.which, names) if p), None) for names in (BROWSERS, DRIVERS)]
    return tuple(found) if all(found) else (None, None)


@contextlib.contextmanager
def chromium(browser, driver, width=1180, height=900):
    """A headless Chromium WebDriver session (quit on exit)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--hide-scrollbars"):
        options.add_argument(arg)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    session = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    try:
        yield session
    finally:
        session.quit()


def shown(page):
    """How many redirected images the page has shown."""
    return int(page.execute_script("return Number(document.getElementById('redirected').dataset.seq)"))


def wait_shown(page, after, timeout=60):
    """Wait until the page has shown more than `after` redirected images; returns the count."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page, timeout, poll_frequency=0.005).until(lambda p: shown(p) > after)
    return shown(page)


def wait_idle(page, timeout=60):
    """Wait until the page has no redirection in flight or queued; returns the shown count."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page, timeout, poll_frequency=0.01).until(
        lambda p: p.execute_script("return !inflight && pending === null"))
    return shown(page)


def wait_error(page, timeout=60):
    """Wait for an error on the page; returns its text."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page, timeout, poll_frequency=0.05).until(error_message)
    return error_message(page)


def open_page(page, url, timeout=60):
    """Load the page; it picks the first SynthGaze person and shows its redirection."""
    page.get(url)
    return wait_shown(page, 0, timeout)


def error_message(page):
    """The error box's text ('' when hidden)."""
    return page.execute_script("const m = document.getElementById('message');"
                               "return m.hidden || m.className !== 'error' ? '' : m.textContent;")


def choose_person(page, index, timeout=60):
    """Click the index-th SynthGaze person and wait for its redirected image."""
    from selenium.webdriver.common.by import By

    before = shown(page)
    page.find_elements(By.CSS_SELECTOR, "#persons button")[index].click()
    return wait_shown(page, before, timeout)


def move_slider(page, slider, value, timeout=60):
    """Set a slider to `value` degrees as a drag does (value, then an `input` event) and
    wait for the redirected image it triggers."""
    before = shown(page)
    page.execute_script("const s = document.getElementById(arguments[0]); s.value = arguments[1];"
                        "s.dispatchEvent(new Event('input', {bubbles: true}));", slider, value)
    return wait_shown(page, before, timeout)


def fit_window(page):
    """Resize the window to the page's content height (a screenshot then shows all of it)."""
    extra = page.execute_script("return window.outerHeight - window.innerHeight")
    height = page.execute_script("return Math.ceil(document.body.getBoundingClientRect().bottom) + 16")
    page.set_window_size(page.get_window_size()["width"], int(height) + int(extra))


def image_src(page, element_id):
    """The `src` (a PNG data URL) of an image on the page."""
    return page.execute_script("return document.getElementById(arguments[0]).src", element_id)


def timings(page, server=False):
    """Milliseconds from each slider event to its redirected image shown, in order; with
    `server`, the part of each spent on the server."""
    name = "serverTimings" if server else "redirectTimings"
    return [float(t) for t in page.execute_script(f"return window.{name}")]
