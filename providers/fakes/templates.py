"""The WhatsApp templates the demo's fakes list: a few approved, one rejected, in each provider's shapes."""

from __future__ import annotations

import json

TWILIO_SPRING_SALE = "HX" + "5" * 32
TWILIO_ORDER_UPDATE = "HX" + "6" * 32
TWILIO_REJECTED = "HX" + "7" * 32


def twilio_content(
    sid: str, name: str, types: dict, variables: dict, status: str, *, reason: str = "", nested: bool = True
) -> dict:
    """One ContentAndApprovals item; ``nested`` puts the approval under "whatsapp" (both shapes are seen)."""
    approval = {"name": name, "category": "MARKETING", "status": status, "rejection_reason": reason}
    return {
        "sid": sid,
        "account_sid": "AC" + "0" * 32,
        "friendly_name": name,
        "language": "en",
        "variables": variables,
        "types": types,
        "approval_requests": {"whatsapp": approval} if nested else approval,
        "date_created": "2026-11-02T09:00:00Z",
        "date_updated": "2026-11-02T09:00:00Z",
    }


DEMO_TWILIO_CONTENT = [
    twilio_content(
        TWILIO_SPRING_SALE,
        "spring_sale",
        {
            "twilio/card": {
                "title": "Spring sale",
                "body": "Hi {{1}}, our spring sale starts {{2}}! Up to 40% off.",
                "media": ["https://example.com/spring.jpg"],
                "actions": [{"type": "URL", "title": "Shop now", "url": "https://example.com/sale"}],
            }
        },
        {"1": "Ana", "2": "Saturday"},
        "approved",
    ),
    twilio_content(
        TWILIO_ORDER_UPDATE,
        "order_update",
        {"twilio/text": {"body": "Hello {{1}}, your order {{2}} is on its way."}},
        {"1": "Ana", "2": "A-1042"},
        "approved",
        nested=False,
    ),
    twilio_content(
        TWILIO_REJECTED,
        "flash_offer",
        {"twilio/text": {"body": "LAST CHANCE {{1}}!!! Click now"}},
        {"1": "Ana"},
        "rejected",
        reason="Promotional content in a utility template",
    ),
]


def gupshup_template(
    template_id: str, name: str, body: str, sample: str, status: str, *, kind: str = "TEXT", **extra
) -> dict:
    container = {"data": body, "sampleText": sample, **{k: v for k, v in extra.items() if k != "reason"}}
    item = {
        "id": template_id,
        "elementName": name,
        "languageCode": "en",
        "category": "MARKETING",
        "status": status,
        "templateType": kind,
        "data": body,
        "containerMeta": json.dumps(container),
        "meta": json.dumps({"example": sample}),
        "createdOn": 1761987600000,
        "modifiedOn": 1761987600000,
    }
    if extra.get("reason"):
        item["reason"] = extra["reason"]
    return item


DEMO_GUPSHUP_TEMPLATES = [
    gupshup_template(
        "6f1c1a9e-0001-4c1d-9a55-000000000001",
        "spring_sale",
        "Hi {{1}}, our spring sale starts {{2}}! Up to 40% off.",
        "Hi [Ana], our spring sale starts [Saturday]! Up to 40% off.",
        "APPROVED",
        footer="Reply STOP to opt out",
        buttons=[{"type": "URL", "text": "Shop now", "url": "https://example.com/sale"}],
    ),
    gupshup_template(
        "6f1c1a9e-0001-4c1d-9a55-000000000002",
        "new_collection",
        "{{1}}, the new collection is here.",
        "[Ana], the new collection is here.",
        "APPROVED",
        kind="IMAGE",
        mediaUrl="https://example.com/collection.jpg",
    ),
    gupshup_template(
        "6f1c1a9e-0001-4c1d-9a55-000000000003",
        "flash_offer",
        "LAST CHANCE {{1}}!!!",
        "LAST CHANCE [Ana]!!!",
        "REJECTED",
        reason="Promotional content in a utility template",
    ),
]
