"""Screenshots of the Dagster UI for docs/dagster.md, from a real backfill in a real browser.

Install once (neither is a project dependency)::

    apt-get install -y chromium                 # Debian's Chromium, /usr/bin/chromium
    .venv/bin/pip install playwright            # the Python package only: no `playwright install`

Run: ``.venv/bin/python docs/screenshots/take_screenshots.py`` (about two
minutes; ``--help`` for options). It

1. makes a temporary DAGSTER_HOME with the repository's ``dagster.yaml`` and a
   ``seamless.yaml`` of one asset, ``bars_1m``, whose fetcher is the tests'
   ``ScriptedFetcher``: nodes ``demo:BTCUSDT`` and ``demo:ETHUSDT`` get clean
   bars, ``demo:ONEBAD`` one bar with its high below its low on 2024-01-11, so
   its 2024-01 window fails ``quality_rules`` (a blocking check) and nothing
   of it is written;
2. starts ``dagster-daemon`` and ``dagster-webserver`` on a free port and
   launches a backfill of the three nodes × 2024-01..2024-03 through the
   ``launchPartitionBackfill`` mutation the UI's *Materialize…* dialog sends;
3. waits for the backfill and its runs to finish, then drives Chromium over
   the pages and saves into this directory:

   * ``catalog.png``: *Catalog*, the asset list with its partition counts;
   * ``asset-partitions.png``: ``bars_1m`` → *Partitions*: the node list, the
     windows of ``demo:ONEBAD`` (filtered to 2024) and the metadata of its
     materialized 2024-02;
   * ``launch-dialog.png``: the *Materialize…* dialog of ``bars_1m`` (opened
     and closed, nothing launched from it);
   * ``backfills.png``: *Runs → Backfills*;
   * ``backfill.png`` and ``backfill-runs.png``: the backfill's *Overview*
     (partitions targeted, succeeded, failed) and *Runs* tabs;
   * ``check-grid.png``: ``bars_1m`` → *Checks* → ``quality_rules`` →
     *Partitions*, narrowed to 2024-01..2024-03, with the failed
     ``demo:ONEBAD|2024-01`` open;

4. stops the browser, the webserver and the daemon, and removes the instance.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The code of this checkout, ahead of whatever an editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import dagster as dg
from playwright.sync_api import Locator, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from seamless_sdk.backfill.dagster import register_nodes
from tests.integration.dagster.processes import (
    backfill_finished,
    daemon_and_webserver,
    launch_partition_backfill,
    make_dagster_home,
    process_env,
    wait_for,
)

HERE = Path(__file__).resolve().parent
NODES = ["demo:BTCUSDT", "demo:ETHUSDT", "demo:ONEBAD"]
MONTHS = ["2024-01", "2024-02", "2024-03"]
ASSET = "bars_1m"
BAD_PARTITION = "demo:ONEBAD|2024-01"  # the ScriptedFetcher's one bad bar is 2024-01-11
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def seamless_config(root: Path) -> dict[str, Any]:
    """The code location's configuration: one 1m asset, the scripted fetcher, no tail."""
    return {
        "store": str(root / "bars.sqlite"),
        "partition_start": "2024-01-01",
        "intervals": ["1m"],
        "fetcher": "tests.integration.dagster.fetchers:ScriptedFetcher",
        "nodes": NODES,
        "backfill": {"retries": 0, "fetch_attempts": 1},
        # Only the backfill's runs: no tail filling today's windows, no repairs.
        "sensors": {"tail_windows": 0, "reconcile_s": 86_400},
    }


