#!/usr/bin/env python3
"""Drives the intake's trace explorer in headless Chromium (Debian's /usr/bin/chromium and
/usr/bin/chromedriver) with selenium, and checks what it shows against --expect.

Run by crates/intake/tests/browser.rs, which starts the intake, posts the data and passes
--expect (JSON):

    {"traces": [{"id", "service", "resource", "services": [...], "spans", "error"}, ...]  (newest first),
     "filter_service": "...",
     "open_trace": {"id", "spans", "click_span", "click_title", "meta_key", "meta_value"},
     "error_trace": {"id", "spans", "error_span", "error_spans", "message"},
     "services": [{"service", "env"}, ...],
     "host": {"hostname", "os", "memory"}}

Exits 0 when every check passes; otherwise prints the failure, saves FAILED.png and
FAILED.html next to the screenshots and exits 1. Only explicit waits, no sleeps.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 20  # seconds for each explicit wait
DEADLINE = 150  # seconds for the whole script


class Check:
    def __init__(self, driver, shots):
        self.d = driver
        self.shots = shots
        self.count = 0

    # ---- helpers
    def wait(self, cond, what, timeout=WAIT, show=None):
        """Waits until cond(driver) is truthy; returns its value. On timeout the message has
        show(driver) (what is there instead) when given."""
        last = {}

        def probe(d):
            try:
                v = cond(d)
            except WebDriverException as e:  # stale elements while the page re-renders
                last["err"] = str(e).splitlines()[0]
                return False
            last["v"] = v
            return v

        try:
            v = WebDriverWait(self.d, timeout, poll_frequency=0.1).until(probe)
        except TimeoutException:
            if show is not None:
                try:
                    last["shown"] = show(self.d)
                except WebDriverException as e:
                    last["shown"] = str(e).splitlines()[0]
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last})") from None
        self.count += 1
        print(f"  ok: {what}", flush=True)
        return v

    def ok(self, cond, what):
        if not cond:
            raise AssertionError(what)
        self.count += 1
        print(f"  ok: {what}", flush=True)

    def css(self, sel):
        return self.d.find_elements(By.CSS_SELECTOR, sel)

    def one(self, sel):
        return self.d.find_element(By.CSS_SELECTOR, sel)

    def shot(self, name):
        path = os.path.join(self.shots, name)
        self.d.save_screenshot(path)
        print(f"  screenshot: {path}", flush=True)

    def row_ids(self):
        return [r.get_attribute("data-trace-id") for r in self.css('[data-testid="trace-row"]')]

    def rows_are(self, ids, what):
        self.wait(lambda d: self.row_ids() == ids, f"{what}: rows {ids}", show=lambda d: self.row_ids())


def start_browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,900",
        "--force-device-scale-factor=1",
        "--lang=en-US",
    ]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER)
    return webdriver.Chrome(service=service, options=opts)


def run(c, url, exp):
    d = c.d
    traces = exp["traces"]
    all_ids = [t["id"] for t in traces]

    # ---- 1. trace list
    print("trace list", flush=True)
    d.get(url + "/#/traces")
    c.rows_are(all_ids, "the list shows every trace, newest first")
    for t in traces:
        row = c.one(f'[data-testid="trace-row"][data-trace-id="{t["id"]}"]')
        status = row.find_elements(By.CSS_SELECTOR, '[data-testid="status-error"]')
        c.ok(bool(status) == t["error"], f'trace {t["id"]}: status {"ERROR" if t["error"] else "OK"}')
        spans = row.find_element(By.CSS_SELECTOR, '[data-testid="trace-span-count"]').text
        c.ok(spans == str(t["spans"]), f'trace {t["id"]}: span count {spans} == {t["spans"]}')
        c.ok(row.get_attribute("data-service") == t["service"], f'trace {t["id"]}: root service {t["service"]}')
        c.ok(t["resource"] in row.text, f'trace {t["id"]}: resource {t["resource"]!r} shown')
    c.wait(
        lambda d: c.one('[data-testid="summary-traces"] b').text == str(len(traces)),
        f"the top bar summary counts {len(traces)} traces",
    )
    c.ok(not c.one("#banner").is_displayed(), "no error banner")
    c.shot("01-traces.png")

    # ---- 2. filter by service (kept in the URL: survives a reload)
    svc = exp["filter_service"]
    want = [t["id"] for t in traces if svc in t["services"]]
    assert 0 < len(want) < len(traces), "the filter must narrow the list"
    print(f"filter service={svc}", flush=True)
    c.wait(
        lambda d: any(o.get_attribute("value") == svc for o in c.css('[data-testid="filter-service"] option')),
        f"the service select offers {svc}",
    )
    Select(c.one('[data-testid="filter-service"]')).select_by_value(svc)
    c.rows_are(want, f"only traces with a {svc} span")
    c.ok("service=" + svc in d.current_url, f"the filter is in the URL ({d.current_url})")
    c.shot("02-traces-filtered.png")
    d.refresh()
    c.rows_are(want, "after a reload the filter still applies")
    c.wait(lambda d: Select(c.one('[data-testid="filter-service"]')).first_selected_option.get_attribute("value") == svc,
           "after a reload the service select keeps its value")

    # errors only (within the service filter)
    want_err = [t["id"] for t in traces if svc in t["services"] and t["error"]]
    c.one('[data-testid="filter-errors"]').find_element(By.XPATH, "..").click()
    c.rows_are(want_err, "errors only")
    c.ok("errors=1" in d.current_url, "errors=1 is in the URL")
    c.one('[data-testid="filter-errors"]').find_element(By.XPATH, "..").click()
    c.rows_are(want, "errors only switched off again")

    # resource text filter
    t0 = traces[-1]
    q = t0["resource"]
    want_q = [t["id"] for t in traces if svc in t["services"] and q.lower() in t["resource"].lower()]
    box = c.one('[data-testid="filter-q"]')
    box.send_keys(q)
    c.rows_are(want_q, f"resource filter {q!r}")
    box.clear()
    box.send_keys(" ")  # an input event with an empty filter
    c.rows_are(want, "resource filter cleared")

    # ---- 3. trace view
    ot = exp["open_trace"]
    print(f'open trace {ot["id"]}', flush=True)
    if ot["id"] not in want:
        d.get(url + "/#/traces")
        c.rows_are(all_ids, "unfiltered list")
    c.one(f'[data-testid="trace-row"][data-trace-id="{ot["id"]}"] td.op').click()
    c.wait(lambda d: f'#/trace/{ot["id"]}' in d.current_url, "clicking a row opens its trace")
    c.wait(lambda d: len(c.css('[data-testid="wf-bar"]')) == ot["spans"], f'the waterfall has {ot["spans"]} bars')
    c.ok(c.one('[data-testid="trace-span-total"]').text.endswith(str(ot["spans"])), "the header counts the spans")
    # Tree order: every span comes after its parent, one level deeper; bars stay inside the axis.
    geo = d.execute_script(
        """
        const rows = Array.from(document.querySelectorAll('[data-testid="wf-row"]'));
        const seen = new Map();
        const bad = [];
        for (const r of rows) {
          const p = r.dataset.parentId, depth = Number(r.dataset.depth);
          if (seen.has(p)) { if (seen.get(p) + 1 !== depth) bad.push('depth ' + r.dataset.spanId); }
          else if (depth !== 0) bad.push('order ' + r.dataset.spanId);
          seen.set(r.dataset.spanId, depth);
          const bar = r.querySelector('[data-testid="wf-bar"]').getBoundingClientRect();
          const lane = r.querySelector('.wf-time').getBoundingClientRect();
          if (bar.width < 1 || bar.left < lane.left - 1 || bar.right > lane.right + 1) bad.push('bar ' + r.dataset.spanId);
        }
        return {n: rows.length, bad: bad, ids: rows.map(r => r.dataset.spanId)};
        """
    )
    c.ok(not geo["bad"], f"spans in tree order with bars inside the time axis ({geo['bad']})")
    c.ok(ot["click_span"] in geo["ids"], f'span ids keep full u64 precision ({ot["click_span"]})')
    c.wait(lambda d: c.one('[data-testid="span-panel"] [data-testid="span-title"]'), "the root span is selected")
    c.shot("03-trace-waterfall.png")

    # ---- 4. span panel
    row = c.one(f'[data-testid="wf-row"][data-span-id="{ot["click_span"]}"]')
    row.find_element(By.CSS_SELECTOR, ".op").click()
    c.wait(lambda d: "selected" in row.get_attribute("class").split(), "the clicked span is highlighted")
    c.wait(lambda d: c.one('[data-testid="span-title"]').text == ot["click_title"], f'the panel shows {ot["click_title"]!r}')
    key = ot["meta_key"]
    meta_row = c.wait(lambda d: c.one(f'[data-testid="meta-table"] [data-testid="meta-row"][data-key="{key}"]'), f"{key} in the meta table")
    value = meta_row.find_element(By.CSS_SELECTOR, "td.v").text
    c.ok(value == ot["meta_value"], f"{key} = {value!r} (expected {ot['meta_value']!r})")
    keys = [r.get_attribute("data-key") for r in c.css('[data-testid="meta-table"] [data-testid="meta-row"]')]
    c.ok(keys == sorted(keys), "meta keys are sorted")
    c.ok(c.css('[data-testid="metrics-table"] [data-testid="metric-row"]'), "the metrics table has rows")
    hk = ot["html_key"]
    html_cell = c.one(f'[data-testid="meta-table"] [data-testid="meta-row"][data-key="{hk}"] td.v')
    c.ok(html_cell.text == ot["html_value"], f"markup in a tag shows as text ({html_cell.text!r})")
    c.ok(
        d.execute_script('return window.__xss === undefined && !document.querySelector(\'[data-testid="span-panel"] img, [data-testid="span-panel"] b\')'),
        "markup in a tag is not interpreted",
    )
    sid = c.one('[data-testid="span-panel"] [data-testid="span-id"]').get_attribute("data-value")
    c.ok(sid == ot["click_span"], f"the panel shows the span id {sid}")
    c.ok(f'span={ot["click_span"]}' in d.current_url, "the selected span is in the URL")
    c.shot("04-span-panel.png")

    # back to the (filtered) list with the browser's back button
    d.back()
    c.wait(lambda d: "#/traces" in d.current_url, "back returns to the list")
    c.wait(lambda d: len(c.css('[data-testid="trace-row"]')) > 0, "the list is shown again")

    # ---- 5. error trace, deep link to the failing span
    et = exp["error_trace"]
    print(f'error trace {et["id"]}', flush=True)
    d.get(f'{url}/#/trace/{et["id"]}?span={et["error_span"]}')
    c.wait(lambda d: len(c.css('[data-testid="wf-bar"]')) == et["spans"], f'the error trace has {et["spans"]} bars')
    c.ok(len(c.css('[data-testid="wf-row"].err')) == et["error_spans"], f'{et["error_spans"]} spans are marked as errors')
    c.wait(lambda d: et["message"] in c.one('[data-testid="span-error"]').text, "the deep-linked span shows its error message")
    c.ok(c.one('[data-testid="trace-status"]').text == "ERROR", "the trace header says ERROR")
    c.shot("05-error-trace.png")

    # ---- 6. services
    print("services", flush=True)
    c.one('[data-testid="nav-services"]').click()
    want_svcs = sorted((s["service"], s["env"]) for s in exp["services"])

    def svc_rows(d):
        rows = c.css('[data-testid="service-row"]')
        return sorted((r.get_attribute("data-service"), r.get_attribute("data-env")) for r in rows)

    c.wait(lambda d: svc_rows(d) == want_svcs, f"the services page lists {want_svcs}", show=svc_rows)
    for r in c.css('[data-testid="service-row"]'):
        hits = r.find_element(By.CSS_SELECTOR, '[data-testid="service-hits"]').text.replace(",", "")
        c.ok(hits.isdigit() and int(hits) > 0, f'{r.get_attribute("data-service")}: {hits} hits')
    target = c.one('[data-testid="service-row"][data-service="checkout-api"]')
    target.find_element(By.CSS_SELECTOR, "td.svc-name").click()
    c.wait(
        lambda d: [r for r in c.css('[data-testid="resource-row"][data-service="checkout-api"]') if r.is_displayed()],
        "clicking a service shows its resources",
    )
    c.shot("06-services.png")

    # light theme, once, for the eye
    c.one('[data-testid="theme-toggle"]').click()
    c.wait(lambda d: d.execute_script("return document.documentElement.dataset.theme") == "light", "the theme switches to light")
    c.shot("07-services-light.png")
    d.get(f'{url}/#/trace/{ot["id"]}?span={ot["click_span"]}')
    c.wait(lambda d: len(c.css('[data-testid="wf-bar"]')) == ot["spans"], "the waterfall in the light theme")
    c.shot("08-trace-light.png")
    c.one('[data-testid="theme-toggle"]').click()

    # the services page links to the filtered trace list
    d.get(url + "/#/services")
    link = c.wait(
        lambda d: c.one(f'[data-testid="service-row"][data-service="{svc}"] [data-testid="service-traces-link"]'),
        f"a traces link for {svc}",
    )
    link.click()
    c.rows_are(want, f"the link lists the traces of {svc}")

    # ---- 7. hosts: the host metadata, as the infrastructure list shows it
    print("hosts", flush=True)
    host = exp["host"]
    c.one('[data-testid="nav-hosts"]').click()
    row = c.wait(
        lambda d: c.one(f'[data-testid="host-row"][data-host="{host["hostname"]}"]'),
        f'the hosts page lists {host["hostname"]}',
    )
    for testid, want in (("host-os", host["os"]), ("host-memory", host["memory"])):
        got = row.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').text
        c.ok(got == want, f"{testid}: {got!r} == {want!r}")
    c.shot("09-hosts.png")

    # ---- 8. no JavaScript errors
    logs = d.get_log("browser")
    severe = [e for e in logs if e.get("level") == "SEVERE"]
    c.ok(not severe, f"no JavaScript errors in the console ({severe})")


def run_scale(c, url, sc):
    """Manual scale check (--scale): paging through ~1000 traces and very long traces. Prints
    timings; asserts only what is shown, never how fast."""
    d = c.d
    print(f'scale: {sc["traces"]} traces', flush=True)
    d.get(url + "/#/traces")
    c.wait(lambda d: len(c.css('[data-testid="trace-row"]')) == 50, "the first page has 50 rows")
    t0 = time.monotonic()
    c.one('[data-testid="load-more"]').click()
    c.wait(lambda d: len(c.css('[data-testid="trace-row"]')) == 100, "load more appends the next 50")
    print(f"  load more: {1000 * (time.monotonic() - t0):.0f} ms", flush=True)
    ids = c.row_ids()
    c.ok(len(set(ids)) == len(ids), "no trace appears twice across pages")
    c.shot("scale-01-list.png")
    for b in sc["big"]:
        n = b["spans"]
        ms = d.execute_async_script(
            """
            const [id, n, done] = arguments;
            const t = performance.now();
            location.hash = '#/trace/' + id;
            const iv = setInterval(() => {
              if (document.querySelectorAll('[data-testid="wf-bar"]').length >= n) {
                clearInterval(iv);
                document.body.getBoundingClientRect();
                requestAnimationFrame(() => done(performance.now() - t));
              }
            }, 5);
            """,
            b["id"],
            n,
        )
        print(f"  trace of {n} spans: fetched and rendered in {ms:.0f} ms", flush=True)
        c.ok(len(c.css('[data-testid="wf-bar"]')) == n, f"{n} bars")
        timings = d.execute_script(
            """
            const rows = document.querySelectorAll('[data-testid="wf-row"]');
            const time = (f) => { const t = performance.now(); f(); document.body.getBoundingClientRect(); return performance.now() - t; };
            const r = {};
            r.selectLast = time(() => rows[rows.length - 1].click());
            r.lastVisible = !rows[rows.length - 1].hidden;
            r.keys = time(() => { for (let i = 0; i < 30; i++) document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowUp', bubbles: true})); });
            r.collapseAll = time(() => document.querySelector('[data-testid="collapse-all"]').click());
            r.expandAll = time(() => document.querySelector('[data-testid="expand-all"]').click());
            r.hiddenAfterExpand = Array.from(rows).filter((x) => x.hidden).length;
            return r;
            """
        )
        print(f"  {n} spans: {timings}", flush=True)
        c.ok(timings["lastVisible"], "selecting a span reveals it")
        c.ok(timings["hiddenAfterExpand"] == 0, "expand all shows every span")
        c.shot(f"scale-02-trace-{n}.png")
    logs = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    c.ok(not logs, f"no JavaScript errors ({logs})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="the intake, e.g. http://127.0.0.1:8126")
    ap.add_argument("--screenshots", required=True, help="directory for the PNG screenshots")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--expect", help="what to expect (JSON, see the module docstring)")
    mode.add_argument("--scale", help='manual scale check: {"traces": N, "big": [{"id", "spans"}]}')
    args = ap.parse_args()
    url = args.url.rstrip("/")
    os.makedirs(args.screenshots, exist_ok=True)

    def deadline(_sig, _frm):
        raise AssertionError(f"browser_explorer.py exceeded its {DEADLINE}s deadline")

    signal.signal(signal.SIGALRM, deadline)
    signal.alarm(DEADLINE)

    for p in (CHROMIUM, CHROMEDRIVER):
        if not os.access(p, os.X_OK):
            print(f"browser_explorer: {p} is missing: run `bash scripts/test-setup.sh`", file=sys.stderr)
            return 1

    started = time.monotonic()
    profile = tempfile.mkdtemp(prefix="kakehashi-chromium-")
    driver = None
    c = None
    try:
        driver = start_browser(profile)
        driver.set_page_load_timeout(WAIT)
        c = Check(driver, args.screenshots)
        if args.expect:
            run(c, url, json.loads(args.expect))
        else:
            run_scale(c, url, json.loads(args.scale))
        print(f"browser_explorer: OK, {c.count} checks in {time.monotonic() - started:.1f}s", flush=True)
        return 0
    except Exception as e:  # noqa: BLE001 - report anything, with artifacts
        print(f"browser_explorer: FAILED: {e}", file=sys.stderr, flush=True)
        traceback.print_exc()
        if driver is not None:
            try:
                print(f"  at {driver.current_url}", file=sys.stderr)
                driver.save_screenshot(os.path.join(args.screenshots, "FAILED.png"))
                with open(os.path.join(args.screenshots, "FAILED.html"), "w", encoding="utf-8") as f:
                    f.write(driver.page_source)
                for entry in driver.get_log("browser"):
                    print(f"  console: {entry}", file=sys.stderr)
            except Exception as e2:  # noqa: BLE001
                print(f"  (could not save the failure artifacts: {e2})", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
