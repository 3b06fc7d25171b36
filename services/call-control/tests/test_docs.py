import re

import pytest

from .conftest import RunCallControl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_the_docs_page_uses_only_files_the_service_serves_itself(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        page = await cc.http.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "//" not in html  # no URL with a host (http://, https://, //cdn…) anywhere in the page
        references = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sorted(references) == [
            "/docs/assets/favicon-32x32.png",
            "/docs/assets/swagger-ui-bundle.js",
            "/docs/assets/swagger-ui.css",
        ]
        assert "url: '/openapi.json'" in html
        for reference, kind in zip(
            sorted(references), ("image/png", "text/javascript", "text/css"), strict=True
        ):
            served = await cc.http.get(reference)
            assert served.status_code == 200 and served.headers["content-type"].startswith(kind), reference
            assert len(served.content) > 100
        assert "SwaggerUIBundle" in (await cc.http.get("/docs/assets/swagger-ui-bundle.js")).text
        assert (await cc.http.get("/openapi.json")).json()["openapi"].startswith("3.1")
