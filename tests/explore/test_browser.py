"""The explorer's page in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, installed by scripts/setup_env.sh when run as root) driven by Selenium opens
the page served on 127.0.0.1, types a query, and sees the result table and the evidence with its
members highlighted in their category colours; an abstract's HTML shows as text."""
import os
import shutil
from typing import Iterator, Optional

import pytest

from tests.explore.test_server import serving

WAIT_S = 10


def _executable(env: str, *names: str) -> Optional[str]:
    found = [os.environ.get(env)] + [shutil.which(name) for name in names]
    return next((path for path in found if path and os.path.isfile(path)), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -r requirements.txt)")
    binary = _executable("FGEN_CHROMIUM", "chromium", "chromium-browser")
    driver_path = _executable("FGEN_CHROMEDRIVER", "chromedriver")
    if not binary or not driver_path:
        pytest.skip("no chromium and chromedriver found (apt-get install chromium chromium-driver, or scripts/setup_env.sh as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    # --no-sandbox: Chromium refuses to run as root with its sandbox (CI runs as root).
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    # The driver is Debian's, given by path, so Selenium Manager never downloads one.
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page_url(tmp_path_factory) -> Iterator[str]:
    from fgen.explore.index import build_index
    from fgen.explore.server import create_app
    from tests.explore.conftest import RECORDS
    from tests.explore.records import write_jsonl

    folder = tmp_path_factory.mktemp("browser")
    build_index(folder / "i.duckdb", [write_jsonl(folder / "r.jsonl", RECORDS)])
    with serving(create_app(folder / "i.duckdb")) as url:
        yield url


def test_search_shows_groups_and_highlighted_evidence(browser, page_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from fgen.explore.page import COLOURS

    wait = WebDriverWait(browser, WAIT_S)
    browser.get(page_url + "/")
    box = wait.until(ec.element_to_be_clickable((By.ID, "q")))
    box.send_keys("ATG12\n")
    wait.until(lambda d: "1 statement group" in d.find_element(By.ID, "status").text)
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr.group")
    assert len(rows) == 1
    cells = [td.text for td in rows[0].find_elements(By.TAG_NAME, "td")]
    assert cells[0] == "3" and "knockdown of atg12" in cells[2] and "ATG12" in cells[2]
    rows[0].click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.evidence .sentence")) == 3)
    marks = browser.find_elements(By.CSS_SELECTOR, "tr.evidence .sentence mark")
    by_role = {}
    for mark in marks:
        by_role.setdefault(mark.get_attribute("title"), set()).add(mark.text.split("\n")[0])
        colour = mark.value_of_css_property("background-color")
        expected = COLOURS[mark.get_attribute("title")]
        assert colour.startswith("rgba(" + ", ".join(str(int(expected[i:i + 2], 16)) for i in (1, 3, 5))), colour
    # The group merges the abstracts' spellings; each mark holds the abstract's own.
    assert {t.replace("PERTURBING_ACTION", "").strip() for t in by_role["PERTURBING_ACTION"]} == {"Knockdown of ATG12", "knock-down of ATG12"}
    assert set(by_role) == {"PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE"}
    # The abstract holding HTML shows it as text: no script ran, no element was made.
    sentences = [s.text for s in browser.find_elements(By.CSS_SELECTOR, "tr.evidence .sentence")]
    assert any("<script>alert(1)</script>" in s for s in sentences)
    assert not browser.find_elements(By.CSS_SELECTOR, "tr.evidence script, tr.evidence b")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "tr.evidence a")]
    assert "https://pubmed.ncbi.nlm.nih.gov/31462126/" in links
