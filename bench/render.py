"""Rendering placeholders: renders a second for a typical SMS, ours against Django's Template.

The send pipeline renders every message of a campaign as it claims it, so rendering must stay far
below the cost of a provider call. Issue 9 asks for at least 50,000 renders a second for a
two-placeholder SMS compiled once per campaign. Django's own Template (autoescape off) is measured
beside it as the baseline the hand-made compiler has to beat to be worth keeping.

    python -m bench render                 (or: make bench ARGS=render)
"""

from __future__ import annotations

import time

TARGET = 50_000.0
TEXT = 'Hi {{ first_name }}, the {{ city|default:"local" }} shop opens at 9 tomorrow. Reply STOP to opt out.'
ROUNDS = 200_000
DJANGO_ROUNDS = 40_000


def contexts(count: int = 1000) -> list[dict[str, object]]:
    from campaigns.content.personalisation import recipient_context

    cities = ["Leeds", "York", "", "Bath"]
    return [
        recipient_context(phone=f"+4479111{i:05d}", name=f"Person {i} Example", extra_fields={"city": cities[i % 4]})
        for i in range(count)
    ]


def per_second(render, people: list[dict[str, object]], rounds: int) -> float:
    count = len(people)
    started = time.perf_counter()
    for i in range(rounds):
        render(people[i % count])
    return rounds / (time.perf_counter() - started)


def django_template_render():
    from django.template import Context, Engine

    template = Engine(autoescape=False).from_string(TEXT)
    return lambda context: template.render(Context(context, autoescape=False))


def run() -> list[dict]:
    from campaigns.content.personalisation import CompiledText

    people = contexts()
    compiled = CompiledText(TEXT)
    ours = per_second(compiled.render, people, ROUNDS)
    django = per_second(django_template_render(), people, DJANGO_ROUNDS)
    return [
        {
            "name": "2-placeholder SMS, compiled once",
            "figure": ours,
            "unit": "renders/s",
            "target": TARGET,
            "ratio": ours / TARGET,
            "note": f"Django's Template (autoescape off): {django:,.0f}/s, ours {ours / django:.1f}x",
        },
    ]


if __name__ == "__main__":
    from bench.__main__ import main

    raise SystemExit(main(["render"]))
