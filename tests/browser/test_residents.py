"""Job 9 in the browser, as 子育て支援課: the residents' figures and the monthly chart."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SignIn, check_accessibility, screenshot


@pytest.mark.parametrize("width", [1280, 768])
def test_a_department_reads_the_residents_figures(signed_in: SignIn, width: int) -> None:
    page = signed_in("kosodate", width=width)
    page.get_by_role("link", name="登録者").click()
    page.wait_for_url("**/console/residents")
    main = page.inner_text("main")
    for heading in ("地区別", "ごみ収集地区別", "言語別", "関心分野別", "友だち数の推移"):
        assert heading in main
    languages = ("日本語", "やさしい日本語", "English", "中文", "한국어", "Tiếng Việt", "Português")
    assert all(language in main for language in languages)
    assert page.inner_text("#following").startswith("600")
    assert page.locator("svg.chart").count() == 3
    check_accessibility(page, words=("地区別", "言語別", "関心分野別", "やさしい日本語", "友だち"))
    screenshot(page, "residents")
