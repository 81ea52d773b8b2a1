"""Take a screenshot of an HTML report in headless Chromium (Debian's chromium package).

    python scripts/screenshot_report.py report.html docs/report.png [--height 2400]

Used for the picture in the README; ``tests/test_report.py`` takes the same kind of
screenshot and checks that the charts rendered.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2400) -> None:
    """Render ``page`` at ``width`` × ``height`` CSS pixels into ``png``."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={png.resolve()}",
                        page.resolve().as_uri()], check=True, capture_output=True,
                       timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    screenshot(args.page, args.png, args.width, args.height)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
