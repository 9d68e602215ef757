"""Job 10 in the browser, as the admin: the KPI page, its charts and a CSV download."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SignIn, check_accessibility, screenshot


@pytest.mark.parametrize("width", [1280, 768])
def test_the_kpi_page_shows_figures_charts_and_downloads(signed_in: SignIn, width: int) -> None:
    page = signed_in("admin", width=width)
    page.get_by_role("link", name="指標").click()
    page.wait_for_url("**/console/kpis")
    assert page.locator("svg.chart").count() == 5
    assert "友だち数（年度末）" in page.inner_text("main")
    check_accessibility(page, words=("友だち数", "満足度", "課別の配信数"))
    screenshot(page, "kpis")
    with page.expect_download() as download:
        page.get_by_role("link", name="友だち数（地区別）").click()
    path = download.value.path()
    assert path is not None
    with open(path, encoding="utf-8-sig") as f:
        assert f.readline().strip() == "district,friends,new_friends,refollows,blocks"
    page.get_by_role("link", name="印刷用の報告書").click()
    page.wait_for_url("**/console/kpis/report**")
    assert page.locator("svg.chart").count() == 3