def dismiss_onboarding(page: Page) -> None:
    """Close the "Join the Dagster community" dialog a fresh browser gets once."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=10_000)
    except PlaywrightTimeout:
        return  # not shown (this Dagster or this profile does not ask)
    skip.click()


def shoot(page: Page, out: Path, shows: str) -> None:
    """Wait until the page shows ``shows``, then save it as ``out``."""
    visible(page, shows, exact=False).wait_for(timeout=60_000)
    # The UI fades data in after its queries answer; give the last paint a moment.
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out))
    print(f"saved {out}")


def visible(page: Page, value: str, *, exact: bool = True) -> Locator:
    """The last visible element whose text is ``value`` (the UI also keeps hidden
    copies of labels to measure them for truncation)."""
    return page.get_by_text(value, exact=exact).filter(visible=True).last


def take(port: int, backfill_id: str, out_dir: Path, chromium: str) -> None:
    """Drive Chromium over the pages of the finished backfill."""
    base = f"http://127.0.0.1:{port}"
    bad_node, bad_window = BAD_PARTITION.split("|")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.goto(f"{base}/assets")
            dismiss_onboarding(page)
            shoot(page, out_dir / "catalog.png", ASSET)

            # Partitions: pick the bad node, narrow the windows to the backfilled
            # ones (the newest come first) and open a materialized window.
            page.goto(f"{base}/assets/{ASSET}?view=partitions")
            page.get_by_placeholder("Filter by window").first.fill(MONTHS[0][:6])
            visible(page, bad_node).click()
            visible(page, MONTHS[1]).click()
            shoot(page, out_dir / "asset-partitions.png", "bars_written")

            # The launch dialog a user opens to backfill (closed again, nothing launched).
            page.locator("button", has_text="Materialize").filter(visible=True).first.click()
            page.get_by_role("dialog").wait_for(timeout=60_000)
            shoot(page, out_dir / "launch-dialog.png", "Launch")
            page.keyboard.press("Escape")

            page.goto(f"{base}/runs?view=backfills")
            shoot(page, out_dir / "backfills.png", backfill_id)
            page.goto(f"{base}/runs/b/{backfill_id}")
            shoot(page, out_dir / "backfill.png", "Partitions targeted")
            page.get_by_role("tab", name="Runs").first.click()
            shoot(page, out_dir / "backfill-runs.png", "Failure")

            # The check's grid is the Partitions tab of the check's detail (the
            # asset's own Partitions tab comes first on the page).
            page.goto(f"{base}/assets/{ASSET}?view=checks&checkDetail=quality_rules")
            # Wait for the detail's own tabs, or `last` would still be the asset's.
            page.get_by_role("tab", name="Execution history").wait_for(timeout=60_000)
            page.get_by_role("tab", name="Partitions").last.click()
            window_range = page.locator("input[value^='[']").first
            window_range.fill(f"[{MONTHS[0]}...{MONTHS[-1]}]")
            window_range.press("Enter")
            visible(page, bad_node).click()
            visible(page, bad_window).click()
            shoot(page, out_dir / "check-grid.png", "quality rules broken")
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    """Set up the instance, run the backfill, take the screenshots, stop everything."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where the PNGs go")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the backfill")
    parser.add_argument(
        "--hold", type=float, default=0, help="keep the UI up this many seconds afterwards"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="seamless-screenshots-") as tmp:
        root = Path(tmp)
        home = make_dagster_home(root / "dagster_home")
        config_path = root / "seamless.yaml"
        config_path.write_text(json.dumps(seamless_config(root), indent=2))  # JSON is YAML
        with dg.DagsterInstance.from_config(str(home)) as instance:
            register_nodes(instance, NODES)  # as `seamless nodes add` would
        env = process_env(home, config_path)
        with daemon_and_webserver(env, root) as port:
            partitions = [f"{n}|{m}" for n in NODES for m in MONTHS]
            backfill_id = launch_partition_backfill(port, ASSET, partitions)
            state = wait_for(
                "the backfill", lambda: backfill_finished(port, backfill_id), args.timeout, 2.0
            )
            runs = [r["status"] for r in state["runs"]]
            print(f"backfill {backfill_id}: {state['status']}, runs {runs}")
            try:
                take(port, backfill_id, args.out, args.chromium)
            finally:
                if args.hold:
                    print(f"the UI stays up at http://127.0.0.1:{port} for {args.hold:.0f} s")
                    time.sleep(args.hold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
