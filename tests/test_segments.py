"""The SMS segment counter: GSM-7 or UCS-2, how many segments, and which characters cost more.

The same cases run through campaigns/content/segments.py and, under node, static/js/template_segments.js
(the counter the template page runs as staff type), so the two cannot drift apart.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from campaigns.content.segments import GSM7, UCS2, browser_tables, count_segments, to_gsm7

ROOT = Path(__file__).resolve().parent.parent
CASES = json.loads((ROOT / "tests/fixtures/segments.json").read_text())


def summary(count) -> dict:
    forcing = [f.character for f in count.forcing]
    return {"encoding": count.encoding, "units": count.units, "segments": count.segments, "forcing": forcing}


def without_unicode_names(count: dict) -> dict:
    """The browser has no Unicode names: it names only the lookalikes, and shows others by code point."""
    forcing = [{**f, "name": f["name"] if f["replacement"] is not None else ""} for f in count["forcing"]]
    return {**count, "forcing": forcing}


@pytest.mark.parametrize("case", CASES, ids=[case["label"] for case in CASES])
def test_python_counter_matches_the_known_cases(case):
    expected = {key: case[key] for key in ("encoding", "units", "segments", "forcing")}
    assert summary(count_segments(case["text"])) == expected


def test_browser_counter_agrees_with_the_python_counter_on_every_case(tmp_path):
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed; the browser test checks the counter in Chromium")
    script = tmp_path / "run.js"
    script.write_text(
        "const {makeCounter} = require(process.argv[2]);\n"
        "const tables = JSON.parse(require('fs').readFileSync(process.argv[3], 'utf8'));\n"
        "const cases = JSON.parse(require('fs').readFileSync(process.argv[4], 'utf8'));\n"
        "const counter = makeCounter(tables);\n"
        "console.log(JSON.stringify(cases.map(c => counter.count(c.text))));\n"
    )
    tables = tmp_path / "tables.json"
    tables.write_text(json.dumps(browser_tables()))
    answer = subprocess.run(
        [
            node,
            str(script),
            str(ROOT / "static/js/template_segments.js"),
            str(tables),
            str(ROOT / "tests/fixtures/segments.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    in_browser = json.loads(answer.stdout)
    for case, counted in zip(CASES, in_browser, strict=True):
        python = without_unicode_names(count_segments(case["text"]).as_dict())
        assert counted == python, case["label"]


def test_a_curly_quote_is_named_with_where_it_is_and_what_replaces_it():
    count = count_segments("Hi Ann, it\u2019s on")
    assert count.encoding == UCS2
    (quote,) = count.forcing
    assert (quote.name, quote.code_point, quote.first_position, quote.replacement) == (
        "right curly quote (apostrophe)",
        "U+2019",
        10,
        "'",
    )


def test_an_unusual_character_is_named_by_its_unicode_name():
    (face,) = count_segments("Hi 😀").forcing
    assert (face.name, face.code_point, face.replacement) == ("grinning face", "U+1F600", None)


def test_replacing_lookalikes_brings_the_text_back_to_gsm7():
    text = "\u201cSale\u201d \u2013 it\u2019s 50\u00a0% off\u2026"
    assert to_gsm7(text) == '"Sale" - it\'s 50 % off...'
    assert count_segments(to_gsm7(text)).encoding == GSM7


def test_the_last_segment_says_how_much_room_is_left():
    assert count_segments("a" * 150).remaining == 10
    assert count_segments("a" * 161).remaining == 153 * 2 - 161
