"""Refusals in Vietnamese by default, English on request; type, title and reasons never change."""

from __future__ import annotations

import httpx
import pytest

from dxmon.problems import PROBLEM_TYPE_BASE
from tests.pipeline import Pipeline, report

pytestmark = pytest.mark.integration

VIETNAMESE = set("ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ")


def is_vietnamese(text: str) -> bool:
    return bool(VIETNAMESE & set(text.lower()))


BAD = [report(unit="QN-X-KHONGCO"), report(numerator=40, denominator=None)]  # one part alone


@pytest.mark.parametrize(
    ("accept", "language"),
    [
        pytest.param(None, "vi", id="missing"),
        pytest.param("vi", "vi", id="vi"),
        pytest.param("vi-VN,vi;q=0.9", "vi", id="vi-VN"),
        pytest.param("en", "en", id="en"),
        pytest.param("en-US,en;q=0.9", "en", id="en-US"),
        pytest.param("vi;q=0.1, en;q=0.9", "en", id="english-preferred"),
        pytest.param("fr-FR", "vi", id="unsupported"),
        pytest.param("*", "vi", id="any"),
        pytest.param(";;;q=x,,", "vi", id="garbage"),
    ],
)
async def test_invalid_reports_in_the_accepted_language(ingest_only: Pipeline, accept, language) -> None:
    headers = dict(ingest_only.headers)
    if accept is not None:
        headers["Accept-Language"] = accept
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url, headers=headers) as client:
        answer = await client.post("/v1/reports", json=BAD)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-language"] == language
    body = answer.json()
    # The contract is the same in every language.
    assert (body["type"], body["title"], body["reason"]) == (
        PROBLEM_TYPE_BASE + "invalid-reports",
        "Invalid reports",
        "invalid-reports",
    )
    assert [(e["reason"], e["index"], e["field"]) for e in body["errors"]] == [
        ("unknown-unit", 0, "unit"),
        ("ratio-needs-parts", 1, "numerator"),
    ]
    if language == "vi":
        assert body["detail"] == "có 2 lỗi trong báo cáo gửi đến"
        assert body["errors"][0]["message"] == "mã đơn vị 'QN-X-KHONGCO' không có trong danh mục"
        assert all(is_vietnamese(e["message"]) for e in body["errors"])
    else:
        assert body["detail"] == "2 problem(s) found"
        assert body["errors"][0]["message"] == "unit 'QN-X-KHONGCO' is not in the catalog"
        assert not any(is_vietnamese(e["message"]) for e in body["errors"])


@pytest.mark.parametrize(
    ("request_args", "status", "reason"),
    [
        pytest.param({"json": report(), "headers": {}}, 401, "missing-credentials", id="401"),
        pytest.param(
            {"content": b"a,b", "headers": {"Content-Type": "text/csv"}}, 415, "unsupported-media-type", id="415"
        ),
        pytest.param(
            {"content": b'{"unit": ', "headers": {"Content-Type": "application/json"}},
            400,
            "malformed-json",
            id="400-json",
        ),
        pytest.param(
            {"content": b"  ", "headers": {"Content-Type": "application/json"}}, 400, "empty-body", id="400-empty"
        ),
    ],
)
async def test_every_refusal_has_a_vietnamese_detail_and_an_english_one(
    ingest_only: Pipeline, request_args, status, reason
) -> None:
    details = {}
    for language in ("vi", "en"):
        headers = {**ingest_only.headers, **request_args["headers"], "Accept-Language": language}
        if status == 401:
            headers.pop("Authorization", None)
        args = {k: v for k, v in request_args.items() if k != "headers"}
        async with httpx.AsyncClient(base_url=ingest_only.ingest_url, headers=headers) as client:
            answer = await client.post("/v1/reports", **args)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["reason"] == reason
        details[language] = answer.json()["detail"]
    assert is_vietnamese(details["vi"]), details
    assert not is_vietnamese(details["en"]) and details["en"] != details["vi"]


async def test_unknown_route_is_a_vietnamese_problem(ingest_only: Pipeline) -> None:
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url) as client:
        answer = await client.get("/v1/nowhere")
    assert answer.status_code == 404 and answer.json()["reason"] == "not-found"
    assert answer.json()["detail"] == "không có địa chỉ này"


async def test_openapi_shows_each_refusal_in_both_languages(ingest_only: Pipeline) -> None:
    async with httpx.AsyncClient(base_url=ingest_only.ingest_url) as client:
        doc = (await client.get("/openapi.json")).json()
    post = doc["paths"]["/v1/reports"]["post"]
    assert any(p["name"] == "Accept-Language" and p["in"] == "header" for p in post["parameters"])
    for status in ("400", "401", "413", "415", "422", "429", "503"):
        examples = post["responses"][status]["content"]["application/problem+json"]["examples"]
        vi, en = examples["vi"]["value"], examples["en"]["value"]
        assert vi["status"] == en["status"] == int(status)
        assert (vi["type"], vi["title"], vi["reason"]) == (en["type"], en["title"], en["reason"])
        assert is_vietnamese(vi["detail"]) and not is_vietnamese(en["detail"]), status
