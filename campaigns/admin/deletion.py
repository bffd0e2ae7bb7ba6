"""What may not be deleted in the admin, and why, in the words staff read on the delete page.

The delete pages themselves are contacts/admin/deletion.py (counts, never rows); these rules are
the campaigns app's reasons, registered for its own models and for the lists and channels below
it, which cannot know about campaigns:

- a campaign or bulk job with messages: they are its history (archive a campaign instead);
- a channel that sent messages or that campaigns use: their history would lose its channel; or
  the only channel an API key limited to channels may send on: the key would quietly stop working;
- a contact list that a campaign not finished yet sends to or leaves out: deleting it would
  silently change who that campaign reaches (an exclusion list gone sends to the excluded);
- a contact list a join keyword adds to: the keyword would go with it, silently, and texts of the
  word would join nothing (no consent recorded, no answer). Consent records and opt-outs never go
  with a list (a deleted list's consents keep its name; the suppression list is by number);
- a message template a campaign uses: the campaign would lose its text.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from campaigns.models import ApiKey, BulkJob, Campaign, JoinKeyword, MessageTemplate, OutboundMessage
from contacts.admin.deletion import SHOWN, amount, capped_count, names_and_more, refuse_deletion
from contacts.models import ContactList
from providers.models import Channel

Status = Campaign.Status
UNFINISHED = [Status.DRAFT, Status.SCHEDULED, Status.RUNNING, Status.PAUSED]


def more(total: int, noun: str) -> list[str]:
    """The line after the first SHOWN reasons, when there are more."""
    return [f"And {total - SHOWN:,} more {noun} like these."] if total > SHOWN else []


@refuse_deletion(Campaign)
def campaigns_with_messages(campaigns: QuerySet) -> list[str]:
    sent = campaigns.filter(Exists(OutboundMessage.objects.filter(campaign=OuterRef("pk")))).order_by("pk")
    is_job = campaigns.model is BulkJob
    reasons = []
    for campaign in sent.only("pk", "name", "kind")[:SHOWN]:
        count = amount(capped_count(OutboundMessage.objects.filter(campaign=campaign)))
        if is_job or campaign.kind == Campaign.Kind.BULK_API:
            reasons.append(
                f"The bulk job “{campaign.name}” has {count} messages: it is their record "
                "(the API reports on it by its id), so it is kept."
            )
        else:
            reasons.append(
                f"The campaign “{campaign.name}” has {count} messages: they are its history (who got what, "
                "when, and how it went). Archive it instead: it leaves the list and its history stays."
            )
    return reasons + more(sent.count(), "bulk jobs" if is_job else "campaigns")


@refuse_deletion(Channel)
def channels_in_use(channels: QuerySet) -> list[str]:
    messages_through = Exists(OutboundMessage.objects.filter(channel=OuterRef("pk")))
    campaigns_on = Exists(Campaign.objects.filter(channel=OuterRef("pk")))
    used = channels.filter(messages_through | campaigns_on).order_by("pk")
    reasons = []
    for channel in used.only("pk", "name")[:SHOWN]:
        sent = amount(capped_count(OutboundMessage.objects.filter(channel=channel)))
        campaigns = amount(capped_count(Campaign.objects.filter(channel=channel)))
        reasons.append(
            f"The channel “{channel.name}” has {sent} messages and {campaigns} campaigns and bulk jobs: their "
            "history would lose its channel. Switch it off instead (untick “Is active” on its page)."
        )
    return reasons + more(used.count(), "channels") + keys_limited_to(channels)


def keys_limited_to(channels: QuerySet) -> list[str]:
    """Limited keys whose only channels are these: with them gone, the key could send on no channel."""
    links = ApiKey.channels.through.objects.filter(apikey=OuterRef("pk"))
    only_these = (
        ApiKey.objects.filter(revoked_at__isnull=True, every_channel=False)
        .filter(Exists(links.filter(channel__in=channels)), ~Exists(links.exclude(channel__in=channels)))
        .select_related("user")
        .order_by("pk")
    )
    named = [f"“{key.name or key.prefix}” ({key})" for key in only_these[:SHOWN]]
    if not named:
        return []
    return [
        f"API keys may send only on it: {names_and_more(named, only_these.count())}. With it gone they could "
        "send on no channel. Revoke them, or give them another channel first."
    ]


def uses_of(contact_list: ContactList) -> str:
    """The campaigns not finished that send to the list or leave its contacts out, named with their state."""
    sending = Campaign.lists.through.objects.filter(campaign=OuterRef("pk"), contactlist=contact_list)
    leaving_out = Campaign.exclude_lists.through.objects.filter(campaign=OuterRef("pk"), contactlist=contact_list)
    campaigns = (
        Campaign.objects.filter(status__in=UNFINISHED)
        .filter(Exists(sending) | Exists(leaving_out))
        .annotate(sends_to=Exists(sending))
        .order_by("scheduled_at", "pk")
    )
    named = [
        f"“{c.name}” ({c.get_status_display().lower()}, {'sends to it' if c.sends_to else 'leaves out its contacts'})"
        for c in campaigns.only("pk", "name", "status")[:SHOWN]
    ]
    return names_and_more(named, campaigns.count())


@refuse_deletion(ContactList)
def lists_in_unfinished_campaigns(lists: QuerySet) -> list[str]:
    sending = Campaign.lists.through.objects.filter(contactlist=OuterRef("pk"), campaign__status__in=UNFINISHED)
    leaving_out = Campaign.exclude_lists.through.objects.filter(
        contactlist=OuterRef("pk"), campaign__status__in=UNFINISHED
    )
    in_use = lists.filter(Exists(sending) | Exists(leaving_out)).order_by("pk")
    reasons = [
        f"The list “{contact_list.name}” is used by campaigns that have not finished: {uses_of(contact_list)}. "
        "Deleting it would change who they send to. Take it out of them (or cancel them) first."
        for contact_list in in_use.only("pk", "name")[:SHOWN]
    ]
    return reasons + more(in_use.count(), "lists")


@refuse_deletion(ContactList)
def lists_join_keywords_add_to(lists: QuerySet) -> list[str]:
    joined_by = lists.filter(Exists(JoinKeyword.objects.filter(contact_list=OuterRef("pk")))).order_by("pk")
    reasons = []
    for contact_list in joined_by.only("pk", "name")[:SHOWN]:
        words = JoinKeyword.objects.filter(contact_list=contact_list).select_related("keywords__channel").order_by("pk")
        named = [f"{join.word} on “{join.keywords.channel.name}”" for join in words[:SHOWN]]
        reasons.append(
            f"The list “{contact_list.name}” is where the join keyword {names_and_more(named, words.count())} "
            "adds who texts it: deleting the list would delete the keyword too, and texts of the word would then "
            "join nothing (no consent recorded, no answer). Point the keyword at another list, or remove it, "
            "on the channel's keywords page first."
        )
    return reasons + more(joined_by.count(), "lists")


@refuse_deletion(MessageTemplate)
def templates_in_use(templates: QuerySet) -> list[str]:
    in_use = templates.filter(Exists(Campaign.objects.filter(template=OuterRef("pk")))).order_by("pk")
    reasons = []
    for template in in_use.only("pk", "name")[:SHOWN]:
        campaigns = Campaign.objects.filter(template=template).order_by("-id")
        named = [f"“{c.name}” ({c.get_status_display().lower()})" for c in campaigns.only("name", "status")[:SHOWN]]
        reasons.append(
            f"The template “{template.name}” is used by campaigns: {names_and_more(named, campaigns.count())}. "
            "A campaign keeps the template it was written with; choose another template in the campaigns "
            "that have not finished, and keep it for those that have."
        )
    return reasons + more(in_use.count(), "templates")
